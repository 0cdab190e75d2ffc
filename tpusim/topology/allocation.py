"""An allocation: the cubes of one pod that a slice occupies, and the chips it holds in each.

A slice of whole cubes holds every chip of each of its cubes (``mask`` is the cube's full
mask); a sub-cube slice holds one aligned block of chips in a single cube. Cubes are global
numbers (``pod * cubes_per_pod + local``); for a whole-cube slice they are listed in slot order,
so that ``cubes[n]`` is the cube wired into slot ``n`` of the slice's cube shape.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Allocation:
    pod: int
    cubes: list[int]  # global cube numbers, slot order
    mask: int  # chips held in each cube (all of them for a whole-cube slice)
