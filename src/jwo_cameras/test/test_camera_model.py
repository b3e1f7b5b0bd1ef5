from pathlib import Path

import numpy as np
import pytest
import yaml

from jwo_cameras.camera_model import (CameraInfoFileError, CameraModel, camera_info_yaml,
                                      camera_model, read_camera_info)
from jwo_common.store_config import load_store_config

STORE = Path(__file__).resolve().parents[3] / 'config' / 'london' / 'store.yaml'


def test_camera_info_yaml_round_trips_in_the_ros_layout(tmp_path):
    model = CameraModel(640, 480, 610.5, 611.25, 322.0, 241.5, 'plumb_bob',
                        (0.1, -0.2, 0.001, 0.002, 0.05), 'gate_cam')
    path = tmp_path / 'gate_cam.yaml'
    path.write_text(camera_info_yaml(model, 'RMS reprojection error: 0.12 px'))
    text = path.read_text()
    assert text.startswith('# RMS reprojection error: 0.12 px\n')
    data = yaml.safe_load(text)
    assert data['camera_matrix'] == {'rows': 3, 'cols': 3,
                                     'data': [610.5, 0.0, 322.0, 0.0, 611.25, 241.5, 0, 0, 1]}
    assert data['projection_matrix']['cols'] == 4
    assert read_camera_info(path) == model


def test_store_camera_intrinsics_inline_or_from_a_calibration_file(tmp_path):
    config = load_store_config(STORE)
    model = camera_model(config, config.camera('cam_01'))
    np.testing.assert_allclose(model.k, [[84.3, 0, 79.5], [0, 84.3, 59.5], [0, 0, 1]])
    data = yaml.safe_load(STORE.read_text())
    camera = data['cameras'][0]
    del camera['intrinsics']
    camera['calibration_file'] = 'calibration/cam_01.yaml'
    (tmp_path / 'calibration').mkdir()
    (tmp_path / 'calibration' / 'cam_01.yaml').write_text(
        camera_info_yaml(CameraModel(160, 120, 85.0, 85.5, 80.0, 60.0)))
    (tmp_path / 'store.yaml').write_text(yaml.safe_dump(data))
    config = load_store_config(tmp_path / 'store.yaml')
    assert camera_model(config, config.camera('cam_01')).fy == 85.5
    (tmp_path / 'calibration' / 'cam_01.yaml').write_text(
        camera_info_yaml(CameraModel(640, 480, 170.0, 171.0, 160.0, 120.0)))
    with pytest.raises(CameraInfoFileError, match='640x480 does not match camera cam_01'):
        camera_model(config, config.camera('cam_01'))


def test_a_broken_camera_info_file_is_refused_naming_the_field(tmp_path):
    path = tmp_path / 'bad.yaml'
    path.write_text('image_width: 320\nimage_height: 240\ncamera_matrix: {data: [1, 2]}\n')
    with pytest.raises(CameraInfoFileError, match=r'bad.yaml: camera_matrix.data: expected 9'):
        read_camera_info(path)
    with pytest.raises(CameraInfoFileError, match='cannot read'):
        read_camera_info(tmp_path / 'missing.yaml')
