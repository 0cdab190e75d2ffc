"""Best-fit placement of sub-cube slices.

A *sub-cube* slice needs an aligned block (:mod:`tpusim.scheduler.blocks`) of free, fault-free
chips in one cube; it goes best-fit: first into cubes already in use (the fullest first), then
into free cubes that are broken for whole-cube slices, last into the lowest whole free usable
cube, keeping whole cubes for large slices. Inside a cube it takes the free block whose parent
block is the most used (the first such). Reserved cubes are never searched; a job
of a band the spare-cube cap binds (:mod:`tpusim.scheduler.spare_cap`) takes no usable cube
beyond its pod's allowance.

Invariant: the search reads the pool's collaborators and changes nothing; its answer depends on
the holdings, the known faults, the reservations and the cap alone.
"""

from __future__ import annotations

from tpusim.scheduler.blocks import block_masks
from tpusim.scheduler.holdings import Holdings
from tpusim.scheduler.known_health import KnownHealth
from tpusim.scheduler.reservations import Reservations
from tpusim.scheduler.spare_cap import SpareCap
from tpusim.topology.allocation import Allocation
from tpusim.topology.machine import MachineLayout


class BestFit:
    def __init__(self, machine: MachineLayout, holdings: Holdings, health: KnownHealth,
                 reservations: Reservations, cap: SpareCap):
        self.cubes_per_pod = machine.cubes_per_pod
        self.pods = machine.pods
        self.blocks = block_masks(machine.cube.shape, machine.cube.chips_per_host)  # per level, its block masks
        self._holdings = holdings
        self._health = health
        self._reservations = reservations
        self._cap = cap

    def find(self, level: int, capped: bool = False) -> Allocation | None:
        """A block of ``level`` for a sub-cube slice (``capped``: its band is kept off the
        spares), or None."""
        masks = self.blocks[level]
        parents = self.blocks[level - 1] if level else None
        holdings, cap, cpp = self._holdings, self._cap, self.cubes_per_pod
        used = holdings.used
        for cube in sorted(holdings.partial, key=lambda c: (-used[c].bit_count(), c)):
            if capped and cap.counts_against(cube) and cap.allowance(cube // cpp) < 1:
                continue
            found = self._block_in(cube, masks, parents)
            if found is not None:
                return found
        full, unusable, reserved = (1 << cpp) - 1, self._health.unusable, self._reservations.reserved
        for pod in range(self.pods):  # free cubes broken for whole-cube slices first, ascending
            broken = full & ~holdings.held_bits(pod) & unusable[pod] & ~reserved[pod]
            while broken:
                low = broken & -broken
                found = self._block_in(pod * cpp + low.bit_length() - 1, masks, parents)
                if found is not None:
                    return found
                broken ^= low
        for pod in range(self.pods):  # then the lowest free usable cube
            if capped and cap.allowance(pod) < 1:
                continue
            whole = full & ~holdings.held_bits(pod) & ~unusable[pod] & ~reserved[pod]
            if whole:
                return Allocation(pod, [pod * cpp + (whole & -whole).bit_length() - 1], masks[0])
        return None

    def _block_in(self, cube: int, masks, parents) -> Allocation | None:
        used = self._holdings.used[cube]
        taken = used | self._health.fault[cube]
        best, best_score = None, -1
        for b, mask in enumerate(masks):
            if not mask & taken:
                score = (used & parents[b >> 1]).bit_count() if parents else 0
                if score > best_score:
                    best, best_score = mask, score
        return None if best is None else Allocation(cube // self.cubes_per_pod, [cube], best)
