"""Publishes each shelf's frame as static TF: map -> <shelf>_link (front-left floor corner)."""

from __future__ import annotations

from dataclasses import dataclass

from rclpy.node import Node

from jwo_common.frames import shelf_transform
from jwo_common.node_main import run_node
from jwo_common.parameters import declare_settings, param
from jwo_common.store_config import load_store_config
from jwo_common.tf import StaticTransformPublisher


@dataclass(frozen=True)
class ShelfFramesSettings:
    store_config: str = param('', 'Path of the store config YAML', read_only=True)


class ShelfFramesNode(Node):
    def __init__(self, **kwargs):
        super().__init__('shelf_frames', **kwargs)
        settings = declare_settings(self, ShelfFramesSettings)
        config = load_store_config(settings.store_config)
        self._static_tf = StaticTransformPublisher(self)
        self._static_tf.send(shelf_transform(shelf) for shelf in config.shelves)
        self.get_logger().info(f'published static TF of {len(config.shelves)} shelves of store '
                               f'{config.store.id}')


def main(args=None):
    run_node(ShelfFramesNode, args)


if __name__ == '__main__':
    main()
