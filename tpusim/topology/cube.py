"""One cube: a block of chips wired as an electrical ICI mesh, with optical ports on its faces.

A TPU v4 cube is 4x4x4 = 64 chips on 16 hosts, one rack; a host is a 2x2x1 tray of 4 chips. Inside the cube the
chips form a 3D mesh of electrical ICI links (144 for 4x4x4). Every chip on a face has one port
on that face: for dimension ``d`` the ``+d`` face and the ``-d`` face each have one port per
*face position* ``p`` (16 per face for 4x4x4, 96 optical ports per cube). The ``+d`` port at
position ``p`` and the ``-d`` port at position ``p`` sit on the same line of chips along ``d``,
so joining them closes that line into a ring.

Numbering (all local to the cube, all derived from ``shape``; nothing assumes 4x4x4):
- chip ``i`` has coordinates ``(x, y, z)`` with ``i = x + X*(y + Y*z)``;
- a host is a *tray*: an aligned box of ``chips_per_host`` chips (:func:`host_tray`: the most
  compact box whose extents divide the cube's, flattest first: 2x2x1 for 4 chips, 2x1x1 for 2,
  2x2x2 for 8); the trays tile the cube and host ``h`` is the ``h``-th tray, x fastest;
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


def host_tray(cube_shape: Dims, chips_per_host: int) -> Dims | None:
    """The extents of one host's tray of chips: the box of ``chips_per_host`` chips whose extents
    divide the cube's, with the smallest largest extent, then the fewest layers in z, then in y
    (a host board is flat). None if no box of that many chips tiles the cube."""
    fits = [
        (a, b, chips_per_host // (a * b))
        for a in range(1, cube_shape[0] + 1) if cube_shape[0] % a == 0
        for b in range(1, cube_shape[1] + 1) if cube_shape[1] % b == 0
        if chips_per_host % (a * b) == 0 and cube_shape[2] % (chips_per_host // (a * b)) == 0
    ]
    if not fits:
        return None
    return min(fits, key=lambda t: (max(t), t[2], t[1]))


@dataclass(frozen=True)
class CubeLayout:
    shape: Dims = (4, 4, 4)
    chips_per_host: int = 4

    def __post_init__(self) -> None:
        if self.chips % self.chips_per_host or host_tray(self.shape, self.chips_per_host) is None:
            raise ValueError(
                f"{self.chips} chips per cube cannot be split into trays of {self.chips_per_host}"
            )

    # -- chips and hosts -------------------------------------------------------------------
    @cached_property
    def chips(self) -> int:
        return math.prod(self.shape)

    @cached_property
    def hosts(self) -> int:
        return self.chips // self.chips_per_host

    def chip_index(self, x: int, y: int, z: int) -> int:
        X, Y, _ = self.shape
        return x + X * (y + Y * z)

    def chip_coords(self, i: int) -> Dims:
        X, Y, _ = self.shape
        return (i % X, (i // X) % Y, i // (X * Y))

    @cached_property
    def tray(self) -> Dims:
        """Extents of one host's tray of chips."""
        tray = host_tray(self.shape, self.chips_per_host)
        assert tray is not None
        return tray

    @cached_property
    def _host_chips(self) -> tuple[tuple[int, ...], ...]:
        (tx, ty, tz), (X, Y, Z) = self.tray, self.shape
        out = []
        for oz in range(0, Z, tz):
            for oy in range(0, Y, ty):
                for ox in range(0, X, tx):
                    out.append(tuple(sorted(self.chip_index(ox + i, oy + j, oz + k)
                                            for k in range(tz) for j in range(ty) for i in range(tx))))
        return tuple(out)

    def host_chips(self, host: int) -> tuple[int, ...]:
        """The chips of host ``host`` (its tray), in ascending order."""
        return self._host_chips[host]

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
    @cached_property
    def links(self) -> int:
        """ICI links per cube that can fail: electrical mesh links plus optical port links."""
        return len(self.electrical_links) + len(self.ports)

    @cached_property
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

    @cached_property
    def full_mask(self) -> int:
        """Every chip of the cube."""
        return (1 << self.chips) - 1

    @cached_property
    def link_chips(self) -> tuple[tuple[int, ...], ...]:
        """For every link number, the chips it touches (two for electrical, one for optical)."""
        return tuple(self.electrical_links) + tuple(
            (self.port_chip(port),) for port in self.ports
        )
