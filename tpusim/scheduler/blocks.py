"""Sub-cube slices: aligned buddy blocks inside a cube.

A slice smaller than a cube lives inside one cube and uses no OCS. The cube is cut into
*aligned blocks* by repeated halving: level 0 is the whole cube, and each level halves the
previous block along its longest extent (4x4x4 -> 4x4x2 -> 4x2x2 -> 2x2x2 -> 2x2x1 -> 2x1x1 ->
1x1x1). Level ``j`` has ``2**j`` blocks, numbered so that blocks ``2b`` and ``2b+1`` of level
``j+1`` are the two halves (buddies) of block ``b`` of level ``j``. Each block is a bitmask over
the cube's local chips.

A sub-cube shape goes into the deepest level whose block holds it in some orientation (its
sorted extents are no larger than the block's). Every sub-cube shape of the TPU v4 mix is such a
block exactly; another shape (say 1x1x4) takes the smallest block that holds it and keeps the
rest of that block idle. Because blocks are aligned, two allocations never overlap unless one
contains the other, and a free chip mask is all an allocator needs: a block is free when its
mask meets no used or faulty chip.
"""

from __future__ import annotations

from functools import lru_cache

from tpusim.topology.cube import CubeLayout
from tpusim.topology.shapes import Dims


@lru_cache(maxsize=64)
def block_dims(cube_shape: Dims) -> tuple[Dims, ...]:
    """Extents of a block at each level, level 0 first; stops when no extent can be halved."""
    dims: list[Dims] = [(cube_shape[0], cube_shape[1], cube_shape[2])]
    while True:
        cur = list(dims[-1])
        d = max(range(3), key=lambda i: (cur[i], i))
        if cur[d] % 2 or cur[d] == 1:
            break
        cur[d] //= 2
        dims.append((cur[0], cur[1], cur[2]))
    return tuple(dims)


def block_level(cube_shape: Dims, shape: Dims) -> int | None:
    """The deepest level whose block holds ``shape`` (any orientation); None if none does."""
    want = sorted(shape)
    best = None
    for level, dims in enumerate(block_dims(cube_shape)):
        if all(w <= h for w, h in zip(want, sorted(dims))):
            best = level
    return best


@lru_cache(maxsize=64)
def block_masks(cube_shape: Dims, chips_per_host: int = 1) -> tuple[tuple[int, ...], ...]:
    """Chip bitmasks of every block, per level: ``masks[level][b]``."""
    cube = CubeLayout(cube_shape, chips_per_host)
    levels = block_dims(cube_shape)
    boxes: list[list[tuple[tuple[int, ...], tuple[int, ...]]]] = [[((0, 0, 0), levels[0])]]
    for level in range(1, len(levels)):
        nxt: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
        for origin, dims in boxes[-1]:
            d = max(range(3), key=lambda i: (dims[i], i))
            half = list(dims)
            half[d] //= 2
            second = list(origin)
            second[d] += half[d]
            nxt += [(origin, tuple(half)), (tuple(second), tuple(half))]
        boxes.append(nxt)
    out = []
    for level_boxes in boxes:
        masks = []
        for (ox, oy, oz), (a, b, c) in level_boxes:
            m = 0
            for z in range(oz, oz + c):
                for y in range(oy, oy + b):
                    for x in range(ox, ox + a):
                        m |= 1 << cube.chip_index(x, y, z)
            masks.append(m)
        out.append(tuple(masks))
    return tuple(out)
