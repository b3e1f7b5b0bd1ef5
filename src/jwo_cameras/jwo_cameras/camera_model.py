"""A camera's intrinsics as ROS CameraInfo uses them, and the camera_info YAML files
that `camera_calibration_parsers` reads and writes (ROS-free)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from jwo_common.store_config import Camera, StoreConfig

_IDENTITY_3X3 = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


class CameraInfoFileError(ValueError):
    """A camera_info YAML file that cannot be used; the message names the file and field."""


@dataclass(frozen=True)
class CameraModel:
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    distortion_model: str = 'plumb_bob'
    distortion: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)
    camera_name: str = ''

    @property
    def k(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def p(self) -> np.ndarray:
        """3x4 projection of a monocular camera: K with a zero translation column."""
        return np.hstack([self.k, np.zeros((3, 1))])

    @property
    def d(self) -> np.ndarray:
        return np.asarray(self.distortion, dtype=np.float64)


def camera_model(config: StoreConfig, camera: Camera) -> CameraModel:
    """The camera's intrinsics from the store config, inline or from its calibration file."""
    if camera.calibration_file is not None:
        model = read_camera_info(config.resolve_path(camera.calibration_file))
        if (model.width, model.height) != (camera.width, camera.height):
            raise CameraInfoFileError(
                f'{camera.calibration_file}: image_width x image_height {model.width}x'
                f'{model.height} does not match camera {camera.id} ({camera.width}x'
                f'{camera.height})')
        return model
    intrinsics = camera.intrinsics
    return CameraModel(camera.width, camera.height, intrinsics.fx, intrinsics.fy, intrinsics.cx,
                       intrinsics.cy, intrinsics.distortion_model, tuple(intrinsics.distortion),
                       camera.id)


def _matrix(data: dict, key: str, rows: int, cols: int | None, path: Path) -> list[float]:
    entry = data.get(key)
    values = entry.get('data') if isinstance(entry, dict) else None
    if not isinstance(values, list) or not all(isinstance(v, (int, float)) for v in values) \
            or (cols is not None and len(values) != rows * cols):
        size = f'{rows * cols} numbers' if cols is not None else 'a list of numbers'
        raise CameraInfoFileError(f'{path}: {key}.data: expected {size}')
    return [float(v) for v in values]


def read_camera_info(path: str | Path) -> CameraModel:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding='utf-8'))
    except OSError as error:
        raise CameraInfoFileError(f'{path}: cannot read: {error.strerror}') from None
    except yaml.YAMLError as error:
        raise CameraInfoFileError(f'{path}: invalid YAML: {error}') from None
    if not isinstance(data, dict):
        raise CameraInfoFileError(f'{path}: expected a camera_info mapping')
    for key in ('image_width', 'image_height'):
        if not isinstance(data.get(key), int) or data[key] <= 0:
            raise CameraInfoFileError(f'{path}: {key}: expected a positive integer')
    k = _matrix(data, 'camera_matrix', 3, 3, path)
    distortion = _matrix(data, 'distortion_coefficients', 1, None, path)
    return CameraModel(data['image_width'], data['image_height'], k[0], k[4], k[2], k[5],
                       str(data.get('distortion_model', 'plumb_bob')), tuple(distortion),
                       str(data.get('camera_name', '')))


def camera_info_yaml(model: CameraModel, comment: str = '') -> str:
    """The camera_info YAML text of `model` (the layout camera_calibration_parsers writes)."""
    def matrix(rows: int, cols: int, values) -> dict:
        return {'rows': rows, 'cols': cols, 'data': [float(v) for v in values]}

    document = {
        'image_width': model.width,
        'image_height': model.height,
        'camera_name': model.camera_name,
        'camera_matrix': matrix(3, 3, model.k.ravel()),
        'distortion_model': model.distortion_model,
        'distortion_coefficients': matrix(1, len(model.distortion), model.distortion),
        'rectification_matrix': matrix(3, 3, _IDENTITY_3X3),
        'projection_matrix': matrix(3, 4, model.p.ravel()),
    }
    header = ''.join(f'# {line}\n' for line in comment.splitlines())
    return header + yaml.safe_dump(document, sort_keys=False, default_flow_style=None)
