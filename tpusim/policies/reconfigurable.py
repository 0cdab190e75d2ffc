"""``reconfigurable``: any usable cubes of one pod, wired into the slice through the OCSes.

The Pod Manager can wire any ``k`` usable cubes of one pod into a slice of ``k`` cubes; a
slice of whole cubes uses every OCS of its pod (each cube's ``+d`` port ``p`` is cross-connected
through OCS ``(d, p)``), so all of them must be up. With ``topology.sub_pod_slices: mesh`` a slice
smaller than a pod is a mesh and needs only the OCSes of the dimensions it spans
(:class:`MeshAvailability`; the pool gates each pod per shape). A cube is usable only with every
host, link and facing switch port up, whether or not a mesh would use the port (conservative,
in the tracker and in placement alike). A failure inside a slice takes it down until
the Pod Manager swaps in a healthy spare cube or the part is repaired.

Placement takes the free usable cubes of the pod that fits the slice most tightly (fewest usable
free cubes), lowest numbers first. For preemption and defragmentation it frees as few, as small
jobs as possible (:meth:`ReconfigurablePolicy.places_with_victims`).

Capacity tracker (:class:`ReconfigurableAvailability`, torus slices): per pod, its *capacity*
(usable cubes if every OCS is up, else 0); it integrates the time spent at each value of the largest pod
capacity, and a ``k``-cube slice is placeable exactly while that maximum is ``>= k``.

Subclasses change the rules through two hooks: :meth:`ReconfigurablePolicy._order` (which free
cubes to prefer) and :meth:`ReconfigurablePolicy._within_budget` (may these cubes form a slice).
"""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

from tpusim.policies.analytic import any_k_cubes, any_k_cubes_mesh, any_k_cubes_spanning
from tpusim.failures.health import HealthState
from tpusim.failures.params import FailureParams
from tpusim.policies.base import OCS_WIRING, ClosedForm, Placement, Policy, PoolView, SliceHolder
from tpusim.policies.capacity import (CapacityTracker, LevelTime, Outages, PolicyOutcome, ShapeUptime, bucketize,
                                     fraction_of)
from tpusim.policies.registry import register
from tpusim.topology.allocation import Allocation
from tpusim.topology.machine import MachineLayout
from tpusim.topology.shapes import Dims


