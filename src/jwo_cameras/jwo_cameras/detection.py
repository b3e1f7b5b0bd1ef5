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
`reach_min_m` from its head, but within an arm's length (`reach_max_m`), is an extended arm,
and the one nearest a shelf is the hand.

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
    # No hand is farther from its head than this (a tall shopper's arm, from the shoulder):
    # a blob farther off is someone else, their head out of this camera's view.
    reach_max_m: float = 1.1
    arm_below_head_m: float = 0.2          # arm cells lie at least this far below the head
    shelf_margin_m: float = 0.03
    # The camera's depth noise (1 sigma) at 1 m; a stereo camera's grows with the square of
    # the distance. A shelf's noisy points would stand out of its box as people beside it:
    # along each ray the box is widened by `shelf_noise_sigmas` of the noise at its depth
    # (and a noisy camera's height map is smoothed before heads are looked for).
    depth_noise_mm_at_1m: float = 0.0
    shelf_noise_sigmas: float = 2.0


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
        self._rays_x, self._rays_y, self._rays_z = (np.ascontiguousarray(rays[..., i]).ravel()
                                                    for i in range(3))
        # Which depths of a pixel are a body point is decided per pixel once: along its ray
        # the heights a body can have are one stretch of depths, and so is each shelf's box.
        # A frame is then compared with what is left of the body's stretch outside the
        # shelves' (one or a few stretches per pixel), in millimetres.
        self._body_depths_mm = _body_depths_mm(self._origin, rays, settings)
        noise_mm_per_mm2 = settings.shelf_noise_sigmas * settings.depth_noise_mm_at_1m * 1e-6
        self._body_stretches_mm = _outside(self._body_depths_mm, [
            _widened(depths, noise_mm_per_mm2)
            for depths in (_shelf_depths_mm(box, self._origin, rays, settings.shelf_margin_m)
                           for box in shelves) if depths is not None])
        self._floor = floor
        cells = settings.cell_m
        self._grid_shape = (int(np.ceil((floor.max_y - floor.min_y) / cells)),
                            int(np.ceil((floor.max_x - floor.min_x) / cells)))
        self._peak_window = max(3, int(round(settings.head_separation_m / cells)) | 1)
        self._peak_square = np.ones((self._peak_window, self._peak_window), np.uint8)
        # Where a hand is: a lookup of each floor cell's distance to the nearest shelf front,
        # over the cells this camera's body points can fall in.
        self._seen_rows, self._seen_cols = self._cells_seen(rays)
        self._shelf_distance = _shelf_front_distances(shelves, floor, self._seen_rows,
                                                      self._seen_cols, cells)
        # The height map covers those cells and a peak window around them (the margin a
        # window around the bodies takes), not the whole floor.
        pad = self._peak_window
        self._map_rows = range(max(self._seen_rows.start - pad, 0),
                               min(self._seen_rows.stop + pad, self._grid_shape[0]))
        self._map_cols = range(max(self._seen_cols.start - pad, 0),
                               min(self._seen_cols.stop + pad, self._grid_shape[1]))

    def detect(self, depth_mm: np.ndarray) -> list[PersonDetection]:
        body = np.flatnonzero(self.body_pixels(depth_mm))
        if not len(body):
            return []
        d = depth_mm.ravel()[body].astype(np.float32) * np.float32(0.001)
        height_map = self._height_map(self._origin[0] + self._rays_x[body] * d,
                                      self._origin[1] + self._rays_y[body] * d,
                                      self._origin[2] + self._rays_z[body] * d)
        return self._people(height_map)

    def _cells_seen(self, rays: np.ndarray) -> tuple[range, range]:
        """The rows and columns of the floor cells a body point of this camera can fall in
        (a point lies between its pixel's nearest and farthest body points, give or take a
        cell)."""
        lowest, highest = self._body_depths_mm
        band = lowest <= highest
        if not band.any():
            return range(0), range(0)
        ends = np.concatenate([_lift(self._origin, rays[band], lowest[band]),
                               _lift(self._origin, rays[band], highest[band])])
        cells = self._settings.cell_m
        rows = np.floor((ends[:, 1] - self._floor.min_y) / cells).astype(np.int64)
        cols = np.floor((ends[:, 0] - self._floor.min_x) / cells).astype(np.int64)
        rows_count, cols_count = self._grid_shape
        return (range(int(np.clip(rows.min() - 1, 0, rows_count)),
                      int(np.clip(rows.max() + 2, 0, rows_count))),
                range(int(np.clip(cols.min() - 1, 0, cols_count)),
                      int(np.clip(cols.max() + 2, 0, cols_count))))

    def body_pixels(self, depth_mm: np.ndarray) -> np.ndarray:
        """Which pixels show a point at a body's height outside every shelf (H, W bool)."""
        (lowest, highest), *more = self._body_stretches_mm
        body = (depth_mm >= lowest) & (depth_mm <= highest)
        for lowest, highest in more:
            body |= (depth_mm >= lowest) & (depth_mm <= highest)
        return body

    def _height_map(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """The highest body point per cell of the floor this camera sees (`_map_rows` x
        `_map_cols`)."""
        cells = self._settings.cell_m
        rows = ((y - self._floor.min_y) / cells).astype(np.int64) - self._map_rows.start
        cols = ((x - self._floor.min_x) / cells).astype(np.int64) - self._map_cols.start
        shape = (len(self._map_rows), len(self._map_cols))
        on_map = (rows >= 0) & (rows < shape[0]) & (cols >= 0) & (cols < shape[1])
        height_map = np.zeros(shape, np.float32)
        np.maximum.at(height_map, (rows[on_map], cols[on_map]), z[on_map])
        return height_map

    def _people(self, height_map: np.ndarray) -> list[PersonDetection]:
        s = self._settings
        # Work on the occupied part of the floor only.
        left, top, width, height = cv2.boundingRect((height_map > 0).view(np.uint8))
        if width == 0:
            return []
        pad = self._peak_window
        r0, r1 = max(top - pad, 0), top + height + pad
        c0, c1 = max(left - pad, 0), left + width + pad
        window = height_map[r0:r1, c0:c1]
        floor_row, floor_col = r0 + self._map_rows.start, c0 + self._map_cols.start
        # Close the pinholes of missing depth inside a body before looking for heads.
        # (OpenCV's dilate and erode with ndimage's 'reflect' border: the same results as
        # ndimage.grey_closing and maximum_filter, several times faster.)
        filled = cv2.erode(cv2.dilate(window, _SQUARE_3, borderType=cv2.BORDER_REFLECT),
                           _SQUARE_3, borderType=cv2.BORDER_REFLECT)
        if s.depth_noise_mm_at_1m > 0:
            # A noisy camera's shoulders and arms make peaks of their own: smooth first.
            filled = cv2.GaussianBlur(filled, (5, 5), 1.0) * (filled > 0)
        peaks = (filled == cv2.dilate(filled, self._peak_square,
                                      borderType=cv2.BORDER_REFLECT)) & \
            (filled > s.min_head_height_m)
        labels, count = _label(peaks)
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
        cells = np.arange(len(region))
        to_own_head = distance_m[cells, region]
        near = distance_m[cells, nearest] < 0.25
        supports = np.bincount(nearest[near], minlength=len(heads))
        heights = filled[body_rows, body_cols]
        # Arm cells: within an arm's reach of their own head and below it.
        arm_cells = np.flatnonzero((to_own_head > s.reach_min_m) & (to_own_head <= s.reach_max_m)
                                   & (heights < head_z[region] - s.arm_below_head_m))
        arm_owners = region[arm_cells]
        people = []
        for index, ((row, col), top) in enumerate(zip(heads, head_z)):
            support = int(supports[index])
            if support < s.min_head_cells:
                continue
            x = self._floor.min_x + (floor_col + col + 0.5) * s.cell_m
            y = self._floor.min_y + (floor_row + row + 0.5) * s.cell_m
            arm = arm_cells[arm_owners == index]
            reach = self._hand(body_rows[arm] + floor_row, body_cols[arm] + floor_col,
                               heights[arm]) if len(arm) else None
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
        # A head is the mean of its peak's cells: rounded, it is a cell of the map.
        rows, cols = np.round(heads).astype(np.int64).T
        # A blob with a single head is all that head's (-1: a blob with none).
        blobs, blob_count = _label(body)
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
        limit_cells = self._settings.head_separation_m / self._settings.cell_m
        apart = np.linalg.norm(heads[:, None, :] - heads[None, :, :], axis=2) >= limit_cells
        if np.count_nonzero(apart) == len(heads) * (len(heads) - 1):    # the usual case
            return heads[order], head_z[order]
        kept: list[int] = []
        for i in order:
            if apart[i, kept].all():
                kept.append(int(i))
        return heads[kept], head_z[kept]

    def _hand(self, rows: np.ndarray, cols: np.ndarray, heights: np.ndarray):
        """Of an arm's cells (floor rows and columns, and heights with the body's pinholes
        closed: a hole's own reading is the floor), the one nearest a shelf front: where
        the hand is."""
        cells = self._settings.cell_m
        if self._shelf_distance is None:
            tip = 0
        else:
            tip = int(np.argmin(self._shelf_distance[rows - self._seen_rows.start,
                                                     cols - self._seen_cols.start]))
        return (float(self._floor.min_x + (cols[tip] + 0.5) * cells),
                float(self._floor.min_y + (rows[tip] + 0.5) * cells),
                float(heights[tip]))

    @staticmethod
    def _front_segment(box: ShelfBox) -> tuple[np.ndarray, np.ndarray]:
        """The shelf's front edge on the floor (its y = 0 side), in map."""
        to_map = np.linalg.inv(box.to_shelf)
        start = (to_map @ [0.0, 0.0, 0.0, 1.0])[:2]
        end = (to_map @ [box.size_m[0], 0.0, 0.0, 1.0])[:2]
        return start, end


def _label(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Connected regions of a mask (4-connected, numbered in raster order from 1), as
    ndimage.label numbers them, in OpenCV: a third of the time on our small windows."""
    count, labels = cv2.connectedComponents(mask.view(np.uint8), connectivity=4,
                                            ltype=cv2.CV_32S)
    return labels, count - 1


def _lift(origin: np.ndarray, rays: np.ndarray, depth_mm: np.ndarray) -> np.ndarray:
    """Pixels' points in map, (..., 3), from their rays and depths, as `detect` lifts them
    (the depth in metres in float32)."""
    return origin + rays * (depth_mm.astype(np.float32) * np.float32(0.001))[..., None]


def _depth_stretch_mm(from_m: np.ndarray, to_m: np.ndarray, holds) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    """Per pixel the whole millimetres (1..65535) of depth for which `holds(depth_mm)` is
    true, knowing it is true from about `from_m` to about `to_m` along the pixel's ray, as
    (lowest, highest) uint16 arrays; (65535, 0) where there are none. The ends are settled
    with `holds` itself: the detector's rounding decides a depth on a bound (a camera 3 m up
    looking straight down sees 0.7 m at exactly 2300 mm)."""
    with np.errstate(invalid='ignore'):
        lowest = np.clip(np.nan_to_num(np.round(from_m * 1000.0), nan=65536.0), 1, 65536)
        highest = np.clip(np.nan_to_num(np.round(to_m * 1000.0), nan=0.0), 0, 65535)
    lowest, highest = lowest.astype(np.int64), highest.astype(np.int64)
    some = lowest <= highest

    def true_at(depth_mm: np.ndarray) -> np.ndarray:
        return some & (depth_mm >= 1) & (depth_mm <= 65535) & \
            holds(np.clip(depth_mm, 0, 65535).astype(np.uint16))

    for _ in range(2):        # rounding puts an end at most a millimetre off
        lowest = np.where(true_at(lowest - 1), lowest - 1, lowest)
        lowest = np.where(some & ~true_at(lowest), lowest + 1, lowest)
        highest = np.where(true_at(highest + 1), highest + 1, highest)
        highest = np.where(some & ~true_at(highest), highest - 1, highest)
    none = ~some | (lowest > highest)
    lowest[none], highest[none] = 65535, 0
    return lowest.astype(np.uint16), highest.astype(np.uint16)


def _body_depths_mm(origin: np.ndarray, rays: np.ndarray,
                    settings: DetectorSettings) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel the depths (mm) at which its point is strictly between the lowest and the
    highest height a body point can have."""
    low, high = settings.min_body_height_m, settings.max_body_height_m
    rays_z = rays[..., 2]
    with np.errstate(divide='ignore', invalid='ignore'):
        at_low, at_high = (low - origin[2]) / rays_z, (high - origin[2]) / rays_z
    level = rays_z == 0      # a level ray stays at the camera's height
    inside = low < origin[2] < high
    after = np.where(level, 0.0 if inside else np.inf, np.minimum(at_low, at_high))
    before = np.where(level, np.inf if inside else -np.inf, np.maximum(at_low, at_high))

    def between(depth_mm: np.ndarray) -> np.ndarray:
        z = _lift(origin, rays, depth_mm)[..., 2]
        return (z > low) & (z < high)

    return _depth_stretch_mm(after, before, between)


def _outside(stretch: tuple[np.ndarray, np.ndarray],
             holes: list[tuple[np.ndarray, np.ndarray]]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per pixel the depths (mm) in `stretch` and in none of `holes` (each (lowest,
    highest) uint16 arrays, empty where lowest > highest), as a list of stretches: a pixel's
    first, its second, ... each (65535, 0) where the pixel has no more. At least one."""
    pieces = [tuple(bound.astype(np.int64) for bound in stretch)]
    for nearest, farthest in holes:
        nearest, farthest = nearest.astype(np.int64), farthest.astype(np.int64)
        hole = nearest <= farthest
        pieces = [piece for low, high in pieces for piece in (
            (low, np.where(hole, np.minimum(high, nearest - 1), high)),
            (np.where(hole, np.maximum(low, farthest + 1), 65535), np.where(hole, high, 0)))]
    lows, highs = np.stack([low for low, _ in pieces]), np.stack([high for _, high in pieces])
    empty = lows > highs
    lows[empty], highs[empty] = 65535, 0
    # Each pixel's stretches first, its empty ones after; then only as many as some pixel has.
    order = np.argsort(empty, axis=0, kind='stable')
    lows, highs = np.take_along_axis(lows, order, 0), np.take_along_axis(highs, order, 0)
    count = max(int((~empty).sum(axis=0).max()), 1)
    return [(lows[i].astype(np.uint16), highs[i].astype(np.uint16)) for i in range(count)]


def _widened(stretch: tuple[np.ndarray, np.ndarray],
             mm_per_mm2: float) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's stretch of depths (mm) widened at both ends by `mm_per_mm2` times the
    square of the depth there; empty ones stay empty."""
    if mm_per_mm2 == 0:
        return stretch
    lowest, highest = (bound.astype(np.float64) for bound in stretch)
    some = lowest <= highest
    lowest = np.where(some, np.clip(lowest - mm_per_mm2 * lowest ** 2, 1, 65535), 65535)
    highest = np.where(some, np.clip(highest + mm_per_mm2 * highest ** 2, 0, 65535), 0)
    return lowest.astype(np.uint16), highest.astype(np.uint16)


def _shelf_depths_mm(box: ShelfBox, origin: np.ndarray, rays: np.ndarray,
                     margin_m: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Per pixel the depths (mm) at which its point is inside the shelf's box widened by
    `margin_m`; None when no pixel's ray enters it."""
    rotation, translation = box.to_shelf[:3, :3], box.to_shelf[:3, 3]
    start = rotation @ origin + translation
    direction = rays @ rotation.T                 # (H, W, 3) in the shelf's frame
    nearest = np.zeros(rays.shape[:2])
    farthest = np.full(rays.shape[:2], np.inf)
    for axis, size in enumerate(box.size_m):
        low, high = -margin_m - start[axis], size + margin_m - start[axis]
        step = direction[..., axis]
        with np.errstate(divide='ignore', invalid='ignore'):
            # A ray parallel to the slab is inside it everywhere or nowhere.
            enter = np.where(step != 0, np.minimum(low / step, high / step),
                             np.where((low <= 0) & (high >= 0), -np.inf, np.inf))
            leave = np.where(step != 0, np.maximum(low / step, high / step),
                             np.where((low <= 0) & (high >= 0), np.inf, -np.inf))
        nearest, farthest = np.maximum(nearest, enter), np.minimum(farthest, leave)

    def inside(depth_mm: np.ndarray) -> np.ndarray:
        return inside_box(box, _lift(origin, rays, depth_mm), margin_m)

    lowest, highest = _depth_stretch_mm(nearest, farthest, inside)
    if not (lowest <= highest).any():
        return None
    return lowest, highest


def inside_box(box: ShelfBox, points: np.ndarray, margin_m: float) -> np.ndarray:
    """Which map points (..., 3) lie in the shelf's box widened by `margin_m`."""
    within = np.ones(points.shape[:-1], bool)
    for axis, size in enumerate(box.size_m):
        a, b, c, offset = box.to_shelf[axis]
        local = a * points[..., 0] + b * points[..., 1] + c * points[..., 2] + offset
        within &= (local >= -margin_m) & (local <= size + margin_m)
    return within


def _shelf_front_distances(shelves: list[ShelfBox], floor: FloorArea, rows: range,
                           cols: range, cell_m: float) -> np.ndarray | None:
    """Per floor cell of `rows` x `cols`, the distance from its centre to the nearest shelf
    front (None: no shelves, or no cells)."""
    if not shelves or not rows or not cols:
        return None
    row, col = np.meshgrid(np.array(rows), np.array(cols), indexing='ij')
    xy = np.stack([floor.min_x + (col.ravel() + 0.5) * cell_m,
                   floor.min_y + (row.ravel() + 0.5) * cell_m], axis=1)
    fronts = [OverheadDetector._front_segment(box) for box in shelves]
    return np.min([_segment_distance(xy, a, b) for a, b in fronts],
                  axis=0).reshape(len(rows), len(cols))


def _segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    along = b - a
    t = np.clip(((points - a) @ along) / float(along @ along), 0.0, 1.0)
    return np.linalg.norm(points - (a + t[:, None] * along), axis=1)
