"""`jwo_launch`: brings up a store's whole stack from its config, process by process.

    jwo_launch --store config/london/store.yaml                   # live sensors
    jwo_launch --store config/london/store.yaml --bag bags/london_easy [--rate 2]

Processes start in the order of `jwo_common.stack`; the next one starts only once every node
of the previous one is seen on the ROS graph. A process that exits while starting is
reported with its node names and the last line it wrote (which names the reason), and the
launcher stops the rest and exits 1. With `--bag`, nodes run on sim time, the bag plays once
the stack is up, and the stack stops when the bag has ended. Ctrl-C stops every process.

Runtime files (the billing ledger, the sandbox processor, the fusion journal) go to
`--var-dir`, by default beside the store config's own `billing.ledger` path; each process's output goes to
`<log dir>/<process>.log` (`--log-dir`, by default a new folder under /tmp).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from jwo_common.dds import use_stack_dds_profile
from jwo_common.stack import (NODES_UP_LINE, StackProcess, container_arguments, node_names,
                              process_ros_arguments, store_processes)
from jwo_common.store_config import StoreConfigError, load_store_config
from jwo_common.testing import claim_ros_domain

STOP_TIMEOUT_S = 20.0


class LaunchError(RuntimeError):
    """A process of the stack failed; the message names it, its nodes and why."""


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else '(no output)'


def python_module_process(module: str, args: list[str], log_path: Path,
                          log_mode: str = 'w') -> subprocess.Popen:
    """`python -m module args` with its output in a file (a pipe nobody reads would fill
    up and stall a long run)."""
    env = dict(os.environ)
    use_stack_dds_profile(env)
    # The venv python re-executes itself once to set its library path; an inherited guard
    # would skip that.
    env.pop('_ROS_WHEELS_BOOTSTRAP_COMPLETE', None)
    with open(log_path, log_mode) as log:
        return subprocess.Popen([sys.executable, '-m', module, *args], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)


def interrupt(popen: subprocess.Popen) -> int:
    """Ctrl-C, then a kill if it has not stopped in time; returns the exit code."""
    if popen.poll() is None:
        popen.send_signal(signal.SIGINT)
        try:
            popen.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()
    return popen.returncode


class Stack:
    """The running processes of one store. `start(graph_names)` takes a callable that returns
    the node names on the ROS graph now (a probe node's `get_node_names`)."""

    def __init__(self, store: Path, mode: str, *, use_sim_time: bool = False,
                 params_file: Path | None = None, var_dir: Path | None = None,
                 log_dir: Path | None = None, log: Callable[[str], None] = print):
        self.config = load_store_config(store)
        self._store = Path(store).resolve()
        self._processes = store_processes(self.config, mode)
        self._common_args = ['-p', f'store_config:={self._store}']
        if params_file is not None:
            self._common_args = ['--params-file', str(Path(params_file).resolve()),
                                 *self._common_args]
        if use_sim_time:
            self._common_args += ['-p', 'use_sim_time:=true']
        if var_dir is not None:
            var_dir.mkdir(parents=True, exist_ok=True)
            self._common_args += ['-p', f'ledger_path:={var_dir / "ledger.sqlite3"}',
                                  '-p', f'processor_path:={var_dir / "processor.sqlite3"}',
                                  '-p', f'journal_path:={var_dir / "fusion_journal.sqlite3"}']
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix='jwo-launch-'))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._log = log
        self.running: dict[str, subprocess.Popen] = {}

    @property
    def processes(self) -> tuple[StackProcess, ...]:
        return self._processes

    def start(self, graph_names: Callable[[], set[str]], spin: Callable[[float], None],
              timeout_s: float = 60.0) -> None:
        for process in self._processes:
            self._start_process(process, graph_names, spin, timeout_s)

    def restart(self, name: str, graph_names: Callable[[], set[str]],
                spin: Callable[[float], None], timeout_s: float = 60.0) -> None:
        """Kills one process as a crash would (SIGKILL: no clean-up) and starts it again."""
        popen = self.running.pop(name)
        popen.kill()
        popen.wait()
        wanted = set(node_names(next(p for p in self._processes if p.name == name)))
        started = time.monotonic()
        while wanted & graph_names():     # the graph forgets a killed node's names lazily
            if time.monotonic() - started > timeout_s:
                break
            spin(0.05)
        self._start_process(next(p for p in self._processes if p.name == name), graph_names,
                            spin, timeout_s, log_mode='a')

    def pid(self, name: str) -> int:
        return self.running[name].pid

    def _start_process(self, process: StackProcess, graph_names: Callable[[], set[str]],
                       spin: Callable[[float], None], timeout_s: float,
                       log_mode: str = 'w') -> None:
        started = time.monotonic()
        log_path = self.log_path(process.name)
        # A restarted process appends to its log: only what it writes now counts.
        log_start = log_path.stat().st_size if log_mode == 'a' and log_path.exists() else 0
        self.running[process.name] = python_module_process(
            'jwo_common.container',
            [*container_arguments(process), '--ros-args', *self._common_args,
             *process_ros_arguments(process)],
            log_path, log_mode)
        wanted = set(node_names(process))

        def nodes_up() -> bool:
            with open(log_path, 'rb') as log:
                log.seek(log_start)
                return NODES_UP_LINE.encode() in log.read()
        while not (wanted <= graph_names() and nodes_up()):
            self.check_alive()
            if time.monotonic() - started > timeout_s:
                missing = sorted(wanted - graph_names()) or sorted(wanted)
                raise LaunchError(f'process {process.name}: nodes {missing} not up after '
                                  f'{timeout_s:.0f} s')
            spin(0.05)
        self._log(f'  {process.name:<22} up: {", ".join(sorted(wanted))} '
                  f'({time.monotonic() - started:.1f} s)')

    def check_alive(self) -> None:
        for name, popen in self.running.items():
            if popen.poll() is not None:
                nodes = next(node_names(p) for p in self._processes if p.name == name)
                raise LaunchError(f'process {name} ({", ".join(nodes)}) exited with code '
                                  f'{popen.returncode}: {_last_line(self.log_path(name).read_text())}')

    def log_path(self, process_name: str) -> Path:
        return self.log_dir / f'{process_name}.log'

    def stop(self) -> dict[str, int]:
        """SIGINT in start order: the sensor side stops first and billing, which acts on
        what the others sent, last. Returns each process's exit code."""
        codes = {}
        for name, popen in self.running.items():
            codes[name] = interrupt(popen)
        self.running.clear()
        return codes


