"""``static``: a statically wired pod, the baseline the published comparison uses (DESIGN §1).

The pod's cubes sit in a fixed grid, neighbouring faces cabled together. A slice of cube shape
``(a, b, c)`` needs an axis-aligned box of that shape (any axis permutation) inside the grid,
every cube of it usable (all hosts and links up). There is no OCS: no cross-connects, and OCS
faults touch nothing. A failed cube cannot be swapped: the slice waits for its repair or for
another box.

Placement picks, among the free boxes of the pod, the one touching the most grid walls, held and
broken cubes (fewest free faces left exposed limits fragmentation).

Capacity tracker (:class:`StaticAvailability`): per pod, a bitmask of unusable cubes and, per
shape, one box known to be free. A cube going bad forces a rescan only if it lies in that box; a
cube coming back is tried only for shapes that currently have no free box, and only against the
boxes containing it. O(1) per event in practice.
"""

from __future__ import annotations

from typing import Iterator

from tpusim.analytic import fixed_box
from tpusim.failures.health import HealthState
from tpusim.failures.params import FailureParams
from tpusim.policies.base import ClosedForm, Placement, Policy, PoolView, SliceHolder
from tpusim.policies.capacity import CapacityTracker, LevelTime, PolicyOutcome, ShapeUptime
from tpusim.policies.registry import register
from tpusim.topology.allocation import Allocation
from tpusim.topology.machine import MachineLayout
from tpusim.topology.placement import fits_static_grid, static_box_geometry, static_box_masks
from tpusim.topology.shapes import Dims


@register
class StaticPolicy(Policy):
    name = "static"
    summary = "statically wired pod: a slice needs a healthy box of cubes in the fixed grid"
    uses_ocs = False

    def capacity_tracker(self, shapes_in_cubes: list[Dims], health: HealthState,
                         record: bool = False) -> CapacityTracker:
        tracker = StaticAvailability(self.machine, shapes_in_cubes, record)
        health.cube_listeners.append(tracker.on_cube)
        return tracker

    def grid_fits(self, cube_dims: Dims) -> bool:
        return fits_static_grid(self.machine.cube_grid, cube_dims)

    def closed_form(self, failures: FailureParams, cube_dims: Dims) -> ClosedForm | None:
        k = cube_dims[0] * cube_dims[1] * cube_dims[2]
        return ClosedForm(fixed_box(self.machine, failures, k), "lower bound",
                          "one fixed box of k usable cubes, q^k (any free box may do better)")

    def find_whole(self, pool: PoolView, cube_dims: Dims) -> Allocation | None:
        k = cube_dims[0] * cube_dims[1] * cube_dims[2]
        best, best_score = None, None
        for pod in range(pool.pods):
            if pool.free_count(pod) < k:
                continue
            blocked = pool.blocked_bits(pod)
            for box in static_box_geometry(self.machine.cube_grid, cube_dims, wrap=self.machine.static_wrap):
                if not box.mask & blocked:
                    score = (box.shell & blocked).bit_count() + box.walls
                    if best_score is None or score > best_score:
                        best, best_score = (pod, box), score
        if best is None:
            return None
        pod, box = best
        base = pod * pool.cubes_per_pod
        return Allocation(pod, [base + c for c in box.cells], pool.full_mask)

    def places_with_victims(self, pool: PoolView, job: SliceHolder, pod: int, usable: int,
                            movable: int) -> Iterator[Placement]:
        base = pod * pool.cubes_per_pod
        assert job.cube_dims is not None
        for box in static_box_geometry(self.machine.cube_grid, job.cube_dims, wrap=self.machine.static_wrap):
            if box.mask & movable == box.mask:
                cubes = [base + c for c in box.cells]
                seen: dict[int, SliceHolder] = {}
                for c in cubes:
                    for holder in pool.holders(c):
                        seen[holder.id] = holder
                yield Allocation(pod, cubes, pool.full_mask), list(seen.values())


