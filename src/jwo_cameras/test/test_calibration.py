"""Calibration on images rendered here through cameras of known truth: board and floor
textures warped through the camera's projection (distortion included) with cv2.remap."""

import functools
import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from jwo_cameras.calibration import (CalibrationError, Checkerboard, CharucoBoard, FloorMarker,
                                     MountEstimate, calibrate_intrinsics, estimate_mount_pose,
                                     parse_board, rotation_from_rpy_deg, rpy_deg_from_rotation,
                                     write_mount_pose)
from jwo_cameras.camera_model import CameraModel
from jwo_common.frames import OPTICAL_FROM_LINK_XYZW, rotation_matrix
from jwo_common.store_config import load_store_config

STORE = Path(__file__).resolve().parents[3] / 'config' / 'london' / 'store.yaml'
TRUTH = CameraModel(640, 480, 600.0, 606.0, 322.0, 236.0, 'plumb_bob',
                    (-0.12, 0.03, 0.0, 0.0, 0.0))
SUPERSAMPLE = 2


@functools.lru_cache(maxsize=2)
def normalised_rays(model):
    """Undistorted (x, y) of every pixel centre of a supersampled render of `model`."""
    scale = SUPERSAMPLE
    u, v = np.meshgrid(np.arange(model.width * scale), np.arange(model.height * scale))
    pixels = np.stack([(u + 0.5) / scale - 0.5, (v + 0.5) / scale - 0.5], -1)
    normalised = cv2.undistortPointsIter(
        pixels.reshape(-1, 1, 2).astype(np.float64), model.k, model.d, None, None,
        (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-9))
    return normalised.reshape(model.height * scale, model.width * scale, 2)


def render_plane(model, texture, plane_to_texture, rotation, translation):
    """The view of a textured plane z=0 (plane points p: camera point = R p + t);
    `plane_to_texture(x, y)` -> texture (col, row)."""
    rays = normalised_rays(model)
    homography = np.column_stack([rotation[:, 0], rotation[:, 1], translation])
    rays_h = np.concatenate([rays, np.ones(rays.shape[:2] + (1,))], -1)
    plane = rays_h @ np.linalg.inv(homography).T
    in_front = plane[..., 2] > 0
    x, y = plane[..., 0] / plane[..., 2], plane[..., 1] / plane[..., 2]
    col, row = plane_to_texture(x, y)
    col = np.where(in_front, col, -1).astype(np.float32)
    row = np.where(in_front, row, -1).astype(np.float32)
    big = cv2.remap(texture, col, row, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                    borderValue=128)
    return cv2.resize(big, (model.width, model.height), interpolation=cv2.INTER_AREA)


def board_views(count, seed=3):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        rvec = np.array([rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5), rng.uniform(-0.3, 0.3)])
        rotation = cv2.Rodrigues(rvec)[0]
        translation = np.array([rng.uniform(-0.12, 0.0), rng.uniform(-0.1, 0.0),
                                rng.uniform(0.45, 0.7)])
        yield rotation, translation


def checkerboard_texture(board, px_per_m):
    squares = np.indices((board.rows + 1, board.columns + 1)).sum(0) % 2
    square_px = int(round(board.square_m * px_per_m))
    image = np.kron(squares, np.ones((square_px, square_px))).astype(np.uint8) * 255
    margin = square_px
    return cv2.copyMakeBorder(image, margin, margin, margin, margin, cv2.BORDER_CONSTANT,
                              value=255), margin


def test_checkerboard_calibration_recovers_the_intrinsics_within_one_percent():
    board = Checkerboard(9, 6, 0.03)
    px_per_m = 4000
    texture, margin = checkerboard_texture(board, px_per_m)
    # Board point (0, 0) is the first inner corner, one square inside the squares' corner.
    def to_texture(x, y):
        return margin + (x + board.square_m) * px_per_m - 0.5, \
            margin + (y + board.square_m) * px_per_m - 0.5
    images = [(f'view_{i}.png', render_plane(TRUTH, texture, to_texture, r, t))
              for i, (r, t) in enumerate(board_views(12))]
    images.append(('blank.png', np.full((480, 640), 128, np.uint8)))
    result = calibrate_intrinsics(images, board, 'test_cam')
    # Some random views put part of the board out of the picture.
    assert 'blank.png' in result.images_without_board and len(result.images_used) >= 10
    for name in ('fx', 'fy', 'cx', 'cy'):
        assert getattr(result.model, name) == pytest.approx(getattr(TRUTH, name), rel=0.01), name
    assert result.model.distortion[0] == pytest.approx(-0.12, abs=0.03)
    assert result.rms_px < 0.5


def test_charuco_calibration_recovers_the_intrinsics_within_one_percent():
    board = CharucoBoard(7, 5, 0.04, 0.03, 'DICT_4X4_50')
    square_px = 160
    texture = board.cv_board().generateImage((7 * square_px, 5 * square_px), marginSize=0)
    px_per_m = square_px / board.square_m

    def to_texture(x, y):
        return x * px_per_m - 0.5, y * px_per_m - 0.5
    images = [(f'view_{i}.png', render_plane(TRUTH, texture, to_texture, r, t + [-0.02, 0, 0]))
              for i, (r, t) in enumerate(board_views(10, seed=5))]
    result = calibrate_intrinsics(images, board)
    assert len(result.images_used) >= 8
    for name in ('fx', 'fy', 'cx', 'cy'):
        assert getattr(result.model, name) == pytest.approx(getattr(TRUTH, name), rel=0.01), name
    assert result.rms_px < 0.5