def play_bag(bag: Path, rate: float, log_path: Path) -> subprocess.Popen:
    """jwo_bag_play as a child process; waits for subscribers so no first message is lost."""
    return python_module_process('jwo_sim.bag_play', [str(bag), '--rate', str(rate),
                                                      '--wait-for-subscribers', '10'], log_path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='jwo_launch', description=__doc__.splitlines()[0])
    parser.add_argument('--store', type=Path, required=True, help='store config YAML')
    parser.add_argument('--params-file', type=Path, help='ROS parameters YAML for every node')
    parser.add_argument('--bag', type=Path, help='play this bag instead of live sensors')
    parser.add_argument('--rate', type=float, default=1.0, help='bag playback speed')
    parser.add_argument('--var-dir', type=Path, help='folder for the ledger, processor and fusion journal files')
    parser.add_argument('--log-dir', type=Path, help='folder for the processes\' output')
    parser.add_argument('--timeout', type=float, default=60.0,
                        help='seconds each process may take to start')
    args = parser.parse_args(argv)

    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    os.environ.setdefault('ROS_DOMAIN_ID', str(claim_ros_domain()))
    use_stack_dds_profile()     # the bag player's writers too
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    try:
        stack = Stack(args.store, 'bag' if args.bag else 'live', use_sim_time=bool(args.bag),
                      params_file=args.params_file, var_dir=args.var_dir, log_dir=args.log_dir)
    except (StoreConfigError, ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    print(f'jwo_launch: store {stack.config.store.id}, ROS_DOMAIN_ID={os.environ["ROS_DOMAIN_ID"]}, '
          f'logs in {stack.log_dir}')
    rclpy.init()
    probe = rclpy.create_node('jwo_launch')
    executor = SingleThreadedExecutor()
    executor.add_node(probe)
    player = None
    code = 0
    try:
        stack.start(lambda: set(probe.get_node_names()),
                    lambda s: executor.spin_once(timeout_sec=s), args.timeout)
        print('jwo_launch: stack up' + ('' if args.bag else '; Ctrl-C stops it'))
        if args.bag:
            player = play_bag(args.bag, args.rate, stack.log_path('bag_play'))
        while player is None or player.poll() is None:
            stack.check_alive()
            executor.spin_once(timeout_sec=0.2)
        if player.returncode != 0:
            print(f'error: jwo_bag_play: {_last_line(stack.log_path("bag_play").read_text())}',
                  file=sys.stderr)
            code = 1
    except LaunchError as error:
        print(f'error: {error}', file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        pass
    finally:
        if player is not None:
            interrupt(player)
        for name, exit_code in stack.stop().items():
            if exit_code != 0 and code == 0:
                print(f'error: process {name} exited with code {exit_code}', file=sys.stderr)
                code = 1
        executor.shutdown()
        probe.destroy_node()
        rclpy.try_shutdown()
    return code


def launch() -> None:
    sys.exit(main())


if __name__ == '__main__':
    launch()
