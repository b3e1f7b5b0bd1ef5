"""Camera calibration (ROS-free).

- Intrinsics from several views of a checkerboard or ChArUco board (`calibrate_intrinsics`),
  with the RMS reprojection error in pixels.
- Extrinsics: the mount pose of `<camera>_link` in `map` from ArUco markers lying at known
  floor positions, seen in one image (`estimate_mount_pose`), and writing it back into the
  store config without touching the rest of the file (`write_mount_pose`).

A floor marker's frame: its centre at (x, y, 0) in `map`, rotated by `yaw_deg` about z;
printed so that its top edge faces the marker's +y (looking down on it). With yaw 0 the
top edge faces north (+y of `map`).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from jwo_cameras.camera_model import CameraModel
from jwo_common.frames import OPTICAL_FROM_LINK_XYZW, rotation_matrix
from jwo_common.store_config import StoreConfigError, parse_store_config


class CalibrationError(ValueError):
    """Calibration could not be done; the message says why (too few views, no markers...)."""


@dataclass(frozen=True)
class Checkerboard:
    columns: int              # inner corners across
    rows: int                 # inner corners down
    square_m: float

    def object_points(self) -> np.ndarray:
        grid = np.mgrid[0:self.columns, 0:self.rows].T.reshape(-1, 2)
        return np.hstack([grid * self.square_m, np.zeros((len(grid), 1))]).astype(np.float32)


@dataclass(frozen=True)
class CharucoBoard:
    squares_x: int
    squares_y: int
    square_m: float
    marker_m: float
    dictionary: str = 'DICT_4X4_50'

    def cv_board(self):
        dictionary = cv2.aruco.getPredefinedDictionary(aruco_dictionary_id(self.dictionary))
        return cv2.aruco.CharucoBoard((self.squares_x, self.squares_y), self.square_m,
                                      self.marker_m, dictionary)


def aruco_dictionary_id(name: str) -> int:
    value = getattr(cv2.aruco, name, None)
    if not name.startswith('DICT_') or not isinstance(value, int):
        raise CalibrationError(f'unknown ArUco dictionary {name!r} (e.g. DICT_4X4_50)')
    return value


def parse_board(spec: str) -> Checkerboard | CharucoBoard:
    """'checkerboard:COLSxROWS:SQUARE_M' (inner corners) or
    'charuco:SQUARESXxSQUARESY:SQUARE_M:MARKER_M[:DICT]'."""
    parts = spec.split(':')
    try:
        columns, rows = (int(v) for v in parts[1].lower().split('x'))
        if parts[0] == 'checkerboard' and len(parts) == 3:
            return Checkerboard(columns, rows, float(parts[2]))
        if parts[0] == 'charuco' and len(parts) in (4, 5):
            return CharucoBoard(columns, rows, float(parts[2]), float(parts[3]),
                                *(parts[4:] or []))
    except (IndexError, ValueError):
        pass
    raise CalibrationError(f'board {spec!r}: expected checkerboard:COLSxROWS:SQUARE_M or '
                           f'charuco:SQUARESXxSQUARESY:SQUARE_M:MARKER_M[:DICT]')


def find_board(gray: np.ndarray, board: Checkerboard | CharucoBoard
               ) -> tuple[np.ndarray, np.ndarray] | None:
    """(object points Nx3, image points Nx2) of the board in one image, or None."""
    if isinstance(board, Checkerboard):
        found, corners = cv2.findChessboardCornersSB(gray, (board.columns, board.rows),
                                                     flags=cv2.CALIB_CB_ACCURACY)
        if not found:
            return None
        return board.object_points(), corners.reshape(-1, 2).astype(np.float32)
    detector = cv2.aruco.CharucoDetector(board.cv_board())
    corners, ids, _, _ = detector.detectBoard(gray)
    if ids is None or len(ids) < 6:      # fewer corners say little about the lens
        return None
    objects = board.cv_board().getChessboardCorners()[ids.ravel()]
    return objects.astype(np.float32), corners.reshape(-1, 2).astype(np.float32)


@dataclass(frozen=True)
class IntrinsicsResult:
    model: CameraModel
    rms_px: float
    images_used: list[str]
    images_without_board: list[str]


def calibrate_intrinsics(images: Sequence[tuple[str, np.ndarray]],
                         board: Checkerboard | CharucoBoard,
                         camera_name: str = '') -> IntrinsicsResult:
    """Images as (name, grey or rgb array); all of one size. plumb_bob model (k1 k2 p1 p2 k3)."""
    object_points, image_points, used, missed = [], [], [], []
    size = None
    for name, image in images:
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        if size is None:
            size = gray.shape[::-1]
        elif gray.shape[::-1] != size:
            raise CalibrationError(f'{name}: size {gray.shape[1]}x{gray.shape[0]} differs from '
                                   f'the first image ({size[0]}x{size[1]})')
        found = find_board(gray, board)
        if found is None:
            missed.append(name)
            continue
        object_points.append(found[0])
        image_points.append(found[1])
        used.append(name)
    if len(used) < 3:
        raise CalibrationError(f'the board was found in {len(used)} of {len(images)} images; '
                               f'at least 3 views at different angles are needed')
    rms, k, distortion, _, _ = cv2.calibrateCamera(object_points, image_points, size, None, None)
    model = CameraModel(size[0], size[1], float(k[0, 0]), float(k[1, 1]), float(k[0, 2]),
                        float(k[1, 2]), 'plumb_bob', tuple(float(v) for v in distortion.ravel()),
                        camera_name)
    return IntrinsicsResult(model, float(rms), used, missed)


@dataclass(frozen=True)
class FloorMarker:
    id: int
    x: float
    y: float
    size_m: float
    yaw_deg: float = 0.0

    def corners_map(self) -> np.ndarray:
        """4x3 corners in ArUco's order (top-left, top-right, bottom-right, bottom-left)."""
        half = self.size_m / 2
        local = np.array([[-half, half], [half, half], [half, -half], [-half, -half]])
        yaw = math.radians(self.yaw_deg)
        rotation = np.array([[math.cos(yaw), -math.sin(yaw)], [math.sin(yaw), math.cos(yaw)]])
        xy = local @ rotation.T + (self.x, self.y)
        return np.hstack([xy, np.zeros((4, 1))])


