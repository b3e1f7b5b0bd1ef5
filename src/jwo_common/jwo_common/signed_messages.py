"""Signing and checking of jwo_interfaces decision messages (GateEvent, ReviewDecision)
with `jwo_common.signing`: which fields are signed, and who may sign each kind."""

from __future__ import annotations

from jwo_interfaces.msg import StoreAlert

from jwo_common.frames import MAP_FRAME
from jwo_common.signing import Keystore, SignatureData, Signer, Verdict, Verifier
from jwo_common.store_config import StoreConfig

GATE_EVENT = 'jwo_interfaces/GateEvent'
REVIEW_DECISION = 'jwo_interfaces/ReviewDecision'
FUSION_SIGNER = 'fusion'


def _stamp_ns(stamp) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def gate_event_fields(msg) -> dict:
    return {'event_id': msg.event_id, 'gate_id': msg.gate_id, 'kind': int(msg.kind),
            'session_id': msg.session_id, 'account_token': msg.account_token,
            'party_size': int(msg.party_size), 'track_id': msg.track_id,
            'stamp_ns': _stamp_ns(msg.header.stamp)}


def review_decision_fields(msg) -> dict:
    return {'request_id': msg.request_id, 'reviewer_id': msg.reviewer_id,
            'dismissed': bool(msg.dismissed), 'session_id': msg.session_id,
            'items': _items(msg.items),
            'shares': [[share.session_id, _items(share.items)] for share in msg.shares],
            'stamp_ns': _stamp_ns(msg.header.stamp)}


def _items(items) -> list:
    return [[item.sku, int(item.quantity), float(item.probability)] for item in items]


def _signature_data(msg) -> SignatureData:
    signature = msg.signature
    return SignatureData(signature.key_id, signature.nonce, _stamp_ns(signature.signed_at),
                         bytes(signature.ed25519))


def _attach(msg, signed: SignatureData) -> None:
    msg.signature.key_id = signed.key_id
    msg.signature.nonce = signed.nonce
    msg.signature.signed_at.sec, msg.signature.signed_at.nanosec = divmod(signed.signed_at_ns,
                                                                          1_000_000_000)
    msg.signature.ed25519 = list(signed.signature)


def open_keystore(config: StoreConfig) -> Keystore:
    return Keystore(config.resolve_path(config.security.keystore))


def sign_gate_event(signer: Signer, msg, now_ns: int) -> None:
    _attach(msg, signer.sign(GATE_EVENT, gate_event_fields(msg), now_ns))


def sign_review_decision(signer: Signer, msg, now_ns: int) -> None:
    _attach(msg, signer.sign(REVIEW_DECISION, review_decision_fields(msg), now_ns))


def check_gate_event(verifier: Verifier, msg, now_ns: int) -> Verdict:
    """An entry is signed by the key of the gate it names; an exit by fusion, which sees
    shoppers leave on the cameras."""
    if msg.kind == msg.ENTRY:
        role, signer = 'gate', msg.gate_id
    else:
        role, signer = 'fusion', FUSION_SIGNER
    return verifier.check(GATE_EVENT, gate_event_fields(msg), _signature_data(msg), role,
                          signer, now_ns)


def check_review_decision(verifier: Verifier, msg, now_ns: int) -> Verdict:
    """Signed by the key of the reviewer the decision names."""
    return verifier.check(REVIEW_DECISION, review_decision_fields(msg), _signature_data(msg),
                          'reviewer', msg.reviewer_id, now_ns)


def refusal_alert(what: str, ref: str, verdict: Verdict, source: str, now_ns: int) -> StoreAlert:
    """The SECURITY alert for a decision message refused by its signature check."""
    alert = StoreAlert(alert_id=f'{source}-refused-{ref}-{now_ns}', kind=StoreAlert.SECURITY,
                       source=source, description=f'{what} {ref!r} refused: {verdict.value}',
                       refs=[ref])
    alert.header.stamp.sec, alert.header.stamp.nanosec = divmod(now_ns, 1_000_000_000)
    alert.header.frame_id = MAP_FRAME
    return alert


class UntilClockRuns:
    """Holds the signed messages that reach a sim-time node before its first /clock (its
    time is 0 then, so every signature would look expired: seen as a restarted fusion
    refusing the entries it was catching up on) and hands them on once time runs."""

    def __init__(self, node):
        self._node = node
        self._held: list[tuple] = []

    def hold(self, handler, msg) -> bool:
        """True: `msg` waits for the clock; `release` will call `handler(msg)`."""
        if self._node.get_clock().now().nanoseconds > 0:
            self.release()
            return False
        self._held.append((handler, msg))
        return True

    def release(self) -> None:
        held, self._held = self._held, []
        for handler, msg in held:
            handler(msg)
