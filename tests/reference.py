"""A deliberately naive evaluator of a recorded failure trace, for cross-checking the simulator.

It shares nothing with the incremental bookkeeping of ``tpusim.failures.health`` and
the policies' capacity trackers (``tpusim.policies``), nor with the package's geometry
(``tpusim.topology``): the numbering of chips, hosts, links, ports, OCSes and cubes, and the
boxes a static slice may occupy, are written out here afresh from the DESIGN (§1) and the
numbering the trace uses (documented in ``tpusim.topology.cube`` and ``.machine``). Between
consecutive event times it recomputes, from the sets of down components, which cubes are
usable, which chips are healthy and which slices can be placed in at least one pod, and
integrates those indicators. From the package it takes only the scenario's numbers (the built
model's machine sizes, horizon and slice shapes) and the named random stream of OCS failure
modes.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

from tpusim.config import build_model
from tpusim.config.schema import Scenario
from tpusim.core.rng import generator


# -- geometry, from first principles -------------------------------------------------------------

def grid_number(grid, cell) -> int:
    """The number of cell ``(i, j, k)`` of a grid, x fastest (cubes in a pod, chips in a cube)."""
    return cell[0] + grid[0] * (cell[1] + grid[1] * cell[2])


def _runs(length: int, extent: int, wrap: bool) -> list[frozenset[int]]:
    """The sets of ``length`` consecutive positions on an axis of ``extent`` (cyclically
    consecutive too, with ``wrap``); one set when ``length`` covers the axis."""
    if length > extent:
        return []
    if length == extent:
        return [frozenset(range(extent))]
    starts = range(extent) if wrap else range(extent - length + 1)
    return [frozenset((s + i) % extent for i in range(length)) for s in starts]


def boxes(grid, dims, wrap: bool) -> set[frozenset]:
    """Every set of cells an axis-aligned box of ``dims`` (any axis order) occupies in ``grid``:
    a product of one run per axis (DESIGN §1; with ``wrap`` the pod is a torus of cubes)."""
    out = set()
    for shape in set(itertools.permutations(dims)):
        for xs, ys, zs in itertools.product(*(_runs(n, g, wrap) for n, g in zip(shape, grid))):
            out.add(frozenset(itertools.product(xs, ys, zs)))
    return out


class Cube:
    """A cube's chips, hosts, links and optical ports, numbered as the failure trace numbers them:
    chip ``x + X*(y + Y*z)``; host ``h`` the ``h``-th tray (x fastest) of the flattest most
    compact box of ``chips_per_host`` chips tiling the cube; links: the electrical mesh (chips in
    number order, then +x, +y, +z), then one per optical port, ports ordered by dimension, sign
    (+ then -) and face position ``p`` (the other two axes, the lower one fastest)."""

    def __init__(self, shape, chips_per_host: int):
        self.shape = tuple(shape)
        X, Y, Z = self.shape
        self.chips = X * Y * Z
        self.hosts = self.chips // chips_per_host
        divisors = [[a for a in range(1, n + 1) if n % a == 0] for n in self.shape]
        tray = min((t for t in itertools.product(*divisors) if math.prod(t) == chips_per_host),
                   key=lambda t: (max(t), t[2], t[1]))
        self.host_chips = [
            {grid_number(self.shape, (ox + i, oy + j, oz + k))
             for i, j, k in itertools.product(*map(range, tray))}
            for oz in range(0, Z, tray[2]) for oy in range(0, Y, tray[1]) for ox in range(0, X, tray[0])
        ]
        self.link_chips: list[tuple[int, ...]] = []
        for z, y, x in itertools.product(range(Z), range(Y), range(X)):
            for d in range(3):
                there = [x, y, z]
                there[d] += 1
                if there[d] < self.shape[d]:
                    self.link_chips.append((grid_number(self.shape, (x, y, z)), grid_number(self.shape, there)))
        self.electrical = len(self.link_chips)
        self.ports = [(d, sign, p) for d in range(3) for sign in (+1, -1) for p in range(self.chips // self.shape[d])]
        self.link_chips += [(self.port_chip(d, sign, p),) for d, sign, p in self.ports]
        self.links = len(self.link_chips)
        # OCS (d, p) of a pod, numbered dimension by dimension, holds every cube's +d and -d port p
        self.ocs_chips = [(self.port_chip(d, +1, p), self.port_chip(d, -1, p))
                          for d in range(3) for p in range(self.chips // self.shape[d])]
        self.ocs_dim = [d for d in range(3) for p in range(self.chips // self.shape[d])]

    def port_chip(self, d: int, sign: int, p: int) -> int:
        a, b = [axis for axis in range(3) if axis != d]
        coords = [0, 0, 0]
        coords[a], coords[b] = p % self.shape[a], p // self.shape[a]
        coords[d] = self.shape[d] - 1 if sign > 0 else 0
        return grid_number(self.shape, coords)


def _static_cable(m, cube: Cube, unit: int):
    """The cube pair ``(pod, A, B, d, p)`` a down port link cuts in the static pod, by the
    DESIGN's rule written out afresh: a cable joins A's +d port p to its +d neighbour B's -d
    port p (wrapping if the pod is a torus; none where B would be A or off the grid); with one
    part per cable only the +d end's failures count."""
    c, link = divmod(unit, cube.links)
    if link < cube.electrical:
        return None
    d, sign, p = cube.ports[link - cube.electrical]
    pod, local = divmod(c, m.cubes_per_pod)
    gx, gy, _ = m.cube_grid
    coords = [local % gx, (local // gx) % gy, local // (gx * gy)]
    if sign < 0 and m.static_cable_ends == 1:
        return None
    other = list(coords)
    other[d] += sign
    if not 0 <= other[d] < m.cube_grid[d]:
        if not m.static_wrap:
            return None
        other[d] %= m.cube_grid[d]
    b = grid_number(m.cube_grid, other)
    if b == local:
        return None
    a, b = (local, b) if sign > 0 else (b, local)
    return pod, a, b, d, p


def place_static_cabled(m, dims, bad_cubes: set, cut: set) -> bool:
    """Is some box of ``dims`` free of bad cubes and of cut pairs ``(A, B, d)`` inside it?"""
    grid = m.cube_grid
    for box in boxes(grid, dims, m.static_wrap):
        cells = {grid_number(grid, cell) for cell in box}
        if cells & bad_cubes:
            continue
        if any(a in cells and b in cells for a, b, _ in cut):
            continue
        return True
    return False


def _ft_placeable(m, cube: Cube, k: int, pod: int, down: dict, max_faults: int, ocs_dims=(0, 1, 2)) -> bool:
    """Fault-tolerant rule, by brute force: k cubes with all hosts up whose link faults plus the
    pod's OCS faults (of the dimensions in ``ocs_dims``) stay within the budget (trying the least
    faulty cubes)."""
    ocs_per_pod = len(cube.ocs_chips)
    host_down = {u // cube.hosts for u in down["host"]}
    links = {}
    for u in down["ici_link"]:
        links[u // cube.links] = links.get(u // cube.links, 0) + 1
    ocs = sum(1 for u in down["ocs"] if u // ocs_per_pod == pod and cube.ocs_dim[u % ocs_per_pod] in ocs_dims)
    cubes = [c for c in range(pod * m.cubes_per_pod, (pod + 1) * m.cubes_per_pod) if c not in host_down]
    if len(cubes) < k:
        return False
    return ocs + sum(sorted(links.get(c, 0) for c in cubes)[:k]) <= max_faults


def evaluate(scenario: Scenario, trace: list[tuple[float, str, int, bool]]) -> dict:
    """Slice and system availability per policy, as the DESIGN defines them, from ``trace``."""
    model = build_model(scenario)
    m = model.machine
    topo = scenario.topology
    cube = Cube(topo.cube_shape, topo.chips_per_host)
    ocs_per_pod = len(cube.ocs_chips)
    horizon = model.horizon
    shapes = model.shapes_in_cubes
    by_time: dict[float, list] = defaultdict(list)
    for t, cls, unit, is_down in trace:
        by_time[t].append((cls, unit, is_down))
    times = sorted(set(by_time) | {0.0}) + [horizon]

    down: dict[str, set[int]] = defaultdict(set)
    # each OCS failure's mode: one uniform of the "ocs_mode" stream per OCS failure, in trace
    # order; a control-plane failure (u < share) keeps circuits lit but blocks new wiring
    share = scenario.failures.ocs_control_plane_share
    gen = generator(scenario.seed, 0, "ocs_mode")
    draws = iter(gen.random(len(trace) + 256).tolist()) if 0 < share < 1 else None
    lit: set[int] = set()
    up_time = {p: [0.0] * len(shapes) for p in scenario.policies}
    n = m.cubes_per_pod
    # capacity: the most cubes placeable as one slice (any shape whose boxes fit the grid, for
    # the static pod), and the time spent with at least k of them
    grid = m.cube_grid
    all_dims = [(a, b, c) for a in range(1, grid[0] + 1) for b in range(1, grid[1] + 1) for c in range(1, grid[2] + 1)]
    at_least = {p: [0.0] * (n + 1) for p in scenario.policies}
    max_faults = scenario.pod_manager.ft_routing.max_faults
    mesh = scenario.topology.sub_pod_slices == "mesh"

    def ocs_dims_of(dims) -> tuple:
        """The dimensions whose OCSes a slice of ``dims`` cubes is wired through: all of them
        for a torus (and a full-pod slice); a mesh, those it spans with more than one cube."""
        if mesh and dims[0] * dims[1] * dims[2] < n:
            return tuple(d for d in range(3) if dims[d] > 1)
        return (0, 1, 2)

    # the dimensions a k-cube slice of some shape needs at best, for the capacity: a full pod all
    # three; 2 .. n-1 cubes a line along one dimension; one cube none
    def best_dims_options(k):
        if not mesh or k >= n:
            return [(0, 1, 2)]
        if k <= 1:
            return [()]
        return [(0,), (1,), (2,)]
    sick_area = {"static": 0.0, "reconfigurable": 0.0, "reconfigurable_ft": 0.0}
    for t, t_next in zip(times, times[1:]):
        for cls, unit, is_down in by_time[t]:
            (down[cls].add if is_down else down[cls].discard)(unit)
            if cls == "ocs" and is_down:
                control = share >= 1 or (draws is not None and next(draws) < share)
                (lit.add if control else lit.discard)(unit)
        dt = t_next - t
        if dt <= 0:
            continue
        unusable = {u // cube.hosts for u in down["host"]} | {u // cube.links for u in down["ici_link"]}
        sick = set()
        for u in down["host"]:
            sick |= {u // cube.hosts * cube.chips + x for x in cube.host_chips[u % cube.hosts]}
        static_sick = set(sick)
        static_bad = {u // cube.hosts for u in down["host"]}  # plus cubes with an electrical link down
        cuts: dict[int, set] = defaultdict(set)
        for u in down["ici_link"]:
            sick |= {u // cube.links * cube.chips + x for x in cube.link_chips[u % cube.links]}
            if u % cube.links < cube.electrical:
                static_bad.add(u // cube.links)
                static_sick |= {u // cube.links * cube.chips + x for x in cube.link_chips[u % cube.links]}
                continue
            cable = _static_cable(m, cube, u)
            if cable is not None:
                pod, a, b, d, p = cable
                cuts[pod].add((a, b, d))
                first = pod * m.cubes_per_pod
                plus, minus = cube.port_chip(d, +1, p), cube.port_chip(d, -1, p)
                static_sick |= {(first + a) * cube.chips + plus, (first + b) * cube.chips + minus}
        sick_ocs = set(sick)
        for u in down["ocs"] - lit:  # only dark OCSes make chips sick
            pod, local = divmod(u, ocs_per_pod)
            for c in range(pod * m.cubes_per_pod, (pod + 1) * m.cubes_per_pod):
                sick_ocs |= {c * cube.chips + x for x in cube.ocs_chips[local]}
        sick_area["static"] += len(static_sick) * dt
        sick_area["reconfigurable"] += len(sick_ocs) * dt
        sick_area["reconfigurable_ft"] += len(sick_ocs) * dt

        per_pod_bad = [
            {c % m.cubes_per_pod for c in unusable if c // m.cubes_per_pod == pod} for pod in range(m.pods)
        ]
        static_per_pod = [
            {c % m.cubes_per_pod for c in static_bad if c // m.cubes_per_pod == pod} for pod in range(m.pods)
        ]

        def ocs_up(pod, dims_used):
            return not any(u // ocs_per_pod == pod and cube.ocs_dim[u % ocs_per_pod] in dims_used for u in down["ocs"])

        for s, dims in enumerate(shapes):
            k = dims[0] * dims[1] * dims[2]
            used = ocs_dims_of(dims)
            if "static" in up_time and any(
                place_static_cabled(m, dims, bad, cuts[pod]) for pod, bad in enumerate(static_per_pod)
            ):
                up_time["static"][s] += dt
            if "reconfigurable" in up_time and any(  # any k usable cubes of a pod with its OCSes up
                ocs_up(pod, used) and n - len(bad) >= k for pod, bad in enumerate(per_pod_bad)
            ):
                up_time["reconfigurable"][s] += dt
            if "reconfigurable_ft" in up_time and any(
                _ft_placeable(m, cube, k, pod, down, max_faults, used) for pod in range(m.pods)
            ):
                up_time["reconfigurable_ft"][s] += dt
        largest = {
            "static": max((d[0] * d[1] * d[2] for d in all_dims
                           if any(place_static_cabled(m, d, bad, cuts[pod])
                                  for pod, bad in enumerate(static_per_pod))), default=0),
            "reconfigurable": max((k for k in range(n + 1) for pod, bad in enumerate(per_pod_bad)
                                   if k == 0 or (n - len(bad) >= k
                                                 and any(ocs_up(pod, o) for o in best_dims_options(k)))),
                                  default=0),
            "reconfigurable_ft": max((k for k in range(n + 1) for pod in range(m.pods)
                                      if k == 0 or any(_ft_placeable(m, cube, k, pod, down, max_faults, o)
                                                       for o in best_dims_options(k))), default=0),
        }
        for p in scenario.policies:
            for k in range(largest[p] + 1):
                at_least[p][k] += dt
    return {
        p: {
            "slice_availability": [u / horizon for u in up_time[p]],
            "system_availability": 1.0 - sick_area[p] / (m.pods * m.cubes_per_pod * cube.chips * horizon),
            "capacity": [a / horizon for a in at_least[p]],
        }
        for p in scenario.policies
    }