def test_too_few_views_and_bad_board_specs_are_refused():
    with pytest.raises(CalibrationError, match='found in 0 of 1 images'):
        calibrate_intrinsics([('a.png', np.zeros((48, 64), np.uint8))], Checkerboard(9, 6, 0.03))
    assert parse_board('charuco:7x5:0.04:0.03') == CharucoBoard(7, 5, 0.04, 0.03)
    with pytest.raises(CalibrationError, match='expected checkerboard'):
        parse_board('checkerboard:9:0.03')


def floor_texture(markers, dictionary, origin, size_m, m_per_px, unknown_marker):
    width, height = int(size_m[0] / m_per_px), int(size_m[1] / m_per_px)
    texture = np.full((height, width), 170, np.uint8)
    aruco = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, dictionary))
    for marker in markers + [unknown_marker]:
        side_px = int(round(marker.size_m / m_per_px))
        image = cv2.aruco.generateImageMarker(aruco, marker.id, side_px)
        image = np.rot90(image, int(round(marker.yaw_deg / 90)) % 4)   # +yaw: counter-clockwise
        quiet = side_px // 6
        image = cv2.copyMakeBorder(image, quiet, quiet, quiet, quiet, cv2.BORDER_CONSTANT,
                                   value=255)
        col = int(round((marker.x - origin[0]) / m_per_px)) - image.shape[1] // 2
        row = int(round((origin[1] + size_m[1] - marker.y) / m_per_px)) - image.shape[0] // 2
        texture[row:row + image.shape[0], col:col + image.shape[1]] = image
    return texture


def render_floor(model, mount, markers, unknown_marker):
    origin, size_m, m_per_px = (-0.5, -1.0), (7.0, 6.0), 0.004
    texture = floor_texture(markers, 'DICT_4X4_50', origin, size_m, m_per_px, unknown_marker)
    link = rotation_from_rpy_deg(*mount[3:])
    optical_in_map = link @ rotation_matrix(OPTICAL_FROM_LINK_XYZW)
    rotation = optical_in_map.T                              # map -> optical
    translation = -rotation @ np.asarray(mount[:3])

    def to_texture(x, y):
        # marker pixel centres sit at (col + 0.5) * m_per_px from the texture's corner
        return (x - origin[0]) / m_per_px - 0.5, (origin[1] + size_m[1] - y) / m_per_px - 0.5
    return render_plane(model, texture, to_texture, rotation, translation), optical_in_map


def test_mount_pose_from_floor_markers_within_2_cm_and_1_degree_and_written_back(tmp_path):
    model = CameraModel(320, 240, 168.6, 168.6, 159.5, 119.5)    # a D435's depth at 320 x 240
    truth = (3.03, 1.96, 3.47, 1.5, 88.0, 4.0)         # x y z roll pitch yaw
    markers = [FloorMarker(i, x, y, 0.45, yaw) for i, (x, y, yaw) in enumerate(
        [(1.4, 0.0, 0), (3.0, -0.2, 90), (4.6, 0.1, 0), (1.5, 2.0, 180), (4.5, 2.1, 0),
         (1.4, 3.9, 270), (3.1, 4.1, 0), (4.6, 3.8, 90)])]
    image, optical_in_map = render_floor(model, truth, markers, FloorMarker(40, 2.0, 2.0, 0.45))
    estimate = estimate_mount_pose(image, model, markers, 'DICT_4X4_50')
    assert sorted(estimate.markers_used) == list(range(8))       # marker 40 is not ours
    position_error_m = math.dist((estimate.x, estimate.y, estimate.z), truth[:3])
    angle_error = np.degrees(np.arccos(np.clip(
        (np.trace(estimate.link_rotation().T @ rotation_from_rpy_deg(*truth[3:])) - 1) / 2,
        -1, 1)))
    assert position_error_m < 0.02
    assert angle_error < 1.0
    assert estimate.rms_px < 1.0

    store = tmp_path / 'store.yaml'
    shutil.copy(STORE, store)
    write_mount_pose(store, 'cam_01', estimate)
    before, after = STORE.read_text().splitlines(), store.read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    assert len(before) == len(after) and len(changed) == 1
    assert changed[0][0].strip().startswith('mount: {x: 2.0') and 'pitch_deg: 8' in changed[0][1]
    mount = load_store_config(store).camera('cam_01').mount
    assert (mount.x, mount.y, mount.z) == pytest.approx(truth[:3], abs=0.02)


def test_rpy_extraction_inverts_the_config_convention_even_looking_straight_down():
    for rpy in [(1.5, 88.0, 4.0), (-20, 10, 170), (0.0, 90.0, 30.0), (0.0, -90.0, -60.0)]:
        rotation = rotation_from_rpy_deg(*rpy)
        np.testing.assert_allclose(rotation_from_rpy_deg(*rpy_deg_from_rotation(rotation)),
                                   rotation, atol=1e-9)


def test_no_known_marker_is_a_clear_error(tmp_path):
    model = CameraModel(320, 240, 168.6, 168.6, 159.5, 119.5)
    with pytest.raises(CalibrationError, match='no known floor marker'):
        estimate_mount_pose(np.full((240, 320), 170, np.uint8), model,
                            [FloorMarker(0, 1.0, 1.0, 0.4)])
    with pytest.raises(CalibrationError, match="no camera 'cam_42'"):
        write_mount_pose(shutil.copy(STORE, tmp_path / 's.yaml'), 'cam_42',
                         MountEstimate(0, 0, 3, 0, 90, 0, 0.1, [0]))
