"""Overhead depth (16UC1, mm) and colour (rgb8) images by ray casting (ROS-free).

Each pixel's ray comes from the camera's intrinsics (distortion included, through
cv2.undistortPoints) and mount pose (`jwo_common.frames.optical_to_map`). The static
scene (floor, shelves as solid boxes, hanging occluders) is cast once per camera; every
frame then casts only the people's ellipsoids (`jwo_sim.bodies`), each over the few pixels
its bounding sphere covers. Depth is the optical-frame z (what a RealSense publishes), in
millimetres, 0 where there is no valid depth.

    model = camera_model(config, camera)
    renderer = CameraRenderer(model, static_scene(config, scenario))
    depth_m, rgb = renderer.render(body_ellipsoids(body_poses(result, t_s)), color=True)
    depth_mm = add_depth_faults(depth_m, faults, rng)

`camera_frames(result, camera)` yields every frame of a scenario for one camera with the
fault knobs applied (frame drops, depth noise and holes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator

import cv2
import numpy as np
import yaml

from jwo_common.frames import optical_to_map, shelf_to_map
from jwo_common.store_config import Camera, StoreConfig
from jwo_sim.bodies import Ellipsoids, body_ellipsoids, body_poses
from jwo_sim.scenario import Faults, Scenario
from jwo_sim.simulation import SimulationResult

MAX_RANGE_M = 10.0
FLOOR_RGB = (176, 174, 168)
SHELF_RGB = (128, 96, 64)
OCCLUDER_RGB = (232, 232, 226)
STEREO_BASELINE_M = 0.05
SUBPIXEL_STEPS = 32
# Random streams of the camera faults, one per camera (index in the store config).
_CAMERA_STREAM = 200


@dataclass(frozen=True)
class CameraModel:
    """Intrinsics, distortion and pose of one camera, and its pixel rays in `map`."""

    camera_id: str
    width: int
    height: int
    k: np.ndarray                 # 3x3
    distortion_model: str
    distortion: tuple[float, ...]
    optical_to_map: np.ndarray    # 4x4
    fps: float

    @property
    def origin_m(self) -> np.ndarray:
        return self.optical_to_map[:3, 3]

    def rays(self) -> np.ndarray:
        """(height, width, 3) map-frame ray directions scaled so that the optical z
        component is 1: a hit at ray parameter t lies at depth t."""
        u, v = np.meshgrid(np.arange(self.width, dtype=np.float64),
                           np.arange(self.height, dtype=np.float64))
        pixels = np.stack([u.ravel(), v.ravel()], axis=1).reshape(-1, 1, 2)
        if any(self.distortion):
            if self.distortion_model == 'equidistant':
                normalised = cv2.fisheye.undistortPoints(
                    pixels, self.k, np.asarray(self.distortion[:4]))
            else:
                normalised = cv2.undistortPoints(pixels, self.k, np.asarray(self.distortion))
            normalised = normalised.reshape(-1, 2)
        else:
            normalised = np.stack([(pixels[:, 0, 0] - self.k[0, 2]) / self.k[0, 0],
                                   (pixels[:, 0, 1] - self.k[1, 2]) / self.k[1, 1]], axis=1)
        optical = np.concatenate([normalised, np.ones((len(normalised), 1))], axis=1)
        return (optical @ self.optical_to_map[:3, :3].T).reshape(self.height, self.width, 3)


def camera_model(config: StoreConfig, camera: Camera) -> CameraModel:
    """From the store config: inline intrinsics, or the ROS camera_info YAML it names."""
    if camera.intrinsics is not None:
        i = camera.intrinsics
        k = np.array([[i.fx, 0.0, i.cx], [0.0, i.fy, i.cy], [0.0, 0.0, 1.0]])
        model, distortion = i.distortion_model, tuple(i.distortion)
    else:
        info = yaml.safe_load(config.resolve_path(camera.calibration_file).read_text())
        k = np.array(info['camera_matrix']['data'], dtype=float).reshape(3, 3)
        model = info.get('distortion_model', 'plumb_bob')
        distortion = tuple(float(d) for d in info['distortion_coefficients']['data'])
    return CameraModel(camera.id, camera.width, camera.height, k, model, distortion,
                       optical_to_map(camera), camera.fps)


@dataclass(frozen=True)
class Box:
    """A solid box: `to_box` takes map points to a frame where it spans [0, size]."""

    to_box: np.ndarray        # 4x4
    size_m: tuple[float, float, float]
    rgb: tuple[int, int, int]


def static_scene(config: StoreConfig, scenario: Scenario) -> list[Box]:
    """Shelves (solid, full height) and the scenario's hanging occluders."""
    boxes = [Box(np.linalg.inv(shelf_to_map(shelf)), (shelf.width_m, shelf.depth_m,
                                                      shelf.height_m), SHELF_RGB)
             for shelf in config.shelves]
    for occluder in scenario.occluders:
        to_box = np.eye(4)
        to_box[:3, 3] = [-(occluder.x_m - occluder.size_x_m / 2),
                         -(occluder.y_m - occluder.size_y_m / 2), -occluder.z_m]
        boxes.append(Box(to_box, (occluder.size_x_m, occluder.size_y_m,
                                  occluder.thickness_m), OCCLUDER_RGB))
    return boxes


