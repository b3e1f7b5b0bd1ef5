"""Helpers for tests that run real rclpy over loopback DDS.

Waiting is always on a condition with a deadline, never a bare sleep.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

_held_domain_locks = []


def claim_ros_domain(first: int = 1, last: int = 101) -> int:
    """A ROS_DOMAIN_ID no other process on this machine holds, held until this one exits.

    Concurrent test runs on one machine would otherwise see each other's topics.
    """
    for domain in range(first, last + 1):
        lock = open(f'/tmp/jwo-ros-domain-{domain}.lock', 'w')
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        _held_domain_locks.append(lock)
        return domain
    raise RuntimeError(f'every ROS domain {first}..{last} is taken by another process')


def spin_until(executor, condition: Callable[[], bool], timeout_s: float,
               what: str = 'condition') -> None:
    """Spins `executor` until `condition()` is true; AssertionError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out after {timeout_s} s waiting for {what}')
        executor.spin_once(timeout_sec=0.05)


def call_idempotent(node, executor, service_type, name: str, request, timeout_s: float = 30.0,
                    resend_after_s: float = 5.0):
    """Calls a service that may safely be asked twice (a parameter listing, a query) and
    returns its response. DDS can lose a response: the request may reach a server that has
    not yet matched the client's response reader. So the request is sent again every
    `resend_after_s` until an answer comes; AssertionError after `timeout_s`."""
    client = node.create_client(service_type, name)
    deadline = time.monotonic() + timeout_s
    try:
        spin_until(executor, client.service_is_ready, timeout_s, f'service {name}')
        while True:
            future = client.call_async(request)
            attempt_ends = min(deadline, time.monotonic() + resend_after_s)
            while not future.done() and time.monotonic() < attempt_ends:
                executor.spin_once(timeout_sec=0.05)
            if future.done():
                return future.result()
            client.remove_pending_request(future)
            if time.monotonic() >= deadline:
                raise AssertionError(f'timed out after {timeout_s} s waiting for an answer '
                                     f'from {name}')
    finally:
        node.destroy_client(client)


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str = 'condition') -> None:
    """Polls `condition()` (no executor involved); AssertionError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out after {timeout_s} s waiting for {what}')
        time.sleep(0.02)


def node_process(module: str, *args: str, ros_args: list[str] | None = None,
                 env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.Popen:
    """Starts `python -m module args --ros-args ...` as a real process with this
    process's DDS settings; stdout and stderr are captured as text."""
    command = [sys.executable, '-m', module, *args]
    if ros_args:
        command += ['--ros-args', *ros_args]
    child_env = {**os.environ, **(env or {})}
    # The venv python re-executes itself once to set its library path; a guard inherited
    # from this (already bootstrapped) process would skip that.
    child_env.pop('_ROS_WHEELS_BOOTSTRAP_COMPLETE', None)
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env, cwd=cwd)


def interrupt_and_wait(process: subprocess.Popen, timeout_s: float = 15.0) -> tuple[int, str, str]:
    """Sends SIGINT (Ctrl-C) and returns (exit code, stdout, stderr)."""
    process.send_signal(signal.SIGINT)
    try:
        out, err = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f'process did not stop within {timeout_s} s of SIGINT:\n{err}')
    return process.returncode, out, err


def store_signer(store_config: str | Path, signer: str, role: str):
    """A `Signer` with `signer`'s key from the store's keystore (the suite's conftest.py
    makes the demo stores' keystores)."""
    from jwo_common.signed_messages import open_keystore
    from jwo_common.store_config import load_store_config
    return open_keystore(load_store_config(store_config)).signer(signer, role)


def wall_clock_ns() -> int:
    """Now as a node without sim time sees it: what signatures of test messages carry."""
    return time.time_ns()


def store_config_copy(source: str | Path, folder: Path,
                      replacements: dict[str, str] | None = None) -> Path:
    """A copy of a demo store config in `folder` whose run-time files (ledger, keystore,
    recordings: `../../var/<store>/...`) are made in `folder` too; `replacements` edits its
    text (old -> new)."""
    import re
    text = re.sub(r'\.\./\.\./var/[a-z0-9_]+/', f'{folder}/', Path(source).read_text())
    for old, new in (replacements or {}).items():
        if old not in text:
            raise ValueError(f'{source}: no {old!r} to replace')
        text = text.replace(old, new)
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / 'store.yaml'
    copy.write_text(text)
    return copy
