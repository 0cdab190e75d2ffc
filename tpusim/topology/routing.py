"""Fault-tolerant ICI routing: a slice's chip graph with its faults, and the slowdown they cost.

:func:`faulty_graph` removes from a slice's chip graph exactly the links that are down: an
electrical link, the optical link of a cube port (the cross-connect through that port), or every
cross-connect of a failed OCS. :func:`step_penalty` turns the damage into the fractional growth
of the job's step time, from the graph:

- ``allreduce`` (ring all-reduce per dimension; nearest-neighbour exchange loads the links the
  same way): every torus link carries one unit of traffic. A lost link's unit is rerouted along
  its shortest detour in the faulty graph; the collective runs at the pace of the most loaded
  link, so communication slows by ``max link load`` (1 when healthy, 2 when one detour shares a
  link with a ring).
- ``alltoall``: limited by bisection bandwidth. For each dimension, a bisection of the torus
  cuts two planes of links half a ring apart; communication slows by the worst dimension's
  ratio of healthy to remaining links across its weakest bisection.

The step time grows by ``comm_fraction[pattern] x (communication slowdown - 1)``. The fractions
are calibrated (``pod_manager.ft_routing.comm_fraction``; defaults 0.05 and 0.5) so that one
OCS down costs a 4x4x8 slice 5 % (all-reduce) and 1.6 % (all-to-all), inside the published
0.5 %-8.6 % range of step-time penalties. With every link up the penalty is exactly zero; a
disconnected graph has no penalty (``None``): the slice cannot run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import AbstractSet

import networkx as nx

from tpusim.topology.cube import CubeLayout
from tpusim.topology.graph import box_wiring, reconfigurable_wiring, slice_graph
from tpusim.topology.shapes import Dims

Edge = tuple


@dataclass
class SliceTopology:
    """The healthy chip graph of a slice of ``cube_dims``, with its cubes named by slot (0..k-1,
    x fastest), and indexes to map faults to links quickly: a reconfigurable slice (a torus along
    every dimension) or a static box (a torus only along the dimensions in ``wrap``, a mesh
    along the others). Depends only on the shape and ``wrap``, so it is built once per pair
    (:func:`slice_topology`)."""

    cube: CubeLayout
    cube_dims: Dims
    graph: nx.Graph
    by_ocs: dict = field(default_factory=dict)  # (d, p) -> [(edge index, edge)]
    by_port: dict = field(default_factory=dict)  # (slot, d, sign, p) -> [(edge index, edge)]
    planes: dict = field(default_factory=dict)  # d -> links crossing each plane along d
    pos: dict = field(default_factory=dict)  # chip -> its position in the slice

    @property
    def dims(self) -> Dims:
        return tuple(c * e for c, e in zip(self.cube_dims, self.cube.shape))  # type: ignore[return-value]


@lru_cache(maxsize=64)
def slice_topology(cube: CubeLayout, cube_dims: Dims,
                   wrap: tuple[bool, bool, bool] = (True, True, True)) -> SliceTopology:
    """The topology of a slice of ``cube_dims``: wired through the OCSes (a torus, the default),
    or a static box whose wraparound connections exist only along the dimensions in ``wrap``
    (the optical links are the box's cables; their ``ocs`` key is just ``(d, p)``)."""
    k = cube_dims[0] * cube_dims[1] * cube_dims[2]
    wiring = reconfigurable_wiring(cube, list(range(k)), cube_dims)
    if not all(wrap):
        wiring = box_wiring(wiring, wrap)
    g = slice_graph(cube, wiring)
    topo = SliceTopology(cube, cube_dims, g)
    optical = 0  # optical links numbered in graph order, so that lost links keep that order
    for u, v, data in g.edges(data=True):
        if data["kind"] == "optical":
            entry = (optical, (u, v))
            d, p = data["ocs"]
            topo.by_ocs.setdefault((d, p), []).append(entry)
            topo.by_port.setdefault((data["plus_cube"], d, +1, p), []).append(entry)
            topo.by_port.setdefault((data["minus_cube"], d, -1, p), []).append(entry)
            optical += 1
    topo.pos = dict(g.nodes.data("pos"))
    for d in range(3):
        topo.planes[d] = _plane_counts(topo.pos, g.edges, d, topo.dims[d])
    return topo


def lost_links(topo: SliceTopology, electrical: AbstractSet[tuple[int, int, int]],
               ports: AbstractSet[tuple[int, int, int, int]], ocs: AbstractSet[tuple[int, int]]) -> list[Edge]:
    """Links of the slice that the faults take down.

    ``electrical``: ``(slot, chip_a, chip_b)`` of down electrical links; ``ports``:
    ``(slot, d, sign, p)`` of down optical port links; ``ocs``: ``(d, p)`` of down OCSes.
    """
    lost = [((slot, a), (slot, b)) for slot, a, b in electrical]
    optical = {}  # found through the faults (a handful), not by scanning every link
    for switch in ocs:
        optical.update(topo.by_ocs.get(switch, ()))
    for port in ports:
        optical.update(topo.by_port.get(port, ()))
    return lost + [optical[n] for n in sorted(optical)]


def faulty_graph(graph: nx.Graph, lost: list[Edge]) -> nx.Graph:
    """A read-only view of ``graph`` without the lost links (no copy)."""
    return nx.restricted_view(graph, [], lost)


def _plane_counts(pos: dict, edges, d: int, n: int) -> list[int]:
    """Links crossing the plane between chip layers i and i+1 (mod n) along dimension d
    (``pos``: each chip's position in the slice)."""
    count = [0] * max(n, 1)
    for u, v in edges:
        a, b = pos[u][d], pos[v][d]
        if a != b:
            count[min(a, b) if abs(a - b) == 1 else max(a, b)] += 1  # the wrap link sits at n-1
    return count


def _detour_load(topo: SliceTopology, lost: list[Edge]) -> Counter | None:
    """Extra load per link when each lost link's traffic takes its shortest detour; None if some
    lost link's ends are no longer joined (then, and only then, the slice is cut apart)."""
    view = faulty_graph(topo.graph, lost)
    load: Counter = Counter()
    for u, v in lost:
        try:
            path = nx.shortest_path(view, u, v)
        except nx.NetworkXNoPath:
            return None
        for a, b in zip(path, path[1:]):
            load[(a, b) if a <= b else (b, a)] += 1
    return load


def comm_slowdown(topo: SliceTopology, lost: list[Edge], pattern: str) -> float | None:
    """Factor by which the lost links slow the slice's communication; None if it is cut apart."""
    if pattern not in ("allreduce", "alltoall"):
        raise ValueError(f"unknown traffic pattern {pattern!r}")
    if not lost:
        return 1.0
    load = _detour_load(topo, lost)
    if load is None:
        return None
    if pattern == "allreduce":
        return 1.0 + max(load.values())
    worst = 1.0
    for d in range(3):
        n = topo.dims[d]
        if n < 2:
            continue
        before = topo.planes[d]
        removed = _plane_counts(topo.pos, lost, d, n)
        after = [b - r for b, r in zip(before, removed)]
        half = n // 2
        healthy_min = min(before[i] + before[(i + half) % n] for i in range(n))  # a bisection
        faulty_min = min(after[i] + after[(i + half) % n] for i in range(n))  # cuts two planes
        if faulty_min == 0:
            return None
        worst = max(worst, healthy_min / faulty_min)
    return worst


def step_penalty(topo: SliceTopology, lost: list[Edge], pattern: str, comm_fraction: float) -> float | None:
    """Fractional step-time growth under FT routing; 0.0 with no fault, None if disconnected."""
    slowdown = comm_slowdown(topo, lost, pattern)
    return None if slowdown is None else comm_fraction * (slowdown - 1.0)
