"""``reconfigurable_ft``: the OCS pod plus libtpunet's fault-tolerant ICI routing.

As :mod:`~tpusim.policies.reconfigurable`, except that a slice of whole cubes keeps its place
through link and OCS faults as long as it meets at most ``max_faults`` faulty components and its
chip graph stays connected; it runs degraded, at the speed :mod:`tpusim.topology.routing`
computes from the graph (:meth:`FaultTolerantPolicy.slice_rate`). Host faults still need a cube
swap. Sub-cube slices do not use fault-tolerant routing.

Rules it changes: a cube is usable when all its hosts are up (links may be down); a pod's OCS
layer allows slices with up to ``max_faults`` OCSes down; placement prefers the least faulty
cubes and keeps a slice's faults (its pod's down OCSes plus its cubes' down links) within
``max_faults``.

With ``topology.sub_pod_slices: mesh`` a slice smaller than a pod counts only the down OCSes of
the dimensions it spans, and is routed on its mesh graph with the faults of the ports and OCSes
it uses; placement and the tracker still count every link fault of its cubes (conservative: a
mesh's unused ports included).

Capacity tracker (:class:`FaultTolerantAvailability`): a ``k``-cube slice is placeable in a pod
with ``o`` OCSes down (of those it is wired through) when ``k`` host-healthy cubes exist and ``o`` plus the link faults of the
``k`` least faulty of them is at most ``max_faults``. This rule does not search the chip graph:
a faulty component removes at most one link of any chip (of 6) and at most two of the 32 links
crossing any plane of a 4x4x4-cube torus, so a handful of faults leaves the slice connected. The
job simulation checks connectivity on the real graph before it lets a slice run degraded.
"""

from __future__ import annotations

from tpusim.failures.health import HealthState
from tpusim.failures.params import FailureParams
from tpusim.policies.base import FT_ROUTING, PoolView, SliceHolder
from tpusim.policies.ft_routing import host_availability, host_interrupting_rate, routed_rate, slot_faults
from tpusim.policies.capacity import CapacityTracker, LevelTime, PolicyOutcome, ShapeUptime
from tpusim.policies.reconfigurable import ReconfigurablePolicy, bits, mesh_capacity
from tpusim.policies.registry import register
from tpusim.topology.allocation import Allocation
from tpusim.topology.machine import MachineLayout
from tpusim.topology.shapes import Dims, SliceShape


@register
class FaultTolerantPolicy(ReconfigurablePolicy):
    name = "reconfigurable_ft"
    summary = "OCS pod with fault-tolerant ICI routing: slices run degraded through link and OCS faults"
    ici_routing = FT_ROUTING
    # the victim search takes the least faulty free cubes first and gives up on a pod with
    # enough free cubes over the fault budget: a take of free cubes can change its answer
    exact_victim_search = False

    def capacity_tracker(self, shapes_in_cubes: list[Dims], health: HealthState,
                         record: bool = False) -> CapacityTracker:
        tracker = FaultTolerantAvailability(self.machine, shapes_in_cubes, self.routing.max_faults, record, health)
        health.fault_listeners.append(tracker.on_faults)
        health.ocs_count_listeners.append(tracker.on_ocs_count)
        return tracker

    def closed_form(self, failures, cube_dims):  # no closed form: the fault budget couples classes
        return None

    def capacity_closed_form(self, failures, cubes):
        return None

    def cube_usable(self, hosts_down: int, electrical_down: int, ports_down: int) -> bool:
        return hosts_down == 0

    def pod_usable(self, ocs_down: int) -> bool:
        return ocs_down <= self.routing.max_faults

    def _order(self, pool: PoolView, cubes: list[int]) -> None:
        cubes.sort(key=lambda c: (pool.link_faults(c), c))  # the least faulty cubes first

    def _pick(self, pool: PoolView, pod: int, open_cubes: int, k: int) -> list[int]:
        base = pod * pool.cubes_per_pod
        chosen = [base + c for c in bits(open_cubes)]
        self._order(pool, chosen)
        return chosen[:k]

    def _within_budget(self, pool: PoolView, pod: int, cubes: list[int], cube_dims: Dims | None = None) -> bool:
        # the OCSes the slice is wired through, and every link fault of its cubes (a mesh's
        # unused ports included: conservative, as the capacity tracker counts them)
        return pool.ocs_down(pod, cube_dims) + sum(pool.link_faults(c) for c in cubes) <= self.routing.max_faults

    def routes_around_faults(self, job: SliceHolder) -> bool:
        return job.cubes > 0  # sub-cube slices do not use fault-tolerant routing

    def useful_availability(self, system: float, health: HealthState, t: float) -> float:
        return host_availability(health, t)  # chips behind a routed-around fault keep working

    def interrupting_rate(self, failures: FailureParams, shape: SliceShape) -> float:
        """A slice of whole cubes is routed around link and OCS faults (up to ``max_faults`` at
        once, rarely exceeded at published rates): only host failures interrupt it."""
        if shape.chips < self.machine.cube.chips:
            return super().interrupting_rate(failures, shape)
        return host_interrupting_rate(self.machine, failures, shape)

    def slice_rate(self, job: SliceHolder, alloc: Allocation, faults: list[tuple[int, int]]) -> float | None:
        if not faults:
            return 1.0
        if not job.cubes or len(faults) > self.routing.max_faults:
            return None
        assert job.cube_dims is not None
        by_slot = slot_faults(self.machine, {c: n for n, c in enumerate(alloc.cubes)}, faults)  # slots name cubes
        if by_slot is None:
            return None  # a host is down
        # on its own graph: a torus, or a mesh (``topology.sub_pod_slices``), whose faults are only
        # those of the ports and OCSes it uses (the Pod Manager passes no other)
        return routed_rate(self.machine.cube, job.cube_dims, self.machine.slice_wrap(job.cube_dims), job.pattern,
                           self.routing.fraction(job.pattern), by_slot)


