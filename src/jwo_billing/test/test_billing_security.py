"""Anyone on the DDS domain can publish gate events: the billing node (a real process) acts
only on those its keystore vouches for. Forged, tampered, unsigned, expired, wrongly signed
and replayed ones charge nothing and raise a security alert each."""

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rclpy.duration import Duration
from rosgraph_msgs.msg import Clock

from jwo_billing.payments import SandboxProcessor
from jwo_common.signed_messages import sign_gate_event
from jwo_common.signing import Signer
from jwo_common.testing import store_signer, wall_clock_ns
from jwo_interfaces.msg import Cart, CartItem, GateEvent, StoreAlert

STORE = Path(__file__).resolve().parents[3] / 'config' / 'london' / 'store.yaml'
GATE = store_signer(STORE, 'entry_1', 'gate')
FUSION = store_signer(STORE, 'fusion', 'fusion')


def gate_event(kind: int, event_id: str, session_id: str, signer: Signer | None,
               signed_at_ns: int | None = None) -> GateEvent:
    msg = GateEvent(event_id=event_id, kind=kind, session_id=session_id,
                    account_token='acct-77', party_size=1,
                    gate_id='entry_1' if kind == GateEvent.ENTRY else 'exit_1')
    msg.header.stamp.sec = 100 if kind == GateEvent.ENTRY else 160
    if signer is not None:
        sign_gate_event(signer, msg, signed_at_ns or wall_clock_ns())
    return msg


def test_only_genuine_gate_events_open_or_charge_a_session(start_billing, tmp_path):
    billing = start_billing()
    gates, counts, alerts = billing.gates, billing.counts, billing.alerts
    gates.publish(gate_event(GateEvent.ENTRY, 's1', 's1', GATE))
    billing.carts.publish(Cart(store_id='london_soho', session_id='s1', revision=1,
                               items=[CartItem(sku='GB-MILK-1L', quantity=2)]))
    billing.spin_until(lambda: counts().get('opened') == '1', 30, 'the genuine entry')

    tampered = gate_event(GateEvent.EXIT, 'x-tampered', 's1', FUSION)
    tampered.account_token = 'acct-attacker'
    attacks = [
        gate_event(GateEvent.ENTRY, 's2', 's2', None),                    # unsigned
        gate_event(GateEvent.EXIT, 'x-unsigned', 's1', None),
        gate_event(GateEvent.EXIT, 'x-forged', 's1',                      # claims fusion's key
                   Signer(FUSION.key_id, Ed25519PrivateKey.generate())),
        gate_event(GateEvent.EXIT, 'x-by-gate', 's1', GATE),              # not a gate's call
        gate_event(GateEvent.EXIT, 'x-old', 's1', FUSION,                 # a minute old
                   signed_at_ns=wall_clock_ns() - 60 * 10**9),
        tampered,
    ]
    for attack in attacks:
        gates.publish(attack)
    billing.spin_until(lambda: len(alerts) >= len(attacks), 30, 'an alert per attack')
    billing.spin_until(lambda: counts().get('gate_event_refused') == str(len(attacks)), 30,
                       'the refusals counted')
    assert sorted(ref for a in alerts for ref in a.refs) == sorted(a.event_id for a in attacks)
    assert all(a.kind == StoreAlert.SECURITY for a in alerts)
    assert counts().get('opened') == '1' and 'captured' not in counts()

    genuine_exit = gate_event(GateEvent.EXIT, 'x1', 's1', FUSION)
    gates.publish(genuine_exit)
    billing.spin_until(lambda: counts().get('captured') == '1', 30, 'the genuine charge')
    gates.publish(genuine_exit)                                           # replayed
    billing.spin_until(lambda: len(alerts) == len(attacks) + 1, 30, 'the replay alert')
    assert 'replayed' in alerts[-1].description and alerts[-1].refs == ['x1']
    processor = SandboxProcessor(tmp_path / 'sandbox_processor.sqlite3')
    [capture] = processor.captures()
    assert (capture.amount_minor, capture.refunded_minor) == (230, 0)
    processor.close()


def test_an_entry_that_arrives_before_the_clock_waits_for_it(start_billing):
    """On sim time a node's clock reads 0 until the first /clock: an entry redelivered to a
    just-restarted billing then must wait, not be refused as expired."""
    sim_ns = 1_767_225_700 * 10**9
    billing = start_billing('use_sim_time:=true')
    clock = billing.node.create_publisher(Clock, '/clock', 10)
    billing.spin_until(lambda: clock.get_subscription_count() > 0, 30, 'billing on /clock')
    billing.gates.publish(gate_event(GateEvent.ENTRY, 's1', 's1', GATE, signed_at_ns=sim_ns))
    billing.spin_until(lambda: billing.gates.wait_for_all_acked(Duration(seconds=0.1)), 10,
                       'the entry delivered')
    tick = Clock()
    tick.clock.sec = sim_ns // 10**9 + 1
    clock.publish(tick)
    billing.spin_until(lambda: billing.counts().get('opened') == '1', 30,
                       'the session opened once time ran')
    assert billing.alerts == []
