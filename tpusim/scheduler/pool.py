"""The pool: which cubes and chips jobs hold, and which the scheduler knows to be usable.

The scheduler sees the *known* health state (failures after their detection delay), never the
true one. Per cube the pool tracks the chips held by jobs (a bitmask), the jobs holding them,
and the known-faulty chips (hosts and electrical-link ends that are known down). Whether a cube
or a pod can take a slice of whole cubes is the policy's rule
(:meth:`~tpusim.policies.Policy.cube_usable`, :meth:`~tpusim.policies.Policy.pod_usable`), as is
where such a slice goes (:meth:`~tpusim.policies.Policy.find_whole`); the pool answers the
policy's questions through the :class:`~tpusim.policies.PoolView` protocol.

A *sub-cube* slice needs an aligned block (:mod:`tpusim.scheduler.blocks`) of free, fault-free
chips in one cube; it goes best-fit: first into cubes already in use, then into cubes that are
broken for whole-cube slices, last into a whole free cube, keeping whole cubes for large slices.

**Spare cubes** (``spare_cubes``, policies that swap spares only): in each pod, jobs of the
*capped* bands (production and batch; every band unless ``preemptible_spares``) may together
hold at most ``usable - spare_cubes`` of the pod's usable cubes (:meth:`allowance`), so that
``spare_cubes`` usable cubes stay free of them for the Pod Manager's swaps; best-effort work may
run there when the spares are preemptible (the Pod Manager evicts it when a swap needs the cube).
The cap only grows when a capped job lets go of a cube or a repair is known, both of which
advance ``epoch`` and ``whole_epoch``; a known failure can also open a place for a sub-cube slice
(a broken cube is outside the cap), so with spares it advances ``epoch`` too: the scheduler's
skips stay exact (checked by the oracle test with spares).

Invariants: a chip is held by at most one job; ``free[pod]`` is exactly the set of local cubes
with no chip held; ``band_bits[pod][b]`` has a bit for every cube with a holder of band ``b``.
``epoch`` grows whenever capacity may have grown (a release or a known repair): a shape found
infeasible stays infeasible until it changes, which the scheduler uses to skip repeated
searches. ``whole_epoch`` grows only when capacity for *whole-cube* slices may have grown (a
cube freed of its last holder, a known repair): a release that leaves its cube held cannot make
a whole-cube shape fit. (Placement is monotone: taking chips and new faults only remove
candidates, and every policy's choice fails only when no candidate set qualifies; the
fault-tolerant rule takes the least-faulty cubes, so removing candidates never brings a slice
within its fault budget.) ``version`` grows on every change of holdings or known health.
``movable_stamp[b]`` (and per pod ``pod_movable[pod][b]``) grows on every release by band
``b`` or a higher one and every change of known health: the only changes that can make cubes
movable for a job of band ``b`` (see :meth:`CubePool.movable_since`). Open cubes per pod are
recounted only for the pods that changed since they were last counted.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Sequence

from tpusim.failures.health import ICI_LINK, OCS, HealthState
from tpusim.policies.base import Policy, SliceHolder
from tpusim.scheduler.blocks import block_masks
from tpusim.topology.allocation import Allocation
from tpusim.topology.machine import MachineLayout


class CubePool:
    def __init__(self, machine: MachineLayout, policy: Policy, known: HealthState, spare_cubes: int = 0,
                 preemptible_spares: bool = False):
        self.machine = machine
        self.policy = policy
        self.known = known
        self.spare_cubes = policy.spare_cubes(spare_cubes)  # none kept where none can be swapped in
        self.capped_bands = (0, 1) if preemptible_spares else (0, 1, 2)
        self._exact_stamps = not self.spare_cubes and policy.exact_victim_search  # see movable_since
        self.capped_by_band = tuple(self.spare_cubes > 0 and b in self.capped_bands for b in range(3))  # per band
        self._cap: list[int] | None = None  # per pod, while a capped whole-cube job is being placed
        cube = machine.cube
        self.cubes_per_pod = machine.cubes_per_pod
        self.pods = machine.pods
        self.full_mask = cube.full_mask
        self.used = [0] * machine.cubes  # chips held, per cube
        self.fault = [0] * machine.cubes  # known-faulty chips, per cube
        self._holders: list[dict[int, SliceHolder]] = [{} for _ in range(machine.cubes)]  # job id -> job
        self.free = [set(range(self.cubes_per_pod)) for _ in range(machine.pods)]  # local cubes, nothing held
        self._whole: dict[int, int] = {}  # job id -> local cubes it holds whole, as a bitmask
        self.partial: set[int] = set()  # global cubes with some but not all chips held
        self.reserved = [0] * machine.pods  # local-cube mask kept out of placement (migrations)
        self.epoch = 0
        self.whole_epoch = 0  # grows when whole-cube capacity may have grown: a cube freed, a repair
        self.version = 0
        # per pod, never restored: every change of holdings, known health or reservations (a pod
        # whose count is unchanged is as it was), and per band the pod's movable_stamp
        self.pod_changes = [0] * machine.pods
        self.pod_movable = [[0, 0, 0] for _ in range(machine.pods)]
        self._open = [0] * machine.pods  # open cubes per pod (see open_counts), but for...
        self._stale = set(range(machine.pods))  # ...the pods changed since they were counted
        self.movable_stamp = [0, 0, 0]  # per band: its or a higher band's releases, known-health changes
        self.taken_by_band = [0, 0, 0]  # allocations made by each priority band, ever
        # Per pod bitmasks over local cubes (kept incrementally, read with bit operations):
        self.unusable = [0] * machine.pods  # known-unusable for whole-cube slices
        self.band_bits = [[0, 0, 0] for _ in range(machine.pods)]  # cubes with a holder of band b
        self._band_count = [[0, 0, 0] for _ in range(machine.cubes)]  # holders per band, per cube
        self.blocks = block_masks(cube.shape, cube.chips_per_host)
        self._down_ports: list[set[tuple[int, int]]] = [set() for _ in range(machine.pods)]
        known.fault_listeners.append(self._on_known_faults)
        known.component_listeners.append(self._on_known)

    # -- known health ------------------------------------------------------------------------
    def _on_known(self, t: float, k: int, unit: int, down: bool) -> None:
        if k == OCS:
            pod = unit // self.machine.ocs_per_pod
        else:
            per = self.known.units_per_cube[k]
            cube = unit // per
            pod, local = divmod(cube, self.cubes_per_pod)
            base = cube * self.machine.cube.chips
            faults = self.known.chip_faults
            self.fault[cube] = sum(1 << c for c in range(self.machine.cube.chips) if faults[base + c])
            port = unit - cube * per - self.known.electrical
            if k != 0 and port >= 0:
                (self._down_ports[pod].add if down else self._down_ports[pod].discard)((local, port))
        self._touch(pod)
        self.version += 1
        for stamps in (self.movable_stamp, self.pod_movable[pod]):
            stamps[0], stamps[1], stamps[2] = stamps[0] + 1, stamps[1] + 1, stamps[2] + 1
        if not down:
            self.epoch += 1
            self.whole_epoch += 1
        elif self.spare_cubes:  # a cube broken for whole-cube slices is outside the cap: a
            self.epoch += 1  # sub-cube slice may now go on its healthy chips

    def _on_known_faults(self, t: float, pod: int, local: int, hosts: int, electrical: int,
                         ports: int) -> None:
        self._touch(pod)
        if self.policy.cube_usable(hosts, electrical, ports):
            self.unusable[pod] &= ~(1 << local)
        else:
            self.unusable[pod] |= 1 << local

    # -- what a policy reads (PoolView) --------------------------------------------------------
    def free_count(self, pod: int) -> int:
        return len(self.free[pod])

    def usable_bits(self, pod: int) -> int:
        """Local cubes known-usable for whole-cube slices and not reserved."""
        return ((1 << self.cubes_per_pod) - 1) & ~self.unusable[pod] & ~self.reserved[pod]

    def held_bits(self, pod: int) -> int:
        """Local cubes with a chip held by some job."""
        held = self.band_bits[pod]
        return held[0] | held[1] | held[2]

    def blocked_bits(self, pod: int) -> int:
        """Local cubes a whole-cube slice cannot use in ``pod``: unusable, reserved or held."""
        return ~self.usable_bits(pod) | self.held_bits(pod)

    def open_counts(self) -> list[int]:
        """Per pod: how many cubes a whole-cube slice could take now (usable, not reserved,
        nothing held), or 0 where the pod's OCS layer cannot wire a slice. Computed once per
        change of the pool, however many shapes a pass tries (a fleet has tens of pods).
        While a job of a capped band is being placed, no more than its :meth:`allowance`."""
        counts = self._open_now()
        return counts if self._cap is None else [min(n, a) for n, a in zip(counts, self._cap)]

    def _open_now(self) -> list[int]:
        counts, stale = self._open, self._stale
        if stale:  # recounted only where something changed (a fleet has tens of pods)
            full = (1 << self.cubes_per_pod) - 1
            for pod in stale:
                counts[pod] = (full & ~self.blocked_bits(pod)).bit_count() if self.pod_usable(pod) else 0
            stale.clear()
        return counts

    def _touch(self, pod: int) -> None:
        """Something of ``pod`` changed: holdings, known health or reservations."""
        self.pod_changes[pod] += 1
        self._stale.add(pod)

    def whole_cubes(self, job) -> int:
        """The local cubes (of its pod) that a job holding whole cubes holds, as a bitmask."""
        return self._whole.get(job.id, 0)

    def holders(self, cube: int) -> Sequence[SliceHolder]:
        """Jobs holding chips of ``cube``, in the order they took them."""
        return list(self._holders[cube].values())

    def link_faults(self, cube: int) -> int:
        """Known-down links of a cube (what fault-tolerant routing has to route around)."""
        return self.known.cube_faults[cube] - self.known.cube_host_faults[cube]

    def electrical_down(self, cube: int) -> list[int]:
        """Known-down electrical links of a cube, by their number in the cube (which links a
        fault-tolerant slice routes around)."""
        known = self.known
        per = known.units_per_cube[ICI_LINK]
        down, first = known.down[ICI_LINK], cube * per
        return [link for link in range(known.electrical) if down[first + link]]

    def ocs_down(self, pod: int) -> int:
        return self.known.ocs_down[pod]

    def down_ports(self, pod: int) -> set[tuple[int, int]]:
        """Known-down optical port links of ``pod``, as ``(local cube, port)``."""
        return self._down_ports[pod]

    # -- spare cubes ---------------------------------------------------------------------------
    def capped(self, job) -> bool:
        """Does the spare-cube cap bind ``job`` (a band kept off the spares)?"""
        return self.capped_by_band[job.band]

    def allowance(self, pod: int) -> int:
        """Usable cubes of ``pod`` that capped jobs may still take: usable ones, less the spares,
        less the usable ones they already hold."""
        usable = self.usable_bits(pod)
        bands = self.band_bits[pod]
        held = 0
        for b in self.capped_bands:
            held |= bands[b]
        return usable.bit_count() - self.spare_cubes - (usable & held).bit_count()

    def counts_against(self, cube: int) -> bool:
        """Would a capped job's slice on this (usable) cube take one more of its pod's allowance?"""
        count = self._band_count[cube]
        return self.cube_usable(cube) and not any(count[b] for b in self.capped_bands)

    # -- usability -----------------------------------------------------------------------------
    def cube_usable(self, cube: int) -> bool:
        """Known-usable for a whole-cube slice under the policy (ignoring the OCS layer)."""
        known = self.known
        hosts, ports = known.cube_host_faults[cube], known.cube_port_faults[cube]
        return self.policy.cube_usable(hosts, known.cube_faults[cube] - hosts - ports, ports)

    def pod_usable(self, pod: int) -> bool:
        """Can whole-cube slices be wired in ``pod`` (placed, swapped, moved) as far as its OCS
        layer goes? Every known-down OCS counts: none can program a cross-connect."""
        return self.policy.pod_usable(self.known.ocs_down[pod])

    def pod_runs(self, pod: int) -> bool:
        """Can slices already wired in ``pod`` keep running? Only dark OCSes count: a
        control-plane failure leaves the existing circuits lit."""
        return self.policy.pod_usable(self.known.ocs_dark[pod])

    def is_reserved(self, cube: int) -> bool:
        pod, local = divmod(cube, self.cubes_per_pod)
        return bool(self.reserved[pod] >> local & 1)

    def reserve(self, alloc: Allocation) -> None:
        """Keep ``alloc``'s cubes out of placement (while movers are placed elsewhere)."""
        self._touch(alloc.pod)
        for c in alloc.cubes:
            self.reserved[alloc.pod] |= 1 << (c % self.cubes_per_pod)

    def unreserve(self, pod: int) -> None:
        self._touch(pod)
        self.reserved[pod] = 0

    # -- placement -----------------------------------------------------------------------------
    def find(self, job) -> Allocation | None:
        capped = self.capped(job)
        if not job.cubes:
            return self.find_sub(job.level, capped)
        if not capped:
            return self.policy.find_whole(self, job.cube_dims)
        self._cap = [self.allowance(pod) for pod in range(self.pods)]
        try:
            return self.policy.find_whole(self, job.cube_dims)
        finally:
            self._cap = None

    def find_sub(self, level: int, capped: bool = False) -> Allocation | None:
        masks = self.blocks[level]
        parents = self.blocks[level - 1] if level else None
        cpp = self.cubes_per_pod
        for cube in sorted(self.partial, key=lambda c: (-self.used[c].bit_count(), c)):
            if capped and self.counts_against(cube) and self.allowance(cube // cpp) < 1:
                continue
            found = self._block_in(cube, masks, parents)
            if found is not None:
                return found
        full = (1 << cpp) - 1
        for pod in range(self.pods):  # free cubes broken for whole-cube slices first, ascending
            broken = full & ~self.held_bits(pod) & self.unusable[pod] & ~self.reserved[pod]
            while broken:
                low = broken & -broken
                found = self._block_in(pod * cpp + low.bit_length() - 1, masks, parents)
                if found is not None:
                    return found
                broken ^= low
        for pod in range(self.pods):  # then the lowest free usable cube
            if capped and self.allowance(pod) < 1:
                continue
            whole = full & ~self.held_bits(pod) & ~self.unusable[pod] & ~self.reserved[pod]
            if whole:
                return Allocation(pod, [pod * cpp + (whole & -whole).bit_length() - 1], masks[0])
        return None

    def _block_in(self, cube: int, masks, parents) -> Allocation | None:
        taken = self.used[cube] | self.fault[cube]
        best, best_score = None, -1
        for b, mask in enumerate(masks):
            if not mask & taken:
                score = (self.used[cube] & parents[b >> 1]).bit_count() if parents else 0
                if score > best_score:
                    best, best_score = mask, score
        return None if best is None else Allocation(cube // self.cubes_per_pod, [cube], best)

    # -- holding -------------------------------------------------------------------------------
    def take(self, job, alloc: Allocation) -> None:
        self._touch(alloc.pod)
        if alloc.mask == self.full_mask:
            self._hold_whole(job, alloc)
        else:
            for cube in alloc.cubes:
                self._hold(job, cube, alloc.mask)
        self.version += 1
        self.taken_by_band[job.band] += 1

    @contextmanager
    def trial(self):
        """Holdings changed inside the block are the caller's to undo; the change counters
        (``epoch``, ``version``, ``taken_by_band``) come back as they were, so that a trial leaves
        no trace (the scheduler keys its caches on them)."""
        saved = self.epoch, self.whole_epoch, self.version, list(self.taken_by_band), list(self.movable_stamp)
        try:
            yield self
        finally:
            self.epoch, self.whole_epoch, self.version, self.taken_by_band, self.movable_stamp = saved

    def movable_since(self, band: int | None = None, pod: int | None = None) -> int:
        """A stamp of the changes that can create a place with victims for a job (of ``band``,
        whose victims are of lower bands; in ``pod``, or anywhere). In general: capacity
        growing, any take (a victim band taking resources; or, under the fault-tolerant rule,
        which looks for no victims while a pod has enough free cubes even if they exceed its
        fault budget, a take of free cubes), or any change of known health (a new fault can
        remove such a cube). Where the policy's victim search is exact
        (:attr:`~tpusim.policies.Policy.exact_victim_search`) and no spares are kept, only a
        release by ``band`` or a higher one (a lower band's take or release leaves every
        movable cube movable) or a change of known health. Equal stamps: no new place
        (checked against the straightforward search in the tests)."""
        if band is None or not self._exact_stamps:
            return self.version if pod is None else self.pod_changes[pod]  # every take, release, health change
        return self.movable_stamp[band] if pod is None else self.pod_movable[pod][band]

    def pod_stamps(self, band: int | None = None) -> list[int]:
        """:meth:`movable_since` of every pod, in pod order."""
        if band is None or not self._exact_stamps:
            return list(self.pod_changes)
        return [stamps[band] for stamps in self.pod_movable]

    def give_back(self, job, alloc: Allocation, cubes: list[int] | None = None) -> None:
        self._touch(alloc.pod)
        stamps, pod_stamps = self.movable_stamp, self.pod_movable[alloc.pod]
        for b in range(job.band, 3):  # cubes may become movable for this band and the higher ones
            stamps[b] += 1
            pod_stamps[b] += 1
        if alloc.mask == self.full_mask:
            self._release_whole(job, alloc.pod, alloc.cubes if cubes is None else cubes)
        else:
            for cube in alloc.cubes if cubes is None else cubes:
                self._release(job, cube, alloc.mask)
        self.version += 1
        self.epoch += 1

    def _hold_whole(self, job, alloc: Allocation) -> None:
        """``_hold`` of every cube of a whole-cube allocation, with the per-pod masks set once
        (the cubes were free: none is partial before or after)."""
        used, holders, count, band = self.used, self._holders, self._band_count, job.band
        base, full, bits = alloc.pod * self.cubes_per_pod, self.full_mask, 0
        for cube in alloc.cubes:
            assert not used[cube], "two slices on one chip"
            used[cube] = full
            holders[cube][job.id] = job
            count[cube][band] += 1
            bits |= 1 << (cube - base)
        self.free[alloc.pod].difference_update([c - base for c in alloc.cubes])
        self.band_bits[alloc.pod][band] |= bits
        self._whole[job.id] = self._whole.get(job.id, 0) | bits

    def _release_whole(self, job, pod: int, cubes: list[int]) -> None:
        """``_release`` of whole cubes: each becomes free (and its band bit clear)."""
        used, holders, count, band = self.used, self._holders, self._band_count, job.band
        base, bits = pod * self.cubes_per_pod, 0
        for cube in cubes:
            used[cube] = 0
            del holders[cube][job.id]
            count[cube][band] -= 1
            bits |= 1 << (cube - base)
        if cubes:
            self.free[pod].update([c - base for c in cubes])
            self.band_bits[pod][band] &= ~bits
            self.whole_epoch += 1
            left = self._whole.pop(job.id) & ~bits
            if left:  # a swap gives back only the broken cubes
                self._whole[job.id] = left

    def _hold(self, job, cube: int, mask: int) -> None:
        assert not self.used[cube] & mask, "two slices on one chip"
        pod, local = divmod(cube, self.cubes_per_pod)
        self.used[cube] |= mask
        self._holders[cube][job.id] = job
        self.free[pod].discard(local)
        self._classify(cube)
        count = self._band_count[cube]
        count[job.band] += 1
        self.band_bits[pod][job.band] |= 1 << local

    def _release(self, job, cube: int, mask: int) -> None:
        pod, local = divmod(cube, self.cubes_per_pod)
        self.used[cube] &= ~mask
        del self._holders[cube][job.id]
        if not self.used[cube]:
            self.free[pod].add(local)
            self.whole_epoch += 1
        self._classify(cube)
        count = self._band_count[cube]
        count[job.band] -= 1
        if not count[job.band]:
            self.band_bits[pod][job.band] &= ~(1 << local)
            if (self.spare_cubes and self.used[cube] and job.band in self.capped_bands
                    and not any(count[b] for b in self.capped_bands)):
                self.whole_epoch += 1  # the pod's allowance grew: whole-cube shapes may fit now

    def _classify(self, cube: int) -> None:
        if 0 < self.used[cube] != self.full_mask:
            self.partial.add(cube)
        else:
            self.partial.discard(cube)

    # -- what a failure touches ----------------------------------------------------------------
    def jobs_using(self, k: int, unit: int) -> list:
        """Jobs whose slice uses component ``unit`` of class ``k`` (per the true topology)."""
        if k == OCS:
            if unit not in self.policy.slice_ocses(unit // self.machine.ocs_per_pod):
                return []  # no slice is wired through this switch
            pod = unit // self.machine.ocs_per_pod
            seen = {}
            for cube in range(pod * self.cubes_per_pod, (pod + 1) * self.cubes_per_pod):
                for job in self._holders[cube].values():
                    if job.cubes:
                        seen[job.id] = job
            return list(seen.values())
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
        return [job for job in self._holders[cube].values() if job.alloc is not None and hit(job.alloc.mask)]
