"""Recording the failure trace: every component transition as (time, class, unit, down).

A :class:`TraceRecorder` subscribes to a :class:`~tpusim.failures.health.HealthState`. Tests use
it to check that every policy sees the same trace; it is also the form a trace takes on disk.
"""

from __future__ import annotations

from tpusim.failures.health import HealthState
from tpusim.topology.machine import COMPONENT_CLASSES


class TraceRecorder:
    def __init__(self, health: HealthState):
        self.events: list[tuple[float, str, int, bool]] = []
        health.component_listeners.append(self._record)

    def _record(self, t: float, k: int, unit: int, down: bool) -> None:
        self.events.append((t, COMPONENT_CLASSES[k], unit, down))
