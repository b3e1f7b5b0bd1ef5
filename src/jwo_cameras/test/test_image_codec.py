import numpy as np
import pytest
from rosbags.image import image_to_cvimage
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import Image

from jwo_cameras.image_codec import ImageCodecError, ImageData, decode, encode

RNG = np.random.default_rng(7)
SAMPLES = {
    'rgb8': RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8),
    'bgr8': RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8),
    'mono8': RNG.integers(0, 256, (5, 7), dtype=np.uint8),
    '16UC1': RNG.integers(0, 65536, (5, 7), dtype=np.uint16),
    '32FC1': RNG.normal(size=(5, 7)).astype(np.float32),
}


@pytest.mark.parametrize('encoding', SAMPLES)
def test_round_trip_through_an_rclpy_message(encoding):
    fields = encode(SAMPLES[encoding], encoding)
    msg = Image(height=fields.height, width=fields.width, encoding=fields.encoding,
                is_bigendian=fields.is_bigendian, step=fields.step, data=fields.data)
    decoded = decode(msg)
    assert decoded.dtype == SAMPLES[encoding].dtype
    np.testing.assert_array_equal(decoded, SAMPLES[encoding])


@pytest.mark.parametrize('encoding', SAMPLES)
def test_rosbags_image_decodes_what_we_encode(encoding):
    typestore = get_typestore(Stores.ROS2_JAZZY)
    Header = typestore.types['std_msgs/msg/Header']
    Time = typestore.types['builtin_interfaces/msg/Time']
    RosbagsImage = typestore.types['sensor_msgs/msg/Image']
    fields = encode(SAMPLES[encoding], encoding)
    msg = RosbagsImage(Header(Time(0, 0), 'cam_optical_frame'), fields.height, fields.width,
                       fields.encoding, fields.is_bigendian, fields.step,
                       np.frombuffer(fields.data, np.uint8))
    np.testing.assert_array_equal(np.squeeze(image_to_cvimage(msg)), SAMPLES[encoding])
    np.testing.assert_array_equal(decode(msg), SAMPLES[encoding])


def test_padded_rows_and_big_endian_depth_decode():
    depth = np.array([[1, 2, 3], [40000, 5, 6]], dtype=np.uint16)
    step = 3 * 2 + 4                                      # 4 bytes of padding per row
    rows = [depth[r].astype('>u2').tobytes() + b'\xee' * 4 for r in range(2)]
    msg = ImageData(2, 3, '16UC1', 1, step, b''.join(rows))
    np.testing.assert_array_equal(decode(msg), depth)


def test_bad_images_are_refused_with_a_reason():
    with pytest.raises(ImageCodecError, match='yuv422'):
        encode(np.zeros((2, 2), np.uint8), 'yuv422')
    with pytest.raises(ImageCodecError, match='dtype uint16'):
        encode(np.zeros((2, 2), np.float32), '16UC1')
    with pytest.raises(ImageCodecError, match='shape'):
        encode(np.zeros((2, 2), np.uint8), 'rgb8')
    with pytest.raises(ImageCodecError, match='too small'):
        decode(ImageData(4, 4, 'mono8', 0, 4, b'\x00' * 10))
