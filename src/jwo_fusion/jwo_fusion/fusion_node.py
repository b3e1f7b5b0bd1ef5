"""Fusion node: every camera's detections, entry scans, shelf events and review decisions in;
tracked shoppers, carts, exit events, TF, store markers, review requests and alerts out.

Subscribes `/cameras/<camera>/detections` (each depth camera of the store config, or the
`cameras` parameter), `/shelves/events`, `/gates/events` (ENTRY), `/review/decisions`.
Publishes `/shoppers/tracked`, `/carts` (the full cart, revision + 1, on every change),
`/gates/events` (EXIT, when the cameras see a session's last member in an exit zone),
`/tf` (map -> shopper_<track>), `/store/markers` (while something subscribes: RViz, the
store view, a recorder), `/review/requests` and loss-prevention and security alerts. All of it runs on sensor time: the newest stamp received.
Entries must be signed by their gate and review decisions by their reviewer (keys from the
store's keystore); exits are signed with fusion's key. Anything else gets a security alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rclpy.node import Node
from visualization_msgs.msg import MarkerArray

from jwo_cameras.detection_node import detections_topic
from jwo_common.frames import MAP_FRAME
from jwo_common.node_main import run_node
from jwo_common.parameters import declare_settings, param
from jwo_common.qos import EVENTS, SENSOR_QOS_CHOICES, sensor_qos
from jwo_common.signed_messages import (FUSION_SIGNER, UntilClockRuns, check_gate_event,
                                        check_review_decision, open_keystore, refusal_alert,
                                        sign_gate_event)
from jwo_common.signing import Verdict, Verifier
from jwo_common.store_config import SqliteLedger, load_store_config
from jwo_common.tf import TransformBroadcaster
from jwo_fusion import messages
from jwo_fusion.attribution import slot_front_points
from jwo_fusion.fusion import FusionOutputs, FusionSettings, StoreFusion
from jwo_fusion.journal import FusionJournal
from jwo_fusion.live_markers import live_markers
from jwo_fusion.review import ReviewSettings
from jwo_fusion.tracker import TrackState
from jwo_interfaces.msg import (Cart, GateEvent, ReviewDecision, ReviewRequest, ShelfEvent,
                                ShopperDetectionArray, StoreAlert, TrackedShopperArray)

# Every topic this node publishes, for the store view check and for readers of the code.
TRACKED_TOPIC = '/shoppers/tracked'
CARTS_TOPIC = '/carts'
GATE_EVENTS_TOPIC = '/gates/events'
MARKERS_TOPIC = '/store/markers'
REVIEW_REQUESTS_TOPIC = '/review/requests'
REVIEW_DECISIONS_TOPIC = '/review/decisions'
SHELF_EVENTS_TOPIC = '/shelves/events'
# Where shoppers are only needs to be roughly right after a restart: the whole record is
# written this often (and before every cart or exit), not at every publish.
JOURNAL_PERIOD_S = 1.0


@dataclass(frozen=True)
class FusionNodeSettings:
    store_config: str = param('', 'Path of the store config YAML', read_only=True)
    cameras: list[str] = param([], 'Cameras whose detections to fuse; empty = every depth '
                               'camera of the store config', read_only=True)
    detections_qos: str = param('reliable', 'QoS of the detection topics',
                                choices=SENSOR_QOS_CHOICES, read_only=True)
    publish_period_s: float = param(0.1, 'Seconds between tracked shoppers, TF and markers',
                                    min_value=0.01, max_value=5.0, read_only=True)
    attribution_review_threshold: float = param(
        0.9, 'Below this probability of the likeliest session a shelf event (or an entry '
        'binding) goes to human review', min_value=0.0, max_value=1.0, read_only=True)
    item_review_threshold: float = param(
        0.9, 'Below this probability of the likeliest product and quantity a shelf event goes '
        'to human review', min_value=0.0, max_value=1.0, read_only=True)
    one_reach_s: float = param(
        ReviewSettings.one_reach_s, 'A weight change that takes longer than this to settle, with '
        'another shopper in reach, may be two reaches merged: it goes to human review',
        min_value=0.3, max_value=10.0, read_only=True)
    alerts_topic: str = param('/store/alerts', 'Topic of loss-prevention and security alerts',
                              read_only=True)
    marker_fade_s: float = param(10.0, 'Seconds a slot stays coloured after an event',
                                 min_value=0.5, max_value=600.0, read_only=True)
    journal_path: str = param('', 'SQLite journal of sessions, carts and shoppers, read back '
                              'on a restart; empty = fusion_journal.sqlite3 next to the store '
                              "config's SQLite ledger", read_only=True)
    retention_s: float = param(
        FusionSettings.retention_s, 'Seconds after a session left until it is forgotten, with '
        'its cart and decided reviews, if nothing of it is held or waits for review (a later '
        'decision about it is refused)', min_value=60.0, max_value=86400.0, read_only=True)


class FusionNode(Node):
    def __init__(self, **kwargs):
        super().__init__('fusion', **kwargs)
        settings = declare_settings(self, FusionNodeSettings)
        self._settings = settings
        self._config = config = load_store_config(settings.store_config)
        cameras = config.depth_camera_ids(settings.cameras)
        self._fusion = StoreFusion(config, FusionSettings(
            review=ReviewSettings(settings.attribution_review_threshold,
                                  settings.item_review_threshold, settings.one_reach_s),
            retention_s=settings.retention_s))
        self._slot_points = slot_front_points(config)
        self._gate_zones = {g.id: g.zone for g in config.gates}
        if settings.journal_path:
            journal_path = Path(settings.journal_path)
        elif isinstance(config.billing.ledger, SqliteLedger):
            journal_path = config.resolve_path(config.billing.ledger.path).parent / \
                'fusion_journal.sqlite3'
        else:
            raise ValueError(f'{settings.store_config}: billing.ledger: with a PostgreSQL '
                             'ledger set the journal_path parameter')
        self._journal = FusionJournal(journal_path)
        record = self._journal.load()
        if record is not None:
            self._fusion.restore(record)
            inside = sum(not s.exited for s in record.sessions)
            self.get_logger().warning(
                f'restarted: {len(record.sessions)} sessions ({inside} in the store, '
                f'{len(record.tracks)} shoppers to find again) and {len(record.carts)} carts '
                f'from {journal_path}')
        keystore = open_keystore(config)
        self._verifier = Verifier(keystore, config.security.signature_window_s)
        self._signer = keystore.signer(FUSION_SIGNER, 'fusion')
        self._until_clock = UntilClockRuns(self)
        self._journalled_s = 0.0

        self._tracked = self.create_publisher(TrackedShopperArray, TRACKED_TOPIC,
                                              sensor_qos('reliable'))
        self._carts = self.create_publisher(Cart, CARTS_TOPIC, EVENTS)
        self._gate_events = self.create_publisher(GateEvent, GATE_EVENTS_TOPIC, EVENTS)
        self._markers = self.create_publisher(MarkerArray, MARKERS_TOPIC, 10)
        self._review_requests = self.create_publisher(ReviewRequest, REVIEW_REQUESTS_TOPIC,
                                                      EVENTS)
        self._alerts = self.create_publisher(StoreAlert, settings.alerts_topic, EVENTS)
        self._tf = TransformBroadcaster(self)

        for camera_id in cameras:
            self.create_subscription(ShopperDetectionArray, detections_topic(camera_id),
                                     self._on_detections, sensor_qos(settings.detections_qos))
        self.create_subscription(GateEvent, GATE_EVENTS_TOPIC, self._on_gate_event, EVENTS)
        self.create_subscription(ShelfEvent, SHELF_EVENTS_TOPIC, self._on_shelf_event, EVENTS)
        self.create_subscription(ReviewDecision, REVIEW_DECISIONS_TOPIC, self._on_decision,
                                 EVENTS)
        self.create_timer(settings.publish_period_s, self._publish_state)
        self.get_logger().info(f'fusing {len(cameras)} cameras of store {config.store.id}')

    def _on_detections(self, msg: ShopperDetectionArray) -> None:
        self._emit(self._fusion.on_detections(messages.to_seconds(msg.header.stamp),
                                              messages.detections(msg)))

    def _on_gate_event(self, msg: GateEvent) -> None:
        if msg.kind != GateEvent.ENTRY:
            return      # exits are ours (from the cameras)
        if self._until_clock.hold(self._on_gate_event, msg):
            return
        handled = msg.session_id in self._fusion.identity.sessions or \
            self._fusion.entry_forgotten(messages.to_seconds(msg.header.stamp))
        if not self._accepted(check_gate_event, msg, 'entry', msg.event_id, handled=handled):
            return
        if not msg.session_id or not msg.account_token:
            self.get_logger().warning(f'entry {msg.event_id!r} without a session id or account '
                                      'token ignored')
            return
        self._emit(self._fusion.on_entry(messages.entry_scan(msg)))

    def _on_shelf_event(self, msg: ShelfEvent) -> None:
        try:
            activity = messages.shelf_activity(msg)
        except ValueError:
            self.get_logger().warning(f'shelf event {msg.event_id!r} of unknown kind {msg.kind} '
                                      'ignored')
            return
        self._emit(self._fusion.on_shelf_activity(activity))

    def _on_decision(self, msg: ReviewDecision) -> None:
        if self._until_clock.hold(self._on_decision, msg):
            return
        if not self._accepted(check_review_decision, msg, 'review decision', msg.request_id):
            return
        self._emit(self._fusion.on_decision(messages.review_decision(msg)))

    def _accepted(self, check, msg, what: str, ref: str, handled: bool = False) -> bool:
        """`handled`: we already acted on it; an old signature then means a redelivery to
        this restarted process (the publisher keeps recent events), silently ignored."""
        now_ns = self.get_clock().now().nanoseconds
        verdict = check(self._verifier, msg, now_ns)
        if verdict == Verdict.ACCEPTED:
            return True
        if verdict == Verdict.EXPIRED and handled:
            return False
        alert = refusal_alert(what, ref, verdict, self.get_fully_qualified_name(), now_ns)
        self._alerts.publish(alert)
        self.get_logger().warning(alert.description)
        return False

    def _emit(self, outputs: FusionOutputs) -> None:
        if outputs.carts or outputs.exits:
            # Billing must never hold a cart or an exit the journal does not.
            self._journal.save(self._fusion.record())
        if outputs.refused:
            self.get_logger().warning(outputs.refused)
        for cart in outputs.carts:
            self._carts.publish(messages.cart(cart, self._config.store.id))
        for exit_data in outputs.exits:
            exit_event = messages.exit_event(exit_data)
            sign_gate_event(self._signer, exit_event, self.get_clock().now().nanoseconds)
            self._gate_events.publish(exit_event)
            self.get_logger().info(
                f'session {exit_data.session_id} left through {exit_data.gate_id}'
                if exit_data.gate_id else
                f'session {exit_data.session_id} closed: its shopper was lost (held for review)')
        for request in outputs.reviews:
            self._review_requests.publish(messages.review_request(request))
        for alert in outputs.alerts:
            self._alerts.publish(messages.store_alert(alert, self.get_fully_qualified_name()))
            self.get_logger().warning(f'alert {alert.alert_id}: {alert.description}')

    def _publish_state(self) -> None:
        self._until_clock.release()     # a timer runs once the node's clock does
        fusion = self._fusion
        if fusion.now_s == 0.0:
            return      # no sensor time yet
        self._emit(fusion.advance(fusion.now_s))
        if fusion.now_s - self._journalled_s >= JOURNAL_PERIOD_S:
            self._journal.save(fusion.record())
            self._journalled_s = fusion.now_s
        stamp = messages.to_time(fusion.now_s)
        shoppers = fusion.shoppers()
        tracked = TrackedShopperArray(shoppers=[messages.tracked_shopper(v) for v in shoppers])
        tracked.header.stamp = stamp
        tracked.header.frame_id = MAP_FRAME
        self._tracked.publish(tracked)
        moving = [v for v in shoppers if v.estimate.state != TrackState.EXITED]
        if moving:
            self._tf.send([messages.shopper_transform(v, stamp) for v in moving])
        # Markers are for a viewer, and cost: building and sending them took 15% of this
        # process's time on the 24-camera bench, with nobody looking.
        if self._markers.get_subscription_count() == 0:
            return
        carts = {v.session_id: fusion.cart(v.session_id) for v in shoppers
                 if v.session_id and fusion.carts.has(v.session_id)}
        self._markers.publish(live_markers(
            shoppers, carts, fusion.slot_activity, self._slot_points, fusion.gate_activity,
            self._gate_zones, fusion.now_s, self._settings.marker_fade_s, stamp))


def main(args=None):
    run_node(FusionNode, args)


if __name__ == '__main__':
    main()
