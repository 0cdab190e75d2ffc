"""Placement rules: where a slice of a given cube shape may go, given which cubes are usable.

These are the policies' feasibility rules, written as plain functions of a health state so
that tests can check them directly and the incremental availability trackers can be checked
against them.

- ``static``: the pod is a fixed grid of cubes. A slice of cube shape ``(a, b, c)`` needs an
  axis-aligned box of that shape, in any axis permutation, lying inside the grid (no
  wrap-around placement), with every cube of the box usable.
- ``reconfigurable``: the OCSes can wire any ``k`` usable cubes of one pod into the slice, as
  long as every OCS the slice uses is up. A slice of one or more whole cubes uses every OCS of
  its pod (each cube's ``+d`` port ``p`` is cross-connected through OCS ``(d, p)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

from tpusim.topology.shapes import Dims, unique_permutations


@dataclass(frozen=True)
class Box:
    """An axis-aligned box of cubes in the grid: ``origin`` plus ``dims`` (in cubes)."""

    origin: Dims
    dims: Dims

    def cells(self) -> list[Dims]:
        (ox, oy, oz), (a, b, c) = self.origin, self.dims
        return [
            (ox + i, oy + j, oz + k) for k in range(c) for j in range(b) for i in range(a)
        ]

    def spans_fully(self, grid: Dims) -> tuple[bool, bool, bool]:
        """Per dimension: does the box cover the whole grid (so its wrap-around cables exist)?"""
        return tuple(d == g for d, g in zip(self.dims, grid))  # type: ignore[return-value]


@lru_cache(maxsize=256)
def static_boxes(grid: Dims, cube_dims: Dims) -> tuple[Box, ...]:
    """Every box of ``cube_dims`` (any axis permutation) that fits inside ``grid``.

    Ordered by permutation, then origin with x fastest: a fixed order, so placement and the
    availability trackers are reproducible.
    """
    boxes = []
    for dims in unique_permutations(cube_dims):
        if any(d > g for d, g in zip(dims, grid)):
            continue
        for oz in range(grid[2] - dims[2] + 1):
            for oy in range(grid[1] - dims[1] + 1):
                for ox in range(grid[0] - dims[0] + 1):
                    boxes.append(Box((ox, oy, oz), dims))
    return tuple(boxes)


def cube_number(grid: Dims, cell: Dims) -> int:
    """Local cube number of grid cell ``(i, j, k)`` (x fastest)."""
    return cell[0] + grid[0] * (cell[1] + grid[1] * cell[2])


@lru_cache(maxsize=256)
def static_box_masks(grid: Dims, cube_dims: Dims) -> tuple[int, ...]:
    """The boxes of :func:`static_boxes` as bitmasks over local cube numbers."""
    return tuple(
        sum(1 << cube_number(grid, cell) for cell in box.cells())
        for box in static_boxes(grid, cube_dims)
    )


def place_static(grid: Dims, cube_dims: Dims, unusable: Iterable[int]) -> Box | None:
    """The first box of ``cube_dims`` whose cubes are all usable, or ``None``."""
    bad = set(unusable)
    for box in static_boxes(grid, cube_dims):
        if not any(cube_number(grid, cell) in bad for cell in box.cells()):
            return box
    return None


def place_reconfigurable(
    cubes_per_pod: int, cubes_needed: int, unusable: Iterable[int], ocs_all_up: bool
) -> list[int] | None:
    """``cubes_needed`` usable cubes of one pod (lowest numbers first), or ``None``."""
    if not ocs_all_up:
        return None
    bad = set(unusable)
    chosen = [c for c in range(cubes_per_pod) if c not in bad][:cubes_needed]
    return chosen if len(chosen) == cubes_needed else None


def fits_static_grid(grid: Dims, cube_dims: Dims) -> bool:
    return bool(static_boxes(grid, cube_dims))


@dataclass(frozen=True)
class BoxGeometry:
    """A static box with what a placement scorer needs to know about its surroundings."""

    mask: int  # the box's local cubes, as a bitmask
    shell: int  # the cubes just outside its faces, as a bitmask
    walls: int  # faces of its cells that lie on the grid's outer wall
    cells: tuple[int, ...]  # its local cube numbers, in slot order (x fastest)


@lru_cache(maxsize=256)
def static_box_geometry(grid: Dims, cube_dims: Dims) -> tuple[BoxGeometry, ...]:
    """:func:`static_boxes` with each box's shell and wall faces, in the same order."""
    out = []
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
                        bit = 1 << cube_number(grid, tuple(n))  # type: ignore[arg-type]
                        if not bit & mask:
                            shell |= bit
        cells = tuple(c for c in range(grid[0] * grid[1] * grid[2]) if mask >> c & 1)
        out.append(BoxGeometry(mask, shell, walls, cells))
    return tuple(out)
