"""A slice's chip graph: its cubes' electrical meshes joined by optical connections.

A slice occupies *slots*: the cells of its cube shape, each filled by one cube. Along every
dimension ``d`` and face position ``p``, the ``+d`` port ``p`` of the cube in slot ``s`` is joined
to the ``-d`` port ``p`` of the cube in the next slot along ``d``:

- in the reconfigurable pod, through OCS ``(d, p)`` as a *circuit* (a cross-connect), always
  with wrap-around (the last slot joins the first; with one slot along ``d`` the cube joins
  itself, closing a 4-chip ring), so a ``k``-cube slice uses ``3 * face_positions * k`` circuits
  (48·k on 4x4x4 cubes) and is a torus (a slice smaller than a pod, with
  ``topology.sub_pod_slices: mesh``: no wrap-around, ``wrap`` off in every dimension) (how many of them a placement must *change* depends on
  what the switches already hold: :mod:`tpusim.scheduler.circuits`);
- in the static pod, through the fixed cable between grid neighbours; the wrap-around cable
  exists only along a dimension the box spans fully, so elsewhere the slice is a mesh.

The graph is a ``networkx.Graph`` whose nodes are ``(cube, local_chip)`` with attribute ``pos``,
the chip's coordinate inside the slice. :func:`preflight` is libtpunet's check: a BFS over the
graph confirming that every chip is reached and has exactly its torus (or mesh) neighbours.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple, Sequence
from itertools import product

import networkx as nx

from tpusim.topology.cube import CubeLayout
from tpusim.topology.machine import MachineLayout
from tpusim.topology.placement import Box
from tpusim.topology.shapes import Dims


@dataclass(frozen=True)
class Connection:
    """Cube ``plus_cube``'s ``+d`` port ``p`` joined to cube ``minus_cube``'s ``-d`` port ``p``.

    In the reconfigurable pod this is a cross-connect made by OCS ``(d, p)``; in the static pod
    it is a fixed cable.
    """

    d: int
    p: int
    plus_cube: int
    minus_cube: int


@dataclass
class SliceWiring:
    """Which cube fills each slot, and the connections between them."""

    cube_dims: Dims
    slots: dict[Dims, int]
    connections: list[Connection] = field(default_factory=list)
    wrap: tuple[bool, bool, bool] = (True, True, True)

    @property
    def cubes(self) -> list[int]:
        return list(self.slots.values())


def _slot_order(cube_dims: Dims) -> list[Dims]:
    a, b, c = cube_dims
    return [(i, j, k) for k in range(c) for j in range(b) for i in range(a)]


#: The circuits joining two cube faces through a pod's OCSes: ``(d, plus_cube, minus_cube)``
#: stands for one circuit through each OCS ``(d, p)`` of the pod, joining ``plus_cube``'s ``+d``
#: port ``p`` to ``minus_cube``'s ``-d`` port ``p`` (``face_positions(d)`` circuits; cubes are
#: global numbers; ``minus_cube`` may be ``plus_cube``).
FaceCircuits = tuple[int, int, int]


class SliceCircuits(NamedTuple):
    """The OCS circuits a slice uses, kept as its geometry: the cube in each slot (slot order)
    and the shape's face joins ``(d, plus_slot, minus_slot)`` (:func:`face_joins`). Nothing is
    built per circuit or per face until asked (:meth:`faces`): this is read at every start."""

    cubes: Sequence[int] = ()
    joins: tuple[tuple[int, int, int], ...] = ()

    def faces(self) -> list[FaceCircuits]:
        """The circuits, by face join: ``(d, plus_cube, minus_cube)``."""
        cubes = self.cubes
        return [(d, cubes[a], cubes[b]) for d, a, b in self.joins]


#: What a slice that uses no OCS needs: no circuit.
NO_CIRCUITS = SliceCircuits()


@lru_cache(maxsize=256)
def face_joins(cube_dims: Dims, wrap: tuple[bool, bool, bool] = (True, True, True)) -> tuple[tuple[int, int, int], ...]:
    """The face-to-face joins of a slice of ``cube_dims``, as ``(d, plus_slot, minus_slot)``
    (slot numbers in slot order, x fastest): the ``+d`` face of the cube in ``plus_slot`` is joined
    to the ``-d`` face of the cube in the next slot along ``d``, port ``p`` to port ``p`` for every
    face position. Along a dimension with ``wrap`` the last slot joins the first (one slot long:
    the slot joins itself). Ordered by slot, then dimension; the one geometry both the chip graph
    (:func:`reconfigurable_wiring`, :func:`static_wiring`) and the OCS circuits a slice needs
    (:meth:`tpusim.policies.Policy.slice_circuits`) are built from."""
    order = _slot_order(cube_dims)
    index = {slot: n for n, slot in enumerate(order)}
    joins = []
    for n, slot in enumerate(order):
        for d in range(3):
            nxt = list(slot)
            nxt[d] += 1
            if nxt[d] == cube_dims[d]:
                if not wrap[d]:
                    continue
                nxt[d] = 0
            joins.append((d, n, index[tuple(nxt)]))  # type: ignore[index]
    return tuple(joins)


def _connect(
    cube: CubeLayout, cube_dims: Dims, slots: dict[Dims, int], wrap: tuple[bool, bool, bool]
) -> list[Connection]:
    by_slot = [slots[slot] for slot in _slot_order(cube_dims)]
    return [Connection(d, p, by_slot[a], by_slot[b])
            for d, a, b in face_joins(cube_dims, wrap) for p in range(cube.face_positions(d))]


def reconfigurable_wiring(cube: CubeLayout, cubes: list[int], cube_dims: Dims) -> SliceWiring:
    """Wire ``cubes`` (slot order, x fastest) into a torus of ``cube_dims`` through the OCSes."""
    order = _slot_order(cube_dims)
    if len(cubes) != len(order):
        raise ValueError(f"a {cube_dims} slice needs {len(order)} cubes, got {len(cubes)}")
    slots = dict(zip(order, cubes))
    return SliceWiring(cube_dims, slots, _connect(cube, cube_dims, slots, (True,) * 3), (True,) * 3)


def box_wiring(wiring: SliceWiring, wrap: tuple[bool, bool, bool]) -> SliceWiring:
    """``wiring`` (a torus over slots) without its wraparound connections along the dimensions
    not in ``wrap``: the chip graph of a static box, named by slot, whatever cubes fill it."""
    slot_of = {c: slot for slot, c in wiring.slots.items()}
    kept = [conn for conn in wiring.connections
            if wrap[conn.d] or slot_of[conn.plus_cube][conn.d] + 1 < wiring.cube_dims[conn.d]]
    return SliceWiring(wiring.cube_dims, wiring.slots, kept, wrap)


def static_wiring(machine: MachineLayout, pod: int, box: Box) -> SliceWiring:
    """The fixed cables that a static slice on ``box`` of ``pod`` uses."""
    slots = {
        slot: pod * machine.cubes_per_pod + machine.grid_index(*cell)
        for slot, cell in zip(_slot_order(box.dims), box.cells())
    }
    wrap = box.spans_fully(machine.cube_grid)
    return SliceWiring(box.dims, slots, _connect(machine.cube, box.dims, slots, wrap), wrap)


def slice_graph(cube: CubeLayout, wiring: SliceWiring) -> nx.Graph:
    """The chip graph of a wired slice (electrical mesh edges plus optical connection edges)."""
    g = nx.Graph()
    for slot, c in wiring.slots.items():
        for chip in range(cube.chips):
            x, y, z = cube.chip_coords(chip)
            pos = (slot[0] * cube.shape[0] + x, slot[1] * cube.shape[1] + y, slot[2] * cube.shape[2] + z)
            g.add_node((c, chip), pos=pos)
        g.add_edges_from(
            ((c, u), (c, v), {"kind": "electrical"}) for u, v in cube.electrical_links
        )
    for conn in wiring.connections:
        a = cube.port_chip(cube.ports[cube.port_index(conn.d, +1, conn.p)])
        b = cube.port_chip(cube.ports[cube.port_index(conn.d, -1, conn.p)])
        g.add_edge((conn.plus_cube, a), (conn.minus_cube, b), kind="optical", ocs=(conn.d, conn.p),
                   plus_cube=conn.plus_cube, minus_cube=conn.minus_cube)
    return g


@dataclass
class PreflightReport:
    chips: int
    reached: int
    missing: list[tuple[Dims, Dims]]  # (chip position, expected neighbour position) not linked

    @property
    def ok(self) -> bool:
        return self.reached == self.chips and not self.missing


def preflight(graph: nx.Graph, slice_dims: Dims, wrap: tuple[bool, bool, bool] = (True,) * 3) -> PreflightReport:
    """BFS over ``graph`` checking that every chip has its torus (mesh where ``wrap`` is off) neighbours."""
    by_pos = {data["pos"]: node for node, data in graph.nodes(data=True)}
    missing: list[tuple[Dims, Dims]] = []
    if not by_pos:
        return PreflightReport(0, 0, missing)
    start = next(iter(graph.nodes))
    seen = {start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        pos = graph.nodes[node]["pos"]
        linked = {graph.nodes[n]["pos"] for n in graph.adj[node]}
        for d, step in product(range(3), (-1, 1)):
            q = list(pos)
            q[d] += step
            if not 0 <= q[d] < slice_dims[d]:
                if not wrap[d]:
                    continue
                q[d] %= slice_dims[d]
            if tuple(q) not in linked:
                missing.append((pos, tuple(q)))
        for n in graph.adj[node]:
            if n not in seen:
                seen.add(n)
                queue.append(n)
    return PreflightReport(graph.number_of_nodes(), len(seen), missing)
