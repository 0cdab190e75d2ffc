"""One cube: a block of chips wired as an electrical ICI mesh, with optical ports on its faces.

A TPU v4 cube is 4x4x4 = 64 chips on 16 hosts (4 chips each), one rack. Inside the cube the
chips form a 3D mesh of electrical ICI links (144 for 4x4x4). Every chip on a face has one port
on that face: for dimension ``d`` the ``+d`` face and the ``-d`` face each have one port per
*face position* ``p`` (16 per face for 4x4x4, 96 optical ports per cube). The ``+d`` port at
position ``p`` and the ``-d`` port at position ``p`` sit on the same line of chips along ``d``,
so joining them closes that line into a ring.

Numbering (all local to the cube, all derived from ``shape``; nothing assumes 4x4x4):
- chip ``i`` has coordinates ``(x, y, z)`` with ``i = x + X*(y + Y*z)``;
- host ``h`` holds chips ``h*chips_per_host ... (h+1)*chips_per_host - 1``;
- electrical link ``e`` joins two chips one step apart along one dimension;
- optical port ``q`` is ``(d, sign, p)``; its link is numbered ``electrical_links + q``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

from tpusim.topology.shapes import Dims


@dataclass(frozen=True)
class Port:
    """An optical port: the ``sign`` (+1/-1) face of dimension ``d`` at face position ``p``."""

    d: int
    sign: int
    p: int


@dataclass(frozen=True)
class CubeLayout:
    shape: Dims = (4, 4, 4)
    chips_per_host: int = 4

    def __post_init__(self) -> None:
        if self.chips % self.chips_per_host:
            raise ValueError(
                f"{self.chips} chips per cube cannot be split into hosts of {self.chips_per_host}"
            )

    # -- chips and hosts -------------------------------------------------------------------
    @property
    def chips(self) -> int:
        return math.prod(self.shape)

    @property
    def hosts(self) -> int:
        return self.chips // self.chips_per_host

    def chip_index(self, x: int, y: int, z: int) -> int:
        X, Y, _ = self.shape
        return x + X * (y + Y * z)

    def chip_coords(self, i: int) -> Dims:
        X, Y, _ = self.shape
        return (i % X, (i // X) % Y, i // (X * Y))

    def host_chips(self, host: int) -> tuple[int, ...]:
        start = host * self.chips_per_host
        return tuple(range(start, start + self.chips_per_host))

    # -- electrical links ------------------------------------------------------------------
    @cached_property
    def electrical_links(self) -> tuple[tuple[int, int], ...]:
        """Chip pairs joined by an electrical ICI link (the cube's internal mesh)."""
        links = []
        X, Y, Z = self.shape
        for z in range(Z):
            for y in range(Y):
                for x in range(X):
                    here = (x, y, z)
                    for d in range(3):
                        if here[d] + 1 < self.shape[d]:
                            there = list(here)
                            there[d] += 1
                            links.append((self.chip_index(*here), self.chip_index(*there)))
        return tuple(links)

    # -- optical ports ---------------------------------------------------------------------
    def face_positions(self, d: int) -> int:
        """Ports on one face of dimension ``d`` (the product of the other two extents)."""
        return self.chips // self.shape[d]

    @cached_property
    def ports(self) -> tuple[Port, ...]:
        """All optical ports, ordered by (d, sign +1 then -1, p)."""
        return tuple(
            Port(d, sign, p)
            for d in range(3)
            for sign in (+1, -1)
            for p in range(self.face_positions(d))
        )

    @cached_property
    def _port_index(self) -> dict[Port, int]:
        return {port: q for q, port in enumerate(self.ports)}

    def port_index(self, d: int, sign: int, p: int) -> int:
        return self._port_index[Port(d, sign, p)]

    def port_chip(self, port: Port) -> int:
        """The chip that owns ``port``: on the ``sign`` face of ``d``, at face position ``p``."""
        a, b = [axis for axis in range(3) if axis != port.d]
        coords = [0, 0, 0]
        coords[a] = port.p % self.shape[a]
        coords[b] = port.p // self.shape[a]
        coords[port.d] = self.shape[port.d] - 1 if port.sign > 0 else 0
        return self.chip_index(*coords)

    def face_position(self, chip: int, d: int) -> int:
        """Face position ``p`` of the line along ``d`` through ``chip``."""
        a, b = [axis for axis in range(3) if axis != d]
        coords = self.chip_coords(chip)
        return coords[a] + self.shape[a] * coords[b]

    # -- links as failing components -------------------------------------------------------
    @property
    def links(self) -> int:
        """ICI links per cube that can fail: electrical mesh links plus optical port links."""
        return len(self.electrical_links) + len(self.ports)

    @property
    def electrical_count(self) -> int:
        """Electrical links per cube: links ``0 .. electrical_count - 1``; optical ports follow."""
        return len(self.electrical_links)

    @cached_property
    def host_masks(self) -> tuple[int, ...]:
        """For every host, the bitmask of its chips (bit ``c`` = local chip ``c``)."""
        return tuple(sum(1 << c for c in self.host_chips(h)) for h in range(self.hosts))

    @cached_property
    def link_masks(self) -> tuple[int, ...]:
        """For every link number, the bitmask of the chips it touches."""
        return tuple(sum(1 << c for c in chips) for chips in self.link_chips)

    @property
    def full_mask(self) -> int:
        """Every chip of the cube."""
        return (1 << self.chips) - 1

    @cached_property
    def link_chips(self) -> tuple[tuple[int, ...], ...]:
        """For every link number, the chips it touches (two for electrical, one for optical)."""
        return tuple(self.electrical_links) + tuple(
            (self.port_chip(port),) for port in self.ports
        )
