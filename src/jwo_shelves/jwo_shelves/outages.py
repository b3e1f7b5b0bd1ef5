"""Load-cell outages (ROS-free): when a shelf's cells go dead or stuck, the picks and puts
made there meanwhile cannot be weighed, and the step seen when they read again belongs to
nobody in particular. An OUTAGE event says which slots are blind and since when, so fusion
can send the shoppers who were there to review; RESTORED says they read again.
"""

from __future__ import annotations

from jwo_shelves.health import StreamReport
from jwo_shelves.shelf_monitor import EventKind, ShelfEventData


class OutageWatch:
    """Turns one shelf's successive health reports into OUTAGE and RESTORED events."""

    def __init__(self, shelf_id: str):
        self.shelf_id = shelf_id
        self._failing_since_ns: dict[str, int] = {}     # slot id -> its last usable reading

    @property
    def failing_slots(self) -> set[str]:
        return set(self._failing_since_ns)

    def update(self, report: StreamReport, now_ns: int) -> list[ShelfEventData]:
        failing = {c.name: c.failing_since_ns for c in report.channels
                   if c.failing_since_ns is not None}
        began = sorted(failing.keys() - self._failing_since_ns.keys())
        ended = sorted(self._failing_since_ns.keys() - failing.keys())
        events = []
        if began:
            events.append(self._event(EventKind.OUTAGE, began,
                                      min(failing[slot] for slot in began), now_ns))
        if ended:
            events.append(self._event(EventKind.RESTORED, ended,
                                      min(self._failing_since_ns[slot] for slot in ended),
                                      now_ns))
        self._failing_since_ns = {slot: self._failing_since_ns.get(slot, since)
                                  for slot, since in failing.items()}
        return events

    def _event(self, kind: EventKind, slot_ids: list[str], started_ns: int,
               now_ns: int) -> ShelfEventData:
        return ShelfEventData(
            event_id=f'{self.shelf_id}-{slot_ids[0]}-{kind.name.lower()}-{now_ns}',
            shelf_id=self.shelf_id, slot_ids=tuple(slot_ids), kind=kind,
            started_ns=started_ns, settled_ns=now_ns, detected_ns=now_ns, delta_g=0.0,
            plate_deltas_g=(), candidates=(), unknown_probability=0.0)
