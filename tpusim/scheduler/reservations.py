"""Reservations: cubes kept out of placement while a migration is planned.

Defragmentation (:meth:`~tpusim.scheduler.scheduler.Scheduler._plan_moves`) looks for a new
place for every job it would move out of a target, with the target's cubes reserved so that no
mover lands there, and clears the reservation when the plan is made. Per pod, the reserved
local cubes are one bitmask; a reserved cube is neither usable for slices of whole cubes nor
searched for sub-cube slices, nor taken as a spare.

Invariant: outside a plan, nothing is reserved. Every change goes through the pool
(:meth:`~tpusim.scheduler.pool.CubePool.reserve`), which advances the pod's stamp.
"""

from __future__ import annotations

from tpusim.topology.allocation import Allocation


class Reservations:
    def __init__(self, pods: int, cubes_per_pod: int):
        self.cubes_per_pod = cubes_per_pod
        self.reserved = [0] * pods  # local-cube mask kept out of placement, per pod

    def is_reserved(self, cube: int) -> bool:
        pod, local = divmod(cube, self.cubes_per_pod)
        return bool(self.reserved[pod] >> local & 1)

    def reserve(self, alloc: Allocation) -> None:
        """Keep ``alloc``'s cubes out of placement."""
        for c in alloc.cubes:
            self.reserved[alloc.pod] |= 1 << (c % self.cubes_per_pod)

    def clear(self, pod: int) -> None:
        self.reserved[pod] = 0