def bits(mask: int) -> Iterator[int]:
    """Positions of the set bits of ``mask``, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


@register
class ReconfigurablePolicy(Policy):
    name = "reconfigurable"
    summary = "OCS pod: any usable cubes of a pod wired into the slice, failed cubes swapped for spares"
    wiring = OCS_WIRING

    def capacity_tracker(self, shapes_in_cubes: list[Dims], health: HealthState,
                         record: bool = False) -> CapacityTracker:
        if self.machine.sub_pod_slices == "mesh":
            mesh = MeshAvailability(self.machine, shapes_in_cubes, health, record)
            health.cube_listeners.append(mesh.on_cube)
            health.ocs_count_listeners.append(mesh.on_ocs_count)
            return mesh
        tracker = ReconfigurableAvailability(self.machine, shapes_in_cubes, record)
        health.cube_listeners.append(tracker.on_cube)
        health.ocs_listeners.append(tracker.on_ocs)
        return tracker

    def closed_form(self, failures: FailureParams, cube_dims: Dims) -> ClosedForm | None:
        if not failures.steady:  # a build-out or planned outages: no steady state
            return None
        k = cube_dims[0] * cube_dims[1] * cube_dims[2]
        if self.machine.sub_pod_slices == "mesh":
            value = any_k_cubes_spanning(self.machine, failures, k, self.machine.ocs_dims(cube_dims))
            if value is None:
                return None
            return ClosedForm(value, "exact", "the OCSes of the dimensions the slice spans up x binomial "
                                              "P(at least k of its cubes usable)")
        return ClosedForm(any_k_cubes(self.machine, failures, k), "exact",
                          "all OCSes of a pod up x binomial P(at least k of its cubes usable)")

    def capacity_closed_form(self, failures: FailureParams, cubes: int) -> float | None:
        if not failures.steady:
            return None
        if self.machine.sub_pod_slices == "mesh":
            return any_k_cubes_mesh(self.machine, failures, cubes)
        return any_k_cubes(self.machine, failures, cubes)  # any k cubes of a pod do

    # -- spares: any usable cube of the pod can be wired in for a broken one ----------------
    def swaps_cubes(self, job: SliceHolder) -> bool:
        return True

    def spare_cubes(self, requested: int) -> int:
        return requested

    # -- hooks -----------------------------------------------------------------------------
    def _order(self, pool: PoolView, cubes: list[int]) -> None:
        """Sort candidate cubes (global numbers, ascending) into preference order, in place."""

    def _pick(self, pool: PoolView, pod: int, open_cubes: int, k: int) -> list[int]:
        """The ``k`` preferred of ``pod``'s open cubes (a local bitmask holding at least ``k``),
        as global numbers in preference order: here the lowest numbers."""
        base, chosen = pod * pool.cubes_per_pod, []
        for _ in range(k):
            low = open_cubes & -open_cubes
            chosen.append(base + low.bit_length() - 1)
            open_cubes ^= low
        return chosen

    def _within_budget(self, pool: PoolView, pod: int, cubes: list[int], cube_dims: Dims | None = None) -> bool:
        """May these cubes (global numbers) of ``pod`` form one slice of ``cube_dims`` (``None``:
        of any shape)?"""
        return True

    # -- placement -------------------------------------------------------------------------
    def find_whole(self, pool: PoolView, cube_dims: Dims) -> Allocation | None:
        k = cube_dims[0] * cube_dims[1] * cube_dims[2]
        counts = pool.open_counts(cube_dims)
        if len(counts) == 1:
            pods: Sequence[int] = (0,) if counts[0] >= k else ()
        elif max(counts) < k:
            return None
        else:  # the tightest pod wins (fewest open cubes, then the lowest number)
            ranked = [(n, pod) for pod, n in enumerate(counts) if n >= k]
            # where every pod's pick may form a slice (no budget rule), only the first is looked at
            budgeted = type(self)._within_budget is not ReconfigurablePolicy._within_budget  # may refuse
            pods = [pod for _, pod in sorted(ranked)] if budgeted else (min(ranked)[1],)
        full = (1 << pool.cubes_per_pod) - 1
        for pod in pods:  # the first whose chosen cubes may form a slice
            chosen = self._pick(pool, pod, full & ~pool.blocked_bits(pod), k)
            if self._within_budget(pool, pod, chosen, cube_dims):
                return Allocation(pod, sorted(chosen), pool.full_mask)
        return None

    def places_with_victims(self, pool: PoolView, job: SliceHolder, pod: int, usable: int,
                            movable: int) -> Iterator[Placement]:
        """Enough usable cubes of ``pod``, freeing as few, as small jobs as possible."""
        base = pod * pool.cubes_per_pod
        held = pool.held_bits(pod)
        need = job.cubes - (usable & ~held).bit_count()
        if need <= 0:
            return  # enough free cubes already: moving jobs would not help
        # jobs that free some usable cubes together: a whole-cube slice its cubes, the sub-cube
        # slices on a cube that cube; as (local mask freed, jobs, the whole-cube slice or None)
        groups: dict[int, tuple[int, list, SliceHolder | None]] = {}
        left = movable & held
        while left:
            low = left & -left
            holders = pool.holders(base + low.bit_length() - 1)
            lead = holders[0]
            if len(holders) == 1 and lead.cubes:
                mask = pool.whole_cubes(lead)
                groups[lead.id] = (mask & usable, [lead], lead)
                left &= ~mask  # its other cubes are in this group
            else:
                groups[-1 - low.bit_length()] = (low, list(holders), None)
                left ^= low
        single = [g for g in groups.values() if g[0].bit_count() >= need]
        if single:  # one group suffices: the one moving the fewest jobs, then chips
            chosen = [min(single, key=lambda g: (len(g[1]), sum(j.chips for j in g[1])))]
        else:
            ranked = sorted(groups.values(), key=lambda g: (-g[0].bit_count(), len(g[1])))
            chosen, freed = [], 0
            for group in ranked:
                if freed >= need:
                    break
                chosen.append(group)
                freed += group[0].bit_count()
            if freed < need:
                return
            for group in reversed(chosen[:]):  # drop victims the others make unnecessary
                if freed - group[0].bit_count() >= need:
                    chosen.remove(group)
                    freed -= group[0].bit_count()
        free = [base + c for c in bits(usable & ~held)]
        self._order(pool, free)
        for mask, _, whole in chosen:  # a slice's cubes in its own order, as it holds them
            free += ([x for x in whole.alloc.cubes if usable >> (x - base) & 1] if whole is not None and whole.alloc
                     else [base + c for c in bits(mask)])
        cubes = free[: job.cubes]
        if not self._within_budget(pool, pod, cubes, job.cube_dims):
            return
        yield Allocation(pod, sorted(cubes), pool.full_mask), [j for g in chosen for j in g[1]]


class ReconfigurableAvailability(CapacityTracker):
    """Any ``k`` usable cubes of one pod, wired through that pod's OCSes (all of them must be up)."""

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
        self.outages = Outages(len(self.cubes_needed))
        self._is_size = bytearray(n + 1)  # a change of best matters if it crosses a measured size
        for k in self.cubes_needed:
            self._is_size[k] = 1

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
            lo, hi = (best, self.best) if best < self.best else (self.best, best)
            if self._is_size[hi] if hi - lo == 1 else any(self._is_size[lo + 1: hi + 1]):
                for s, k in enumerate(self.cubes_needed):  # shapes whose placeability flips
                    if self.best >= k > best:
                        self.outages.down(s, t)
                    elif best >= k > self.best:
                        self.outages.up(s, t)
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
            [fraction_of(a, t) for a in at_least[: len(time_at)]],
            self.outages.finish(t),
        )


