"""One scenario run end to end (ROS-free): shopper plans, load-cell signals, ground truth.

    config = load_store_config('config/london/store.yaml')
    result = simulate(config, generate_scenario(config, seed=1, n_shoppers=4, duration_s=60))
    result.signals['shelf_a'], result.events, result.ground_truth()

Ground truth (a JSON-ready dict, see `ground_truth`):
  store_id, seed, duration_s, start_unix_s,
  shoppers: [{account_token, arrival_s, exit_s, party_size, entry_gate_id}],
  trajectories: {"<account_token>/<member>": {t_s: [], x_m: [], y_m: []}}   (10 Hz, map frame,
                from the member passing the entry gate to passing the exit gate)
  events: [{t_start_s, t_settled_s, shelf_id, slot_id, sku, quantity, kind, account_token,
            delta_grams, epcs}]   (time order; delta_grams < 0 for picks; epcs: RFID tags
            of the units moved, tagged products only)
  carts: {account_token: {sku: quantity}}   (what each account leaves with; zeros omitted)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from jwo_common.store_config import StoreConfig
from jwo_sim.load_cells import ShelfEventTruth, ShelfSignal, simulate_load_cells
from jwo_sim.scenario import Scenario, ScenarioError, check_scenario
from jwo_sim.shoppers import ShopperPlan, plan_shoppers

TRAJECTORY_RATE_HZ = 10.0


@dataclass(frozen=True)
class SimulationResult:
    config: StoreConfig
    scenario: Scenario
    plans: list[ShopperPlan]
    events: list[ShelfEventTruth]
    signals: dict[str, ShelfSignal]

    def carts(self) -> dict[str, dict[str, int]]:
        """What each account leaves with: sku -> quantity."""
        carts: dict[str, Counter[str]] = {s.account_token: Counter()
                                          for s in self.scenario.shoppers}
        for event in self.events:
            carts[event.account_token][event.sku] += (
                event.quantity if event.kind == 'pick' else -event.quantity)
        return {account: {sku: n for sku, n in sorted(cart.items()) if n}
                for account, cart in carts.items()}

    def ground_truth(self) -> dict:
        """JSON-ready; floats rounded to the micro-unit so the file reads and diffs well."""
        shoppers, trajectories = [], {}
        entry_gate = self.config.gates_of_kind('entry')[0].id
        for shopper, plan in zip(self.scenario.shoppers, self.plans):
            shoppers.append(dict(account_token=shopper.account_token,
                                 arrival_s=_round(plan.arrival_s), exit_s=_round(plan.exit_s),
                                 party_size=shopper.party_size, entry_gate_id=entry_gate))
            for member in range(shopper.party_size):
                enter_s, leave_s = plan.present_s(member)
                t_s = np.arange(np.ceil(enter_s * TRAJECTORY_RATE_HZ - 1e-6),
                                np.floor(leave_s * TRAJECTORY_RATE_HZ + 1e-6) + 1) \
                    / TRAJECTORY_RATE_HZ
                x_m, y_m = plan.position(t_s, member)
                trajectories[f'{shopper.account_token}/{member}'] = dict(
                    t_s=[_round(v) for v in t_s], x_m=[_round(v) for v in x_m],
                    y_m=[_round(v) for v in y_m])
        events = [dict(t_start_s=_round(e.t_start_s), t_settled_s=_round(e.t_settled_s),
                       shelf_id=e.shelf_id, slot_id=e.slot_id, sku=e.sku, quantity=e.quantity,
                       kind=e.kind, account_token=e.account_token,
                       delta_grams=_round(e.delta_grams), epcs=list(e.epcs))
                  for e in self.events]
        return dict(store_id=self.config.store.id, seed=self.scenario.seed,
                    duration_s=self.scenario.duration_s, start_unix_s=self.scenario.start_unix_s,
                    shoppers=shoppers, trajectories=trajectories, events=events,
                    carts=self.carts())


def _round(value: float) -> float:
    return round(float(value), 6)


def simulate(config: StoreConfig, scenario: Scenario,
             source: str = 'scenario') -> SimulationResult:
    """Runs the scenario; ScenarioError (naming `source`) if it does not fit the store or a
    shopper is still inside at the end."""
    check_scenario(scenario, config, source)
    plans = plan_shoppers(config, scenario.shoppers, until_s=scenario.duration_s)
    late = [f'shoppers[{i}]: still inside at duration_s {scenario.duration_s}'
            for i, plan in enumerate(plans) if plan.exit_s > scenario.duration_s]
    if late:
        raise ScenarioError(f'{source}: ' + '; '.join(late))
    events, signals = simulate_load_cells(config, scenario, plans)
    return SimulationResult(config, scenario, plans, events, signals)
