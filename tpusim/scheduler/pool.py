"""The pool: which cubes and chips jobs hold, and which the scheduler knows to be usable.

:class:`CubePool` is a composition of one collaborator per concept, each in its own module with
its invariants:

- :class:`~tpusim.scheduler.holdings.Holdings` (``holdings``): the chips each job holds, the
  holders and free cubes, per band;
- :class:`~tpusim.scheduler.known_health.KnownHealth` (``health``): the known-faulty chips and
  the cubes and pods known-usable under the policy;
- :class:`~tpusim.scheduler.reservations.Reservations` (``reservations``): cubes kept out of
  placement while a migration is planned;
- :class:`~tpusim.scheduler.spare_cap.SpareCap` (``cap``): the allowance of capped bands where
  spare cubes are kept;
- :class:`~tpusim.scheduler.best_fit.BestFit` (``fit``): where a sub-cube slice goes;
- :class:`~tpusim.scheduler.stamps.Stamps` (``stamps``): the change counters the scheduler keys
  its memos on.

Callers read a collaborator directly; the pool itself answers the policy's questions through
the :class:`~tpusim.policies.PoolView` protocol (the members that are one collaborator's own
methods are those methods, bound once, so a policy's hot calls go through no extra layer), finds
a place for a job (:meth:`CubePool.find`: the policy's rule for slices of whole cubes, within
the spare cap; best fit for sub-cube slices), and makes every change of holdings, known health
and reservations, so that each advances the stamps it must.

Invariant (beside each collaborator's own): every change of a pod's holdings, known health or
reservations advances its ``stamps.pod_changes`` and marks it for the open-cube recount; the
open-cube counts are those of the current state.
"""

from __future__ import annotations

from tpusim.failures.health import OCS, OCS_PORT, HealthState
from tpusim.policies.base import Policy
from tpusim.scheduler.best_fit import BestFit
from tpusim.scheduler.holdings import Holdings
from tpusim.scheduler.known_health import KnownHealth
from tpusim.scheduler.reservations import Reservations
from tpusim.scheduler.spare_cap import SpareCap
from tpusim.scheduler.stamps import Stamps
from tpusim.topology.allocation import Allocation
from tpusim.topology.machine import MachineLayout
from tpusim.topology.shapes import Dims


