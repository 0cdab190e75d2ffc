"""``static_ft``: the statically wired pod with libtpunet's fault-tolerant ICI routing (DESIGN §1).

Wiring as :mod:`~tpusim.policies.static` (a slice is an axis-aligned box of cubes in the torus
of cubes, each inter-cube cable one part), routing as :mod:`~tpusim.policies.reconfigurable_ft`:
wiring and routing are two independent choices, and the four policies make a 2x2.

Rules it changes against ``static``:

- a cube is usable when all its hosts are up (its electrical links may be down);
- a box may hold a slice when none of its cubes has a host down, its *link faults* (the down
  electrical links of its cubes and the down cables it uses, each cable counted once however
  many of its ends are down) are at most ``pod_manager.ft_routing.max_faults``, and the box's
  chip graph without them still joins every chip;
- a running slice keeps its box through such faults, rerouted, at the speed
  :mod:`tpusim.topology.routing` computes from the box's chip graph: a torus along the
  dimensions the box spans fully (where the static pod has wraparound cables), a mesh along the
  others (:meth:`StaticFaultTolerantPolicy.slice_rate`); a host failure still stops it, and
  there is no spare to swap in (a static pod has none);
- placement prefers, among the free boxes within the budget, the one with the fewest known link
  faults, then static's score (the most walls and busy or broken neighbours).

Sub-cube slices are not routed around faults (as in ``reconfigurable_ft``) and keep static's
rules. Cables a slice does not use neither block it nor count against its budget.

Capacity tracker (:class:`StaticFaultTolerantAvailability`): per pod the true faults (cubes
with a host down, down electrical links, down cables), and per shape one box known to fit
(:meth:`_PodFaults.fits`, the rule above). A new fault forces a rescan only if that box contains
the element it hit (a cube or a cable bundle); a repair is tried only for shapes with no box,
against the boxes that contain it. Faults only ever remove boxes (a fault more never brings a box
within the budget nor joins its graph), so the rule is monotone, as ``static``'s is; with the
ICI-link rate at 0 a box fits exactly when ``static``'s rule lets it, so the two are equal, and
otherwise ``static_ft`` is never less available. The static hardware availability (chips on
healthy hardware) is ``static``'s, from a :class:`~tpusim.policies.static.StaticAvailability`
fed the same events.

Invariants: ``free_box[pod][s]`` is a box of shape ``s`` that fits the pod's true faults, or 0;
``blocked[pod]`` counts the shapes with 0. The connectivity of a box's graph with a given set of
faults is computed once per process (:func:`tpusim.policies.ft_routing.connected`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

from tpusim.failures.health import HOST, OCS, HealthState
from tpusim.failures.params import FailureParams
from tpusim.policies.base import FT_ROUTING, ClosedForm, PoolView, SliceHolder
from tpusim.policies.capacity import CapacityTracker, LevelTime, PolicyOutcome, ShapeUptime
from tpusim.policies.ft_routing import connected, host_availability, host_interrupting_rate, routed_rate, slot_faults
from tpusim.policies.reconfigurable import bits
from tpusim.policies.registry import register
from tpusim.policies.static import StaticAvailability, StaticPolicy, _box_tables, _connections
from tpusim.topology.allocation import Allocation
from tpusim.topology.cabling import StaticCabling
from tpusim.topology.cube import CubeLayout
from tpusim.topology.machine import MachineLayout
from tpusim.topology.placement import static_box_geometry, static_boxes
from tpusim.topology.shapes import Dims, SliceShape


@dataclass(frozen=True)
class BoxGraph:
    """What a box's chip graph needs: its cubes (local numbers) in slot order, its dims in grid
    axes, and along which of them it is a torus (spans the grid fully, wraparound cables on)."""

    cells: tuple[int, ...]
    dims: Dims
    wrap: tuple[bool, bool, bool]


@lru_cache(maxsize=16)
def box_graphs(machine: MachineLayout) -> dict[int, BoxGraph]:
    """Every box of the static pod, by its local cube mask (a set of cubes is one box at most:
    along each dimension its cells are one cyclic interval)."""
    grid, wrap, cpp = machine.cube_grid, machine.static_wrap, machine.cubes_per_pod
    out: dict[int, BoxGraph] = {}
    for a in range(1, grid[0] + 1):
        for b in range(1, grid[1] + 1):
            for c in range(1, grid[2] + 1):
                for box in static_boxes(grid, (a, b, c), wrap=wrap):
                    cells = tuple(machine.grid_index(*cell) for cell in box.cells())
                    mask = sum(1 << cell for cell in cells)
                    if mask not in out:
                        torus = tuple(wrap and d == g > 1 for d, g in zip(box.dims, grid))
                        out[mask] = BoxGraph(cells, box.dims, torus)  # type: ignore[arg-type]
    assert all(m < 1 << cpp for m in out)
    return out


@dataclass(frozen=True)
class _PodFaults:
    """A pod's faults as the fault-tolerant static rule reads them: cubes with a host down (a
    local mask), down electrical links ``(local cube, link)`` and down cables ``(connection,
    p)``. Hashable: the capacity read-out remembers its answers per state."""

    hostbad: int
    electrical: frozenset[tuple[int, int]]
    cables: frozenset[tuple[int, int]]

    @cached_property
    def _by_cube(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for local, link in self.electrical:
            out.setdefault(local, []).append(link)
        return out

    @cached_property
    def _by_connection(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for connection, p in self.cables:
            out.setdefault(connection, []).append(p)
        return out

    @cached_property
    def cube_mask(self) -> int:
        return sum(1 << c for c in self._by_cube)

    @cached_property
    def connection_mask(self) -> int:
        return sum(1 << i for i in self._by_connection)

    def count(self, cubes: int, connections: int) -> int:
        """Link faults of a box on these local cubes using these connections."""
        by_cube, by_connection = self._by_cube, self._by_connection
        return (sum(len(by_cube[c]) for c in bits(cubes & self.cube_mask))
                + sum(len(by_connection[i]) for i in bits(connections & self.connection_mask)))

    def fits(self, cube: CubeLayout, graph: BoxGraph, cubes: int, connections: int, budget: int) -> bool:
        """May a slice run on this box: no host down, link faults within ``budget``, and its chip
        graph joined without them?"""
        if cubes & self.hostbad:
            return False
        if not (cubes & self.cube_mask or connections & self.connection_mask):
            return True
        if self.count(cubes, connections) > budget:
            return False
        return connected(cube, graph.dims, graph.wrap, self.by_slot(cube, graph, cubes, connections))

    def by_slot(self, cube: CubeLayout, graph: BoxGraph, cubes: int, connections: int):
        """The box's faults by slot (:func:`~tpusim.policies.ft_routing.slot_faults`' form): a
        cable of connection ``(A, d)`` is the link at A's ``+d`` port."""
        slot = {c: n for n, c in enumerate(graph.cells)}
        electrical = frozenset((slot[c], *cube.electrical_links[link])
                               for c in bits(cubes & self.cube_mask) for link in self._by_cube[c])
        ports = frozenset((slot[i // 3], i % 3, +1, p)
                          for i in bits(connections & self.connection_mask) for p in self._by_connection[i])
        return electrical, ports, frozenset()


NO_FAULTS = _PodFaults(0, frozenset(), frozenset())


@dataclass(frozen=True)
class _BudgetRule:
    """static_ft's rule for the boxes of a pod: no host down, the link faults within the budget
    and the chip graph joined; among those, the fewest known faults, then the snuggest box."""

    policy: "StaticFaultTolerantPolicy"
    faults: _PodFaults

    def fits(self, cubes: int) -> bool:
        return self.policy._fits(self.faults, cubes)

    def key(self, cubes: int, snug: int) -> tuple[int, int]:
        return self.faults.count(cubes, _connections(self.policy.cabling, cubes)), -snug


@register
class StaticFaultTolerantPolicy(StaticPolicy):
    name = "static_ft"
    summary = "statically wired pod with fault-tolerant ICI routing: boxes run degraded through link and cable faults"
    ici_routing = FT_ROUTING
    # (the victim search stays exact: which boxes fit depends on known health alone)

    def capacity_tracker(self, shapes_in_cubes: list[Dims], health: HealthState,
                         record: bool = False) -> CapacityTracker:
        tracker = StaticFaultTolerantAvailability(self.machine, shapes_in_cubes, self.routing.max_faults, record,
                                                  self.cabling)
        health.component_listeners.append(tracker.on_component)
        return tracker

    def closed_form(self, failures: FailureParams, cube_dims: Dims) -> ClosedForm | None:
        return None  # no closed form: the fault budget couples the classes

    def cube_usable(self, hosts_down: int, electrical_down: int, ports_down: int) -> bool:
        return hosts_down == 0  # links go into the box's fault budget

    def routes_around_faults(self, job: SliceHolder) -> bool:
        return job.cubes > 0  # sub-cube slices do not use fault-tolerant routing

    def useful_availability(self, system: float, health: HealthState, t: float) -> float:
        return host_availability(health, t)  # chips behind a routed-around fault keep working

    def interrupting_rate(self, failures: FailureParams, shape: SliceShape) -> float:
        """Only host failures interrupt a routed slice of whole cubes."""
        if shape.chips < self.machine.cube.chips:
            return super().interrupting_rate(failures, shape)
        return host_interrupting_rate(self.machine, failures, shape)

    # -- the fault budget, on known health -------------------------------------------------
    def _known(self, pool: PoolView, pod: int) -> _PodFaults:
        """``pod``'s known link faults (hosts are the pool's usability business)."""
        cables, ports_of = set(), [0] * self.machine.cubes_per_pod
        for local, port in pool.down_ports(pod):
            ports_of[local] += 1
            cable = self.cabling.cable_of_port(local, port)
            if cable is not None:
                cables.add((cable[0], cable[2]))
        base = pod * self.machine.cubes_per_pod
        electrical = frozenset((local, link) for local, n in enumerate(ports_of)
                               if pool.link_faults(base + local) > n for link in pool.electrical_down(base + local))
        if not electrical and not cables:
            return NO_FAULTS
        return _PodFaults(0, electrical, frozenset(cables))

    def _fits(self, faults: _PodFaults, cubes: int) -> bool:
        if faults is NO_FAULTS:
            return True
        return faults.fits(self.machine.cube, box_graphs(self.machine)[cubes], cubes,
                           _connections(self.cabling, cubes), self.routing.max_faults)

    def links_usable(self, pool: PoolView, alloc: Allocation) -> bool:
        if not alloc.cubes or alloc.mask != (1 << self.machine.cube.chips) - 1:
            return True
        return self._fits(self._known(pool, alloc.pod), self._local_mask(alloc))

    def _box_rule(self, pool: PoolView, pod: int) -> "_BudgetRule":
        return _BudgetRule(self, self._known(pool, pod))

    # -- degraded running ------------------------------------------------------------------
    def slice_rate(self, job: SliceHolder, alloc: Allocation, faults: list[tuple[int, int]]) -> float | None:
        """The speed of ``job`` on its box with these true faults (those of the parts it uses:
        its hosts, its cubes' electrical links, its cables' ends), from the box's chip graph."""
        if not faults:
            return 1.0
        if not job.cubes:
            return None
        base = alloc.pod * self.machine.cubes_per_pod
        graph = box_graphs(self.machine)[self._local_mask(alloc)]
        by_slot = slot_faults(self.machine, {base + c: n for n, c in enumerate(graph.cells)}, faults)
        if by_slot is None:
            return None  # a host is down
        return routed_rate(self.machine.cube, graph.dims, graph.wrap, job.pattern,
                           self.routing.fraction(job.pattern), by_slot, self.routing.max_faults)


class StaticFaultTolerantAvailability(ShapeUptime, CapacityTracker):
    """A slice needs a box of host-healthy cubes whose link faults fit the budget and leave its
    chip graph joined. Elements of a pod, as in :class:`StaticAvailability`: local cube ``c`` is
    bit ``c``, connection ``i`` bit ``cubes_per_pod + i``."""

    def __init__(self, machine: MachineLayout, shapes_in_cubes: list[Dims], max_faults: int, record: bool = False,
                 cabling: StaticCabling | None = None):
        cabling = cabling if cabling is not None else StaticCabling(machine)
        self.hardware = StaticAvailability(machine, shapes_in_cubes, False, cabling)  # static chip availability
        pods, cpp, cube = machine.pods, machine.cubes_per_pod, machine.cube
        self.cube, self.cpp, self.max_faults = cube, cpp, max_faults
        self.hosts, self.links, self.electrical_count = cube.hosts, cube.links, cube.electrical_count
        self.port_cable = cabling.port_cables
        tables = _box_tables(cabling, tuple(shapes_in_cubes))
        self.masks, self.containing, self.by_volume = tables.masks, tables.containing, tables.by_volume
        self.graphs = box_graphs(machine)
        self.hosts_down = [[0] * cpp for _ in range(pods)]
        self.parts_down: list[dict[tuple[int, int, int], int]] = [{} for _ in range(pods)]
        self.faults = [NO_FAULTS] * pods
        self.free_box = [[masks[0] if masks else 0 for masks in self.masks] for _ in range(pods)]
        self.blocked = [0] * pods
        self._init_uptime([pods if masks else 0 for masks in self.masks], record)
        self._log: list[tuple[float, int, _PodFaults]] = []  # every change of a pod's faults
        self._largest_memo: dict[_PodFaults, int] = {}

    # -- health events ---------------------------------------------------------------------
    def on_component(self, t: float, k: int, unit: int, down: bool) -> None:
        self.hardware.on_component(t, k, unit, down)
        if k >= OCS:
            return  # the static pod has no OCS (nor its ports)
        delta = 1 if down else -1
        if k == HOST:
            pod, local = divmod(unit // self.hosts, self.cpp)
            before = self.hosts_down[pod][local]
            self.hosts_down[pod][local] = before + delta
            part, element = None, local
        else:
            pod, local = divmod(unit // self.links, self.cpp)
            link = unit % self.links
            if link < self.electrical_count:
                part, element = (0, local, link), local
            else:
                cable = self.port_cable[local][link - self.electrical_count]
                if cable is None:
                    return  # not a part of any static cable
                part, element = (1, cable[0], cable[2]), self.cpp + cable[0]
            parts = self.parts_down[pod]
            before = parts.get(part, 0)
            if before + delta:
                parts[part] = before + delta
            else:  # only the parts down are kept: the dict would grow with every part that ever failed
                del parts[part]
        if before == 0 or before == -delta:  # the host, link or cable flips
            self._set_faults(t, pod)
            self._changed(t, pod, element, down)

    def _set_faults(self, t: float, pod: int) -> None:
        hostbad = sum(1 << c for c, n in enumerate(self.hosts_down[pod]) if n)
        parts = list(self.parts_down[pod])
        faults = _PodFaults(hostbad, frozenset((a, b) for kind, a, b in parts if kind == 0),
                            frozenset((a, b) for kind, a, b in parts if kind == 1))
        self.faults[pod] = faults
        self._log.append((t, pod, faults))

    def _fits(self, mask: int, faults: _PodFaults) -> bool:
        cubes = mask & ((1 << self.cpp) - 1)
        return faults.fits(self.cube, self.graphs[cubes], cubes, mask >> self.cpp, self.max_faults)

    def _search(self, masks, faults: _PodFaults) -> int:
        """A box among ``masks`` that fits, or 0: one with no fault at all first (no graph to
        look at), then any."""
        dirty = faults.hostbad | faults.cube_mask | faults.connection_mask << self.cpp
        found = next((m for m in masks if not m & dirty), 0)
        return found or next((m for m in masks if self._fits(m, faults)), 0)

    def _changed(self, t: float, pod: int, element: int, worse: bool) -> None:
        bit, faults, free = 1 << element, self.faults[pod], self.free_box[pod]
        if worse:
            for s, box in enumerate(free):
                if box & bit and not self._fits(box, faults):  # the known box is hit: another?
                    free[s] = self._search(self.masks[s], faults)
                    if not free[s]:
                        self.blocked[pod] += 1
                        self._pod_lost(s, t)
            return
        if not self.blocked[pod]:
            return
        containing = self.containing[element]
        for s, box in enumerate(free):
            if not box and self.masks[s]:  # only a box holding the repaired element can fit now
                free[s] = self._search(containing[s], faults)
                if free[s]:
                    self.blocked[pod] -= 1
                    self._pod_gained(s, t)

    # -- read-outs -------------------------------------------------------------------------
    def _largest(self, faults: _PodFaults) -> int:
        """The volume of the largest box that fits a pod with these faults."""
        found = self._largest_memo.get(faults)
        if found is None:
            found = next((v for v, masks in self.by_volume if self._search(masks, faults)), 0)
            self._largest_memo[faults] = found
        return found

    def _capacity(self, t: float) -> list[float]:
        """capacity[k] over [0, t], replayed from the log of each pod's faults."""
        pods = len(self.faults)
        top = self.by_volume[0][0] if self.by_volume else 0
        largest = [top] * pods
        level = LevelTime(self.cpp, top)
        for when, pod, faults in self._log:
            largest[pod] = self._largest(faults)
            level.set(when, max(largest))
        return level.at_least(t)

    def placeable(self) -> list[bool]:
        return [n > 0 for n in self.pods_placing]

    def finish(self, t: float, health: HealthState, width: float | None = None) -> PolicyOutcome:
        return self._uptime_outcome(t, width, self.hardware.chip_availability(t), self._capacity(t))
