"""RFID reads at the exit (ROS-free): every tagged unit a shopper carries out is read a few
times by the exit reader's antennas in the second before the leader reaches the exit
point, unless the fault knob says the tag was missed (foil, body shielding).

    reads = exit_reads(result)      # [RfidReadTruth], time order
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from jwo_sim.simulation import SimulationResult

EXIT_READER_ID = 'exit_reader'   # jwo_shelves' rfid node default: /rfid/exit_reader/reads
ANTENNA_PORTS = (1, 2)
_RFID_STREAM = 400


def antenna_frame(reader_id: str, antenna: int) -> str:
    return f'{reader_id}_antenna_{antenna}'


@dataclass(frozen=True)
class RfidReadTruth:
    t_s: float
    reader_id: str
    antenna_port: int
    epc: str
    rssi_dbm: float
    account_token: str


def carried_epcs(result: SimulationResult) -> dict[str, list[str]]:
    """account_token -> EPCs of the tagged units it leaves with (sorted)."""
    carried: dict[str, Counter[str]] = {s.account_token: Counter()
                                        for s in result.scenario.shoppers}
    for event in result.events:
        for tag in event.epcs:
            carried[event.account_token][tag] += 1 if event.kind == 'pick' else -1
    return {account: sorted(tag for tag, n in tags.items() if n > 0)
            for account, tags in carried.items()}


def exit_reads(result: SimulationResult) -> list[RfidReadTruth]:
    rng = np.random.default_rng([result.scenario.seed, _RFID_STREAM])
    miss = result.scenario.faults.rfid_miss_probability
    carried = carried_epcs(result)
    reads = []
    for shopper, plan in zip(result.scenario.shoppers, result.plans):
        out_s = plan.present_s(0)[1]
        for tag in carried[shopper.account_token]:
            if rng.random() < miss:
                continue
            for t_s in np.sort(rng.uniform(out_s - 1.0, out_s, int(rng.integers(2, 7)))):
                reads.append(RfidReadTruth(round(float(t_s), 6), EXIT_READER_ID,
                                           int(rng.choice(ANTENNA_PORTS)), tag,
                                           round(float(rng.normal(-58.0, 5.0)), 1),
                                           shopper.account_token))
    return sorted(reads, key=lambda read: (read.t_s, read.epc))
