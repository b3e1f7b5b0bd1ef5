"""The same ledger behaviour on SQLite and on a real PostgreSQL server (started here, on a
private Unix socket, wherever PostgreSQL is installed)."""

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from jwo_billing.billing import BillingCore, CartData, ChargeStatus
from jwo_billing.ledger import Ledger, open_store_ledger
from jwo_billing.payments import SandboxProcessor
from jwo_billing.receipt import CartLine
from jwo_billing.sessions import GateEventData, GateKind, Outcome, handle_gate_event
from jwo_common.store_config import PostgresLedger, SqliteLedger, load_store_config

CONFIG = load_store_config(Path(__file__).resolve().parents[3] / 'config' / 'london' /
                           'store.yaml')


def postgres_bin() -> Path | None:
    found = shutil.which('postgres') or next(iter(sorted(glob.glob(
        '/usr/lib/postgresql/*/bin/postgres'), reverse=True)), None)
    if found is None:
        return None
    if os.geteuid() == 0:     # the server refuses to run as root; it needs its own user
        try:
            pwd.getpwnam('postgres')
        except KeyError:
            return None
    return Path(os.path.realpath(found)).parent


POSTGRES_BIN = postgres_bin()
BACKENDS = ['sqlite'] + (['postgresql'] if POSTGRES_BIN else [])


def as_server_user():
    if os.geteuid() == 0:
        user = pwd.getpwnam('postgres')
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)


@pytest.fixture(scope='module')
def postgres_server():
    """(admin DSN, socket directory) of a throwaway server with no TCP listener."""
    import psycopg
    directory = Path(tempfile.mkdtemp(prefix='jwo-pg-'))
    if os.geteuid() == 0:
        user = pwd.getpwnam('postgres')
        os.chown(directory, user.pw_uid, user.pw_gid)
    data = directory / 'data'
    subprocess.run([str(POSTGRES_BIN / 'initdb'), '-D', str(data), '-U', 'jwo', '--auth=trust',
                    '-E', 'UTF8', '--no-sync'], check=True, capture_output=True,
                   preexec_fn=as_server_user, timeout=120)
    server = subprocess.Popen(
        [str(POSTGRES_BIN / 'postgres'), '-D', str(data), '-k', str(directory),
         '-c', 'listen_addresses='], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        preexec_fn=as_server_user)
    dsn = f'host={directory} dbname=postgres user=jwo'
    deadline = time.monotonic() + 60
    while True:
        try:
            psycopg.connect(dsn).close()
            break
        except psycopg.OperationalError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f'PostgreSQL did not start: {server.stderr.read()}')
            time.sleep(0.1)
    yield dsn, directory
    server.terminate()       # SIGTERM: smart shutdown once our connections are closed
    server.wait(timeout=60)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def open_ledger(request, tmp_path):
    """Opens (and reopens, like a restart) a ledger on the test's backend; closed at the end
    unless `own` (the caller closes it, e.g. in the thread that used it)."""
    opened = []
    if request.param == 'sqlite':
        def open_one(own=False):
            ledger = Ledger(tmp_path / 'ledger.sqlite3', CONFIG.store.id)
            if not own:
                opened.append(ledger)
            return ledger
    else:
        import psycopg
        admin_dsn, directory = request.getfixturevalue('postgres_server')
        name = f'ledger_{request.node.name.split("[")[0][-40:]}'.lower()
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS {name}')
            admin.execute(f'CREATE DATABASE {name}')

        def open_one(own=False):
            ledger = Ledger.postgresql(f'host={directory} dbname={name} user=jwo',
                                       CONFIG.store.id)
            if not own:
                opened.append(ledger)
            return ledger
    yield open_one
    for ledger in opened:
        ledger.close()


def gate(kind: GateKind, event_id: str, session_id: str = 's1') -> GateEventData:
    return GateEventData(event_id, 'g', kind, session_id, 'acct-1', 1, '',
                         10 if kind is GateKind.ENTRY else 20)