@dataclass(frozen=True)
class MountEstimate:
    x: float
    y: float
    z: float
    roll_deg: float
    pitch_deg: float
    yaw_deg: float
    rms_px: float
    markers_used: list[int]

    def link_rotation(self) -> np.ndarray:
        return rotation_from_rpy_deg(self.roll_deg, self.pitch_deg, self.yaw_deg)


def rotation_from_rpy_deg(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """Fixed-axis roll, pitch, yaw (as tf2 and the store config use them): Rz Ry Rx."""
    r, p, y = (math.radians(a) for a in (roll, pitch, yaw))
    rx = np.array([[1, 0, 0], [0, math.cos(r), -math.sin(r)], [0, math.sin(r), math.cos(r)]])
    ry = np.array([[math.cos(p), 0, math.sin(p)], [0, 1, 0], [-math.sin(p), 0, math.cos(p)]])
    rz = np.array([[math.cos(y), -math.sin(y), 0], [math.sin(y), math.cos(y), 0], [0, 0, 1]])
    return rz @ ry @ rx


def rpy_deg_from_rotation(rotation: np.ndarray) -> tuple[float, float, float]:
    """Inverse of `rotation_from_rpy_deg`; looking straight down (pitch 90) roll and yaw
    turn about the same axis, so roll is 0 and yaw carries the turn."""
    pitch = math.asin(max(-1.0, min(1.0, -rotation[2, 0])))
    if abs(math.cos(pitch)) > 1e-6:
        roll = math.atan2(rotation[2, 1], rotation[2, 2])
        yaw = math.atan2(rotation[1, 0], rotation[0, 0])
    else:
        roll = 0.0
        yaw = math.atan2(-rotation[0, 1], rotation[1, 1])
    return math.degrees(roll), math.degrees(pitch), math.degrees(yaw)


def estimate_mount_pose(gray: np.ndarray, model: CameraModel, markers: Sequence[FloorMarker],
                        dictionary: str = 'DICT_4X4_50') -> MountEstimate:
    """The camera's `<id>_link` pose in `map` from the floor markers it sees."""
    known = {m.id: m for m in markers}
    detector = cv2.aruco.ArucoDetector(
        cv2.aruco.getPredefinedDictionary(aruco_dictionary_id(dictionary)),
        _subpixel_parameters())
    corners, ids, _ = detector.detectMarkers(gray)
    seen = [] if ids is None else [int(i) for i in ids.ravel()]
    used = [i for i in seen if i in known]
    if not used:
        raise CalibrationError(f'no known floor marker in the image (seen: {seen or "none"}, '
                               f'known: {sorted(known)})')
    object_points = np.vstack([known[i].corners_map() for i in used])
    image_points = np.vstack([corners[seen.index(i)].reshape(4, 2) for i in used])
    method = cv2.SOLVEPNP_IPPE if len(used) == 1 else cv2.SOLVEPNP_ITERATIVE
    ok, rvec, tvec = cv2.solvePnP(object_points, image_points, model.k, model.d, flags=method)
    if not ok:
        raise CalibrationError('solvePnP found no pose for the markers')
    rvec, tvec = cv2.solvePnPRefineLM(object_points, image_points, model.k, model.d, rvec, tvec)
    projected, _ = cv2.projectPoints(object_points, rvec, tvec, model.k, model.d)
    rms = float(np.sqrt(np.mean(np.sum((projected.reshape(-1, 2) - image_points) ** 2, axis=1))))
    map_to_optical = cv2.Rodrigues(rvec)[0]
    optical_in_map = map_to_optical.T
    position = (-optical_in_map @ tvec).ravel()
    link_in_map = optical_in_map @ rotation_matrix(OPTICAL_FROM_LINK_XYZW).T
    roll, pitch, yaw = rpy_deg_from_rotation(link_in_map)
    return MountEstimate(float(position[0]), float(position[1]), float(position[2]),
                         roll, pitch, yaw, rms, used)


def _subpixel_parameters():
    parameters = cv2.aruco.DetectorParameters()
    parameters.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    return parameters


def read_floor_markers(path: str | Path) -> tuple[str, list[FloorMarker]]:
    """A markers YAML: `dictionary: DICT_4X4_50` and `markers: [{id, x, y, size_m,
    yaw_deg}]` -> (dictionary, markers)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding='utf-8'))
        dictionary = str(data.get('dictionary', 'DICT_4X4_50'))
        markers = [FloorMarker(int(m['id']), float(m['x']), float(m['y']), float(m['size_m']),
                               float(m.get('yaw_deg', 0.0))) for m in data['markers']]
    except OSError as error:
        raise CalibrationError(f'{path}: cannot read: {error.strerror}') from None
    except (yaml.YAMLError, AttributeError, KeyError, TypeError, ValueError) as error:
        raise CalibrationError(f'{path}: expected dictionary and markers: [{{id, x, y, size_m, '
                               f'yaw_deg}}]: {error}') from None
    return dictionary, markers


def write_mount_pose(store_path: str | Path, camera_id: str, estimate: MountEstimate) -> str:
    """Replaces `cameras[<camera_id>].mount` in the store config file, keeping every other
    line (comments, order, number spelling); returns the new text. The result is validated
    before the file is written."""
    path = Path(store_path)
    round_trip = YAML()
    round_trip.preserve_quotes = True
    round_trip.width = 4096
    data = round_trip.load(path.read_text(encoding='utf-8'))
    cameras = data.get('cameras') or []
    camera = next((c for c in cameras if c.get('id') == camera_id), None)
    if camera is None:
        raise CalibrationError(f'{path}: cameras: no camera {camera_id!r}')
    mount = CommentedMap([('x', round(estimate.x, 4)), ('y', round(estimate.y, 4)),
                          ('z', round(estimate.z, 4)), ('roll_deg', round(estimate.roll_deg, 3)),
                          ('pitch_deg', round(estimate.pitch_deg, 3)),
                          ('yaw_deg', round(estimate.yaw_deg, 3))])
    mount.fa.set_flow_style()
    camera['mount'] = mount
    out = io.StringIO()
    round_trip.dump(data, out)
    try:
        parse_store_config(yaml.safe_load(out.getvalue()), path)
    except StoreConfigError as error:
        raise CalibrationError(f'the updated config would not load: {error}') from None
    path.write_text(out.getvalue(), encoding='utf-8')
    return out.getvalue()
