"""Overhead shopper detection from one depth frame (ROS-free).

Every depth pixel is lifted into `map` with the camera's calibration (intrinsics, distortion,
mount pose). Points inside a shelf or above the tallest person (ceiling fixtures, hanging
signs) are dropped; the rest form a height map of the floor (`cell_m` cells, the highest
point per cell). A person is a blob standing out of it, their head its local maximum:
separate heads `head_separation_m` apart split people standing close together into two. A
local maximum that stands less than `min_head_prominence_m` above where its body meets a
taller one is a hand raised to a high shelf, not a head. Each blob cell belongs to the head
it climbs to (a watershed down from the heads), so an arm stays with the shoulder it hangs
from even where it reaches across a neighbour; a cell of it at arm height farther than
`reach_min_m` from its head is an extended arm, and the one nearest a shelf is the hand.

Position and pose only: no appearance, no face, nothing that identifies a person.

    detector = OverheadDetector(camera_model(config, camera), optical_to_map(camera),
                                shelf_boxes(config), floor_area(config))
    for person in detector.detect(depth_mm):
        person.x_m, person.y_m, person.head_z_m, person.reach_point
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from jwo_cameras.camera_model import CameraModel
from jwo_common.frames import shelf_to_map
from jwo_common.store_config import StoreConfig


_SQUARE_3 = np.ones((3, 3), np.uint8)


@dataclass(frozen=True)
class DetectorSettings:
    cell_m: float = 0.05
    min_body_height_m: float = 0.7         # lower points are floor, clutter, legs
    max_body_height_m: float = 2.1         # higher points are fixtures, not people
    min_head_height_m: float = 1.2
    head_separation_m: float = 0.3         # two heads are at least this far apart
    # A head stands this far above the shoulders it meets a taller person's body at; a hand
    # raised to a high shelf stands out of its arm much less.
    min_head_prominence_m: float = 0.12
    min_head_cells: int = 12               # blob cells within 0.25 m of a head
    reach_min_m: float = 0.38              # an arm cell this far from the head: reaching
    arm_below_head_m: float = 0.2          # arm cells lie at least this far below the head
    shelf_margin_m: float = 0.03


@dataclass(frozen=True)
class PersonDetection:
    x_m: float                   # floor point under the head, map
    y_m: float
    head_z_m: float
    position_stddev_m: float
    confidence: float            # 0..1
    reach_point: tuple[float, float, float] | None


@dataclass(frozen=True)
class ShelfBox:
    to_shelf: np.ndarray         # 4x4: map -> the shelf's frame, where it spans [0, size]
    size_m: tuple[float, float, float]


@dataclass(frozen=True)
class FloorArea:
    min_x: float
    min_y: float
    max_x: float
    max_y: float


def shelf_boxes(config: StoreConfig) -> list[ShelfBox]:
    return [ShelfBox(np.linalg.inv(shelf_to_map(s)), (s.width_m, s.depth_m, s.height_m))
            for s in config.shelves]


def floor_area(config: StoreConfig) -> FloorArea:
    f = config.floor
    return FloorArea(f.min_x, f.min_y, f.max_x, f.max_y)


def pixel_rays(model: CameraModel, optical_to_map: np.ndarray) -> np.ndarray:
    """(H, W, 3) map-frame directions scaled so a point at depth d is origin + d * ray."""
    u, v = np.meshgrid(np.arange(model.width, dtype=np.float64),
                       np.arange(model.height, dtype=np.float64))
    pixels = np.stack([u.ravel(), v.ravel()], axis=1).reshape(-1, 1, 2)
    if any(model.distortion):
        if model.distortion_model == 'equidistant':
            normalised = cv2.fisheye.undistortPoints(pixels, model.k, model.d[:4])
        else:
            normalised = cv2.undistortPoints(pixels, model.k, model.d)
        normalised = normalised.reshape(-1, 2)
    else:
        normalised = np.stack([(pixels[:, 0, 0] - model.cx) / model.fx,
                               (pixels[:, 0, 1] - model.cy) / model.fy], axis=1)
    optical = np.concatenate([normalised, np.ones((len(normalised), 1))], axis=1)
    return (optical @ optical_to_map[:3, :3].T).reshape(model.height, model.width, 3)


class OverheadDetector:
    """Detects people in the depth frames of one overhead camera."""

    def __init__(self, model: CameraModel, optical_to_map: np.ndarray, shelves: list[ShelfBox],
                 floor: FloorArea, settings: DetectorSettings = DetectorSettings()):
        self._settings = settings
        self._origin = optical_to_map[:3, 3].copy()
        rays = pixel_rays(model, optical_to_map)
        self._rays_x, self._rays_y, self._rays_z = (np.ascontiguousarray(rays[..., i])
                                                    for i in range(3))
        self._shelves = shelves
        self._floor = floor
        cells = settings.cell_m
        self._grid_shape = (int(np.ceil((floor.max_y - floor.min_y) / cells)),
                            int(np.ceil((floor.max_x - floor.min_x) / cells)))
        self._peak_window = max(3, int(round(settings.head_separation_m / cells)) | 1)
        self._peak_square = np.ones((self._peak_window, self._peak_window), np.uint8)
        self._shelf_fronts = [self._front_segment(box) for box in shelves]

    def detect(self, depth_mm: np.ndarray) -> list[PersonDetection]:
        s = self._settings
        depth_m = depth_mm.astype(np.float32) * np.float32(0.001)
        z = self._origin[2] + self._rays_z * depth_m
        body = (depth_mm > 0) & (z > s.min_body_height_m) & (z < s.max_body_height_m)
        if not body.any():
            return []
        d = depth_m[body]
        points = np.stack([self._origin[0] + self._rays_x[body] * d,
                           self._origin[1] + self._rays_y[body] * d, z[body]], axis=1)
        points = points[~self._inside_shelves(points)]
        height_map = self._height_map(points)
        return self._people(height_map)

    def _inside_shelves(self, points: np.ndarray) -> np.ndarray:
        inside = np.zeros(len(points), bool)
        margin = self._settings.shelf_margin_m
        x, y, z = points[:, 0], points[:, 1], points[:, 2]
        for box in self._shelves:
            within = np.ones(len(points), bool)
            # Each axis of the shelf's frame on its own: no homogeneous copy of the points.
            for axis, size in enumerate(box.size_m):
                a, b, c, offset = box.to_shelf[axis]
                local = a * x + b * y + c * z + offset
                within &= (local >= -margin) & (local <= size + margin)
            inside |= within
        return inside

    def _height_map(self, points: np.ndarray) -> np.ndarray:
        cells = self._settings.cell_m
        rows = ((points[:, 1] - self._floor.min_y) / cells).astype(np.int64)
        cols = ((points[:, 0] - self._floor.min_x) / cells).astype(np.int64)
        on_floor = (rows >= 0) & (rows < self._grid_shape[0]) & (cols >= 0) & \
            (cols < self._grid_shape[1])
        height_map = np.zeros(self._grid_shape, np.float32)
        np.maximum.at(height_map, (rows[on_floor], cols[on_floor]), points[on_floor, 2])
        return height_map

    def _people(self, height_map: np.ndarray) -> list[PersonDetection]:
        s = self._settings
        occupied = height_map > 0
        if not occupied.any():
            return []
        # Work on the occupied part of the floor only.
        rows_used, cols_used = np.nonzero(np.any(occupied, axis=1))[0], \
            np.nonzero(np.any(occupied, axis=0))[0]
        pad = self._peak_window
        r0, r1 = max(rows_used[0] - pad, 0), rows_used[-1] + pad + 1
        c0, c1 = max(cols_used[0] - pad, 0), cols_used[-1] + pad + 1
        window = height_map[r0:r1, c0:c1]
        # Close the pinholes of missing depth inside a body before looking for heads.
        # (OpenCV's dilate and erode with ndimage's 'reflect' border: the same results as
        # ndimage.grey_closing and maximum_filter, several times faster.)
        filled = cv2.erode(cv2.dilate(window, _SQUARE_3, borderType=cv2.BORDER_REFLECT),
                           _SQUARE_3, borderType=cv2.BORDER_REFLECT)
        peaks = (filled == cv2.dilate(filled, self._peak_square,
                                      borderType=cv2.BORDER_REFLECT)) & \
            (filled > s.min_head_height_m)
        labels, count = ndimage.label(peaks)
        if count == 0:
            return []
        # Neighbouring peak cells each hold the maximum of a window holding the other: a
        # peak's cells are all of one height, its centre is their mean (ndimage's
        # center_of_mass and maximum per label cost four times as much).
        peak_rows, peak_cols = np.nonzero(peaks)
        peak_ids = labels[peak_rows, peak_cols]
        cells = np.bincount(peak_ids, minlength=count + 1)[1:]
        heads = np.stack([np.bincount(peak_ids, peak_rows, count + 1)[1:] / cells,
                          np.bincount(peak_ids, peak_cols, count + 1)[1:] / cells], axis=1)
        head_z = np.zeros(count + 1, filled.dtype)
        head_z[peak_ids] = filled[peak_rows, peak_cols]
        heads, head_z = self._merge_close(heads, head_z[1:])
        body_rows, body_cols = np.nonzero(filled > 0)
        region, is_head = self._bodies(filled, heads, head_z)
        heads, head_z = heads[is_head], head_z[is_head]
        region = region[body_rows, body_cols]
        row_offsets = body_rows[:, None] - heads[None, :, 0]
        col_offsets = body_cols[:, None] - heads[None, :, 1]
        distance_m = np.sqrt(row_offsets * row_offsets + col_offsets * col_offsets) * s.cell_m
        # A head needs a body under it: the cells nearer to it than to any other head. Its
        # arms are the cells of its region, which may reach nearer to someone else's head; a
        # blob of no one's (a hand the view shows apart from its arm) goes to the nearest.
        nearest = np.argmin(distance_m, axis=1)
        region = np.where(region >= 0, np.cumsum(is_head)[np.maximum(region, 0)] - 1, nearest)
        to_own_head = distance_m[np.arange(len(region)), region]
        people = []
        for index, ((row, col), top) in enumerate(zip(heads, head_z)):
            support = int(np.count_nonzero((nearest == index) & (distance_m[:, index] < 0.25)))
            if support < s.min_head_cells:
                continue
            x = self._floor.min_x + (c0 + col + 0.5) * s.cell_m
            y = self._floor.min_y + (r0 + row + 0.5) * s.cell_m
            arm = (region == index) & (to_own_head > s.reach_min_m) & \
                (filled[body_rows, body_cols] < top - s.arm_below_head_m)
            reach = self._hand(body_rows[arm] + r0, body_cols[arm] + c0, height_map) \
                if arm.any() else None
            people.append(PersonDetection(
                float(x), float(y), float(top), position_stddev_m=s.cell_m + 0.03,
                confidence=float(min(1.0, support / (3.0 * s.min_head_cells))), reach_point=reach))
        return people

    def _bodies(self, filled: np.ndarray, heads: np.ndarray, head_z: np.ndarray):
        """(index of the head each cell belongs to, -1 in a blob without one; which heads are
        heads). A cell belongs to the head it climbs to (a watershed from the heads down the
        height map), so an arm goes with the shoulder it hangs from, however near another
        head its hand comes. A peak less than `min_head_prominence_m` above where its region
        meets a higher peak's is a raised hand, not a head: its cells go to the region it
        meets highest."""
        count = len(heads)
        body = filled > 0
        rows = np.clip(np.round(heads[:, 0]).astype(np.int64), 0, filled.shape[0] - 1)
        cols = np.clip(np.round(heads[:, 1]).astype(np.int64), 0, filled.shape[1] - 1)
        # A blob with a single head is all that head's (-1: a blob with none).
        blobs, blob_count = ndimage.label(body)
        head_blobs = blobs[rows, cols]
        head_of_blob = np.full(blob_count + 1, -1)
        head_of_blob[head_blobs] = np.arange(count)
        if np.bincount(head_blobs, minlength=blob_count + 1).max() <= 1:
            return head_of_blob[blobs], np.ones(count, bool)
        markers = np.zeros(filled.shape, np.int32)
        markers[rows, cols] = np.arange(1, count + 1)
        # Flooding cost: millimetres below the highest point; the floor is never crossed first.
        cost = np.where(body, np.round((float(filled.max()) - filled) * 1000.0), 65535)
        regions = np.where(body, ndimage.watershed_ift(cost.astype(np.uint16), markers), 0)
        # Where two regions meet: the highest pair of touching cells (the lower of the two).
        saddle = np.full((count + 1, count + 1), -np.inf)
        for a, b, height_a, height_b in (
                (regions[:, :-1], regions[:, 1:], filled[:, :-1], filled[:, 1:]),
                (regions[:-1], regions[1:], filled[:-1], filled[1:])):
            meet = (a != b) & (a > 0) & (b > 0)
            low = np.minimum(height_a[meet], height_b[meet])
            np.maximum.at(saddle, (a[meet], b[meet]), low)
            np.maximum.at(saddle, (b[meet], a[meet]), low)
        into = np.arange(count + 1)
        prominence = self._settings.min_head_prominence_m
        for peak in np.argsort(head_z, kind='stable'):
            label = peak + 1
            higher = [other + 1 for other in range(count)
                      if into[other + 1] == other + 1 and head_z[other] > head_z[peak]]
            if not higher:
                continue
            target = max(higher, key=lambda other: saddle[label, other])
            if head_z[peak] - saddle[label, target] < prominence:
                into[label] = target
                saddle[target] = np.maximum(saddle[target], saddle[label])
                saddle[:, target] = saddle[target]
        for label in range(count, 0, -1):      # lower peaks merged into higher ones
            root = label
            while into[root] != root:
                root = into[root]
            into[label] = root
        owner = np.where(head_of_blob[blobs] >= 0, into[regions] - 1, -1)
        return owner, into[1:] == np.arange(1, count + 1)

    def _merge_close(self, heads: np.ndarray, head_z: np.ndarray):
        """Keeps the higher of two peaks closer than a head separation (one flat-topped head
        can show as two)."""
        order = np.argsort(-head_z)
        kept: list[int] = []
        limit_cells = self._settings.head_separation_m / self._settings.cell_m
        for i in order:
            if all(np.linalg.norm(heads[i] - heads[j]) >= limit_cells for j in kept):
                kept.append(int(i))
        return heads[kept], head_z[kept]

    def _hand(self, rows: np.ndarray, cols: np.ndarray, height_map: np.ndarray):
        """Of an arm's cells, the one nearest a shelf front: where the hand is."""
        cells = self._settings.cell_m
        xy = np.stack([self._floor.min_x + (cols + 0.5) * cells,
                       self._floor.min_y + (rows + 0.5) * cells], axis=1)
        if self._shelf_fronts:
            distances = np.min([_segment_distance(xy, a, b) for a, b in self._shelf_fronts],
                               axis=0)
            tip = int(np.argmin(distances))
        else:
            tip = 0
        return (float(xy[tip, 0]), float(xy[tip, 1]), float(height_map[rows[tip], cols[tip]]))

    @staticmethod
    def _front_segment(box: ShelfBox) -> tuple[np.ndarray, np.ndarray]:
        """The shelf's front edge on the floor (its y = 0 side), in map."""
        to_map = np.linalg.inv(box.to_shelf)
        start = (to_map @ [0.0, 0.0, 0.0, 1.0])[:2]
        end = (to_map @ [box.size_m[0], 0.0, 0.0, 1.0])[:2]
        return start, end


def _segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    along = b - a
    t = np.clip(((points - a) @ along) / float(along @ along), 0.0, 1.0)
    return np.linalg.norm(points - (a + t[:, None] * along), axis=1)