@pytest.mark.parametrize('open_ledger', BACKENDS, indirect=True)
def test_a_step_is_recorded_once_and_survives_a_restart(open_ledger):
    ledger = open_ledger()
    assert handle_gate_event(ledger, gate(GateKind.ENTRY, 'e1')).outcome is Outcome.OPENED
    assert handle_gate_event(ledger, gate(GateKind.ENTRY, 'e1')).outcome is Outcome.DUPLICATE
    first, new = ledger.record('s1', 'note', 5, {'n': 1})
    again, new_again = ledger.record('s1', 'note', 6, {'n': 2})
    assert (new, new_again, again) == (True, False, first)
    restarted = open_ledger()
    assert handle_gate_event(restarted, gate(GateKind.EXIT, 'x1')).outcome is Outcome.CLOSED
    assert [e.step for e in restarted.entries('s1')] == ['open', 'note', 'close']
    assert restarted.session('s1').closed_at_ns == 20
    assert restarted.steps_like('no%') == [('s1', 'note')]
    assert restarted.session_ids_without(('close',)) == []


@pytest.mark.parametrize('open_ledger', BACKENDS, indirect=True)
def test_concurrent_writers_of_one_key_record_it_once(open_ledger):
    writers = 4
    results = []
    start = threading.Barrier(writers)

    def write(n):
        ledger = open_ledger(own=True)     # one connection per thread, as per process
        start.wait(timeout=30)
        for step in range(20):
            results.append(ledger.record('s1', f'step:{step}', n, {'writer': n})[1])
        ledger.close()
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == writers * 20 and results.count(True) == 20
    assert [e.step for e in open_ledger().entries('s1')] == [f'step:{n}' for n in range(20)]


@pytest.mark.parametrize('open_ledger', BACKENDS, indirect=True)
def test_billing_charges_once_and_corrects_on_either_backend(open_ledger, tmp_path):
    processor = SandboxProcessor(tmp_path / 'processor.sqlite3')
    core = BillingCore(open_ledger(), processor, CONFIG)
    core.on_gate_event(gate(GateKind.ENTRY, 'e1'), 10)
    core.on_cart(CartData('s1', 1, (CartLine('GB-CRISPS-6', 3),), False, 11), 11)
    core.on_gate_event(gate(GateKind.EXIT, 'x1'), 20)
    core.on_gate_event(gate(GateKind.EXIT, 'x2'), 21)
    core.on_cart(CartData('s1', 2, (CartLine('GB-CRISPS-6', 2),), False, 30), 30)
    restarted = BillingCore(open_ledger(), processor, CONFIG)
    restarted.resolve_unfinished(40)
    restarted.resolve_corrections(40, every_session=True)
    assert restarted.receipt('s1').status is ChargeStatus.CAPTURED
    assert [(c.amount_minor, c.refunded_minor) for c in processor.captures()] == [(630, 210)]
    processor.close()


def with_ledger(config, ledger):
    return config.model_copy(update={'billing': config.billing.model_copy(
        update={'ledger': ledger})})


def test_an_unreachable_postgresql_ledger_is_a_one_line_error(tmp_path):
    config = with_ledger(CONFIG, PostgresLedger(
        backend='postgresql', dsn=f'host={tmp_path} dbname=nowhere user=jwo connect_timeout=2'))
    with pytest.raises(ValueError, match=r'billing\.ledger\.dsn: cannot open the PostgreSQL '
                       r'ledger: .*') as error:
        open_store_ledger(config)
    assert '\n' not in str(error.value)


@pytest.mark.parametrize('backend', BACKENDS)
def test_the_store_config_picks_the_backend(request, tmp_path, backend):
    if backend == 'sqlite':
        config = with_ledger(CONFIG, SqliteLedger(backend='sqlite', path=str(tmp_path / 'l.db')))
    else:
        import psycopg
        admin_dsn, directory = request.getfixturevalue('postgres_server')
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute('DROP DATABASE IF EXISTS from_config')
            admin.execute('CREATE DATABASE from_config')
        config = with_ledger(CONFIG, PostgresLedger(
            backend='postgresql', dsn=f'host={directory} dbname=from_config user=jwo'))
    ledger = open_store_ledger(config)
    ledger.record('s1', 'note', 1, {'backend': backend})
    ledger.close()
    reopened = open_store_ledger(config)
    assert [e.detail for e in reopened.entries('s1')] == [{'backend': backend}]
    reopened.close()