class CubePool:
    def __init__(self, machine: MachineLayout, policy: Policy, known: HealthState, spare_cubes: int = 0,
                 preemptible_spares: bool = False):
        self.machine = machine
        self.policy = policy
        self.known = known
        self.cubes_per_pod = machine.cubes_per_pod
        self.pods = machine.pods
        self.full_mask = machine.cube.full_mask
        self._full = (1 << self.cubes_per_pod) - 1  # every local cube of a pod
        self.holdings = holdings = Holdings(machine)
        self.health = health = KnownHealth(machine, policy, known)
        self.reservations = Reservations(machine.pods, machine.cubes_per_pod)
        spare_cubes = policy.spare_cubes(spare_cubes)  # none kept where none can be swapped in
        self.cap = SpareCap(spare_cubes, preemptible_spares, machine.pods, holdings, health, self.usable_bits)
        self.fit = BestFit(machine, holdings, health, self.reservations, self.cap)
        self.stamps = Stamps(machine.pods, exact=not spare_cubes and policy.exact_victim_search,
                             failures_open_places=spare_cubes > 0)
        self._open = [0] * machine.pods  # open cubes per pod (see open_counts), but for stamps.changed
        self._shaped_gate = machine.sub_pod_slices == "mesh"  # the OCS gate depends on the shape
        # PoolView members that are a collaborator's own
        self.free_count, self.held_bits = holdings.free_count, holdings.held_bits
        self.holders, self.whole_cubes = holdings.holders, holdings.whole_cubes
        self.link_faults, self.ocs_down, self.down_ports = health.link_faults, health.ocs_down, health.down_ports
        self.electrical_down = health.electrical_down
        known.fault_listeners.append(self._on_known_faults)
        known.component_listeners.append(self._on_known)

    # -- what a policy reads (PoolView) --------------------------------------------------------
    def usable_bits(self, pod: int) -> int:
        """Local cubes known-usable for whole-cube slices and not reserved."""
        return self._full & ~self.health.unusable[pod] & ~self.reservations.reserved[pod]

    def blocked_bits(self, pod: int) -> int:
        """Local cubes a whole-cube slice cannot use in ``pod``: unusable, reserved or held."""
        return ~self.usable_bits(pod) | self.held_bits(pod)

    def open_counts(self, cube_dims: Dims | None = None) -> list[int]:
        """Per pod: how many cubes a whole-cube slice of ``cube_dims`` could take now (usable,
        not reserved, nothing held), or 0 where the pod's OCS layer cannot wire it. Computed once
        per change of the pool, however many shapes a pass tries (a fleet has tens of pods);
        where slices smaller than a pod are meshes (``topology.sub_pod_slices``), the OCS gate
        depends on the dimensions the shape spans and is applied to the cached counts as they
        are read. While a job of a capped band is being placed, no more than its pod's allowance."""
        counts, changed = self._open, self.stamps.changed
        shaped = self._shaped_gate
        if changed:  # recounted only where something changed (a fleet has tens of pods)
            full, pod_usable = self._full, self.health.pod_usable
            for pod in changed:
                counts[pod] = (full & ~self.blocked_bits(pod)).bit_count() if shaped or pod_usable(pod) else 0
            changed.clear()
        if shaped:
            pod_usable = self.health.pod_usable
            counts = [n if n and pod_usable(pod, cube_dims) else 0 for pod, n in enumerate(counts)]
        limits = self.cap.limits
        return counts if limits is None else [min(n, a) for n, a in zip(counts, limits)]

    # -- placement -----------------------------------------------------------------------------
    def find(self, job) -> Allocation | None:
        cap = self.cap
        capped = cap.capped_by_band[job.band] and not job.spare_exempt  # (cap.capped, inline: every placement)
        if not job.cubes:
            return self.fit.find(job.level, capped)
        if not capped:
            return self.policy.find_whole(self, job.cube_dims)
        cap.limits = cap.allowances()
        try:
            return self.policy.find_whole(self, job.cube_dims)
        finally:
            cap.limits = None

    # -- changes -------------------------------------------------------------------------------
    def take(self, job, alloc: Allocation) -> None:
        if alloc.mask == self.full_mask:
            self.holdings.hold_whole(job, alloc)
        else:
            for cube in alloc.cubes:
                self.holdings.hold(job, cube, alloc.mask)
        self.stamps.taken(alloc.pod, job.band)

    def give_back(self, job, alloc: Allocation, cubes: list[int] | None = None) -> None:
        """``job`` lets go of ``alloc`` (of its ``cubes`` only: a swap gives back broken ones)."""
        stamps = self.stamps
        stamps.released(alloc.pod, job.band)
        cubes = alloc.cubes if cubes is None else cubes
        if alloc.mask == self.full_mask:
            self.holdings.release_whole(job, alloc.pod, cubes)
            if cubes:  # cubes freed: whole-cube shapes may fit now
                stamps.whole_epoch += 1
        else:
            for cube in cubes:  # a cube freed, or the pod's allowance grown: so may they
                if self.holdings.release(job, cube, alloc.mask) or self.cap.freed_by(job.band, cube):
                    stamps.whole_epoch += 1

    def reserve(self, alloc: Allocation) -> None:
        """Keep ``alloc``'s cubes out of placement (while movers are placed elsewhere)."""
        self.stamps.touch(alloc.pod)
        self.reservations.reserve(alloc)

    def unreserve(self, pod: int) -> None:
        self.stamps.touch(pod)
        self.reservations.clear(pod)

    def _on_known(self, t: float, k: int, unit: int, down: bool) -> None:
        self.stamps.health_changed(self.health.component_changed(k, unit, down), down)

    def _on_known_faults(self, t: float, pod: int, local: int, hosts: int, electrical: int,
                         ports: int) -> None:
        self.stamps.touch(pod)
        self.health.cube_faults_changed(pod, local, hosts, electrical, ports)

    # -- what a failure touches ----------------------------------------------------------------
    def jobs_using(self, k: int, unit: int) -> list:
        """Jobs whose slice uses component ``unit`` of class ``k`` (per the true topology)."""
        if k == OCS:
            pod = unit // self.machine.ocs_per_pod
            if unit not in self.policy.slice_ocses(pod):
                return []  # no slice is wired through this switch
            jobs = self.holdings.whole_cube_jobs(pod)
            if not self._shaped_gate:
                return jobs  # every whole-cube slice is a torus, wired through every switch
            slice_ocses = self.policy.slice_ocses
            return [job for job in jobs if unit in slice_ocses(pod, job.cube_dims)]
        if k == OCS_PORT:
            cube, port = divmod(unit, self.known.ports_per_cube)
            return self.policy.ocs_port_users(self, cube, port)
        cube_layout = self.machine.cube
        per = self.known.units_per_cube[k]
        cube, local = divmod(unit, per)
        if k == 0:
            need = cube_layout.host_masks[local]
            hit = lambda mask: mask & need  # noqa: E731 - any chip of the host
        elif local < cube_layout.electrical_count:
            need = cube_layout.link_masks[local]
            hit = lambda mask: mask & need == need  # noqa: E731 - both ends inside the slice
        else:  # an optical port link: whose slices use it is the policy's wiring
            return self.policy.port_users(self, cube, local - cube_layout.electrical_count)
        return [job for job in self.holdings.holders(cube) if job.alloc is not None and hit(job.alloc.mask)]
