"""Entry gate node: reads the shopper's app QR code from the gate's scanner camera
(`/cameras/<scanner>/color/image_raw`, OpenCV's QR detector) and publishes one ENTRY
`GateEvent` per scan on `/gates/events`, which opens the shopper's session (fusion binds
it to the track at the gate, billing places the hold). Garbage and replayed codes are
rejected: a SECURITY `StoreAlert` on `/store/alerts` and a log line, never an entry.
Every entry is signed with the gate's key from the store's keystore (`jwo_common.signing`):
fusion and billing act on no entry without it.

Optionally (`scanner_topic`) it also takes entry scans from a dedicated scanner that already
decodes codes (`GateEvent` ENTRY messages, as the sample bags' `/gates/entry_scans`) through
the same checks; the party size then comes from the scanner.

Codes are read on a thread of their own: the executor only turns each frame into greyscale
and queues it (`FrameBacklog`), so a burst of frames waits at a third of its size instead of
filling DDS's history with ~1 MB frames, and a slow read never holds up the next frame's
arrival. OpenCV releases the GIL while it reads. The thread runs at a lower priority
(`reader_niceness`): on a full machine a frame waiting for it only waits, while a depth frame
waiting for shopper detection is replaced by the next one.

`/diagnostics` reports the scanner stream (frames received, frames missing from its
timeline, frames skipped unread because the reader fell behind, codes read); a gap long
enough to hide a whole scan is also logged as a warning.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import cv2
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from jwo_interfaces.msg import GateEvent, StoreAlert
from rclpy.node import Node
from sensor_msgs.msg import Image

from jwo_cameras.camera_node import image_topic
from jwo_cameras.entry_gate import (Entry, EntryScanner, FrameBacklog, QrReader, Rejection,
                                    StillScene)
from jwo_cameras.image_codec import decode
from jwo_cameras.stream_health import StreamHealth
from jwo_common.frames import MAP_FRAME
from jwo_common.node_main import run_node
from jwo_common.parameters import declare_settings, param
from jwo_common.qos import EVENTS, SENSOR_QOS_CHOICES, sensor_qos
from jwo_common.signed_messages import open_keystore, sign_gate_event
from jwo_common.store_config import load_store_config

GATE_EVENTS_TOPIC = '/gates/events'
ALERTS_TOPIC = '/store/alerts'


@dataclass(frozen=True)
class EntryGateSettings:
    store_config: str = param('', 'Path of the store config YAML', read_only=True)
    gate_id: str = param('', 'Entry gate to serve; empty = the first entry gate with a scanner '
                         'camera', read_only=True)
    # Reliable: taken best effort, a full-size colour frame is lost whole when one of its
    # fragments is. On a loaded host that lost 3-8 frames in a row ~20 times a minute (the
    # fault soak), as long as a code is in view, and one shopper walked in unscanned.
    qos: str = param('reliable', 'QoS of the scanner image subscription',
                     choices=SENSOR_QOS_CHOICES, read_only=True)
    queue_depth: int = param(30, 'Scanner frames queued while this node is busy (in DDS, and '
                             'greyscale waiting to be read); a code is in view for about half '
                             'a second, so a stall that overflows the queue can lose a whole '
                             'scan', read_only=True, min_value=1, max_value=300)
    scanner_topic: str = param('', 'Also take decoded scans (GateEvent ENTRY) from this topic; '
                               'empty = camera only', read_only=True)
    scan_gap_s: float = param(1.5, 'Reads of one code closer together than this are one scan',
                              read_only=True, min_value=0.0, max_value=10.0)
    replay_window_s: float = param(60.0, 'A code that opened a session is refused again for '
                                   'this long', read_only=True, min_value=0.0, max_value=86400.0)
    frame_gap_warn_s: float = param(0.4, 'A gap in the scanner frames at least this long is '
                                    'logged: a code is in view for about half a second',
                                    read_only=True, min_value=0.0, max_value=60.0)
    reread_still_s: float = param(1.0, 'A frame that shows the same scene as one with no code '
                                  'in it is not read, unless this long has passed since that '
                                  'one; 0 = read every frame', read_only=True, min_value=0.0,
                                  max_value=60.0)
    reader_niceness: int = param(10, 'Niceness of the QR reading thread, added to the '
                                 "process's (0 = the same priority as the rest of the stack)",
                                 read_only=True, min_value=0, max_value=19)
    diagnostics_period_s: float = param(1.0, 'Seconds between diagnostics messages',
                                        read_only=True, min_value=0.1, max_value=60.0)


def _stamp_ns(stamp) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


class EntryGateNode(Node):
    def __init__(self, **kwargs):
        super().__init__('entry_gate', **kwargs)
        settings = declare_settings(self, EntryGateSettings)
        config = load_store_config(settings.store_config)
        gates = [g for g in config.gates_of_kind('entry')
                 if g.id == settings.gate_id or (not settings.gate_id and g.scanner_camera)]
        if not gates or not gates[0].scanner_camera:
            raise ValueError(f'parameter gate_id: no entry gate {settings.gate_id!r} with a '
                             f'scanner_camera in {settings.store_config}')
        self._gate = gates[0]
        self._signer = open_keystore(config).signer(self._gate.id, 'gate')
        self._scanner = EntryScanner(self._gate.id, settings.scan_gap_s, settings.replay_window_s)
        self._qr = QrReader()
        self._still = StillScene(settings.reread_still_s)
        scanner = config.camera(self._gate.scanner_camera)
        self._health = StreamHealth(scanner.fps)
        self._health.on_open()
        self._frame_period_s = 1.0 / scanner.fps
        self._frame_gap_warn_s = settings.frame_gap_warn_s
        self._frames_read = 0
        self._codes_read = 0
        self._read_busy_s = 0.0
        self._backlog = FrameBacklog(settings.queue_depth)
        # The scanner's state and the publishers, shared by the reader thread and the
        # scanner topic's callback.
        self._deciding = threading.Lock()
        self._reader_niceness = settings.reader_niceness
        self._reader = threading.Thread(target=self._read_backlog, name='qr_reader', daemon=True)
        self._diagnostics = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_timer(settings.diagnostics_period_s, self._publish_diagnostics)
        self._events = self.create_publisher(GateEvent, GATE_EVENTS_TOPIC, EVENTS)
        self._alerts = self.create_publisher(StoreAlert, ALERTS_TOPIC, EVENTS)
        self.create_subscription(Image, image_topic(self._gate.scanner_camera, 'color'),
                                 self._on_image, sensor_qos(settings.qos, settings.queue_depth))
        if settings.scanner_topic:
            # Volatile: matches a scanner (or a bag player) of either durability.
            self.create_subscription(GateEvent, settings.scanner_topic, self._on_scan,
                                     sensor_qos('reliable', depth=100))
        self.get_logger().info(f'gate {self._gate.id}: reading codes from camera '
                               f'{self._gate.scanner_camera}'
                               + (f' and {settings.scanner_topic}' if settings.scanner_topic
                                  else ''))
        self._reader.start()

    def _on_image(self, msg: Image) -> None:
        try:
            image = decode(msg)
        except ValueError as error:
            self.get_logger().warning(f'unreadable image from {msg.header.frame_id}: {error}')
            return
        stamp_s = _stamp_ns(msg.header.stamp) / 1e9
        missing = self._health.on_frame(stamp_s, time.monotonic())
        if missing and (missing + 1) * self._frame_period_s >= self._frame_gap_warn_s:
            self.get_logger().warning(
                f'gate {self._gate.id}: {missing} scanner frames missing before '
                f'{stamp_s:.2f} ({missing * self._frame_period_s:.1f} s); a code shown '
                f'then may not have been read')
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image.copy()
        skipped = self._backlog.skipped
        self._backlog.put(_stamp_ns(msg.header.stamp), gray)
        if self._backlog.skipped > skipped:
            self.get_logger().warning(f'gate {self._gate.id}: the QR reader is '
                                      f'{len(self._backlog)} frames behind; older frames are '
                                      f'skipped unread', throttle_duration_sec=10.0)

    def _read_backlog(self) -> None:
        try:        # Linux: a thread has a niceness of its own
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(),
                           os.getpriority(os.PRIO_PROCESS, 0) + self._reader_niceness)
        except OSError as error:
            self.get_logger().warning(f'QR reader keeps the process priority: {error}')
        while (frame := self._backlog.take()) is not None:
            stamp_ns, gray = frame
            started = time.perf_counter()
            thumbnail = self._still.thumbnail(gray)
            if not self._still.worth_reading(stamp_ns, thumbnail):
                continue
            try:
                payload, located = self._qr.read(gray)
            except cv2.error as error:      # one odd frame must not stop the gate reading
                self.get_logger().warning(f'gate {self._gate.id}: QR reader failed on the frame '
                                          f'of {stamp_ns / 1e9:.2f}: {error}',
                                          throttle_duration_sec=10.0)
                continue
            self._still.read(stamp_ns, thumbnail, located)
            self._read_busy_s += time.perf_counter() - started
            self._frames_read += 1
            if payload is not None:
                self._codes_read += 1
                with self._deciding:
                    self._decide(self._scanner.read(payload, stamp_ns))

    def _publish_diagnostics(self) -> None:
        health = self._health.snapshot(time.monotonic())
        camera = self._gate.scanner_camera
        if not health.frames:
            level, message = DiagnosticStatus.WARN, f'no frames from {camera} yet'
        elif health.rate_hz < 0.8 / self._frame_period_s:
            level, message = DiagnosticStatus.WARN, \
                f'{health.rate_hz:.1f} Hz of {1 / self._frame_period_s:g} from {camera}'
        else:
            level, message = DiagnosticStatus.OK, f'{health.rate_hz:.1f} Hz from {camera}'
        values = {'received_frames': health.frames, 'missing_frames': health.dropped,
                  'skipped_frames': self._backlog.skipped, 'waiting_frames': len(self._backlog),
                  'still_frames_unread': self._still.skipped,
                  'rate_hz': f'{health.rate_hz:.2f}', 'codes_read': self._codes_read,
                  'mean_read_ms': f'{1000 * self._read_busy_s / max(self._frames_read, 1):.2f}'}
        array = DiagnosticArray(status=[DiagnosticStatus(
            level=level, name=f'{self.get_name()}: gate {self._gate.id}', hardware_id=camera,
            message=message, values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics.publish(array)

    def _on_scan(self, msg: GateEvent) -> None:
        if msg.kind == GateEvent.ENTRY:
            with self._deciding:
                self._decide(self._scanner.read(msg.account_token,
                                                _stamp_ns(msg.header.stamp)),
                             max(msg.party_size, 1))

    def _decide(self, decision: Entry | Rejection | None, party_size: int = 0) -> None:
        """`party_size`: as the dedicated scanner counted it; 0 = as the app code says."""
        if isinstance(decision, Entry):
            event = GateEvent(event_id=decision.event_id, gate_id=self._gate.id,
                              kind=GateEvent.ENTRY, session_id=decision.event_id,
                              account_token=decision.account_token,
                              party_size=party_size or decision.party_size,
                              track_id='')
            event.header.stamp.sec, event.header.stamp.nanosec = divmod(decision.stamp_ns,
                                                                        1_000_000_000)
            event.header.frame_id = MAP_FRAME
            sign_gate_event(self._signer, event, self.get_clock().now().nanoseconds)
            self._events.publish(event)
            self.get_logger().info(f'gate {self._gate.id}: entry of account '
                                   f'{decision.account_token} (session {decision.event_id})')
        elif isinstance(decision, Rejection):
            alert = StoreAlert(alert_id=f'{self._gate.id}-rejected-{decision.stamp_ns}',
                               kind=StoreAlert.SECURITY, source=self.get_fully_qualified_name(),
                               description=decision.reason, refs=[self._gate.id])
            alert.header.stamp.sec, alert.header.stamp.nanosec = divmod(decision.stamp_ns,
                                                                        1_000_000_000)
            alert.header.frame_id = MAP_FRAME
            self._alerts.publish(alert)
            self.get_logger().warning(decision.reason)


    def destroy_node(self) -> None:
        self._backlog.close()
        self._reader.join(timeout=5.0)
        super().destroy_node()


def main(args=None):
    run_node(EntryGateNode, args)


if __name__ == '__main__':
    main()
