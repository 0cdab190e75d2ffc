"""Capacity availability per policy, measured as time-weighted indicators (DESIGN §4).

``slice_availability[shape]`` is the fraction of simulated time during which a slice of that
shape could be placed on an otherwise empty pod given the current health state; with several
pods, the time at least one pod could place it. ``system_availability`` is the fraction of
chip-time on healthy hardware: a chip is healthy while its host and every ICI link touching it
are up, and, in the reconfigurable machine, every OCS holding one of its ports.

Each policy has a tracker that listens to the shared :class:`~tpusim.failures.HealthState` and
updates only on real transitions, so its cost per failure event is O(1) in practice:

- :class:`StaticAvailability` keeps, per pod, a bitmask of unusable cubes and, per shape, one
  box known to be free. A cube going bad forces a rescan only if it lies in that box; a cube
  coming back is tried only for shapes that currently have no free box, and only against the
  boxes containing it.
- :class:`ReconfigurableAvailability` keeps, per pod, its *capacity* (usable cubes if every OCS
  is up, else 0) and integrates the time spent at each value of the largest pod capacity;
  a ``k``-cube slice is placeable exactly while that maximum is ``>= k``.

Both are checked against the direct placement rules of :mod:`tpusim.topology.placement` in the
property tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from tpusim.failures.health import HealthState
from tpusim.topology.machine import MachineLayout
from tpusim.topology.placement import static_box_masks
from tpusim.topology.shapes import Dims


@dataclass
class PolicyOutcome:
    slice_availability: list[float]  # in the scenario's slice order
    system_availability: float
    series: list[list[float]] | None = None  # per shape, availability in each time bucket


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


class _UpSpans:
    """Optional record of each shape's available intervals, for time series (DESIGN §4 is
    about time averages; the series split the same indicator into buckets)."""

    def _init_spans(self, shapes: int, record: bool) -> None:
        self.spans = [[] for _ in range(shapes)] if record else None

    def _series(self, t: float, width: float | None, open_since: list[float | None]):
        if self.spans is None or width is None:
            return None
        spans = [s + ([(since, t)] if since is not None else []) for s, since in zip(self.spans, open_since)]
        return [bucketize(s, width, t) for s in spans]


def fraction_of(time: float, horizon: float) -> float:
    """``time / horizon``, kept inside [0, 1] against the rounding of summed intervals."""
    return min(1.0, max(0.0, time / horizon))


class StaticAvailability(_UpSpans):
    """A slice needs an axis-aligned box of usable cubes inside the fixed cube grid."""

    uses_ocs = False

    def __init__(self, machine: MachineLayout, shapes_in_cubes: list[Dims], record: bool = False):
        grid, pods = machine.cube_grid, machine.pods
        self.masks = [static_box_masks(grid, dims) for dims in shapes_in_cubes]
        self.containing = [
            [tuple(m for m in masks if m >> cube & 1) for masks in self.masks]
            for cube in range(machine.cubes_per_pod)
        ]
        self.bad = [0] * pods
        # Invariant: free_box[pod][s] is the mask of a box of shape s with no bad cube, or 0 if
        # there is none (a box mask is never 0). Shapes that fit nowhere in the grid stay at 0.
        self.free_box = [[masks[0] if masks else 0 for masks in self.masks] for _ in range(pods)]
        self.blocked = [0] * pods  # shapes that fit the grid but have no free box in the pod
        self.pods_placing = [pods if masks else 0 for masks in self.masks]
        self.up_since = [0.0] * len(self.masks)
        self.up_time = [0.0] * len(self.masks)
        self._init_spans(len(self.masks), record)

    def on_cube(self, t: float, pod: int, cube: int, usable: bool) -> None:
        bit = 1 << cube
        free = self.free_box[pod]
        if not usable:
            bad = self.bad[pod] = self.bad[pod] | bit
            for s, box in enumerate(free):
                if box & bit:  # the known free box just lost a cube: look for another
                    for candidate in self.masks[s]:
                        if not candidate & bad:
                            free[s] = candidate
                            break
                    else:
                        free[s] = 0
                        self.blocked[pod] += 1
                        self.pods_placing[s] -= 1
                        if self.pods_placing[s] == 0:
                            self.up_time[s] += t - self.up_since[s]
                            if self.spans is not None:
                                self.spans[s].append((self.up_since[s], t))
        else:
            bad = self.bad[pod] = self.bad[pod] & ~bit
            if not self.blocked[pod]:
                return
            containing = self.containing[cube]
            for s, box in enumerate(free):
                if not box:  # only a box containing the repaired cube can have become free
                    for candidate in containing[s]:
                        if not candidate & bad:
                            free[s] = candidate
                            self.blocked[pod] -= 1
                            if self.pods_placing[s] == 0:
                                self.up_since[s] = t
                            self.pods_placing[s] += 1
                            break

    def on_ocs(self, t: float, pod: int, all_up: bool) -> None:
        """The static pod has no OCS."""

    def placeable(self) -> list[bool]:
        return [n > 0 for n in self.pods_placing]

    def finish(self, t: float, health: HealthState, width: float | None = None) -> PolicyOutcome:
        up = [
            self.up_time[s] + (t - self.up_since[s] if self.pods_placing[s] else 0.0)
            for s in range(len(self.masks))
        ]
        open_since = [self.up_since[s] if self.pods_placing[s] else None for s in range(len(self.masks))]
        return PolicyOutcome([fraction_of(u, t) for u in up], health.chip_availability(t, with_ocs=False),
                             self._series(t, width, open_since))


class ReconfigurableAvailability:
    """Any ``k`` usable cubes of one pod, wired through that pod's OCSes (all of them must be up)."""

    uses_ocs = True

    def __init__(self, machine: MachineLayout, shapes_in_cubes: list[Dims], record: bool = False):
        n = machine.cubes_per_pod
        self.cubes_needed = [a * b * c for a, b, c in shapes_in_cubes]
        self.levels: list[tuple[float, float, int]] | None = [] if record else None
        self.usable = [n] * machine.pods
        self.ocs_up = [True] * machine.pods
        self.capacity = [n] * machine.pods
        self.pods_at = [0] * (n + 1)  # pods_at[c]: pods whose capacity is c
        self.pods_at[n] = machine.pods
        self.best = n  # largest capacity over pods
        self.time_at = [0.0] * (n + 1)  # time spent with best == c
        self.since = 0.0

    def on_cube(self, t: float, pod: int, cube: int, usable: bool) -> None:
        self.usable[pod] += 1 if usable else -1
        if self.ocs_up[pod]:
            self._set_capacity(t, pod, self.usable[pod])

    def on_ocs(self, t: float, pod: int, all_up: bool) -> None:
        self.ocs_up[pod] = all_up
        self._set_capacity(t, pod, self.usable[pod] if all_up else 0)

    def _set_capacity(self, t: float, pod: int, new: int) -> None:
        old = self.capacity[pod]
        if old == new:
            return
        self.capacity[pod] = new
        self.pods_at[old] -= 1
        self.pods_at[new] += 1
        best = self.best
        if new > best:
            best = new
        elif old == best:
            while self.pods_at[best] == 0:
                best -= 1
        if best != self.best:
            self.time_at[self.best] += t - self.since
            if self.levels is not None:
                self.levels.append((self.since, t, self.best))
            self.since = t
            self.best = best

    def placeable(self) -> list[bool]:
        return [self.best >= k for k in self.cubes_needed]

    def finish(self, t: float, health: HealthState, width: float | None = None) -> PolicyOutcome:
        time_at = list(self.time_at)
        time_at[self.best] += t - self.since
        at_least = [0.0] * (len(time_at) + 1)  # at_least[c] = time with best >= c
        for c in range(len(time_at) - 1, -1, -1):
            at_least[c] = at_least[c + 1] + time_at[c]
        series = None
        if self.levels is not None and width is not None:
            levels = self.levels + [(self.since, t, self.best)]
            series = [bucketize([(a, b) for a, b, best in levels if best >= k], width, t) for k in self.cubes_needed]
        return PolicyOutcome(
            [fraction_of(at_least[k], t) for k in self.cubes_needed],
            health.chip_availability(t, with_ocs=True),
            series,
        )


