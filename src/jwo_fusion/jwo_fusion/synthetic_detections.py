"""Camera detections synthesised from ground-truth positions (ROS-free), the stand-in for the
overhead detector in evaluation and benchmarks until it runs on simulator images.

Each camera sees the people whose head projects into its image (its configured intrinsics
and mount pose), at its own frame rate and phase. What a real overhead depth detector gets
wrong is reproduced: Gaussian position noise, missed detections (more of them when people
stand close together and their blobs merge), false positives anywhere in view, and reaching
arms that are sometimes missed or placed a few centimetres off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jwo_common.frames import optical_to_map
from jwo_common.store_config import Camera
from jwo_fusion.tracker import Detection


@dataclass(frozen=True)
class DetectionNoise:
    position_stddev_m: float = 0.06
    miss_probability: float = 0.05
    crowd_radius_m: float = 0.5            # closer than this, two people's blobs may merge
    crowd_miss_probability: float = 0.3
    false_positives_per_frame: float = 0.02
    reach_miss_probability: float = 0.1
    reach_stddev_m: float = 0.05
    head_height_m: float = 1.7


class CameraView:
    """Which floor points a camera sees, from its intrinsics and mount pose."""

    def __init__(self, camera: Camera):
        if camera.intrinsics is None:
            raise ValueError(f'camera {camera.id}: synthesis needs inline intrinsics')
        self.camera = camera
        self._map_to_optical = np.linalg.inv(optical_to_map(camera))
        k = camera.intrinsics
        self._k = (k.fx, k.fy, k.cx, k.cy)

    def sees(self, xyz: np.ndarray) -> np.ndarray:
        """Mask of the (n, 3) map points that fall inside the image."""
        if len(xyz) == 0:
            return np.zeros(0, dtype=bool)
        points = (self._map_to_optical[:3, :3] @ xyz.T).T + self._map_to_optical[:3, 3]
        fx, fy, cx, cy = self._k
        z = points[:, 2]
        with np.errstate(divide='ignore', invalid='ignore'):
            u = fx * points[:, 0] / z + cx
            v = fy * points[:, 1] / z + cy
        return (z > 0.1) & (u >= 0) & (u < self.camera.width) & (v >= 0) & \
            (v < self.camera.height)

    def random_floor_points(self, rng: np.random.Generator, count: int,
                            height_m: float) -> np.ndarray:
        """Uniform points at `height_m` inside the view (rejection sampling)."""
        mount = self.camera.mount
        found = np.zeros((0, 3))
        for _ in range(20):
            if len(found) >= count:
                break
            guess = np.column_stack([rng.uniform(mount.x - 8, mount.x + 8, 64),
                                     rng.uniform(mount.y - 8, mount.y + 8, 64),
                                     np.full(64, height_m)])
            found = np.vstack([found, guess[self.sees(guess)]])
        return found[:count]


def synthesise_frame(view: CameraView, people_xy: np.ndarray,
                     reach_points: list[tuple[float, float, float] | None],
                     rng: np.random.Generator, noise: DetectionNoise) -> list[Detection]:
    """What one camera frame would report for people at `people_xy` (n, 2)."""
    detections = []
    if len(people_xy):
        heads = np.column_stack([people_xy, np.full(len(people_xy), noise.head_height_m)])
        visible = view.sees(heads)
        gaps = np.linalg.norm(people_xy[:, None, :] - people_xy[None, :, :], axis=2)
        np.fill_diagonal(gaps, np.inf)
        crowded = gaps.min(axis=1) < noise.crowd_radius_m if len(people_xy) > 1 else \
            np.zeros(len(people_xy), dtype=bool)
        for index in np.flatnonzero(visible):
            miss = noise.crowd_miss_probability if crowded[index] else noise.miss_probability
            if rng.random() < miss:
                continue
            reach = reach_points[index]
            if reach is not None and rng.random() >= noise.reach_miss_probability:
                reach = tuple(float(v) for v in
                              np.asarray(reach) + rng.normal(0, noise.reach_stddev_m, 3))
            else:
                reach = None
            x, y = people_xy[index] + rng.normal(0, noise.position_stddev_m, 2)
            detections.append(Detection(float(x), float(y), noise.position_stddev_m,
                                        float(rng.uniform(0.6, 1.0)), reach))
    for point in view.random_floor_points(rng, int(rng.poisson(noise.false_positives_per_frame)),
                                          noise.head_height_m):
        detections.append(Detection(float(point[0]), float(point[1]), noise.position_stddev_m,
                                    float(rng.uniform(0.3, 0.7)), None))
    return detections
