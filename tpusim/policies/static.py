"""``static``: a statically wired pod, the baseline the published comparison uses (DESIGN §1).

The pod's cubes form a torus of cubes (a mesh with ``static_wrap`` off), neighbouring faces
joined by cables (:mod:`tpusim.topology.cabling`). A slice of cube shape ``(a, b, c)`` needs an
axis-aligned box of that shape (any axis permutation) whose cubes are usable (all hosts and
electrical links up) and whose cables are up: the cables between cubes of the box, never the
others. There is no OCS: no cross-connects, and OCS faults touch nothing. A failed cube or cable
cannot be swapped: the slice waits for its repair or for another box.

Placement picks, among the free boxes of the pod, the one touching the most grid walls, held and
broken cubes (fewest free faces left exposed limits fragmentation).

Capacity tracker (:class:`StaticAvailability`): per pod, a bitmask of unusable *elements* (cubes
and cube-to-cube connections, each a bundle of cables) and, per shape, one box known to be free.
An element going bad forces a rescan only if that box uses it; an element coming back is tried
only for shapes that currently have no free box, and only against the boxes using it. O(1) per
event in practice. The box tables depend only on the machine and the shapes: they are built once
per process and shared by every replication (:func:`_box_tables`), as is the memo of the largest
usable box per set of bad elements. It also keeps the static machine's own count of sick chips (a chip is sick
while its host, an electrical link touching it or a cable at one of its ports is down), which
gives the static pod's ``system_availability``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, Iterable, Iterator, Protocol

from tpusim.policies.analytic import static_box
from tpusim.failures.health import HOST, OCS, HealthState
from tpusim.failures.maintenance import Campaign, Hold, Wave, holds
from tpusim.failures.params import FailureParams
from tpusim.policies.base import STATIC_WIRING, ClosedForm, Placement, Policy, PoolView, SliceHolder
from tpusim.policies.capacity import CapacityTracker, LevelTime, PolicyOutcome, ShapeUptime
from tpusim.policies.registry import register
from tpusim.topology.allocation import Allocation
from tpusim.topology.cabling import StaticCabling
from tpusim.topology.graph import NO_CIRCUITS, SliceCircuits
from tpusim.topology.machine import MachineLayout
from tpusim.topology.placement import fits_static_grid, static_box_geometry, static_box_masks
from tpusim.topology.shapes import Dims


def _connections(cabling: StaticCabling, cubes_mask: int) -> int:
    """:meth:`StaticCabling.used_by`, remembered per cabling (a dict read: an ``lru_cache`` would
    hash the frozen cabling, and its machine, at every call)."""
    memo = cabling.memo
    used = memo.get(cubes_mask)
    if used is None:
        used = memo[cubes_mask] = cabling.used_by(cubes_mask)
    return used


@register
class StaticPolicy(Policy):
    name = "static"
    summary = "statically wired pod: a slice needs a healthy box of cubes in the fixed grid"
    wiring = STATIC_WIRING

    @cached_property
    def cabling(self) -> StaticCabling:
        return StaticCabling(self.machine)

    def capacity_tracker(self, shapes_in_cubes: list[Dims], health: HealthState,
                         record: bool = False) -> CapacityTracker:
        tracker = StaticAvailability(self.machine, shapes_in_cubes, record, self.cabling)
        health.component_listeners.append(tracker.on_component)
        return tracker

    def cube_usable(self, hosts_down: int, electrical_down: int, ports_down: int) -> bool:
        return hosts_down == 0 and electrical_down == 0  # port links are the cables' business

    # -- no OCS: no circuits, and OCS faults touch nothing ---------------------------------
    def pod_usable(self, ocs_down: int) -> bool:
        return True

    @classmethod
    def ocs_ports_needed(cls, cubes_per_pod: int) -> int:
        return 0

    def slice_ocses(self, pod: int, cube_dims: Dims | None = None) -> range:
        return range(0)

    def slice_circuits(self, alloc: Allocation, cube_dims: Dims | None) -> SliceCircuits:
        return NO_CIRCUITS

    def maintenance_holds(self, campaign: Campaign, wave: Wave) -> list[Hold]:
        return holds(campaign, wave, self.machine, wired_statically=True)

    def chip_availability(self, health: HealthState, t: float) -> float:
        return health.chip_availability(t, with_ocs=False)

    # -- cables ----------------------------------------------------------------------------
    def _down_connections(self, pool: PoolView, pod: int) -> int:
        """Connections of ``pod`` with a known-down cable, as a bitmask."""
        down = 0
        for local, port in pool.down_ports(pod):
            cable = self.cabling.cable_of_port(local, port)
            if cable is not None:
                down |= 1 << cable[0]
        return down

    def _local_mask(self, alloc: Allocation) -> int:
        cpp = self.machine.cubes_per_pod
        return sum(1 << (c - alloc.pod * cpp) for c in alloc.cubes)

    def links_usable(self, pool: PoolView, alloc: Allocation) -> bool:
        if not alloc.cubes or alloc.mask != (1 << self.machine.cube.chips) - 1:
            return True
        return not _connections(self.cabling, self._local_mask(alloc)) & self._down_connections(pool, alloc.pod)

    def uses_port(self, alloc: Allocation, cube: int, port: int, cube_dims: Dims | None = None) -> bool:
        if alloc.mask != (1 << self.machine.cube.chips) - 1:
            return False
        cable = self.cabling.cable_of_port(cube % self.machine.cubes_per_pod, port)
        return cable is not None and bool(_connections(self.cabling, self._local_mask(alloc)) >> cable[0] & 1)

    def port_users(self, pool: PoolView, cube: int, port: int) -> list:
        cpp = self.machine.cubes_per_pod
        pod, local = divmod(cube, cpp)
        cable = self.cabling.cable_of_port(local, port)
        if cable is None:
            return []  # this port link is no part of a static cable
        connection, a, _ = cable
        b = self.cabling.plus_neighbour(a, connection % 3)
        assert b is not None
        at_b = {job.id for job in pool.holders(pod * cpp + b) if job.cubes}
        return [job for job in pool.holders(pod * cpp + a) if job.cubes and job.id in at_b]


    def uses_ocs_port(self, alloc: Allocation, cube: int, port: int, cube_dims: Dims | None = None) -> bool:
        return False  # a statically wired pod has no OCS

    def ocs_port_users(self, pool: PoolView, cube: int, port: int) -> list:
        return []
    def grid_fits(self, cube_dims: Dims) -> bool:
        return fits_static_grid(self.machine.cube_grid, cube_dims)

    def closed_form(self, failures: FailureParams, cube_dims: Dims) -> ClosedForm | None:
        if not failures.steady:  # a build-out or planned outages: no steady state
            return None
        value = static_box(self.machine, failures, cube_dims)
        if value is None:
            return None
        return ClosedForm(value, "lower bound",
                          "one fixed box: its cubes' hosts and electrical links and its cables up")

    # -- boxes --------------------------------------------------------------------------------
    def _box_rule(self, pool: PoolView, pod: int) -> "BoxRule":
        """Which boxes of ``pod`` can hold a slice now, and which of those placement prefers:
        here every cable the box uses must be known up (``static_ft`` relaxes it)."""
        return _CableRule(self.cabling, self._down_connections(pool, pod))

    def find_whole(self, pool: PoolView, cube_dims: Dims) -> Allocation | None:
        k = cube_dims[0] * cube_dims[1] * cube_dims[2]
        best, best_key = None, None
        for pod in range(pool.pods):
            if pool.free_count(pod) < k:
                continue
            blocked = pool.blocked_bits(pod)
            rule = self._box_rule(pool, pod)
            for box in static_box_geometry(self.machine.cube_grid, cube_dims, wrap=self.machine.static_wrap):
                if box.mask & blocked:
                    continue
                key = rule.key(box.mask, (box.shell & blocked).bit_count() + box.walls)
                if (best_key is None or key < best_key) and rule.fits(box.mask):
                    best, best_key = (pod, box), key
        if best is None:
            return None
        pod, box = best
        base = pod * pool.cubes_per_pod
        return Allocation(pod, [base + c for c in box.cells], pool.full_mask)

    def places_with_victims(self, pool: PoolView, job: SliceHolder, pod: int, usable: int,
                            movable: int) -> Iterator[Placement]:
        base = pod * pool.cubes_per_pod
        assert job.cube_dims is not None
        rule = self._box_rule(pool, pod)
        for box in static_box_geometry(self.machine.cube_grid, job.cube_dims, wrap=self.machine.static_wrap):
            if box.mask & movable == box.mask and rule.fits(box.mask):
                cubes = [base + c for c in box.cells]
                seen: dict[int, SliceHolder] = {}
                for c in cubes:
                    for holder in pool.holders(c):
                        seen[holder.id] = holder
                yield Allocation(pod, cubes, pool.full_mask), list(seen.values())


class BoxRule(Protocol):
    """A static policy's rule for the boxes of one pod, in the pod's state at the time asked."""

    def fits(self, cubes: int) -> bool:
        """Can a slice run on the box of these local cubes (a bitmask)?"""

    def key(self, cubes: int, snug: int) -> Any:
        """Placement's preference among fitting boxes, lowest first (``snug``: how many of the
        box's neighbours are taken or walls; the snuggest box packs best)."""


