"""The static pod's inter-cube cables: which parts they are and which slices use them (DESIGN §1).

The statically wired pod is a torus of cubes (a mesh with ``static_wrap`` off). Along dimension
``d`` the *connection* ``(A, d)`` joins cube ``A`` to its ``+d`` neighbour ``B``; it is a bundle
of ``face_positions(d)`` cables, cable ``p`` joining A's ``+d`` port ``p`` to B's ``-d`` port
``p``. There is no connection where ``B`` would not exist (the grid's end without wrap) or
would be ``A`` itself (a grid one cube long in ``d``: a one-cube slice uses no inter-cube cable).

**A cable and the failure trace.** Both machines share one trace of optical *port links*
(``ici_link`` units numbered per cube port, :mod:`tpusim.topology.cube`). In the reconfigurable
pod each port link is a cube-to-OCS fibre. In the static pod a cable is one part with the
published per-cable rate (``ends = 1``): its failures are the trace's failures of its ``+d``
end, and the ``-d`` end's failures belong to no static part. ``ends = 2`` is the v0.1 model (a
cable is down when either end is: twice the per-cable rate), kept as a switch
(``topology.static_cable_ends``).

**Which cables a slice uses.** A static slice is a box of cubes; it uses connection ``(A, d)``
exactly when both ``A`` and ``B`` are in it: the box then either holds the step from A to B
inside it, or spans the whole grid along ``d`` and closes its torus through the wraparound.
(A box shorter than the grid in ``d`` never holds both ends of a wrap connection.) So the
cables of an allocation follow from its set of cubes alone.

Numbering: connection ``(A, d)`` of a pod has local index ``3 * A + d``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from tpusim.topology.machine import MachineLayout


_USED_BY: dict = {}  # StaticCabling -> {cube mask: connections}, one per distinct machine


@dataclass(frozen=True)
class StaticCabling:
    machine: MachineLayout

    @property
    def ends(self) -> int:
        return self.machine.static_cable_ends

    # -- the grid --------------------------------------------------------------------------
    @cached_property
    def _plus(self) -> tuple[tuple[int | None, ...], ...]:
        """``_plus[A][d]``: the local cube joined to A's +d face by a cable, or None."""
        grid, wrap = self.machine.cube_grid, self.machine.static_wrap
        out = []
        for a in range(self.machine.cubes_per_pod):
            i = a % grid[0]
            j = (a // grid[0]) % grid[1]
            k = a // (grid[0] * grid[1])
            row: list[int | None] = []
            for d, coords in enumerate(((i + 1, j, k), (i, j + 1, k), (i, j, k + 1))):
                c = list(coords)
                if c[d] == grid[d]:
                    c[d] = 0 if wrap else -1
                b = None if c[d] < 0 else self.machine.grid_index(*c)
                row.append(None if b == a else b)
            out.append(tuple(row))
        return tuple(out)

    def plus_neighbour(self, cube: int, d: int) -> int | None:
        return self._plus[cube][d]

    @cached_property
    def _minus(self) -> tuple[tuple[int | None, ...], ...]:
        out: list[list[int | None]] = [[None, None, None] for _ in range(self.machine.cubes_per_pod)]
        for a, row in enumerate(self._plus):
            for d, b in enumerate(row):
                if b is not None:
                    out[b][d] = a
        return tuple(tuple(r) for r in out)

    def minus_neighbour(self, cube: int, d: int) -> int | None:
        return self._minus[cube][d]

    @property
    def connections_per_pod(self) -> int:
        return 3 * self.machine.cubes_per_pod

    @cached_property
    def connections(self) -> tuple[tuple[int, int, int], ...]:
        """Every existing connection of a pod as ``(index, A, B)``."""
        return tuple((3 * a + d, a, b) for a, row in enumerate(self._plus) for d, b in enumerate(row)
                     if b is not None)

    def cables(self) -> int:
        """Inter-cube cables of the whole machine."""
        cube = self.machine.cube
        return self.machine.pods * sum(cube.face_positions(i % 3) for i, _, _ in self.connections)

    # -- parts -----------------------------------------------------------------------------
    @cached_property
    def port_cables(self) -> tuple[tuple[tuple[int, int, int] | None, ...], ...]:
        """``[local cube][port q]``: the cable ``(connection, A, p)`` that port link is a part of,
        or None (built once per cabling: a tracker reads it on every port link's change)."""
        cube = self.machine.cube
        out = []
        for a in range(self.machine.cubes_per_pod):
            row: list[tuple[int, int, int] | None] = []
            for port in cube.ports:
                if port.sign > 0:
                    b = self._plus[a][port.d]
                    row.append(None if b is None else (3 * a + port.d, a, port.p))
                else:
                    src = self._minus[a][port.d]
                    row.append(None if src is None or self.ends < 2 else (3 * src + port.d, src, port.p))
            out.append(tuple(row))
        return tuple(out)

    def cable_of_port(self, local_cube: int, port: int) -> tuple[int, int, int] | None:
        """The static cable whose part is port link ``port`` of ``local_cube``, as
        ``(connection, A, p)``; None where that port link is no static part."""
        return self.port_cables[local_cube][port]

    def cable_chips(self, connection: int, p: int) -> tuple[int, int, int, int]:
        """The two chips a cable joins, as ``(local cube A, chip, local cube B, chip)``
        (remembered: a cable's failure and its repair each ask)."""
        memo = self._chips_memo
        found = memo.get((connection, p))
        if found is None:
            found = memo[connection, p] = self._cable_chips(connection, p)
        return found

    @cached_property
    def _chips_memo(self) -> dict[tuple[int, int], tuple[int, int, int, int]]:
        return {}

    def _cable_chips(self, connection: int, p: int) -> tuple[int, int, int, int]:
        cube = self.machine.cube
        a, d = divmod(connection, 3)
        b = self._plus[a][d]
        assert b is not None
        plus = cube.port_chip(cube.ports[cube.port_index(d, +1, p)])
        minus = cube.port_chip(cube.ports[cube.port_index(d, -1, p)])
        return a, plus, b, minus

    def port_parts(self, connection: int) -> tuple[tuple[int, int], ...]:
        """The port links (``(local cube, port q)``) that are parts of the connection's cables."""
        cube = self.machine.cube
        a, d = divmod(connection, 3)
        b = self._plus[a][d]
        assert b is not None
        n = cube.face_positions(d)
        out = [(a, cube.port_index(d, +1, p)) for p in range(n)]
        if self.ends >= 2:
            out += [(b, cube.port_index(d, -1, p)) for p in range(n)]
        return tuple(out)

    # -- slices ----------------------------------------------------------------------------
    @cached_property
    def memo(self) -> dict[int, int]:
        """Room for callers to remember :meth:`used_by` per cube mask (it depends on nothing else),
        shared by equal cablings (every replication's tracker and the policy of one machine)."""
        return _USED_BY.setdefault(self, {})

    def used_by(self, cubes_mask: int) -> int:
        """Connections (bitmask over local connection indices) a slice on these local cubes uses."""
        used = 0
        for index, a, b in self.connections:
            if cubes_mask >> a & 1 and cubes_mask >> b & 1:
                used |= 1 << index
        return used

    def used_cables(self, cubes_mask: int) -> int:
        """How many cables a slice on these local cubes uses."""
        cube = self.machine.cube
        used = self.used_by(cubes_mask)
        return sum(cube.face_positions(i % 3) for i, _, _ in self.connections if used >> i & 1)
