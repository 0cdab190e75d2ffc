"""Slice shapes.

A slice is requested as a chip shape ``XxYxZ`` (for example ``4x4x8``). A multi-cube slice is
built from whole cubes, so each extent must be a multiple of the cube's extent along the same
axis; the quotient is the slice's *cube shape* (``4x4x8`` on 4x4x4 cubes is ``1x1x2``, two
cubes). Shapes are value objects: hashable, ordered by size, printed back as they were written.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property

Dims = tuple[int, int, int]

#: ASCII digits only: ``\d`` alone matches every script's digits (``４x４x４``, ``٤x٤x٤``), which
#: ``int`` reads, so a shape would not print back as it was written
_SHAPE_RE = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*x\s*(\d+)\s*$", re.ASCII)


@dataclass(frozen=True)
class SliceShape:
    """A requested slice, in chips along x, y and z."""

    dims: Dims

    @classmethod
    def parse(cls, text: str) -> "SliceShape":
        """Parse ``"4x4x8"``; raise ``ValueError`` with a readable reason otherwise."""
        if not isinstance(text, str):
            raise ValueError(f"must be a shape like '4x4x8', got {text!r}")
        match = _SHAPE_RE.match(text)
        if not match:
            raise ValueError(f"must be a shape like '4x4x8', got {text!r}")
        dims = tuple(int(g) for g in match.groups())
        if min(dims) < 1:
            raise ValueError(f"every extent must be >= 1, got {text!r}")
        return cls(dims)  # type: ignore[arg-type]

    @cached_property  # (read for every job; a frozen dataclass still has an instance dict)
    def label(self) -> str:
        return "x".join(str(d) for d in self.dims)

    @cached_property
    def chips(self) -> int:
        return math.prod(self.dims)

    def cube_dims(self, cube_shape: Dims) -> Dims:
        """The slice's shape in cubes; ``ValueError`` if it is not a whole number of cubes."""
        if any(d % c for d, c in zip(self.dims, cube_shape)):
            cube = "x".join(map(str, cube_shape))
            raise ValueError(
                f"{self.label} is not a whole number of {cube} cubes "
                f"(each extent must be a multiple of the cube's)"
            )
        return tuple(d // c for d, c in zip(self.dims, cube_shape))  # type: ignore[return-value]

    def cubes(self, cube_shape: Dims) -> int:
        return math.prod(self.cube_dims(cube_shape))

    def __str__(self) -> str:
        return self.label


def unique_permutations(dims: Dims) -> list[Dims]:
    """Distinct axis permutations of ``dims``, in a fixed order (for reproducible placement)."""
    seen: list[Dims] = []
    for perm in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)):
        candidate = (dims[perm[0]], dims[perm[1]], dims[perm[2]])
        if candidate not in seen:
            seen.append(candidate)
    return seen