class FaultTolerantAvailability(ShapeUptime, CapacityTracker):
    """Slice availability when slices run through up to ``max_faults`` link and OCS faults."""

    def __init__(self, machine: MachineLayout, shapes_in_cubes: list[Dims], max_faults: int, record: bool = False,
                 health: HealthState | None = None):
        n, pods = machine.cubes_per_pod, machine.pods
        # slices smaller than a pod are meshes: each shape counts the down OCSes of the dimensions
        # it uses (read from ``health`` by dimension), and the capacity is mesh_capacity's
        self.mesh = machine.sub_pod_slices == "mesh"
        self.n = n
        self.health = health
        self.dims_needed = [machine.ocs_dims(dims) for dims in shapes_in_cubes]
        self.max_faults = max_faults
        self.cubes_needed = [a * b * c for a, b, c in shapes_in_cubes]
        self.cap = max_faults + 1  # link-fault counts above max_faults are all the same: too many
        self.faults = [[0] * n for _ in range(pods)]  # link faults per cube, -1 if a host is down
        self.hist = [[n] + [0] * self.cap for _ in range(pods)]  # host-up cubes by link faults
        self.ocs = [0] * pods
        self.ok = [[True] * len(self.cubes_needed) for _ in range(pods)]
        self._init_uptime([pods] * len(self.cubes_needed), record)
        self.largest = [n] * pods  # per pod: the most cubes it could place as one slice
        self.capacity = LevelTime(n, n)

    def on_faults(self, t: float, pod: int, cube: int, hosts_down: int, electrical_down: int,
                  ports_down: int) -> None:
        new = -1 if hosts_down else min(electrical_down + ports_down, self.cap)
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

    def _placeable(self, pod: int, k: int, ocs: int) -> bool:
        budget = self.max_faults - ocs
        for f, count in enumerate(self.hist[pod]):
            take = min(count, k)
            budget -= take * f
            k -= take
            if budget < 0:
                return False
            if k == 0:
                return True
        return False  # fewer than k cubes with every host up

    def _largest(self, pod: int, ocs: int) -> int:
        """The most cubes one slice could take in ``pod``: host-healthy cubes, least faulty
        first, while their link faults and ``ocs`` down OCSes fit the budget."""
        budget, k = self.max_faults - ocs, 0
        if budget < 0:
            return 0
        for f, count in enumerate(self.hist[pod]):
            take = count if f == 0 else min(count, budget // f)
            k += take
            budget -= take * f
            if take < count:
                break
        return k

    def _update(self, t: float, pod: int) -> None:
        if self.mesh:
            assert self.health is not None
            down = self.health.ocs_down_dim[pod]
            counted = (0, min(down), 0, sum(down))  # OCSes down by dimensions counted: 0, 1, 3
            self.largest[pod] = mesh_capacity(self.n, lambda dims: self._largest(pod, counted[dims]))
        else:
            self.largest[pod] = self._largest(pod, self.ocs[pod])
        self.capacity.set(t, max(self.largest))
        ok = self.ok[pod]
        for s, k in enumerate(self.cubes_needed):
            if self.mesh:
                need = self.dims_needed[s]
                ocs = (down[0] if need[0] else 0) + (down[1] if need[1] else 0) + (down[2] if need[2] else 0)
            else:
                ocs = self.ocs[pod]
            self._pod_places(ok, s, self._placeable(pod, k, ocs), t)

    def finish(self, t: float, health: HealthState, width: float | None = None) -> PolicyOutcome:
        return self._uptime_outcome(t, width, health.chip_availability(t, with_ocs=True), self.capacity.at_least(t))
