"""The moving part of the store view for RViz: shoppers, their carts as text, slots
coloured by what happened there recently, gates lit when someone passed. The static layout
(floor, shelves, slots, gates, cameras) is the store_markers node's, on its own topic."""

from __future__ import annotations

import colorsys
import zlib

from builtin_interfaces.msg import Time
from visualization_msgs.msg import Marker, MarkerArray

from jwo_common.frames import MAP_FRAME
from jwo_fusion.carts import CartSnapshot
from jwo_fusion.fusion import ShopperView, SlotOutcome
from jwo_fusion.tracker import TrackState

BODY_HEIGHT_M = 1.7
GATE_LIT_S = 2.0
OUTCOME_RGB = {SlotOutcome.PICK: (0.1, 0.8, 0.2), SlotOutcome.PUT: (0.2, 0.4, 1.0),
               SlotOutcome.REVIEW: (1.0, 0.6, 0.0), SlotOutcome.UNEXPLAINED: (0.9, 0.0, 0.0)}
UNSCANNED_RGB = (1.0, 0.3, 0.0)


def session_rgb(session_id: str) -> tuple[float, float, float]:
    """A stable colour per session, so a group's members share it."""
    return colorsys.hsv_to_rgb((zlib.crc32(session_id.encode()) % 360) / 360.0, 0.7, 0.9)


def _marker(namespace: str, marker_id: int, marker_type: int, stamp: Time) -> Marker:
    marker = Marker(ns=namespace, id=marker_id, type=marker_type, action=Marker.ADD)
    marker.header.frame_id = MAP_FRAME
    marker.header.stamp = stamp
    marker.pose.orientation.w = 1.0
    return marker


def _text(namespace: str, marker_id: int, xyz, text: str, height_m: float,
          stamp: Time) -> Marker:
    marker = _marker(namespace, marker_id, Marker.TEXT_VIEW_FACING, stamp)
    marker.pose.position.x, marker.pose.position.y, marker.pose.position.z = xyz
    marker.scale.z = height_m
    marker.color.r = marker.color.g = marker.color.b = 0.05
    marker.color.a = 1.0
    marker.text = text
    return marker


def live_markers(shoppers: list[ShopperView], carts: dict[str, CartSnapshot],
                 slot_activity: dict[str, tuple[float, SlotOutcome]],
                 slot_points: dict, gate_activity: dict[str, float], gate_zones: dict,
                 now_s: float, fade_s: float, stamp: Time) -> MarkerArray:
    # Clearing first lets tracks that ended simply vanish.
    clear = Marker(action=Marker.DELETEALL)
    clear.header.frame_id = MAP_FRAME
    clear.header.stamp = stamp
    markers = [clear]
    for view in shoppers:
        e = view.estimate
        marker_id = int(e.track_id) if e.track_id.isdigit() else zlib.crc32(e.track_id.encode())
        body = _marker('shoppers', marker_id, Marker.CYLINDER, stamp)
        body.pose.position.x, body.pose.position.y = e.x, e.y
        body.pose.position.z = BODY_HEIGHT_M / 2
        body.scale.x = body.scale.y = 0.45
        body.scale.z = BODY_HEIGHT_M
        r, g, b = session_rgb(view.session_id) if view.session_id else UNSCANNED_RGB
        body.color.r, body.color.g, body.color.b = r, g, b
        body.color.a = {TrackState.CONFIRMED: 0.9, TrackState.TENTATIVE: 0.4,
                        TrackState.OCCLUDED: 0.35, TrackState.EXITED: 0.15}[e.state]
        markers.append(body)
        who = view.account_token or 'NO SCAN'
        label = f'{e.track_id} {who} ({e.state.name.lower()}, id {view.identity_confidence:.0%})'
        markers.append(_text('shopper_labels', marker_id, (e.x, e.y, BODY_HEIGHT_M + 0.25),
                             label, 0.18, stamp))
        cart = carts.get(view.session_id)
        if cart is not None and cart.lines:
            lines = [f'{line.quantity} x {line.sku} ({line.confidence:.0%})'
                     for line in cart.lines]
            if cart.pending_review:
                lines.append('waiting for review')
            markers.append(_text('carts', marker_id, (e.x, e.y, BODY_HEIGHT_M + 0.5 + 0.12
                                                      * len(lines)), '\n'.join(lines), 0.13,
                                 stamp))
    for index, slot_id in enumerate(sorted(slot_activity)):
        when_s, outcome = slot_activity[slot_id]
        age_s = now_s - when_s
        if age_s > fade_s or slot_id not in slot_points:
            continue
        x, y, z = slot_points[slot_id]
        slot = _marker('slot_events', index, Marker.SPHERE, stamp)
        slot.pose.position.x, slot.pose.position.y, slot.pose.position.z = x, y, z + 0.1
        slot.scale.x = slot.scale.y = slot.scale.z = 0.25
        slot.color.r, slot.color.g, slot.color.b = OUTCOME_RGB[outcome]
        slot.color.a = max(0.15, 1.0 - age_s / fade_s)
        markers.append(slot)
    for index, gate_id in enumerate(sorted(gate_activity)):
        if now_s - gate_activity[gate_id] > GATE_LIT_S or gate_id not in gate_zones:
            continue
        zone = gate_zones[gate_id]
        gate = _marker('gate_activity', index, Marker.CUBE, stamp)
        gate.pose.position.x = (zone.min_x + zone.max_x) / 2
        gate.pose.position.y = (zone.min_y + zone.max_y) / 2
        gate.pose.position.z = 1.0
        gate.scale.x, gate.scale.y, gate.scale.z = (zone.max_x - zone.min_x,
                                                    zone.max_y - zone.min_y, 2.0)
        gate.color.r, gate.color.g, gate.color.b, gate.color.a = 1.0, 1.0, 0.2, 0.3
        markers.append(gate)
    return MarkerArray(markers=markers)