@dataclass(frozen=True)
class _CableRule:
    """The static pod's rule: no known-down cable between the box's cubes; the snuggest box."""

    cabling: StaticCabling
    down: int  # connections of the pod with a known-down cable, as a bitmask

    def fits(self, cubes: int) -> bool:
        return not (self.down and _connections(self.cabling, cubes) & self.down)

    def key(self, cubes: int, snug: int) -> int:
        return -snug


class StaticAvailability(ShapeUptime, CapacityTracker):
    """A slice needs a box of usable cubes, joined by working cables, in the fixed cube grid.

    Elements of a pod: local cube ``c`` is bit ``c``; connection ``i`` (a bundle of cables,
    :mod:`tpusim.topology.cabling`) is bit ``cubes_per_pod + i``. A box needs its cubes and the
    connections between them.
    """

    def __init__(self, machine: MachineLayout, shapes_in_cubes: list[Dims], record: bool = False,
                 cabling: StaticCabling | None = None):
        pods = machine.pods
        cpp = self.cubes_per_pod = machine.cubes_per_pod
        cabling = self.cabling = cabling if cabling is not None else StaticCabling(machine)
        cube = machine.cube
        self.hosts, self.links, self.electrical = cube.hosts, cube.links, cube.electrical_count
        self.host_chips = [cube.host_chips(h) for h in range(cube.hosts)]
        self.link_chips = cube.link_chips
        self.chips_per_cube = cube.chips
        self.port_cable = cabling.port_cables  # [local cube][port]: its cable, or None (shared)
        self.chips = machine.chips
        tables = _box_tables(cabling, tuple(shapes_in_cubes))  # shared by every replication
        self.masks = tables.masks
        self.containing = tables.containing
        n_elements = cpp + cabling.connections_per_pod
        self.count = [[0] * n_elements for _ in range(pods)]  # down parts per element
        self.bad = [0] * pods
        # Invariant: free_box[pod][s] is the element mask of a box of shape s with no bad
        # element, or 0 if there is none (a box mask is never 0). Shapes that fit nowhere stay 0.
        self.free_box = [[masks[0] if masks else 0 for masks in self.masks] for _ in range(pods)]
        self.blocked = [0] * pods  # shapes that fit the grid but have no free box in the pod
        self._init_uptime([pods if masks else 0 for masks in self.masks], record)
        self.by_volume = tables.by_volume
        self._largest_memo = tables.largest  # a function of the bad mask alone: shared too
        # (time, pod, bad-element mask) at every change: capacity is computed from it at the
        # end, off the hot path (one append per event instead of a search)
        self._log: list[tuple[float, int, int]] = []
        # the static machine's sick chips: per chip, its down host, electrical links and cables
        self.chip_faults = [0] * machine.chips
        self.cable_down: dict[tuple[int, int, int], int] = {}  # (pod, connection, p) -> down parts
        self.sick = 0
        self._sick_area = 0.0
        self._since = 0.0

    # -- health events -------------------------------------------------------------------------
    def on_component(self, t: float, k: int, unit: int, down: bool) -> None:
        # Hot path (every failure and repair of the machine): no helper calls, no lists built.
        delta = 1 if down else -1
        chips_per_cube = self.chips_per_cube
        if k == HOST:
            cube, local = divmod(unit, self.hosts)
            pod, element = divmod(cube, self.cubes_per_pod)
            chips = self.host_chips[local]
            base = cube * chips_per_cube
        elif k >= OCS:
            return  # the static pod has no OCS (nor its ports)
        else:
            cube, local = divmod(unit, self.links)
            pod, element = divmod(cube, self.cubes_per_pod)
            if local < self.electrical:
                chips = self.link_chips[local]
                base = cube * chips_per_cube
            else:
                cable = self.port_cable[element][local - self.electrical]
                if cable is None:
                    return  # not a part of any static cable
                connection, _, p = cable
                element = self.cubes_per_pod + connection
                key = (pod, connection, p)
                before = self.cable_down.get(key, 0)
                self.cable_down[key] = before + delta
                if before == 0 or before == -delta:  # the cable itself goes down or comes back
                    a, chip_a, b, chip_b = self.cabling.cable_chips(connection, p)
                    first = pod * self.cubes_per_pod
                    chips = ((first + a) * chips_per_cube + chip_a, (first + b) * chips_per_cube + chip_b)
                else:
                    chips = ()
                base = 0
        if chips:
            self._sick_area += self.sick * (t - self._since)
            self._since = t
            faults = self.chip_faults
            for c in chips:
                g = base + c
                before = faults[g]
                faults[g] = before + delta
                if before == 0 or before == -delta:
                    self.sick += delta
        counts = self.count[pod]
        before = counts[element]
        counts[element] = before + delta
        if before == 0 or before == -delta:  # the element flips
            self.on_element(t, pod, element, before != 0)

    def on_element(self, t: float, pod: int, element: int, usable: bool) -> None:
        bit = 1 << element
        free = self.free_box[pod]
        if not usable:
            bad = self.bad[pod] = self.bad[pod] | bit
            for s, box in enumerate(free):
                if box & bit:  # the known free box just lost an element: look for another
                    for candidate in self.masks[s]:
                        if not candidate & bad:
                            free[s] = candidate
                            break
                    else:
                        free[s] = 0
                        self.blocked[pod] += 1
                        self._pod_lost(s, t)
            self._log.append((t, pod, bad))
        else:
            bad = self.bad[pod] = self.bad[pod] & ~bit
            self._log.append((t, pod, bad))
            if not self.blocked[pod]:
                return
            containing = self.containing[element]
            for s, box in enumerate(free):
                if not box:  # only a box using the repaired element can have become free
                    for candidate in containing[s]:
                        if not candidate & bad:
                            free[s] = candidate
                            self.blocked[pod] -= 1
                            self._pod_gained(s, t)
                            break

    # -- read-outs -----------------------------------------------------------------------------
    def _largest(self, bad: int, before: int = 0, volume: int | None = None) -> int:
        """The volume of the largest usable box, for a pod whose unusable elements are ``bad``.

        ``before`` and ``volume`` (optional): the pod's previous bad mask and its answer. The
        search starts from them, exactly: with more elements bad no larger box can have become
        usable (start at ``volume``); with fewer, the box of ``volume`` is still usable (only
        larger volumes need a look)."""
        found = self._largest_memo.get(bad)
        if found is not None:
            return found
        levels = self.by_volume
        if volume is not None and bad & before == before:  # only elements lost
            found = next((v for v, masks in levels if v <= volume and any(not m & bad for m in masks)), 0)
        elif volume is not None and bad & before == bad:  # only elements back
            found = next((v for v, masks in levels if v <= volume or any(not m & bad for m in masks)), 0)
            found = max(found, volume)
        else:
            found = next((v for v, masks in levels if any(not m & bad for m in masks)), 0)
        self._largest_memo[bad] = found
        return found

    def _capacity(self, t: float) -> list[float]:
        """capacity[k] over [0, t], replayed from the log of bad-element masks."""
        pods = len(self.bad)
        top = self.by_volume[0][0] if self.by_volume else 0
        largest = [top] * pods
        masks = [0] * pods  # each pod's bad mask, as of the log entry being replayed
        level = LevelTime(self.cubes_per_pod, top)
        memo, current = self._largest_memo, top
        for when, pod, bad in self._log:
            volume = memo.get(bad)
            if volume is None:
                volume = self._largest(bad, masks[pod], largest[pod])
            masks[pod] = bad
            largest[pod] = volume
            if pods > 1:
                volume = max(largest)
            if volume != current:
                level.set(when, volume)
                current = volume
        return level.at_least(t)

    def placeable(self) -> list[bool]:
        return [n > 0 for n in self.pods_placing]

    def chip_availability(self, t: float) -> float:
        """Fraction of chip-time over ``[0, t]`` on healthy static hardware."""
        area = self._sick_area + self.sick * (t - self._since)
        return 1.0 - area / (self.chips * t)

    def finish(self, t: float, health: HealthState, width: float | None = None) -> PolicyOutcome:
        return self._uptime_outcome(t, width, self.chip_availability(t), self._capacity(t))