class StaticAvailability(ShapeUptime, CapacityTracker):
    """A slice needs an axis-aligned box of usable cubes inside the fixed cube grid."""

    def __init__(self, machine: MachineLayout, shapes_in_cubes: list[Dims], record: bool = False):
        grid, pods = machine.cube_grid, machine.pods
        wrap = machine.static_wrap
        self.masks = [static_box_masks(grid, dims, wrap=wrap) for dims in shapes_in_cubes]
        self.containing = [
            [tuple(m for m in masks if m >> cube & 1) for masks in self.masks]
            for cube in range(machine.cubes_per_pod)
        ]
        self.bad = [0] * pods
        # Invariant: free_box[pod][s] is the mask of a box of shape s with no bad cube, or 0 if
        # there is none (a box mask is never 0). Shapes that fit nowhere in the grid stay at 0.
        self.free_box = [[masks[0] if masks else 0 for masks in self.masks] for _ in range(pods)]
        self.blocked = [0] * pods  # shapes that fit the grid but have no free box in the pod
        self._init_uptime([pods if masks else 0 for masks in self.masks], record)
        # capacity: every box of every shape that fits the grid, largest volume first
        self.by_volume = _boxes_by_volume(grid, wrap)
        self._largest_memo: dict[int, int] = {}
        self.cubes_per_pod = machine.cubes_per_pod
        # (time, pod, bad-cube mask) at every change: capacity is computed from it at the end,
        # off the hot path (one append per event instead of a search)
        self._log: list[tuple[float, int, int]] = []

    def _largest(self, bad: int) -> int:
        """The volume of the largest box of usable cubes, for a pod whose unusable cubes are ``bad``."""
        found = self._largest_memo.get(bad)
        if found is None:
            found = next((volume for volume, masks in self.by_volume if any(not m & bad for m in masks)), 0)
            self._largest_memo[bad] = found
        return found

    def _capacity(self, t: float) -> list[float]:
        """capacity[k] over [0, t], replayed from the log of bad-cube masks."""
        pods = len(self.bad)
        top = self.by_volume[0][0] if self.by_volume else 0
        largest = [top] * pods
        level = LevelTime(self.cubes_per_pod, top)
        memo, current = self._largest_memo, top
        for when, pod, bad in self._log:
            volume = memo.get(bad)
            if volume is None:
                volume = self._largest(bad)
            if pods > 1:
                largest[pod] = volume
                volume = max(largest)
            if volume != current:
                level.set(when, volume)
                current = volume
        return level.at_least(t)

    def on_cube(self, t: float, pod: int, cube: int, usable: bool) -> None:
        bit = 1 << cube
        free = self.free_box[pod]
        if not usable:
            bad = self.bad[pod] = self.bad[pod] | bit
            for s, box in enumerate(free):
                if box & bit:  # the known free box just lost a cube: look for another
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
            containing = self.containing[cube]
            for s, box in enumerate(free):
                if not box:  # only a box containing the repaired cube can have become free
                    for candidate in containing[s]:
                        if not candidate & bad:
                            free[s] = candidate
                            self.blocked[pod] -= 1
                            self._pod_gained(s, t)
                            break

    def placeable(self) -> list[bool]:
        return [n > 0 for n in self.pods_placing]

    def finish(self, t: float, health: HealthState, width: float | None = None) -> PolicyOutcome:
        return self._uptime_outcome(t, width, health.chip_availability(t, with_ocs=False), self._capacity(t))


def _boxes_by_volume(grid: Dims, wrap: bool) -> list[tuple[int, tuple[int, ...]]]:
    """(volume, masks of every box of that volume in any shape), largest volume first."""
    by: dict[int, list[int]] = {}
    for a in range(1, grid[0] + 1):
        for b in range(1, grid[1] + 1):
            for c in range(1, grid[2] + 1):
                by.setdefault(a * b * c, []).extend(static_box_masks(grid, (a, b, c), wrap=wrap))
    return [(v, tuple(dict.fromkeys(by[v]))) for v in sorted(by, reverse=True) if by[v]]
