"""What the components that change the health state count, and the failure source's result hook.

:class:`FailureCounts` is a replication's record of its failure trace: failures, repairs and
units down at t = 0 per component class (in ``COMPONENT_CLASSES`` order), failures per
correlated domain, and the events simulated. Every component that changes the shared health
state reports its own counts (``counts``) and counts add up: a replication's counts are the sum
of its failure source's, its gray injector's (faults healthd noticed, as failures) and its
campaign driver's (a bad release's extra failures, as events only).

:class:`FailureSource` is what the failure injector (drawn failures) and the trace replayer
(a recorded or real trace) share: the per-class counters they keep while they drive the health
state, and their result hook, which emits the component metrics (measured availability, failure
rate per unit-day, mean repair hours) of every class that has units.

Invariant: counting changes no draw; a class with no units emits no component metric, and one
with no repair completed during the run no repair hours (the mean is undefined).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import simpy

from tpusim.core.collect import Emit
from tpusim.core.metrics import COMPONENT_AVAILABILITY, COMPONENT_FAILURE_RATE, COMPONENT_REPAIR_HOURS
from tpusim.core.units import HOURS_PER_DAY
from tpusim.failures.health import HealthState
from tpusim.topology.machine import COMPONENT_CLASSES, OPTIONAL_CLASSES

_ZEROS = (0,) * len(COMPONENT_CLASSES)  # one count per class


@dataclass(frozen=True)
class FailureCounts:
    """What one replication's failure trace counted (or one component's share of it)."""

    failures: tuple[int, ...] = _ZEROS  # accepted failures per class, during the run
    repairs: tuple[int, ...] = _ZEROS  # completed repairs per class, during the run
    initially_down: tuple[int, ...] = _ZEROS  # units down at t = 0 per class
    domain_failures: Mapping[str, int] = field(default_factory=dict)  # per correlated failure domain
    events: int = 0  # failure and repair events simulated

    def __add__(self, other: "FailureCounts") -> "FailureCounts":
        domains = dict(self.domain_failures)
        for name, n in other.domain_failures.items():
            domains[name] = domains.get(name, 0) + n
        return FailureCounts(_plus(self.failures, other.failures), _plus(self.repairs, other.repairs),
                             _plus(self.initially_down, other.initially_down), domains, self.events + other.events)


def _plus(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(x + y for x, y in zip(a, b))


class FailureSource:
    """Drives ``health`` with failures and repairs and counts them per class."""

    def __init__(self, env: simpy.Environment, health: HealthState):
        self.env = env
        self.health = health
        n = len(COMPONENT_CLASSES)
        self.failures = [0] * n  # accepted failures per class, during the run
        self.repairs = [0] * n  # completed repairs per class, during the run
        self.initially_down = [0] * n
        # hours and number of the completed repairs of failures during the run (not of units down
        # at t = 0, whose residual repair times are shorter by construction): the check's
        # component-level repair-time metric
        self.repair_hours = [0.0] * n
        self.timed_repairs = [0] * n
        self.domain_failures: dict[str, int] = {}
        # control variates (tpusim.measure.controls), kept by drawn failures only: per class,
        # the candidates of its superposed process before thinning, and the repair hours drawn
        # for its accepted failures (each discarded candidate counted at the mean repair)
        self.candidates = [0] * n
        self.drawn_repair_hours = [0.0] * n
        #: optional classes this run models (:data:`OPTIONAL_CLASSES`): the sources say which
        self.modelled: set[str] = set()

    @property
    def events(self) -> int:
        """Failure and repair events simulated (the model's events)."""
        return sum(self.failures) + sum(self.repairs)

    @property
    def counts(self) -> FailureCounts:
        return FailureCounts(tuple(self.failures), tuple(self.repairs), tuple(self.initially_down),
                             dict(self.domain_failures), self.events)

    def collect(self, horizon: float, emit: Emit) -> None:
        """The component metrics of every class with units, class by class."""
        unit_days = [n * horizon / HOURS_PER_DAY for n in self.health.population]
        for k, (cls, avail) in enumerate(zip(COMPONENT_CLASSES, self.health.component_availability(horizon))):
            if cls in OPTIONAL_CLASSES and cls not in self.modelled and not self.failures[k] + self.initially_down[k]:
                continue
            if avail is not None:  # a class with no units has no availability
                emit(COMPONENT_AVAILABILITY, cls, avail)
                emit(COMPONENT_FAILURE_RATE, cls, self.failures[k] / unit_days[k])
                timed = self.timed_repairs[k]
                if timed:  # no repair completed: the mean is undefined, and no sample says so
                    emit(COMPONENT_REPAIR_HOURS, cls, self.repair_hours[k] / timed)
