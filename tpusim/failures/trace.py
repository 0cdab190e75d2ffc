"""Failure traces: recorded from a run, formatted as CSV, parsed and replayed into a run.

A trace is the list of component transitions ``(time_hours, class, unit, down)``. A
:class:`TraceRecorder` subscribes to a :class:`~tpusim.failures.health.HealthState` and records
every transition (the faults present at t = 0 included). As CSV a trace has the columns
``replication,time_hours,component,event`` where ``component`` is ``<class>:<unit>`` (e.g.
``host:17``) and ``event`` is ``fail`` or ``repair``; times are written with full precision, so
a replayed trace reproduces the run that wrote it bit for bit. A trace from a real fleet can be
fed in the same way (the ``replication`` column may be left out: the trace then serves every
replication).

This module owns the format both ways (:func:`format_trace`, :func:`parse_trace`) but never
opens a file: the config layer reads, the output layer writes. :class:`TraceReplayer` drives a
health state from a trace in SimPy, in place of the failure injector, and counts and measures
what it replays as the injector does (a :class:`~tpusim.failures.counts.FailureSource`).
"""

from __future__ import annotations

import io
from typing import Iterable

import simpy

from tpusim.core import csvrows
from tpusim.failures.counts import FailureSource
from tpusim.failures.health import HealthState
from tpusim.topology.machine import COMPONENT_CLASSES, MachineLayout

Trace = list[tuple[float, str, int, bool]]


class TraceRecorder:
    def __init__(self, health: HealthState):
        self.events: Trace = []
        health.component_listeners.append(self._record)

    def _record(self, t: float, k: int, unit: int, down: bool) -> None:
        self.events.append((t, COMPONENT_CLASSES[k], unit, down))


def format_trace(traces: dict[int, Trace]) -> str:
    """CSV text of the traces of several replications."""
    out = io.StringIO()
    out.write("replication,time_hours,component,event\n")
    for rep, events in traces.items():
        for t, cls, unit, down in events:
            out.write(f"{rep},{t!r},{cls}:{unit},{'fail' if down else 'repair'}\n")
    return out.getvalue()


def parse_trace(lines: str | Iterable[str], machine: MachineLayout) -> dict[int | None, tuple]:
    """Traces per replication (key None: no replication column, one trace for all).

    Raises :class:`~tpusim.core.csvrows.CsvError` (a ``ValueError``) naming the line and column of
    the first bad row: a value that is not a finite number or whole number, an unknown
    component class, a unit out of range, an unknown event, a negative time or one going
    backwards, a failure of a unit already down or a repair of a unit that is up.
    """
    traces: dict[int | None, Trace] = {}
    down: dict[int | None, set] = {}
    last: dict[int | None, float] = {}
    for row in csvrows.rows(lines, ("time_hours", "component", "event"), ("replication",)):
        rep = row.integer("replication") if row.text("replication", "") else None
        t = row.number("time_hours", low=0.0)
        cls, sep, unit_text = row.text("component").partition(":")
        if not sep:
            raise row.error("component", f"must be <class>:<unit> (e.g. host:17), got {row.text('component')!r}")
        if cls not in COMPONENT_CLASSES:
            raise row.error("component", f"unknown component class {cls!r} (the classes are "
                                         f"{', '.join(COMPONENT_CLASSES)})")
        unit = row.integer("component", text=unit_text)
        if unit >= machine.population(cls):
            raise row.error("component", f"{cls} unit {unit} is outside 0..{machine.population(cls) - 1}")
        event = row.choice("event", ("fail", "repair"))
        is_down = event == "fail"
        if t < last.get(rep, 0.0):
            raise row.error("time_hours", f"time goes backwards ({t!r} after {last[rep]!r})")
        state = down.setdefault(rep, set())
        if is_down == ((cls, unit) in state):
            raise row.error("event", f"{event} of {cls}:{unit}, which is already {'down' if is_down else 'up'}")
        (state.add if is_down else state.discard)((cls, unit))
        last[rep] = t
        traces.setdefault(rep, []).append((t, cls, unit, is_down))
    return {rep: tuple(events) for rep, events in traces.items()}


class TraceReplayer(FailureSource):
    """Applies a trace to ``health`` at its times, counting events like the injector does."""

    def __init__(self, env: simpy.Environment, health: HealthState, trace):
        super().__init__(env, health)
        self._down_since: dict[tuple[int, int], float] = {}
        env.process(self._replay(trace))

    def _replay(self, trace):
        env, health = self.env, self.health
        for t, cls, unit, down in trace:
            if t > env.now:
                yield env.timeout(t - env.now)
            k = COMPONENT_CLASSES.index(cls)
            # the trace's own time, not env.now (which may differ from it by rounding)
            if down:
                health.set_down(k, unit, t)
                if t == 0.0:
                    self.initially_down[k] += 1
                else:
                    self.failures[k] += 1
                    self._down_since[(k, unit)] = t
            else:
                health.set_up(k, unit, t)
                self.repairs[k] += 1
                since = self._down_since.pop((k, unit), None)
                if since is not None:
                    self.repair_hours[k] += t - since
                    self.timed_repairs[k] += 1