class FaultTolerantAvailability(_UpSpans):
    """Reconfigurable with fault-tolerant ICI routing: a slice keeps its place through link and
    OCS faults as long as it meets at most ``max_faults`` faulty components.

    A cube is usable when all its hosts are up (a host fault still needs a cube swap). A
    ``k``-cube slice is placeable in a pod with ``o`` OCSes down when ``k`` such cubes exist and
    ``o`` plus the link faults of the ``k`` least faulty of them is at most ``max_faults``.
    This rule does not search the chip graph: a faulty component removes at most one link of
    any chip (of 6) and at most two of the 32 links crossing any plane of a 4x4x4-cube torus,
    so a handful of faults leaves the slice connected. The job simulation checks connectivity
    on the real graph (:mod:`tpusim.topology.routing`) before it lets a slice run degraded.
    """

    uses_ocs = True

    def __init__(self, machine: MachineLayout, shapes_in_cubes: list[Dims], max_faults: int, record: bool = False):
        n, pods = machine.cubes_per_pod, machine.pods
        self.max_faults = max_faults
        self.cubes_needed = [a * b * c for a, b, c in shapes_in_cubes]
        self.cap = max_faults + 1  # link-fault counts above max_faults are all the same: too many
        self.faults = [[0] * n for _ in range(pods)]  # link faults per cube, -1 if a host is down
        self.hist = [[n] + [0] * self.cap for _ in range(pods)]  # host-up cubes by link faults
        self.ocs = [0] * pods
        self.ok = [[True] * len(self.cubes_needed) for _ in range(pods)]
        self.pods_placing = [pods] * len(self.cubes_needed)
        self.up_since = [0.0] * len(self.cubes_needed)
        self.up_time = [0.0] * len(self.cubes_needed)
        self._init_spans(len(self.cubes_needed), record)

    def on_faults(self, t: float, pod: int, cube: int, hosts_down: int, links_down: int) -> None:
        new = -1 if hosts_down else min(links_down, self.cap)
        old = self.faults[pod][cube]
        if new == old:
            return
        self.faults[pod][cube] = new
        if old >= 0:
            self.hist[pod][old] -= 1
        if new >= 0:
            self.hist[pod][new] += 1
        self._update(t, pod)

    def on_ocs_count(self, t: float, pod: int, down: int) -> None:
        self.ocs[pod] = down
        self._update(t, pod)

    def _placeable(self, pod: int, k: int) -> bool:
        budget = self.max_faults - self.ocs[pod]
        for f, count in enumerate(self.hist[pod]):
            take = min(count, k)
            budget -= take * f
            k -= take
            if budget < 0:
                return False
            if k == 0:
                return True
        return False  # fewer than k cubes with every host up

    def _update(self, t: float, pod: int) -> None:
        ok = self.ok[pod]
        for s, k in enumerate(self.cubes_needed):
            now = self._placeable(pod, k)
            if now == ok[s]:
                continue
            ok[s] = now
            if now:
                if self.pods_placing[s] == 0:
                    self.up_since[s] = t
                self.pods_placing[s] += 1
            else:
                self.pods_placing[s] -= 1
                if self.pods_placing[s] == 0:
                    self.up_time[s] += t - self.up_since[s]
                    if self.spans is not None:
                        self.spans[s].append((self.up_since[s], t))

    def placeable(self) -> list[bool]:
        return [n > 0 for n in self.pods_placing]

    def finish(self, t: float, health: HealthState, width: float | None = None) -> PolicyOutcome:
        n = len(self.cubes_needed)
        up = [self.up_time[s] + (t - self.up_since[s] if self.pods_placing[s] else 0.0) for s in range(n)]
        open_since = [self.up_since[s] if self.pods_placing[s] else None for s in range(n)]
        return PolicyOutcome([fraction_of(u, t) for u in up], health.chip_availability(t, with_ocs=True),
                             self._series(t, width, open_since))


def make_tracker(policy: str, machine: MachineLayout, shapes_in_cubes: list[Dims], health: HealthState,
                 max_faults: int = 4, record: bool = False):
    """Build ``policy``'s tracker and subscribe it to ``health`` (``record``: keep the
    intervals a time series needs)."""
    if policy == "reconfigurable_ft":
        tracker = FaultTolerantAvailability(machine, shapes_in_cubes, max_faults, record)
        health.fault_listeners.append(tracker.on_faults)
        health.ocs_count_listeners.append(tracker.on_ocs_count)
        return tracker
    tracker = {"static": StaticAvailability, "reconfigurable": ReconfigurableAvailability}[policy](
        machine, shapes_in_cubes, record)
    health.cube_listeners.append(tracker.on_cube)
    health.ocs_listeners.append(tracker.on_ocs)
    return tracker
