"""Holdings: which chips of which cubes jobs hold.

Per cube: the chips held (a bitmask over the cube's chips), the jobs holding them (in the order
they took them) and how many holders of each priority band it has. Per pod, kept incrementally
and read with bit operations: the local cubes with nothing held (``free``) and, per band, the
local cubes with a holder of that band (``band_bits``). A job holding whole cubes has them as
one bitmask over its pod's local cubes (a swap replaces some of them).

Invariants: a chip is held by at most one job; ``free[pod]`` is exactly the set of local cubes
with no chip held; ``band_bits[pod][b]`` has a bit for every local cube with a holder of band
``b`` (``band_count[cube][b] > 0``); ``partial`` is exactly the set of (global) cubes with some
but not all chips held.

Holdings know nothing of health, placement or the change counters: the pool
(:class:`~tpusim.scheduler.pool.CubePool`) takes and gives back through them and advances its
stamps.
"""

from __future__ import annotations

from typing import Sequence

from tpusim.policies.base import SliceHolder
from tpusim.topology.allocation import Allocation
from tpusim.topology.machine import MachineLayout


class Holdings:
    def __init__(self, machine: MachineLayout):
        self.cubes_per_pod = machine.cubes_per_pod
        self.full_mask = machine.cube.full_mask
        self.used = [0] * machine.cubes  # chips held, per cube
        self._holders: list[dict[int, SliceHolder]] = [{} for _ in range(machine.cubes)]  # job id -> job
        self.band_count = [[0, 0, 0] for _ in range(machine.cubes)]  # holders per band, per cube
        self.free = [set(range(self.cubes_per_pod)) for _ in range(machine.pods)]  # local cubes, nothing held
        self.band_bits = [[0, 0, 0] for _ in range(machine.pods)]  # local cubes with a holder of band b
        self.partial: set[int] = set()  # global cubes with some but not all chips held
        self._whole: dict[int, int] = {}  # job id -> local cubes it holds whole, as a bitmask

    # -- reading -------------------------------------------------------------------------------
    def free_count(self, pod: int) -> int:
        return len(self.free[pod])

    def held_bits(self, pod: int) -> int:
        """Local cubes with a chip held by some job."""
        held = self.band_bits[pod]
        return held[0] | held[1] | held[2]

    def holders(self, cube: int) -> Sequence[SliceHolder]:
        """Jobs holding chips of ``cube``, in the order they took them."""
        return list(self._holders[cube].values())

    def whole_cubes(self, job) -> int:
        """The local cubes (of its pod) that a job holding whole cubes holds, as a bitmask."""
        return self._whole.get(job.id, 0)

    def whole_cube_jobs(self, pod: int) -> list:
        """Jobs holding whole cubes of ``pod``, each once, in cube order."""
        seen = {}
        for cube in range(pod * self.cubes_per_pod, (pod + 1) * self.cubes_per_pod):
            for job in self._holders[cube].values():
                if job.cubes:
                    seen[job.id] = job
        return list(seen.values())

    # -- changing ------------------------------------------------------------------------------
    def hold_whole(self, job, alloc: Allocation) -> None:
        """:meth:`hold` of every cube of a whole-cube allocation, with the per-pod masks set once
        (the cubes were free: none is partial before or after)."""
        used, holders, count, band = self.used, self._holders, self.band_count, job.band
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

    def release_whole(self, job, pod: int, cubes: list[int]) -> None:
        """:meth:`release` of whole cubes: each becomes free (and its band bit clear)."""
        used, holders, count, band = self.used, self._holders, self.band_count, job.band
        base, bits = pod * self.cubes_per_pod, 0
        for cube in cubes:
            used[cube] = 0
            del holders[cube][job.id]
            count[cube][band] -= 1
            bits |= 1 << (cube - base)
        if cubes:
            self.free[pod].update([c - base for c in cubes])
            self.band_bits[pod][band] &= ~bits
            left = self._whole.pop(job.id) & ~bits
            if left:  # a swap gives back only the broken cubes
                self._whole[job.id] = left

    def hold(self, job, cube: int, mask: int) -> None:
        """``job`` takes the chips ``mask`` of ``cube``."""
        assert not self.used[cube] & mask, "two slices on one chip"
        pod, local = divmod(cube, self.cubes_per_pod)
        self.used[cube] |= mask
        self._holders[cube][job.id] = job
        self.free[pod].discard(local)
        self._classify(cube)
        count = self.band_count[cube]
        count[job.band] += 1
        self.band_bits[pod][job.band] |= 1 << local

    def release(self, job, cube: int, mask: int) -> bool:
        """``job`` lets go of the chips ``mask`` of ``cube``; True if the cube is free now."""
        pod, local = divmod(cube, self.cubes_per_pod)
        self.used[cube] &= ~mask
        del self._holders[cube][job.id]
        freed = not self.used[cube]
        if freed:
            self.free[pod].add(local)
        self._classify(cube)
        count = self.band_count[cube]
        count[job.band] -= 1
        if not count[job.band]:
            self.band_bits[pod][job.band] &= ~(1 << local)
        return freed

    def _classify(self, cube: int) -> None:
        if 0 < self.used[cube] != self.full_mask:
            self.partial.add(cube)
        else:
            self.partial.discard(cube)
