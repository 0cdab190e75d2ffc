"""The pool: which cubes and chips jobs hold, and which the scheduler knows to be usable.

The scheduler sees the *known* health state (failures after their detection delay), never the
true one. Per cube it tracks the chips held by jobs (a bitmask) and the known-faulty chips
(hosts and electrical-link ends that are known down).

- A *whole-cube* slice needs cubes with no chip held and no known fault (hosts, links and optical
  ports all up); on the reconfigurable machine also its pod's OCSes all up. ``static`` needs a box
  of such cubes in the grid, chosen to touch as many grid walls, held and broken cubes as
  possible (fewest free faces left exposed limits fragmentation); ``reconfigurable`` takes any
  such cubes of the pod that fits them most tightly.
- A *sub-cube* slice needs an aligned block (:mod:`tpusim.scheduler.blocks`) of free, fault-free
  chips in one cube; it goes best-fit: first into cubes already in use, then into cubes that are
  broken for whole-cube slices, last into a whole free cube, keeping whole cubes for large slices.

``epoch`` grows whenever capacity may have grown (a release or a known repair): a shape found
infeasible stays infeasible until it changes, which the scheduler uses to skip repeated searches.
"""

from __future__ import annotations

from dataclasses import dataclass

from tpusim.failures.health import OCS, HealthState
from tpusim.scheduler.blocks import block_masks
from tpusim.topology.machine import MachineLayout
from tpusim.topology.placement import static_box_masks, static_boxes


@dataclass
class Allocation:
    pod: int
    cubes: list[int]  # global cube numbers
    mask: int  # chips held in each cube (all of them for a whole-cube slice)


