import math
from pathlib import Path

import numpy as np
import pytest

from jwo_common.frames import (camera_optical_frame, optical_to_map, quaternion_from_rpy,
                               rotation_matrix, shelf_to_map, store_static_transforms)
from jwo_common.store_config import load_store_config

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope='module')
def london():
    return load_store_config(REPO / 'config' / 'london' / 'store.yaml')


def test_yaw_quaternion_rotates_x_to_y():
    rotation = rotation_matrix(quaternion_from_rpy(0.0, 0.0, math.pi / 2))
    np.testing.assert_allclose(rotation @ [1, 0, 0], [0, 1, 0], atol=1e-12)


def test_quaternions_are_unit_length():
    for rpy in [(0.3, -1.2, 2.0), (math.pi, 0.0, 0.0), (0.0, math.pi / 2, 0.1)]:
        assert np.linalg.norm(quaternion_from_rpy(*rpy)) == pytest.approx(1.0)


def test_overhead_camera_looks_down_with_image_top_east(london):
    # cam_01 hangs at 3.5 m, its link pitched 90 deg down from facing east: optical z
    # (forward) points to the floor, the image's top (-y) east and its x axis south.
    camera = london.camera('cam_01')
    to_map = optical_to_map(camera)
    np.testing.assert_allclose(to_map[:3, 2], [0, 0, -1], atol=1e-12)
    centre_ray_hits_floor = to_map @ [0, 0, camera.mount.z, 1]
    np.testing.assert_allclose(centre_ray_hits_floor[:3], [camera.mount.x, camera.mount.y, 0],
                               atol=1e-9)
    np.testing.assert_allclose(to_map[:3, 1], [-1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(to_map[:3, 0], [0, -1, 0], atol=1e-12)


def test_shelf_frame_rotated_180_faces_north(london):
    shelf = london.shelf('shelf_c')   # yaw 180: front-left corner at its (x, y), body to the south
    to_map = shelf_to_map(shelf)
    np.testing.assert_allclose((to_map @ [shelf.width_m, shelf.depth_m, 0, 1])[:2],
                               [shelf.x - shelf.width_m, shelf.y - shelf.depth_m], atol=1e-9)


def test_every_camera_and_shelf_has_frames(london):
    children = {t.child for t in store_static_transforms(london)}
    assert {camera_optical_frame(c.id) for c in london.cameras} <= children
    assert {f'{s.id}_link' for s in london.shelves} <= children
