"""Privacy retention of production recordings: camera images are kept only as long as the
store allows, the rest of a bag (load cells, events, receipts: the audit trail of charges)
stays.

A production recording (`jwo_bag_record --store`) carries its images' expiry in the bag's
`custom_data`; a bag without one expires its images `image_retention_days` after it starts.
`purge_expired_images` rewrites each expired bag without its image topics.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.rosbag2.enums import CompressionFormat, CompressionMode

IMAGE_TYPES = frozenset({'sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage'})
EXPIRY_KEY = 'jwo.images_expire_at_ns'
PURGED_KEY = 'jwo.images_purged_at_ns'
NS_PER_DAY = 86_400 * 10**9
# A purge in progress writes here, then swaps; a crash leaves one of these to clean up.
PARTIAL_SUFFIX = '.purging'
REPLACED_SUFFIX = '.expired'


@dataclass(frozen=True)
class PurgedBag:
    bag: Path
    image_topics: tuple[str, ...]
    image_messages: int
    kept_messages: int
    expired_at_ns: int


def images_expire_at_ns(started_ns: int, retention_days: int) -> int:
    return started_ns + retention_days * NS_PER_DAY


def custom_data(bag: Path) -> dict[str, str]:
    metadata = yaml.safe_load((bag / 'metadata.yaml').read_text())
    return metadata['rosbag2_bagfile_information'].get('custom_data') or {}


def image_expiry_ns(bag: Path, retention_days: int) -> int | None:
    """When the bag's images expire; None if it holds none."""
    with Reader(bag) as reader:
        if not any(c.msgtype in IMAGE_TYPES and c.msgcount for c in reader.connections):
            return None
        started_ns = reader.start_time
    recorded = custom_data(bag).get(EXPIRY_KEY)
    return int(recorded) if recorded else images_expire_at_ns(started_ns, retention_days)


def recordings_in(folder: Path) -> list[Path]:
    """The bags of a recordings folder, after finishing or undoing an interrupted purge."""
    for replaced in folder.glob(f'*{REPLACED_SUFFIX}'):
        original = replaced.with_suffix('')
        if original.exists():
            shutil.rmtree(replaced)         # the swap happened; the old copy was not removed
        else:
            replaced.rename(original)       # the swap did not happen: keep the original
    for partial in folder.glob(f'*{PARTIAL_SUFFIX}'):
        shutil.rmtree(partial)
    return sorted(p for p in folder.iterdir() if (p / 'metadata.yaml').exists())


def strip_images(bag: Path, now_ns: int, expired_at_ns: int) -> PurgedBag:
    """Rewrites `bag` without its image topics; the swap is crash-safe (see recordings_in)."""
    partial = bag.with_name(bag.name + PARTIAL_SUFFIX)
    shutil.rmtree(partial, ignore_errors=True)
    kept_custom = {k: v for k, v in custom_data(bag).items() if k != EXPIRY_KEY}
    image_topics, image_messages, kept = set(), 0, 0
    with Reader(bag) as reader:
        writer = Writer(partial, version=9, storage_plugin=StoragePlugin.MCAP)
        writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
        with writer:
            for key, value in kept_custom.items():
                writer.set_custom_data(key, value)
            writer.set_custom_data(PURGED_KEY, str(now_ns))
            outputs = {}
            for connection in reader.connections:
                if connection.msgtype in IMAGE_TYPES:
                    image_topics.add(connection.topic)
                    image_messages += connection.msgcount
                    continue
                outputs[connection.id] = writer.add_connection(
                    connection.topic, connection.msgtype, msgdef=connection.msgdef.data,
                    rihs01=connection.digest,
                    serialization_format=connection.ext.serialization_format,
                    offered_qos_profiles=connection.ext.offered_qos_profiles)
            kept_connections = [c for c in reader.connections if c.id in outputs]
            for connection, log_ns, raw in reader.messages(connections=kept_connections):
                writer.write(outputs[connection.id], log_ns, raw)
                kept += 1
    replaced = bag.with_name(bag.name + REPLACED_SUFFIX)
    os.rename(bag, replaced)
    os.rename(partial, bag)
    shutil.rmtree(replaced)
    return PurgedBag(bag, tuple(sorted(image_topics)), image_messages, kept, expired_at_ns)


def purge_expired_images(folder: Path, retention_days: int, now_ns: int,
                         dry_run: bool = False) -> list[PurgedBag]:
    purged = []
    for bag in recordings_in(folder):
        expiry_ns = image_expiry_ns(bag, retention_days)
        if expiry_ns is None or expiry_ns > now_ns:
            continue
        if dry_run:
            with Reader(bag) as reader:
                images = [c for c in reader.connections if c.msgtype in IMAGE_TYPES]
                purged.append(PurgedBag(bag, tuple(sorted({c.topic for c in images})),
                                        sum(c.msgcount for c in images),
                                        reader.message_count - sum(c.msgcount for c in images),
                                        expiry_ns))
        else:
            purged.append(strip_images(bag, now_ns, expiry_ns))
    return purged
