"""Placement rules: where a slice of a given cube shape may go, given which cubes are usable.

These are the policies' feasibility rules, written as plain functions of a health state so
that tests can check them directly and the incremental availability trackers can be checked
against them.

- ``static``: the pod is a fixed grid of cubes. A slice of cube shape ``(a, b, c)`` needs an
  axis-aligned box of that shape, in any axis permutation, with every cube of the box usable.
  With ``wrap`` (DESIGN §1: the static pod is a torus of cubes, wraparound cables joining the
  grid's ends) a box may straddle the wrap: along a dimension it does not span fully it may
  start at any cell; without ``wrap`` it lies inside the grid.
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
    """An axis-aligned box of cubes in the grid: ``origin`` plus ``dims`` (in cubes); with
    ``grid`` set, coordinates wrap around it (a box straddling the torus's ends)."""

    origin: Dims
    dims: Dims
    grid: Dims | None = None

    def cells(self) -> list[Dims]:
        """The box's cells in slot order (x fastest), wrapped into the grid if it wraps."""
        (ox, oy, oz), (a, b, c) = self.origin, self.dims
        gx, gy, gz = self.grid if self.grid is not None else (0, 0, 0)
        if self.grid is None:
            return [(ox + i, oy + j, oz + k) for k in range(c) for j in range(b) for i in range(a)]
        return [((ox + i) % gx, (oy + j) % gy, (oz + k) % gz) for k in range(c) for j in range(b) for i in range(a)]

    def spans_fully(self, grid: Dims) -> tuple[bool, bool, bool]:
        """Per dimension: does the box cover the whole grid (so its wrap-around cables exist)?"""
        return tuple(d == g for d, g in zip(self.dims, grid))  # type: ignore[return-value]


@lru_cache(maxsize=512)
def static_boxes(grid: Dims, cube_dims: Dims, *, wrap: bool) -> tuple[Box, ...]:
    """Every box of ``cube_dims`` (any axis permutation) that fits the grid: inside it, or with
    ``wrap`` also straddling its ends along any dimension the box does not span fully.

    Ordered by permutation, then origin with x fastest: a fixed order, so placement and the
    availability trackers are reproducible. Without wrap, the order is that of the boxes inside
    the grid; with it, every origin of each permutation.
    """
    boxes = []
    for dims in unique_permutations(cube_dims):
        if any(d > g for d, g in zip(dims, grid)):
            continue
        starts = [range(g) if wrap and d < g else range(g - d + 1) for d, g in zip(dims, grid)]
        for oz in starts[2]:
            for oy in starts[1]:
                for ox in starts[0]:
                    boxes.append(Box((ox, oy, oz), dims, grid if wrap else None))
    return tuple(boxes)


def cube_number(grid: Dims, cell: Dims) -> int:
    """Local cube number of grid cell ``(i, j, k)`` (x fastest)."""
    return cell[0] + grid[0] * (cell[1] + grid[1] * cell[2])


@lru_cache(maxsize=512)
def static_box_masks(grid: Dims, cube_dims: Dims, *, wrap: bool) -> tuple[int, ...]:
    """The boxes of :func:`static_boxes` as bitmasks over local cube numbers."""
    return tuple(
        sum(1 << cube_number(grid, cell) for cell in box.cells())
        for box in static_boxes(grid, cube_dims, wrap=wrap)
    )


def place_static(grid: Dims, cube_dims: Dims, unusable: Iterable[int], *, wrap: bool) -> Box | None:
    """The first box of ``cube_dims`` whose cubes are all usable, or ``None``."""
    bad = set(unusable)
    for box in static_boxes(grid, cube_dims, wrap=wrap):
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
    return bool(static_boxes(grid, cube_dims, wrap=False))  # wrapping adds places, never shapes


@dataclass(frozen=True)
class BoxGeometry:
    """A static box with what a placement scorer needs to know about its surroundings."""

    mask: int  # the box's local cubes, as a bitmask
    shell: int  # the cubes just outside its faces, as a bitmask
    walls: int  # faces of its cells that lie on the grid's outer wall
    cells: tuple[int, ...]  # its local cube numbers, in slot order (x fastest)


@lru_cache(maxsize=512)
def static_box_geometry(grid: Dims, cube_dims: Dims, *, wrap: bool) -> tuple[BoxGeometry, ...]:
    """:func:`static_boxes` with each box's shell and wall faces, in the same order (a torus of
    cubes has no wall: with ``wrap`` every neighbour is a cube)."""
    out = []
    for box, mask in zip(static_boxes(grid, cube_dims, wrap=wrap), static_box_masks(grid, cube_dims, wrap=wrap)):
        shell, walls = 0, 0
        for cell in box.cells():
            for d in range(3):
                for step in (-1, 1):
                    n = list(cell)
                    n[d] += step
                    if wrap:
                        n[d] %= grid[d]
                    if not 0 <= n[d] < grid[d]:
                        walls += 1
                    else:
                        bit = 1 << cube_number(grid, tuple(n))  # type: ignore[arg-type]
                        if not bit & mask:
                            shell |= bit
        cells = tuple(cube_number(grid, cell) for cell in box.cells())  # slot order
        out.append(BoxGeometry(mask, shell, walls, cells))
    return tuple(out)