class CameraRenderer:
    """Renders one camera: the static scene once, people per frame."""

    def __init__(self, model: CameraModel, scene: list[Box]):
        self.model = model
        self._rays = model.rays()
        origin = model.origin_m
        depth = np.full((model.height, model.width), np.inf)
        rgb = np.zeros((model.height, model.width, 3), np.uint8)
        floor_t = np.where(self._rays[..., 2] < -1e-9, -origin[2] / np.minimum(
            self._rays[..., 2], -1e-9), np.inf)
        depth = np.where(floor_t > 0, floor_t, np.inf)
        rgb[np.isfinite(depth)] = FLOOR_RGB
        for box in scene:
            t = _box_hits(box, origin, self._rays)
            nearer = t < depth
            depth[nearer] = t[nearer]
            rgb[nearer] = box.rgb
        depth[depth > MAX_RANGE_M] = np.inf
        rgb[~np.isfinite(depth)] = 0
        self._background_depth = depth
        self._background_rgb = rgb
        self._k = model.k
        self._to_optical = np.linalg.inv(model.optical_to_map)

    def render(self, shapes: Ellipsoids, color: bool = False
               ) -> tuple[np.ndarray, np.ndarray | None]:
        """(depth in metres, inf = no return; rgb uint8 or None) of the scene with `shapes`."""
        depth = self._background_depth.copy()
        rgb = self._background_rgb.copy() if color else None
        if len(shapes.centres) == 0:
            return depth, rgb
        origin = self.model.origin_m
        centres_optical = shapes.centres @ self._to_optical[:3, :3].T + self._to_optical[:3, 3]
        radii = shapes.radii_m
        for index in np.argsort(-centres_optical[:, 2]):
            window = self._pixel_window(centres_optical[index], radii[index])
            if window is None:
                continue
            rows, cols = window
            rays = self._rays[rows, cols]
            to_unit = shapes.to_unit[index]
            start = to_unit @ (origin - shapes.centres[index])
            direction = rays @ to_unit.T
            a = np.einsum('...i,...i', direction, direction)
            b = direction @ start
            c = start @ start - 1.0
            discriminant = b * b - a * c
            hit = discriminant > 0
            if not hit.any():
                continue
            t = np.where(hit, (-b - np.sqrt(np.where(hit, discriminant, 0.0))) / a, np.inf)
            current = depth[rows, cols]
            nearer = (t > 0) & (t < current)
            current[nearer] = t[nearer]
            depth[rows, cols] = current
            if rgb is not None and nearer.any():
                # Lambert shading under ceiling lights: surface normals facing up are bright.
                normal = (start + t[nearer][:, None] * direction[nearer]) @ to_unit
                normal_z = normal[:, 2] / np.maximum(np.linalg.norm(normal, axis=-1), 1e-9)
                shade = 0.55 + 0.45 * np.clip(normal_z, 0.0, 1.0)
                patch = rgb[rows, cols]
                patch[nearer] = (shapes.rgb[index] * shade[:, None]).astype(np.uint8)
                rgb[rows, cols] = patch
        return depth, rgb

    def _pixel_window(self, centre: np.ndarray, radius: float):
        """Row and column slices covering a sphere seen from the camera, or None."""
        if centre[2] <= radius + 0.05:
            return None
        # The sphere lies in a box; its image lies within the box's projected extremes.
        near, far = centre[2] - radius, centre[2] + radius
        low_x, high_x = centre[0] - radius, centre[0] + radius
        low_y, high_y = centre[1] - radius, centre[1] + radius
        u0 = self._k[0, 0] * low_x / (far if low_x >= 0 else near) + self._k[0, 2]
        u1 = self._k[0, 0] * high_x / (near if high_x >= 0 else far) + self._k[0, 2]
        v0 = self._k[1, 1] * low_y / (far if low_y >= 0 else near) + self._k[1, 2]
        v1 = self._k[1, 1] * high_y / (near if high_y >= 0 else far) + self._k[1, 2]
        if any(self.model.distortion):
            # Distortion moves image points by a few percent of the image size at most.
            pad_u, pad_v = 0.05 * self.model.width, 0.05 * self.model.height
            u0, u1, v0, v1 = u0 - pad_u, u1 + pad_u, v0 - pad_v, v1 + pad_v
        col0, col1 = max(int(math.floor(u0)) - 1, 0), min(int(math.ceil(u1)) + 2,
                                                           self.model.width)
        row0, row1 = max(int(math.floor(v0)) - 1, 0), min(int(math.ceil(v1)) + 2,
                                                           self.model.height)
        if col0 >= col1 or row0 >= row1:
            return None
        return slice(row0, row1), slice(col0, col1)


