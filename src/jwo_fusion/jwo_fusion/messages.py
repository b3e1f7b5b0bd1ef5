"""Conversions between our ROS messages and the fusion core's dataclasses."""

from __future__ import annotations

import math

from builtin_interfaces.msg import Time
from geometry_msgs.msg import TransformStamped

from jwo_common.frames import MAP_FRAME, quaternion_from_rpy, shelf_frame, shopper_frame
from jwo_fusion.attribution import EventKind, ItemCandidate, ShelfActivity
from jwo_fusion.carts import CartSnapshot
from jwo_fusion.fusion import AlertData, ExitData, ShopperView
from jwo_fusion.identity import EntryScan
from jwo_fusion.review import ReviewDecisionData, ReviewRequestData, ReviewShare
from jwo_fusion.tracker import Detection
from jwo_interfaces.msg import (Cart, CartItem, GateEvent, ProductCandidate, ReviewCandidate,
                                ReviewDecision, ReviewRequest, ShelfEvent, ShopperDetectionArray,
                                StoreAlert, TrackedShopper)

# Below this speed the heading of a shopper is noise: their frame keeps the map's axes.
_HEADING_MIN_SPEED_MPS = 0.2


def to_seconds(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def to_time(seconds: float) -> Time:
    nanoseconds = max(0, round(seconds * 1e9))
    return Time(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


def detections(msg: ShopperDetectionArray) -> list[Detection]:
    return [Detection(d.position.x, d.position.y, float(d.position_stddev_m), float(d.confidence),
                      (d.reach_point.x, d.reach_point.y, d.reach_point.z) if d.reaching else None)
            for d in msg.detections]


def entry_scan(msg: GateEvent) -> EntryScan:
    return EntryScan(msg.event_id, msg.session_id, msg.gate_id, msg.account_token,
                     int(msg.party_size), to_seconds(msg.header.stamp))


def shelf_activity(msg: ShelfEvent) -> ShelfActivity:
    """ValueError on a kind the message does not define."""
    lifted = msg.lifted.sec or msg.lifted.nanosec
    return ShelfActivity(msg.event_id, msg.shelf_id, tuple(msg.slot_ids), EventKind(msg.kind),
                         to_seconds(msg.started), to_seconds(msg.header.stamp),
                         msg.delta_grams, tuple(ItemCandidate(c.sku, int(c.quantity),
                                                              c.probability)
                                                for c in msg.candidates),
                         to_seconds(msg.lifted) if lifted else None)


def _items(candidates) -> tuple[ItemCandidate, ...]:
    return tuple(ItemCandidate(c.sku, int(c.quantity), c.probability) for c in candidates)


def review_decision(msg: ReviewDecision) -> ReviewDecisionData:
    return ReviewDecisionData(msg.request_id, msg.reviewer_id, msg.dismissed, msg.session_id,
                              _items(msg.items),
                              tuple(ReviewShare(share.session_id, _items(share.items))
                                    for share in msg.shares))


def cart(snapshot: CartSnapshot, store_id: str) -> Cart:
    msg = Cart(store_id=store_id, session_id=snapshot.session_id,
               account_token=snapshot.account_token, revision=snapshot.revision,
               pending_review=snapshot.pending_review,
               items=[CartItem(sku=line.sku, quantity=line.quantity,
                               confidence=line.confidence, event_ids=list(line.event_ids))
                      for line in snapshot.lines])
    msg.header.stamp = to_time(snapshot.stamp_s)
    msg.header.frame_id = MAP_FRAME
    return msg


def exit_event(exit_data: ExitData) -> GateEvent:
    msg = GateEvent(event_id=exit_data.event_id, gate_id=exit_data.gate_id, kind=GateEvent.EXIT,
                    session_id=exit_data.session_id, account_token=exit_data.account_token,
                    party_size=exit_data.party_size, track_id=exit_data.track_id)
    msg.header.stamp = to_time(exit_data.stamp_s)
    msg.header.frame_id = MAP_FRAME
    return msg


def shelf_event(activity: ShelfActivity) -> ShelfEvent:
    """The shelf event a review request is about, as the shelf node published it."""
    msg = ShelfEvent(event_id=activity.event_id, shelf_id=activity.shelf_id,
                     slot_ids=list(activity.slot_ids), kind=int(activity.kind),
                     started=to_time(activity.started_s), delta_grams=activity.delta_grams,
                     candidates=[ProductCandidate(sku=c.sku, quantity=c.quantity,
                                                  probability=c.probability)
                                 for c in activity.candidates])
    msg.header.stamp = to_time(activity.settled_s)
    msg.header.frame_id = shelf_frame(activity.shelf_id)
    return msg


def review_request(request: ReviewRequestData) -> ReviewRequest:
    msg = ReviewRequest(request_id=request.request_id, reason=int(request.reason),
                        confidence=float(request.confidence), description=request.description,
                        candidates=[ReviewCandidate(session_id=c.session_id, track_id=c.track_id,
                                                    probability=float(c.probability))
                                    for c in request.candidates])
    if request.activity is not None:
        msg.event = shelf_event(request.activity)
    msg.header.stamp = to_time(request.stamp_s)
    msg.header.frame_id = MAP_FRAME
    return msg


def store_alert(alert: AlertData, source: str) -> StoreAlert:
    msg = StoreAlert(alert_id=alert.alert_id, kind=int(alert.kind), source=source,
                     description=alert.description, refs=list(alert.refs))
    msg.header.stamp = to_time(alert.stamp_s)
    return msg


def heading_xyzw(vx: float, vy: float) -> tuple[float, float, float, float]:
    if math.hypot(vx, vy) < _HEADING_MIN_SPEED_MPS:
        return (0.0, 0.0, 0.0, 1.0)
    return quaternion_from_rpy(0.0, 0.0, math.atan2(vy, vx))


def tracked_shopper(view: ShopperView) -> TrackedShopper:
    e = view.estimate
    msg = TrackedShopper(track_id=e.track_id, session_id=view.session_id,
                         account_token=view.account_token, state=int(e.state),
                         identity_confidence=float(view.identity_confidence))
    msg.pose.pose.position.x, msg.pose.pose.position.y = e.x, e.y
    q = msg.pose.pose.orientation
    q.x, q.y, q.z, q.w = heading_xyzw(e.vx, e.vy)
    # 6x6 row-major over (x, y, z, roll, pitch, yaw); only the floor plane is estimated.
    pose_covariance = [0.0] * 36
    twist_covariance = [0.0] * 36
    for row in range(2):
        for column in range(2):
            pose_covariance[row * 6 + column] = float(e.covariance[row, column])
            twist_covariance[row * 6 + column] = float(e.covariance[row + 2, column + 2])
    msg.pose.covariance = pose_covariance
    msg.velocity.twist.linear.x, msg.velocity.twist.linear.y = e.vx, e.vy
    msg.velocity.covariance = twist_covariance
    return msg


def shopper_transform(view: ShopperView, stamp: Time) -> TransformStamped:
    e = view.estimate
    msg = TransformStamped()
    msg.header.stamp = stamp
    msg.header.frame_id = MAP_FRAME
    msg.child_frame_id = shopper_frame(e.track_id)
    msg.transform.translation.x, msg.transform.translation.y = e.x, e.y
    r = msg.transform.rotation
    r.x, r.y, r.z, r.w = heading_xyzw(e.vx, e.vy)
    return msg
