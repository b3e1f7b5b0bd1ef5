"""Publishes the store's camera mount poses as static TF: map -> <cam>_link -> <cam>_optical_frame."""

from __future__ import annotations

from dataclasses import dataclass

from rclpy.node import Node

from jwo_common.frames import camera_transforms
from jwo_common.node_main import run_node
from jwo_common.parameters import declare_settings, param
from jwo_common.store_config import load_store_config
from jwo_common.tf import StaticTransformPublisher


@dataclass(frozen=True)
class ExtrinsicsSettings:
    store_config: str = param('', 'Path of the store config YAML', read_only=True)
    camera_ids: list[str] = param([], 'Cameras whose frames to publish; empty = all in the store',
                                  read_only=True)


class CameraExtrinsicsNode(Node):
    def __init__(self, **kwargs):
        super().__init__('camera_extrinsics', **kwargs)
        settings = declare_settings(self, ExtrinsicsSettings)
        config = load_store_config(settings.store_config)
        known = {camera.id for camera in config.cameras}
        unknown = sorted(set(settings.camera_ids) - known)
        if unknown:
            raise ValueError(f'parameter camera_ids: unknown cameras {unknown} in '
                             f'{settings.store_config} (known: {sorted(known)})')
        cameras = [c for c in config.cameras
                   if not settings.camera_ids or c.id in settings.camera_ids]
        self._static_tf = StaticTransformPublisher(self)
        self._static_tf.send(t for camera in cameras for t in camera_transforms(camera))
        self.get_logger().info(f'published static TF of {len(cameras)} cameras of store '
                               f'{config.store.id}')


def main(args=None):
    run_node(CameraExtrinsicsNode, args)


if __name__ == '__main__':
    main()
