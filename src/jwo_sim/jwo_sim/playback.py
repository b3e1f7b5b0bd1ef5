"""What a bag player publishes, in which order and when (ROS-free).

    bag = open_bag('bags/london_easy', topics=None)   # BagError: one line naming the file
    bag.topics                 # {topic: TopicInfo(msgtype, latched)}
    bag.static_transforms      # /tf_static of the whole bag merged into one TFMessage (CDR)
    for message in bag.messages():   # time order, /tf_static left out
        wall_s = schedule.wall_time_s(message.log_ns)

/tf_static is latched in ROS 2: a player must publish it transient-local, and publish the
union of every /tf_static message in the bag (the latest transform per child frame) as
one message, because a latched topic keeps only the last message of each publisher.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from rosbags.interfaces import QosDurability
from rosbags.rosbag2 import Reader

from jwo_sim.bag_writer import jwo_typestore

TF_STATIC = '/tf_static'
TF_MESSAGE_TYPE = 'tf2_msgs/msg/TFMessage'


class BagError(RuntimeError):
    """A bag that cannot be read; the message is one line naming the file."""


@dataclass(frozen=True)
class TopicInfo:
    msgtype: str
    latched: bool


@dataclass(frozen=True)
class BagMessage:
    topic: str
    msgtype: str
    log_ns: int
    raw: bytes          # CDR, as recorded


def _one_line(path: Path | str, error: Exception) -> BagError:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return BagError(f'{path}: cannot read bag: {reason}')


class Bag:
    """An open bag, read lazily. Use `open_bag`."""

    def __init__(self, path: Path, topics: set[str] | None):
        self.path = path
        try:
            self._reader = Reader(path)
            self._reader.open()
        except Exception as error:  # noqa: BLE001 - rosbags raises many kinds on bad files
            raise _one_line(path, error) from None
        self._connections = [c for c in self._reader.connections
                             if topics is None or c.topic in topics]
        self.topics = {c.topic: TopicInfo(c.msgtype, c.topic == TF_STATIC or any(
            q.durability == QosDurability.TRANSIENT_LOCAL
            for q in getattr(c.ext, 'offered_qos_profiles', []))) for c in self._connections}
        self.static_transforms = self._merged_static_transforms()

    @property
    def start_ns(self) -> int:
        return self._reader.start_time

    @property
    def end_ns(self) -> int:
        return self._reader.end_time

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> Bag:
        return self

    def __exit__(self, *_) -> None:
        self.close()

    def _read(self, connections) -> Iterator[tuple]:
        try:
            yield from self._reader.messages(connections=connections)
        except Exception as error:  # noqa: BLE001 - a truncated chunk fails mid-way
            raise _one_line(self.path, error) from None

    def messages(self) -> Iterator[BagMessage]:
        """Every message of the selected topics in log-time order, except /tf_static
        (see `static_transforms`)."""
        connections = [c for c in self._connections if c.topic != TF_STATIC]
        if not connections:
            return
        for connection, log_ns, raw in self._read(connections):
            yield BagMessage(connection.topic, connection.msgtype, log_ns, bytes(raw))

    def _merged_static_transforms(self) -> bytes | None:
        connections = [c for c in self._connections if c.topic == TF_STATIC]
        if not connections:
            return None
        store = jwo_typestore()
        latest = {}
        for connection, _, raw in self._read(connections):
            try:
                message = store.deserialize_cdr(raw, connection.msgtype)
            except Exception as error:  # noqa: BLE001 - the serde raises many kinds
                raise _one_line(self.path, error) from None
            for transform in message.transforms:
                latest[transform.child_frame_id] = transform
        merged = store.types[TF_MESSAGE_TYPE](transforms=list(latest.values()))
        return bytes(store.serialize_cdr(merged, TF_MESSAGE_TYPE))


def open_bag(path: Path | str, topics: set[str] | None = None) -> Bag:
    """Opens a rosbag2 directory (or .mcap/.db3 file); `topics` None = all."""
    path = Path(path)
    if not path.exists():
        raise BagError(f'{path}: no such bag')
    return Bag(path, topics)


@dataclass(frozen=True)
class Schedule:
    """Maps bag log time to wall time: `rate` x real time from `wall_start_s`."""

    bag_start_ns: int
    wall_start_s: float
    rate: float

    def wall_time_s(self, log_ns: int) -> float:
        return self.wall_start_s + (log_ns - self.bag_start_ns) / 1e9 / self.rate