def mesh_capacity(n: int, largest: Callable[[int], int]) -> int:
    """The most cubes one slice could take in a pod of ``n`` cubes whose slices smaller than a
    pod are meshes: a full-pod slice is a torus (the OCSes of all 3 dimensions); a slice of
    ``2 .. n-1`` cubes may be a line along one dimension, which uses only that dimension's OCSes
    (the best one); a single cube uses none. ``largest(dims)``: the most cubes the pod allows
    with the OCSes of that many dimensions counted (3: all; 1: the best single dimension; 0:
    none). Placeability is down-closed in the number of cubes (fewer cubes need no more OCSes),
    so this one number gives it."""
    if largest(3) >= n:
        return n
    if n > 2:
        best = min(largest(1), n - 1)
        if best >= 2:
            return best
    return min(largest(0), 1) if n > 1 else 0


class MeshAvailability(ShapeUptime, CapacityTracker):
    """Any ``k`` usable cubes of one pod, where slices smaller than a pod are meshes
    (``topology.sub_pod_slices: mesh``): a shape is placeable in a pod with ``k`` usable cubes
    while every OCS of the dimensions it uses is up (:meth:`MachineLayout.ocs_dims
    <tpusim.topology.machine.MachineLayout.ocs_dims>`: those it spans; every one for a full-pod
    torus; none for one cube). A cube is usable as for the torus (every host, link and facing
    switch port up, used by the slice or not)."""

    def __init__(self, machine: MachineLayout, shapes_in_cubes: list[Dims], health: HealthState,
                 record: bool = False):
        n, pods = machine.cubes_per_pod, machine.pods
        self.n = n
        self.health = health
        self.cubes_needed = [a * b * c for a, b, c in shapes_in_cubes]
        self.dims_needed = [machine.ocs_dims(dims) for dims in shapes_in_cubes]
        self.usable = [n] * pods
        self.ok = [[True] * len(self.cubes_needed) for _ in range(pods)]
        self._init_uptime([pods] * len(self.cubes_needed), record)
        self.largest = [n] * pods
        self.capacity = LevelTime(n, n)

    def on_cube(self, t: float, pod: int, cube: int, usable: bool) -> None:
        self.usable[pod] += 1 if usable else -1
        self._update(t, pod)

    def on_ocs_count(self, t: float, pod: int, down: int) -> None:
        self._update(t, pod)

    def _update(self, t: float, pod: int) -> None:
        usable, down = self.usable[pod], self.health.ocs_down_dim[pod]
        gates = (True, min(down) == 0, False, not any(down))  # by dimensions counted: 0, 1, (2), 3
        self.largest[pod] = mesh_capacity(self.n, lambda dims: usable if gates[dims] else 0)
        self.capacity.set(t, max(self.largest))
        ok = self.ok[pod]
        for s, k in enumerate(self.cubes_needed):
            need = self.dims_needed[s]
            now = usable >= k and not ((need[0] and down[0]) or (need[1] and down[1]) or (need[2] and down[2]))
            self._pod_places(ok, s, now, t)

    def finish(self, t: float, health: HealthState, width: float | None = None) -> PolicyOutcome:
        return self._uptime_outcome(t, width, health.chip_availability(t, with_ocs=True), self.capacity.at_least(t))
