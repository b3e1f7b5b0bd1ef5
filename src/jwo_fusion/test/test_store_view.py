"""The Foxglove store view: RViz markers and TF become Foxglove scene updates and frame
transforms, and a viewer connecting over the WebSocket gets the store's layout and TF."""

import asyncio
import base64
import json
import struct
import threading
from pathlib import Path

import pytest
import rclpy
import websockets
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from visualization_msgs.msg import Marker, MarkerArray

from jwo_cameras.extrinsics_node import CameraExtrinsicsNode
from jwo_common.store_config import load_store_config
from jwo_fusion.store_markers_node import StoreMarkersNode
from jwo_fusion.store_view_node import StoreViewNode, scene_update

STORE = Path(__file__).resolve().parents[3] / 'config' / 'london' / 'store.yaml'
MESSAGE_DATA = 1        # opcode of a binary message frame in the Foxglove WebSocket protocol


def decoder(schema_name: str, schema_data: bytes):
    """Decodes what a Foxglove viewer receives, from the schema the server advertised."""
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(schema_data).file:
        pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(schema_name)).FromString


def test_markers_become_scene_entities():
    cube = Marker(ns='shelves', id=3, type=Marker.CUBE, action=Marker.ADD)
    cube.header.frame_id = 'map'
    cube.pose.position.x, cube.scale.x, cube.scale.y, cube.scale.z = 2.5, 1.0, 0.5, 2.0
    cube.color.g, cube.color.a = 1.0, 0.8
    label = Marker(ns='labels', id=1, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD,
                   text='shelf_a')
    label.scale.z = 0.3
    arrow = Marker(ns='other', id=9, type=Marker.ARROW, action=Marker.ADD)
    update = scene_update(MarkerArray(markers=[Marker(action=Marker.DELETEALL), cube, label,
                                               arrow]))
    schema = update.get_schema()
    decoded = decoder(schema.name, bytes(schema.data))(bytes(update.encode()))
    assert len(decoded.deletions) == 1
    assert [e.id for e in decoded.entities] == ['shelves/3', 'labels/1']
    [box] = decoded.entities[0].cubes
    assert (box.pose.position.x, box.size.x, box.size.y, box.size.z) == (2.5, 1.0, 0.5, 2.0)
    assert decoded.entities[0].frame_id == 'map'
    assert box.color.g == 1.0 and box.color.a == pytest.approx(0.8)
    assert decoded.entities[1].texts[0].text == 'shelf_a'


async def watch(port: int, topics: list[str], timeout_s: float) -> dict[str, list]:
    """A viewer: connects, subscribes to `topics`, returns what it got on each."""
    got = {topic: [] for topic in topics}
    async with websockets.connect(f'ws://127.0.0.1:{port}',
                                  subprotocols=['foxglove.sdk.v1', 'foxglove.websocket.v1'],
                                  max_size=None) as socket:
        channels, subscribed = {}, {}
        async with asyncio.timeout(timeout_s):
            while not all(got.values()):
                frame = await socket.recv()
                if isinstance(frame, str):
                    message = json.loads(frame)
                    if message['op'] == 'advertise':
                        channels.update({c['topic']: c for c in message['channels']})
                        wanted = [t for t in topics if t in channels and t not in
                                  subscribed.values()]
                        for topic in wanted:
                            subscribed[len(subscribed) + 1] = topic
                        await socket.send(json.dumps({'op': 'subscribe', 'subscriptions': [
                            {'id': sid, 'channelId': channels[topic]['id']}
                            for sid, topic in subscribed.items() if topic in wanted]}))
                elif frame[0] == MESSAGE_DATA:
                    subscription, = struct.unpack_from('<I', frame, 1)
                    topic = subscribed[subscription]
                    channel = channels[topic]
                    payload = frame[1 + 4 + 8:]      # opcode, subscription id, log time
                    # A protobuf schema travels base64-encoded in the advertisement.
                    schema = base64.b64decode(channel['schema'])
                    got[topic].append(decoder(channel['schemaName'], schema)(payload))
    return got


def test_a_viewer_gets_the_layout_and_the_tf_tree():
    context = rclpy.Context()
    rclpy.init(context=context)
    store = [Parameter('store_config', value=str(STORE))]
    nodes = [StoreViewNode(context=context, parameter_overrides=store + [
                 Parameter('port', value=0), Parameter('republish_period_s', value=0.5)]),
             StoreMarkersNode(context=context, parameter_overrides=store),
             CameraExtrinsicsNode(context=context, parameter_overrides=store)]
    executor = SingleThreadedExecutor(context=context)
    for node in nodes:
        executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        got = asyncio.run(watch(nodes[0].port, ['/store/layout_markers', '/tf'], 30.0))
    finally:
        executor.shutdown()
        for node in nodes:
            node.destroy_node()
        context.try_shutdown()
        spinner.join(timeout=5)
    config = load_store_config(STORE)
    layout_ids = {e.id for update in got['/store/layout_markers'] for e in update.entities}
    assert any(i.startswith('shelves/') for i in layout_ids), layout_ids
    frames = {t.child_frame_id for m in got['/tf'] for t in m.transforms}
    assert {f'{c.id}_link' for c in config.cameras} <= frames
