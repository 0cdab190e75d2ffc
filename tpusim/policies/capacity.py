"""What every capacity tracker shares: its outcome, time buckets, and the interval record.

``slice_availability[shape]`` is the fraction of simulated time during which a slice of that
shape could be placed on an otherwise empty pod given the current health state; with several
pods, the time at least one pod could place it (DESIGN §4). Each policy's tracker listens to the
shared :class:`~tpusim.failures.HealthState`, updates only on real transitions, and at the end
of a replication reports a :class:`PolicyOutcome`, which emits its own samples; an
:class:`Availability` makes a tracker a component of the replication (its result hook, see
:mod:`tpusim.core.collect`). Trackers are checked against the direct placement rules of
:mod:`tpusim.topology.placement` and a naive reference evaluator in the tests.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, Sequence

from tpusim.core.collect import Emit
from tpusim.core.metrics import (
    CAPACITY_FRACTION,
    SLICE_AVAILABILITY,
    SLICE_OUTAGE_LONGEST_HOURS,
    SLICE_OUTAGE_SQ_HOURS,
    SLICE_OUTAGES,
    SYSTEM_AVAILABILITY,
    USEFUL_AVAILABILITY,
)
from tpusim.failures.health import HealthState


#: A policy's slice availability over time: per shape (in the scenario's slice order), the
#: fraction of each time bucket during which it could be placed
Series = list[list[float]]


@dataclass
class PolicyOutcome:
    slice_availability: list[float]  # in the scenario's slice order
    system_availability: float
    series: Series | None = None
    #: capacity[k]: fraction of time during which some pod could place one slice of k cubes
    #: (k = 0 .. cubes per pod); capacity_at_confidence is read from it (DESIGN §4)
    capacity: list[float] | None = None
    #: per shape: (outages, sum of squared outage durations, longest outage), durations in hours
    #: (an outage still open at the end is cut there); the intervals of slice availability use them
    outages: list[tuple[int, float, float]] | None = None

    def report(self, labels: Sequence[str], emit: Emit) -> None:
        """Emit this outcome as samples, ``labels`` naming the shapes (in the scenario's order)."""
        for label, value in zip(labels, self.slice_availability):
            emit(SLICE_AVAILABILITY, label, value)
        emit(SYSTEM_AVAILABILITY, None, self.system_availability)
        for k, value in enumerate(self.capacity or ()):
            emit(CAPACITY_FRACTION, str(k), value)
        for label, (count, sq, longest) in zip(labels, self.outages or ()):
            emit(SLICE_OUTAGES, label, float(count))
            emit(SLICE_OUTAGE_SQ_HOURS, label, sq)
            emit(SLICE_OUTAGE_LONGEST_HOURS, label, longest)


class Outages:
    """The outages of each shape: periods during which no pod could place it."""

    def __init__(self, shapes: int):
        self.count = [0] * shapes
        self.sq = [0.0] * shapes
        self.longest = [0.0] * shapes
        self.since: list[float | None] = [None] * shapes

    def down(self, s: int, t: float) -> None:
        self.count[s] += 1
        self.since[s] = t

    def up(self, s: int, t: float) -> None:
        since = self.since[s]
        assert since is not None
        d = t - since
        self.sq[s] += d * d
        if d > self.longest[s]:
            self.longest[s] = d
        self.since[s] = None

    def finish(self, t: float) -> list[tuple[int, float, float]]:
        out = []
        for s, since in enumerate(self.since):
            d = t - since if since is not None else 0.0
            out.append((self.count[s], self.sq[s] + d * d, max(self.longest[s], d)))
        return out


class LevelTime:
    """Time spent at each value of an integer level that changes at event times (here: the most
    cubes any pod could place as one slice). ``at_least(t)[k]`` is the fraction of ``[0, t]``
    with level >= k."""

    def __init__(self, top: int, start: int):
        self.level = start
        self.since = 0.0
        self.time_at = [0.0] * (top + 1)

    def set(self, t: float, level: int) -> None:
        if level != self.level:
            self.time_at[self.level] += t - self.since
            self.since = t
            self.level = level

    def at_least(self, t: float) -> list[float]:
        time_at = list(self.time_at)
        time_at[self.level] += t - self.since
        out = [0.0] * len(time_at)
        acc = 0.0
        for k in range(len(time_at) - 1, -1, -1):
            acc += time_at[k]
            out[k] = fraction_of(acc, t)
        return out


def fraction_of(time: float, horizon: float) -> float:
    """``time / horizon``, kept inside [0, 1] against the rounding of summed intervals."""
    return min(1.0, max(0.0, time / horizon))


def bucketize(spans: list[tuple[float, float]], width: float, horizon: float) -> list[float]:
    """Fraction of each bucket ``[i*width, (i+1)*width)`` (cut at the horizon) covered by spans."""
    n = max(1, int(-(-horizon // width)))
    covered = [0.0] * n
    for a, b in spans:
        i = int(a // width)
        while a < b and i < n:
            end = min(b, (i + 1) * width)
            covered[i] += end - a
            a, i = end, i + 1
    return [fraction_of(c, min(width, horizon - i * width)) for i, c in enumerate(covered)]


class CapacityTracker(ABC):
    """A policy's incremental slice-availability tracker (subscribed to a health state)."""

    @abstractmethod
    def placeable(self) -> list[bool]:
        """Per shape: could a slice be placed now?"""

    @abstractmethod
    def finish(self, t: float, health: HealthState, width: float | None = None) -> PolicyOutcome:
        """The outcome over ``[0, t]`` (``width``: time-series bucket width in hours)."""


class Availability:
    """A policy's capacity tracker as a component of a replication: its result hook finishes the
    tracker over the horizon on the health it watches, emits the outcome's samples and returns
    the outcome's time series (None without ``width``, the bucket width in hours)."""

    def __init__(self, tracker: CapacityTracker, health: HealthState, labels: Sequence[str], width: float | None,
                 useful: Callable[[float, HealthState, float], float]):
        self.tracker = tracker
        self.health = health
        self.labels = labels
        self.width = width
        self.useful = useful  # the policy's useful availability from its system availability

    def collect(self, horizon: float, emit: Emit) -> Series | None:
        outcome = self.tracker.finish(horizon, self.health, self.width)
        outcome.report(self.labels, emit)
        emit(USEFUL_AVAILABILITY, None, self.useful(outcome.system_availability, self.health, horizon))
        return outcome.series


class ShapeUptime:
    """Per shape: how many pods could place it, its up time, its outages and (optionally) its
    available intervals for time series (DESIGN §4 is about time averages; the series split the
    same indicator into buckets). Trackers that decide placeability pod by pod share it: they
    call :meth:`_pod_lost` and :meth:`_pod_gained` when a pod stops or starts placing a shape."""

    spans: list[list[tuple[float, float]]] | None

    def _init_uptime(self, placing: list[int], record: bool) -> None:
        shapes = len(placing)
        self.pods_placing = list(placing)
        self.up_since = [0.0] * shapes
        self.up_time = [0.0] * shapes
        self.outages = Outages(shapes)
        self.spans = [[] for _ in range(shapes)] if record else None

    def _pod_lost(self, s: int, t: float) -> None:
        self.pods_placing[s] -= 1
        if self.pods_placing[s] == 0:
            self.outages.down(s, t)
            self.up_time[s] += t - self.up_since[s]
            if self.spans is not None:
                self.spans[s].append((self.up_since[s], t))

    def _pod_gained(self, s: int, t: float) -> None:
        if self.pods_placing[s] == 0:
            self.up_since[s] = t
            self.outages.up(s, t)
        self.pods_placing[s] += 1

    def _pod_places(self, ok: list[bool], s: int, now: bool, t: float) -> None:
        """Pod's flag ``ok[s]`` (can it place shape ``s``?) is ``now`` at ``t``: count a change."""
        if now != ok[s]:
            ok[s] = now
            if now:
                self._pod_gained(s, t)
            else:
                self._pod_lost(s, t)

    def placeable(self) -> list[bool]:
        return [n > 0 for n in self.pods_placing]

    def _uptime_outcome(self, t: float, width: float | None, system: float, capacity: list[float]) -> PolicyOutcome:
        n = len(self.up_time)
        up = [self.up_time[s] + (t - self.up_since[s] if self.pods_placing[s] else 0.0) for s in range(n)]
        open_since = [self.up_since[s] if self.pods_placing[s] else None for s in range(n)]
        series = None
        if self.spans is not None and width is not None:
            spans = [s + ([(since, t)] if since is not None else []) for s, since in zip(self.spans, open_since)]
            series = [bucketize(s, width, t) for s in spans]
        return PolicyOutcome([fraction_of(u, t) for u in up], system, series, capacity, self.outages.finish(t))