class CubePool:
    def __init__(self, machine: MachineLayout, policy: str, known: HealthState, max_faults: int = 0):
        self.machine = machine
        self.static = policy == "static"
        # Fault-tolerant routing: a whole-cube slice needs its cubes' hosts up; link and OCS
        # faults are tolerated up to max_faults per slice.
        self.ft = policy == "reconfigurable_ft"
        self.max_faults = max_faults
        self.known = known
        cube = machine.cube
        self.cpp = machine.cubes_per_pod
        self.full = (1 << cube.chips) - 1
        self.used = [0] * machine.cubes  # chips held, per cube
        self.fault = [0] * machine.cubes  # known-faulty chips, per cube
        self.holders: list[dict[int, object]] = [{} for _ in range(machine.cubes)]  # job id -> job
        self.free = [set(range(self.cpp)) for _ in range(machine.pods)]  # local cubes, nothing held
        self.partial: set[int] = set()  # global cubes with some but not all chips held
        self.reserved = [0] * machine.pods  # local-cube mask kept out of placement (migrations)
        self.epoch = 0
        self.version = 0  # grows on every change of allocations or of known health
        self.taken_by_band = [0, 0, 0]  # allocations made by each priority band, ever
        # Per pod bitmasks over local cubes (kept incrementally, read with bit operations):
        self.unusable_bits = [0] * machine.pods  # known-unusable for whole-cube slices
        self.band_bits = [[0, 0, 0] for _ in range(machine.pods)]  # cubes with a holder of band b
        self._band_count = [[0, 0, 0] for _ in range(machine.cubes)]  # holders per band, per cube
        if self.ft:
            known.fault_listeners.append(self._on_known_faults)
        else:
            known.cube_listeners.append(self._on_known_cube)
        self.blocks = block_masks(cube.shape, cube.chips_per_host)
        self._host_masks = [sum(1 << c for c in cube.host_chips(h)) for h in range(cube.hosts)]
        self._link_masks = [sum(1 << c for c in chips) for chips in cube.link_chips]
        self._electrical = len(cube.electrical_links)
        self._box_cache: dict = {}
        known.component_listeners.append(self._on_known)

    # -- known health ------------------------------------------------------------------------
    def _on_known(self, t: float, k: int, unit: int, down: bool) -> None:
        if k != OCS:
            per = self.known.units_per_cube[k]
            cube = unit // per
            base = cube * self.machine.cube.chips
            faults = self.known.chip_faults
            self.fault[cube] = sum(1 << c for c in range(self.machine.cube.chips) if faults[base + c])
        self.version += 1
        if not down:
            self.epoch += 1

    def _on_known_cube(self, t: float, pod: int, local: int, usable: bool) -> None:
        if usable:
            self.unusable_bits[pod] &= ~(1 << local)
        else:
            self.unusable_bits[pod] |= 1 << local

    def _on_known_faults(self, t: float, pod: int, local: int, hosts: int, links: int) -> None:
        self._on_known_cube(t, pod, local, hosts == 0)

    def link_faults(self, cube: int) -> int:
        """Known-down links of a cube (what fault-tolerant routing has to route around)."""
        return self.known.cube_faults[cube] - self.known.cube_host_faults[cube]

    def usable_bits(self, pod: int) -> int:
        """Local cubes known-usable for whole-cube slices and not reserved."""
        return ((1 << self.cpp) - 1) & ~self.unusable_bits[pod] & ~self.reserved[pod]

    def cube_usable(self, cube: int) -> bool:
        """Known-usable for a whole-cube slice (ignoring the OCS layer)."""
        if self.ft:
            return self.known.cube_host_faults[cube] == 0
        return self.known.cube_faults[cube] == 0

    def ocs_up(self, pod: int) -> bool:
        """Can whole-cube slices run in ``pod`` as far as its OCS layer goes?"""
        if self.static:
            return True
        return self.known.ocs_down[pod] <= (self.max_faults if self.ft else 0)

    def _blocked(self, pod: int) -> int:
        """Local cubes a whole-cube slice cannot use in ``pod``: unusable, reserved or held."""
        held = self.band_bits[pod]
        return ~self.usable_bits(pod) | held[0] | held[1] | held[2]

    # -- placement -----------------------------------------------------------------------------
    def find(self, job) -> Allocation | None:
        return self.find_whole(job.cube_dims) if job.cubes else self.find_sub(job.level)

    def find_whole(self, cube_dims) -> Allocation | None:
        k = cube_dims[0] * cube_dims[1] * cube_dims[2]
        best, best_score = None, None
        for pod in range(self.machine.pods):
            if not self.ocs_up(pod) or len(self.free[pod]) < k:
                continue
            blocked = self._blocked(pod)
            if self.static:
                for mask, shell, walls, _ in self._boxes(cube_dims):
                    if not mask & blocked:
                        score = (shell & blocked).bit_count() + walls
                        if best_score is None or score > best_score:
                            best, best_score = (pod, mask), score
            else:
                open_ = ((1 << self.cpp) - 1) & ~blocked
                usable = open_.bit_count()
                if usable < k or (best_score is not None and usable >= best_score):
                    continue
                locals_ = [c for c in range(self.cpp) if open_ >> c & 1]
                if self.ft:  # the least faulty cubes, within the fault budget
                    base = pod * self.cpp
                    locals_.sort(key=lambda c: (self.link_faults(base + c), c))
                    faults = self.known.ocs_down[pod] + sum(self.link_faults(base + c) for c in locals_[:k])
                    if faults > self.max_faults:
                        continue
                best, best_score = (pod, sum(1 << c for c in locals_[:k])), usable
        if best is None:
            return None
        pod, mask = best
        cubes = [pod * self.cpp + c for c in range(self.cpp) if mask >> c & 1]
        return Allocation(pod, cubes, self.full)

    def _boxes(self, cube_dims):
        """(mask, shell mask, faces on the grid wall, local cubes) of every static box."""
        cached = self._box_cache.get(cube_dims)
        if cached is None:
            grid = self.machine.cube_grid
            cached = []
            for box, mask in zip(static_boxes(grid, cube_dims), static_box_masks(grid, cube_dims)):
                shell, walls = 0, 0
                for cell in box.cells():
                    for d in range(3):
                        for step in (-1, 1):
                            n = list(cell)
                            n[d] += step
                            if not 0 <= n[d] < grid[d]:
                                walls += 1
                            else:
                                bit = 1 << (n[0] + grid[0] * (n[1] + grid[1] * n[2]))
                                if not bit & mask:
                                    shell |= bit
                cells = [c for c in range(self.cpp) if mask >> c & 1]
                cached.append((mask, shell, walls, cells))
            self._box_cache[cube_dims] = cached
        return cached

    def find_sub(self, level: int) -> Allocation | None:
        masks = self.blocks[level]
        parents = self.blocks[level - 1] if level else None
        best = None
        for cube in sorted(self.partial, key=lambda c: (-self.used[c].bit_count(), c)):
            best = self._block_in(cube, masks, parents)
            if best is not None:
                return best
        faults = self.known.cube_host_faults if self.ft else self.known.cube_faults
        for pod in range(self.machine.pods):  # cubes broken for whole-cube slices first
            for local in sorted(self.free[pod]):
                cube = pod * self.cpp + local
                if faults[cube] and not self.reserved[pod] >> local & 1:
                    best = self._block_in(cube, masks, parents)
                    if best is not None:
                        return best
        for pod in range(self.machine.pods):
            for local in sorted(self.free[pod]):
                cube = pod * self.cpp + local
                if not faults[cube] and not self.reserved[pod] >> local & 1:
                    return Allocation(pod, [cube], masks[0])
        return None

    def _block_in(self, cube: int, masks, parents) -> Allocation | None:
        taken = self.used[cube] | self.fault[cube]
        best, best_score = None, -1
        for b, mask in enumerate(masks):
            if not mask & taken:
                score = (self.used[cube] & parents[b >> 1]).bit_count() if parents else 0
                if score > best_score:
                    best, best_score = mask, score
        return None if best is None else Allocation(cube // self.cpp, [cube], best)

    # -- holding -------------------------------------------------------------------------------
    def take(self, job, alloc: Allocation) -> None:
        for cube in alloc.cubes:
            self._hold(job, cube, alloc.mask)
        self.version += 1
        self.taken_by_band[job.band] += 1

    def movable_since(self, lowest_band: int) -> tuple[int, int]:
        """Changes that can create a place for a job allowed to move bands >= ``lowest_band``:
        capacity growing, or such bands taking resources. Equal stamps: no new place."""
        return self.epoch, sum(self.taken_by_band[lowest_band:])

    def give_back(self, job, alloc: Allocation, cubes: list[int] | None = None) -> None:
        for cube in alloc.cubes if cubes is None else cubes:
            self._release(job, cube, alloc.mask)
        self.version += 1
        self.epoch += 1

    def _hold(self, job, cube: int, mask: int) -> None:
        assert not self.used[cube] & mask, "two slices on one chip"
        pod, local = divmod(cube, self.cpp)
        self.used[cube] |= mask
        self.holders[cube][job.id] = job
        self.free[pod].discard(local)
        self._classify(cube)
        count = self._band_count[cube]
        count[job.band] += 1
        self.band_bits[pod][job.band] |= 1 << local

    def _release(self, job, cube: int, mask: int) -> None:
        pod, local = divmod(cube, self.cpp)
        self.used[cube] &= ~mask
        del self.holders[cube][job.id]
        if not self.used[cube]:
            self.free[pod].add(local)
        self._classify(cube)
        count = self._band_count[cube]
        count[job.band] -= 1
        if not count[job.band]:
            self.band_bits[pod][job.band] &= ~(1 << local)

    def _classify(self, cube: int) -> None:
        if 0 < self.used[cube] != self.full:
            self.partial.add(cube)
        else:
            self.partial.discard(cube)

    # -- what a failure touches ----------------------------------------------------------------
    def jobs_using(self, k: int, unit: int) -> list:
        """Jobs whose slice uses component ``unit`` of class ``k`` (per the true topology)."""
        if k == OCS:
            if self.static:
                return []  # the static pod has no OCS
            pod = unit // self.machine.ocs_per_pod
            seen = {}
            for cube in range(pod * self.cpp, (pod + 1) * self.cpp):
                for job in self.holders[cube].values():
                    if job.cubes:
                        seen[job.id] = job
            return list(seen.values())
        per = self.known.units_per_cube[k]
        cube, local = divmod(unit, per)
        if k == 0:
            need = self._host_masks[local]
            hit = lambda mask: mask & need  # noqa: E731 - any chip of the host
        elif local < self._electrical:
            need = self._link_masks[local]
            hit = lambda mask: mask & need == need  # noqa: E731 - both ends inside the slice
        else:
            hit = lambda mask: mask == self.full  # noqa: E731 - optical ports: whole-cube slices
        return [job for job in self.holders[cube].values() if hit(job.alloc.mask)]