def _box_hits(box: Box, origin: np.ndarray, rays: np.ndarray) -> np.ndarray:
    """Ray parameter of the first hit on a solid box (slab method), inf for a miss."""
    start = box.to_box[:3, :3] @ origin + box.to_box[:3, 3]
    direction = rays @ box.to_box[:3, :3].T
    with np.errstate(divide='ignore', invalid='ignore'):
        inverse = 1.0 / direction
        t0 = (0.0 - start) * inverse
        t1 = (np.asarray(box.size_m) - start) * inverse
    near = np.nanmax(np.minimum(t0, t1), axis=-1)
    far = np.nanmin(np.maximum(t0, t1), axis=-1)
    return np.where((far >= near) & (far > 0), np.maximum(near, 0.0), np.inf)


def add_depth_faults(depth_m: np.ndarray, faults: Faults, rng: np.random.Generator,
                     focal_px: float) -> np.ndarray:
    """16UC1 millimetres with stereo-like noise and holes per the fault knobs. With noise on,
    depth is also quantised the way a stereo camera's is: in steps of 1/32 pixel of
    disparity over a 50 mm baseline (steps of ~4.5 cm at 3.5 m for fx 169 px)."""
    valid = np.isfinite(depth_m)
    depth = np.where(valid, depth_m, 0.0)
    if faults.depth_noise_mm_at_1m > 0:
        height, width = depth.shape
        # Noise correlated over ~4 pixels, as a stereo matcher's window makes it.
        coarse = rng.standard_normal((height // 4 + 1, width // 4 + 1)).astype(np.float32)
        field = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR) * 1.5
        depth = depth + field * (faults.depth_noise_mm_at_1m / 1000.0) * depth * depth
        focal_baseline = focal_px * STEREO_BASELINE_M
        disparity = np.round(focal_baseline / np.maximum(depth, 0.1) * SUBPIXEL_STEPS)
        depth = np.where(valid, focal_baseline * SUBPIXEL_STEPS / np.maximum(disparity, 1), 0.0)
    if faults.depth_hole_probability > 0:
        valid &= rng.random(depth.shape) >= faults.depth_hole_probability
        # Stereo cannot match beside a depth edge (one eye sees what the other cannot).
        edges = np.zeros_like(valid)
        edges[:, 1:] = np.abs(np.diff(depth, axis=1)) > 0.15
        valid &= ~(edges & (rng.random(depth.shape) < 0.5))
    millimetres = np.clip(np.rint(depth * 1000.0), 0, 65535).astype(np.uint16)
    millimetres[~valid] = 0
    return millimetres


@dataclass(frozen=True)
class CameraFrame:
    camera_id: str
    t_s: float                   # sim time of the exposure
    depth_mm: np.ndarray | None  # (h, w) uint16, None for a colour-only camera
    rgb: np.ndarray | None       # (h, w, 3) uint8, None when colour is not rendered


def frame_times_s(fps: float, duration_s: float) -> np.ndarray:
    return np.arange(int(math.floor(duration_s * fps - 1e-9)) + 1) / fps


def overhead_cameras(config: StoreConfig) -> list[Camera]:
    """The depth cameras (the gate camera is colour only and renders the QR scan)."""
    return [camera for camera in config.cameras if camera.depth]


def camera_frames(result: SimulationResult, camera: Camera,
                  shapes_at=None) -> Iterator[CameraFrame]:
    """Every delivered frame of one overhead camera over the scenario, in time order.
    `shapes_at(t_s) -> Ellipsoids` may be shared between cameras (see `shapes_cache`)."""
    config, scenario = result.config, result.scenario
    shapes_at = shapes_at or shapes_cache(result)
    model = camera_model(config, camera)
    renderer = CameraRenderer(model, static_scene(config, scenario))
    index = [c.id for c in config.cameras].index(camera.id)
    rng = np.random.default_rng([scenario.seed, _CAMERA_STREAM + index])
    for t_s in frame_times_s(camera.fps, scenario.duration_s):
        dropped = rng.random() < scenario.faults.camera_frame_drop_probability
        if dropped:
            continue
        depth_m, rgb = renderer.render(shapes_at(float(t_s)), color=scenario.overhead_color)
        yield CameraFrame(camera.id, float(t_s),
                          add_depth_faults(depth_m, scenario.faults, rng, model.k[0, 0]), rgb)


def shapes_cache(result: SimulationResult, size: int = 64):
    """Bodies at a time, computed once for all cameras exposing at that time."""
    @lru_cache(maxsize=size)
    def shapes_at(t_s: float) -> Ellipsoids:
        return body_ellipsoids(body_poses(result, t_s))
    return shapes_at
