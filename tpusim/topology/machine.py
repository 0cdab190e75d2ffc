"""The machine: pods of cubes, each pod with its OCS bank, and the numbering of every component.

A pod holds ``prod(cube_grid)`` cubes. In the statically wired pod the cubes sit in that fixed
grid and neighbouring faces are cabled together; in the reconfigurable pod the grid means
nothing and every cube port is fibred to an optical circuit switch: OCS ``(d, p)`` holds, for
every cube of the pod, that cube's ``+d`` port ``p`` and ``-d`` port ``p``. A pod therefore has
one OCS per (dimension, face position): 48 for 4x4x4 cubes.

Failing components are numbered densely per class so that a failure process can pick a unit
with one uniform draw and map it back with integer arithmetic:
- ``host``: ``cube * hosts_per_cube + local_host``;
- ``ici_link``: ``cube * links_per_cube + local_link`` (electrical links first, then optical
  port links; see :mod:`tpusim.topology.cube`);
- ``ocs``: ``pod * ocs_per_pod + local_ocs`` with ``local_ocs = offset(d) + p``;
- ``ocs_port``: ``cube * ports_per_cube + q``: the port of OCS ``(d, p)`` that faces optical
  port ``q = (d, sign, p)`` of ``cube`` (a mirror or port pair of the switch, DESIGN §2). Only
  the reconfigurable pod has them; its failure darkens that one circuit end, as a failure of
  the cube's fibre would, and the static pod never sees it.
Cubes are numbered globally: ``cube = pod * cubes_per_pod + local_cube``; a local cube's grid
coordinates are ``(i, j, k)`` with ``local_cube = i + Gx*(j + Gy*k)``.

The cube-side optical link is the same part in both machines: in the reconfigurable pod it is
the fibre and transceiver from the cube port to its OCS, in the static pod it is the cube's end
of the cable to the neighbouring cube. Both machines thus see the same link population on the
same failure trace; the static pod simply has no OCS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

from tpusim.topology.cube import CubeLayout
from tpusim.topology.shapes import Dims

COMPONENT_CLASSES = ("host", "ici_link", "ocs", "ocs_port")
#: classes reported only where a run models them (a rate, a schedule or a trace event): OCS
#: port faults are off by default, and a row of 100 % for parts nobody asked about says nothing
OPTIONAL_CLASSES = ("ocs_port",)


@dataclass(frozen=True)
class MachineLayout:
    cube: CubeLayout = CubeLayout()
    cube_grid: Dims = (4, 4, 4)
    pods: int = 1
    #: the static pod is a torus of cubes: wraparound cables join the grid's ends, so a static
    #: box may straddle them (False: a mesh of cubes, boxes inside the grid)
    static_wrap: bool = True
    #: parts per static inter-cube cable (1: one part at the published per-cable rate; 2: both
    #: ends fail independently, the v0.1 model); see :mod:`tpusim.topology.cabling`
    static_cable_ends: int = 1
    #: how the OCS pod wires a slice of whole cubes smaller than a pod (``topology.sub_pod_slices``):
    #: ``torus`` (wraparound circuits along every dimension, one cube long included) or ``mesh``
    #: (no wraparound: along a dimension it spans ``n > 1`` cubes, ``n - 1`` joins per line; along
    #: one it spans with one cube, no circuit). A full-pod slice is a torus either way.
    sub_pod_slices: str = "torus"

    # -- counts ----------------------------------------------------------------------------
    @cached_property
    def cubes_per_pod(self) -> int:
        return math.prod(self.cube_grid)

    @cached_property
    def cubes(self) -> int:
        return self.pods * self.cubes_per_pod

    @cached_property
    def chips(self) -> int:
        return self.cubes * self.cube.chips

    @cached_property
    def ocs_per_pod(self) -> int:
        return sum(self.cube.face_positions(d) for d in range(3))

    def population(self, component_class: str) -> int:
        """How many units of ``component_class`` the whole machine has."""
        if component_class == "host":
            return self.cubes * self.cube.hosts
        if component_class == "ici_link":
            return self.cubes * self.cube.links
        if component_class == "ocs":
            return self.pods * self.ocs_per_pod
        if component_class == "ocs_port":
            return self.cubes * len(self.cube.ports)
        raise KeyError(component_class)

    # -- OCS numbering ---------------------------------------------------------------------
    def ocs_index(self, d: int, p: int) -> int:
        """Local index of OCS ``(d, p)`` within its pod."""
        return sum(self.cube.face_positions(e) for e in range(d)) + p

    def ocs_dp(self, local_ocs: int) -> tuple[int, int]:
        for d in range(3):
            n = self.cube.face_positions(d)
            if local_ocs < n:
                return d, local_ocs
            local_ocs -= n
        raise IndexError(local_ocs)

    @cached_property
    def ocs_chips(self) -> tuple[tuple[int, int], ...]:
        """For each local OCS, the two chips per cube (local chip numbers) whose ports it holds."""
        out = []
        for local in range(self.ocs_per_pod):
            d, p = self.ocs_dp(local)
            plus = self.cube.port_chip(self.cube.ports[self.cube.port_index(d, +1, p)])
            minus = self.cube.port_chip(self.cube.ports[self.cube.port_index(d, -1, p)])
            out.append((plus, minus))
        return tuple(out)

    # -- a slice's wiring through the OCSes ------------------------------------------------------
    def slice_wrap(self, cube_dims: Dims | None) -> tuple[bool, bool, bool]:
        """Wraparound per dimension of a slice of ``cube_dims`` wired through the OCSes: a torus
        (every dimension) unless ``sub_pod_slices`` is ``mesh`` and the slice is smaller than a
        pod (then none). ``None``: the torus (a slice of unknown shape)."""
        if (self.sub_pod_slices == "mesh" and cube_dims is not None
                and cube_dims[0] * cube_dims[1] * cube_dims[2] < self.cubes_per_pod):
            return (False, False, False)
        return (True, True, True)

    def ocs_dims(self, cube_dims: Dims | None) -> tuple[bool, bool, bool]:
        """Per dimension ``d``: does a slice of ``cube_dims`` use the OCSes ``(d, p)`` (every
        face position ``p``)? Where it wraps around along ``d`` or spans more than one cube."""
        wrap = self.slice_wrap(cube_dims)
        if cube_dims is None or all(wrap):
            return (True, True, True)
        return (cube_dims[0] > 1 or wrap[0], cube_dims[1] > 1 or wrap[1], cube_dims[2] > 1 or wrap[2])

    @cached_property
    def ocs_dim(self) -> tuple[int, ...]:
        """The dimension ``d`` of each local OCS ``(d, p)``."""
        return tuple(self.ocs_dp(u)[0] for u in range(self.ocs_per_pod))

    def local_ocses(self, cube_dims: Dims | None) -> tuple[int, ...]:
        """Local numbers of the OCSes of a pod that a slice of ``cube_dims`` is wired through."""
        dims = self.ocs_dims(cube_dims)
        return tuple(u for u, d in enumerate(self.ocs_dim) if dims[d])

    def uses_port(self, cube_dims: Dims | None, slot: int, port: int) -> bool:
        """Does the cube in ``slot`` (slot order, x fastest) of a slice of ``cube_dims`` wired
        through the OCSes use its optical port ``port`` (``(d, sign, p)``)? Along a dimension it
        wraps around, always; otherwise when the slot has a neighbour on that side."""
        q = self.cube.ports[port]
        wrap = self.slice_wrap(cube_dims)
        if wrap[q.d]:
            return True
        assert cube_dims is not None
        a, b, _ = cube_dims
        coords = (slot % a, slot // a % b, slot // (a * b))
        return 0 <= coords[q.d] + q.sign < cube_dims[q.d]

    # -- cube grid -------------------------------------------------------------------------
    def grid_index(self, i: int, j: int, k: int) -> int:
        gx, gy, _ = self.cube_grid
        return i + gx * (j + gy * k)
