"""Fault-tolerant ICI routing: a slice's chip graph with its faults, and the slowdown they cost.

:func:`faulty_graph` removes from a slice's chip graph exactly the links that are down: an
electrical link, the optical link of a cube port (the cross-connect through that port), or every
cross-connect of a failed OCS. :func:`step_penalty` turns the damage into the fractional growth
of the job's step time, from the graph, with one bottleneck model for both traffic patterns:

- Communication is a sequence of per-dimension phases, one per slice dimension with a ring (two
  chips or more). A phase's time is its healthy time (:func:`phase_weights`, from the
  algorithm) times its most loaded link's load under the faults over its healthy most loaded
  link's load; the communication slowdown is the phases' summed times with the faults over
  their summed healthy times. In phase ``d`` only dimension ``d``'s rings carry traffic, so a
  lost link of dimension ``d`` matters there (and its detour loads whatever links it crosses).
- ``allreduce``: ring reduce-scatter then all-gather along each dimension (the bucket
  algorithm, its buffer split over every order of the dimensions). Ring traffic goes neighbour
  to neighbour, one unit per link; a lost link's unit takes its shortest detour in the faulty
  graph, adding one unit to each link on it. One fault doubles its dimension's phase (a detour
  always crosses a link of that dimension), so a fault in a longer ring costs more; two faults
  in one dimension cost that one phase (more where their detours share a link), two in two
  dimensions cost two phases.
- ``alltoall``: a ring all-to-all along each dimension, routed in balance over the surviving
  graph: a phase's traffic across each bisection (two planes half a ring apart) spreads over
  that cut's surviving links, so the phase slows by healthy over surviving links at its
  weakest cut.

The step time grows by ``comm_fraction[pattern] x (communication slowdown - 1)``. The fractions
(the share of a step spent communicating, ``pod_manager.ft_routing.comm_fraction``) are the
model's only free parameter and are CALIBRATED, not derived, by :func:`calibrate_comm_fraction`:
each job of the shipped slice mix (whole-cube shape x pattern) meets its costliest single fault
(one OCS or one port link down); the cheapest such job costs 0.5 % and the costliest 8.6 %, the
published range (NSDI 2024). Defaults: all-reduce 0.198, all-to-all 0.465. With every link up
the penalty is exactly zero; a graph cut apart (a lost link with no detour, or a cut with no
surviving link) has no penalty (``None``): the slice cannot run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import permutations
from typing import AbstractSet, Iterable

import networkx as nx

from tpusim.topology.cube import CubeLayout
from tpusim.topology.graph import box_wiring, reconfigurable_wiring, slice_graph
from tpusim.topology.shapes import Dims, SliceShape

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


def joined(graph: nx.Graph, lost: list[Edge]) -> bool:
    """Are the ends of every lost link still joined in ``graph`` without the lost links? Exactly
    when :func:`_detours` finds a detour for each (it asks the same of a :func:`faulty_graph`
    view): the slice is not cut apart. Per lost link, a breadth-first search from both ends on
    the graph's adjacency, skipping the lost links, until they meet: detours are short, so it
    stops after a hop or two from each end, where a shortest path on the filtered view pays the
    view's per-neighbour filter (``static_ft``'s fault budget asks this of every box a fault
    touches)."""
    if not lost:
        return True
    adj = graph._adj  # the plain dict of dicts (the public views cost a call per neighbour)
    cut = {(u, v) for u, v in lost} | {(v, u) for u, v in lost}
    for u, v in lost:
        near, far = {u}, {v}
        near_frontier, far_frontier = [u], [v]
        met = False
        while near_frontier and far_frontier and not met:
            if len(near_frontier) > len(far_frontier):  # grow the smaller side
                near, far, near_frontier, far_frontier = far, near, far_frontier, near_frontier
            grown = []
            for a in near_frontier:
                for b in adj[a]:
                    if b in near or (a, b) in cut:
                        continue
                    if b in far:
                        met = True
                        break
                    near.add(b)
                    grown.append(b)
                if met:
                    break
            near_frontier = grown
        if not met:
            return False
    return True


def _plane_counts(pos: dict, edges, d: int, n: int) -> list[int]:
    """Links crossing the plane between chip layers i and i+1 (mod n) along dimension d
    (``pos``: each chip's position in the slice)."""
    count = [0] * max(n, 1)
    for u, v in edges:
        a, b = pos[u][d], pos[v][d]
        if a != b:
            count[min(a, b) if abs(a - b) == 1 else max(a, b)] += 1  # the wrap link sits at n-1
    return count


def _rings(dims: Dims) -> list[int]:
    """The dimensions along which the slice has a ring (two chips or more): one phase each."""
    return [d for d in range(3) if dims[d] >= 2]


@lru_cache(maxsize=256)
def phase_weights(pattern: str, dims: Dims) -> tuple[float, float, float]:
    """Healthy time of each dimension's phases (per chip's buffer and link bandwidth; 0 for a
    dimension without a ring).

    ``allreduce``: the bucket algorithm: for an order ``d1, d2, d3`` of the dimensions,
    reduce-scatter along ``d1, d2, d3``, then all-gather along ``d3, d2, d1``; a phase along a
    ring of ``n`` moves ``(n - 1) / n`` of the data it starts with, and each reduce-scatter
    leaves ``1 / n`` of it (the total, ``2 (N - 1) / N``, is the same for every order). The
    buffer is split equally over every order of the dimensions and a dimension's weight sums its
    phases over the orders: with one fixed order a fault in the first dimension would cost ``n``
    times one in the second by convention alone; averaged, the weights are nearly equal and a
    longer ring weighs more.
    ``alltoall``: one ring all-to-all per dimension on the whole buffer; with shortest-path
    routing its busiest link carries ``sum(min(j, n - j) for j in 1..n-1) / (2 n)``.
    """
    rings = _rings(dims)
    weights = [0.0, 0.0, 0.0]
    if pattern == "allreduce":
        orders = list(permutations(rings))
        for order in orders:
            share = 1.0 / len(orders)
            for d in order:
                weights[d] += 2 * share * (dims[d] - 1) / dims[d]  # reduce-scatter and all-gather
                share /= dims[d]
    elif pattern == "alltoall":
        for d in rings:
            n = dims[d]
            weights[d] = sum(min(j, n - j) for j in range(1, n)) / (2 * n)
    else:
        raise ValueError(f"unknown traffic pattern {pattern!r}")
    return weights[0], weights[1], weights[2]


def _dim(pos: dict, u, v) -> int:
    """The dimension a link runs along."""
    return next(d for d in range(3) if pos[u][d] != pos[v][d])


def _detours(topo: SliceTopology, lost: list[Edge]) -> list[list] | None:
    """Each lost link's shortest detour in the faulty graph; None if some lost link's ends are no
    longer joined (then, and only then, the slice is cut apart)."""
    view = faulty_graph(topo.graph, lost)
    try:
        return [nx.shortest_path(view, u, v) for u, v in lost]
    except nx.NetworkXNoPath:
        return None


def _allreduce_ratios(topo: SliceTopology, lost: list[Edge], detours: list[list]) -> list[float]:
    """Per dimension d, the busiest link's load in phase d over its healthy load (1): every d-link
    carries one unit (ring traffic is neighbour to neighbour), and each lost d-link's unit its
    detour, which adds one to every link it uses, whatever their dimension."""
    extra: list[Counter] = [Counter(), Counter(), Counter()]
    for (u, v), path in zip(lost, detours):
        phase = extra[_dim(topo.pos, u, v)]
        for a, b in zip(path, path[1:]):
            phase[(a, b) if a <= b else (b, a)] += 1
    ratios = []
    for d in range(3):
        worst = 1
        for (a, b), added in extra[d].items():
            worst = max(worst, added + (_dim(topo.pos, a, b) == d))
        ratios.append(float(worst))
    return ratios


def _alltoall_ratios(topo: SliceTopology, lost: list[Edge]) -> list[float] | None:
    """Per dimension d, the phase's slowdown under balanced routing: at every bisection (two
    planes half a ring apart) its traffic spreads over the cut's surviving links, so the phase
    slows by healthy over surviving links at its weakest cut; None if a cut has none left."""
    ratios = [1.0, 1.0, 1.0]
    for d in _rings(topo.dims):
        n = topo.dims[d]
        before = topo.planes[d]
        removed = _plane_counts(topo.pos, lost, d, n)
        for i in range(n):
            j = (i + n // 2) % n
            healthy = before[i] + before[j]
            left = healthy - removed[i] - removed[j]
            if left == 0:
                return None
            ratios[d] = max(ratios[d], healthy / left)
    return ratios


def comm_slowdown(topo: SliceTopology, lost: list[Edge], pattern: str) -> float | None:
    """Factor by which the lost links slow the slice's communication: the phases' times with the
    faults over their healthy times (exactly 1.0 with no fault); None if it is cut apart."""
    weights = phase_weights(pattern, topo.dims)
    if not lost:
        return 1.0
    detours = _detours(topo, lost)
    if detours is None:
        return None
    ratios = (_allreduce_ratios(topo, lost, detours) if pattern == "allreduce"
              else _alltoall_ratios(topo, lost))
    if ratios is None:
        return None
    return sum(w * r for w, r in zip(weights, ratios)) / sum(weights)


def step_penalty(topo: SliceTopology, lost: list[Edge], pattern: str, comm_fraction: float) -> float | None:
    """Fractional step-time growth under FT routing; 0.0 with no fault, None if disconnected."""
    slowdown = comm_slowdown(topo, lost, pattern)
    return None if slowdown is None else comm_fraction * (slowdown - 1.0)


#: The published step-time cost of fault-tolerant routing: its cheapest and its costliest job
#: (Zu et al., NSDI 2024). The target of :func:`calibrate_comm_fraction`, and nothing else.
PUBLISHED_PENALTY = (0.005, 0.086)


def single_fault_slowdowns(cube: CubeLayout, cube_dims: Dims, pattern: str) -> dict[str, float]:
    """``comm_slowdown - 1`` of each single fault of a slice of whole cubes: one OCS down
    (``"ocs x"``...) or one optical port link down (``"port x"``...) along each dimension. By the
    torus's symmetry, which switch or which port makes no difference."""
    topo = slice_topology(cube, cube_dims)
    out = {}
    for d in range(3):
        for name, ports, ocs in (("ocs", set(), {(d, 0)}), ("port", {(0, d, +1, 0)}, set())):
            slowdown = comm_slowdown(topo, lost_links(topo, set(), ports, ocs), pattern)
            if slowdown is not None:
                out[f"{name} {'xyz'[d]}"] = slowdown - 1.0
    return out


def calibrate_comm_fraction(cube: CubeLayout, shapes: Iterable[SliceShape]) -> dict[str, float]:
    """THE CALIBRATION of the FT penalty: the share of a step spent communicating, per traffic
    pattern, the model's only free parameter (``pod_manager.ft_routing.comm_fraction``).

    Rule: the published range is a range over jobs, so each job (a shape of whole cubes among
    ``shapes``, with one pattern) is given the penalty of its costliest single fault (one OCS or
    one port link down, :func:`single_fault_slowdowns`); the two fractions are the ones, at most
    1, that make the cheapest of these jobs cost :data:`PUBLISHED_PENALTY`'s floor and the
    costliest its ceiling. One pattern sets the floor and the other the ceiling (a pattern whose
    penalties span less than the published range cannot set both); ``ValueError`` if neither
    assignment fits.
    """
    low, high = PUBLISHED_PENALTY
    span = {}
    for pattern in ("allreduce", "alltoall"):
        worst = [max(single_fault_slowdowns(cube, s.cube_dims(cube.shape), pattern).values())
                 for s in shapes if all(e % c == 0 for e, c in zip(s.dims, cube.shape))]
        span[pattern] = (min(worst), max(worst))
    for floor, ceiling in (("alltoall", "allreduce"), ("allreduce", "alltoall")):
        f = {floor: low / span[floor][0], ceiling: high / span[ceiling][1]}
        if (max(f.values()) <= 1 and f[floor] * span[floor][1] <= high
                and f[ceiling] * span[ceiling][0] >= low):
            return {pattern: f[pattern] for pattern in ("allreduce", "alltoall")}
    raise ValueError("no comm fractions of at most 1 make these slices' single-fault penalties span "
                     f"{100 * low:g}-{100 * high:g} %")