@dataclass(frozen=True)
class _BoxTables:
    """What :class:`StaticAvailability` reads of the grid, as element masks (cubes, then
    connections shifted past them): per shape every box; per element and shape the boxes that
    use it; and every box of every shape that fits the grid, by volume, largest first."""

    masks: tuple[tuple[int, ...], ...]
    containing: tuple[tuple[tuple[int, ...], ...], ...]
    by_volume: tuple[tuple[int, tuple[int, ...]], ...]
    largest: dict[int, int] = field(default_factory=dict, compare=False)  # bad-element mask -> largest volume


@lru_cache(maxsize=16)
def _box_tables(cabling: StaticCabling, shapes_in_cubes: tuple[Dims, ...]) -> _BoxTables:
    """The tables of one machine and shape list, built once per process: they depend on nothing
    else, and building them took half of a pod-year replication of the capacity engine."""
    machine = cabling.machine
    grid, wrap, cpp = machine.cube_grid, machine.static_wrap, machine.cubes_per_pod

    def elements(mask: int) -> int:
        return mask | _connections(cabling, mask) << cpp

    masks = tuple(tuple(elements(m) for m in static_box_masks(grid, dims, wrap=wrap)) for dims in shapes_in_cubes)
    containing: list[list[list[int]]] = [[[] for _ in masks] for _ in range(cpp + cabling.connections_per_pod)]
    for s, shape_masks in enumerate(masks):
        for m in shape_masks:  # each box under every element it uses, in the shape's box order
            rest = m
            while rest:
                low = rest & -rest
                containing[low.bit_length() - 1][s].append(m)
                rest ^= low
    by: dict[int, list[int]] = {}
    for a in range(1, grid[0] + 1):
        for b in range(1, grid[1] + 1):
            for c in range(1, grid[2] + 1):
                by.setdefault(a * b * c, []).extend(static_box_masks(grid, (a, b, c), wrap=wrap))
    by_volume = tuple((v, tuple(elements(m) for m in dict.fromkeys(by[v]))) for v in sorted(by, reverse=True) if by[v])
    return _BoxTables(masks, tuple(tuple(tuple(boxes) for boxes in per) for per in containing), by_volume)
