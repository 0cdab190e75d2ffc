"""The spare-cube cap: how many of a pod's usable cubes the capped bands may hold.

**Spare cubes** (``spare_cubes``, policies that swap spares only): in each pod, jobs of the
*capped* bands (production and batch; every band unless ``preemptible_spares``) may together
hold at most ``usable - spare_cubes`` of the pod's usable cubes (:meth:`SpareCap.allowance`),
so that ``spare_cubes`` usable cubes stay free of them for the Pod Manager's swaps; a hero job
(``workload.hero``) is exempt: the spares are kept for it, and it may start or grow onto them
(else a hero back from the queue would need its whole slice *and* every spare usable), while
the cubes it holds count against the others' allowance like any; best-effort
work may run there when the spares are preemptible (the Pod Manager evicts it when a swap needs
the cube). A cube broken for whole-cube slices is outside the cap: a sub-cube slice of a capped
band may go on its healthy chips.

The allowance only grows when a capped job lets go of a cube (its last capped holder leaves, or
it becomes free) or a repair is known; the pool advances its ``epoch`` and ``whole_epoch`` for
each (:mod:`tpusim.scheduler.stamps`), so the scheduler's skips stay exact (checked by the
oracle test with spares).

Invariants: where no spares are kept (none asked for, or a policy that swaps none), no band is
capped and :attr:`SpareCap.limits` stays None; it holds every pod's allowance only while a job
of a capped band is being placed (:meth:`~tpusim.scheduler.pool.CubePool.find`).
"""

from __future__ import annotations

from typing import Callable

from tpusim.scheduler.holdings import Holdings
from tpusim.scheduler.known_health import KnownHealth


class SpareCap:
    def __init__(self, spare_cubes: int, preemptible_spares: bool, pods: int, holdings: Holdings,
                 health: KnownHealth, usable_bits: Callable[[int], int]):
        self.spare_cubes = spare_cubes
        self.capped_bands = (0, 1) if preemptible_spares else (0, 1, 2)
        self.capped_by_band = tuple(spare_cubes > 0 and b in self.capped_bands for b in range(3))  # per band
        self.pods = pods
        self.limits: list[int] | None = None  # per pod, while a capped whole-cube job is being placed
        self._holdings = holdings
        self._health = health
        self._usable_bits = usable_bits  # the pool's: known-usable and not reserved

    def capped(self, job) -> bool:
        """Does the spare-cube cap bind ``job`` (a band kept off the spares, and not a hero job:
        the spares are kept for it, so it may start or grow onto them)?"""
        return self.capped_by_band[job.band] and not job.spare_exempt

    def allowance(self, pod: int) -> int:
        """Usable cubes of ``pod`` that capped jobs may still take: usable ones, less the spares,
        less the usable ones they already hold."""
        usable = self._usable_bits(pod)
        bands = self._holdings.band_bits[pod]
        held = 0
        for b in self.capped_bands:
            held |= bands[b]
        return usable.bit_count() - self.spare_cubes - (usable & held).bit_count()

    def counts_against(self, cube: int) -> bool:
        """Would a capped job's slice on this (usable) cube take one more of its pod's allowance?"""
        count = self._holdings.band_count[cube]
        return self._health.cube_usable(cube) and not any(count[b] for b in self.capped_bands)

    def freed_by(self, band: int, cube: int) -> bool:
        """A job of ``band`` has just let go of chips of ``cube``, which stays held: has the
        pod's allowance grown (the cube's last holder of a capped band left)?"""
        if not self.spare_cubes or band not in self.capped_bands:
            return False
        count = self._holdings.band_count[cube]
        return not any(count[b] for b in self.capped_bands)

    def allowances(self) -> list[int]:
        """:meth:`allowance` of every pod, in pod order."""
        return [self.allowance(pod) for pod in range(self.pods)]
