"""A deliberately naive evaluator of a recorded failure trace, for cross-checking the simulator.

It shares nothing with the incremental bookkeeping of ``tpusim.failures.health`` and
the policies' capacity trackers (``tpusim.policies``): between consecutive event times it recomputes, from the sets of down
components, which cubes are usable, which chips are healthy and which slices the placement rules
of ``tpusim.topology.placement`` can place in at least one pod, and integrates those indicators.
"""

from __future__ import annotations

from collections import defaultdict

from tpusim.config import build_model
from tpusim.config.schema import Scenario
from tpusim.core.rng import generator
from tpusim.topology.placement import cube_number, place_reconfigurable, static_boxes


def _static_cable(m, unit: int):
    """The cube pair ``(pod, A, B, d, p)`` a down port link cuts in the static pod, by the
    DESIGN's rule written out afresh: a cable joins A's +d port p to its +d neighbour B's -d
    port p (wrapping if the pod is a torus; none where B would be A or off the grid); with one
    part per cable only the +d end's failures count."""
    cube = m.cube
    c, link = divmod(unit, cube.links)
    if link < cube.electrical_count:
        return None
    port = cube.ports[link - cube.electrical_count]
    pod, local = divmod(c, m.cubes_per_pod)
    gx, gy, _ = m.cube_grid
    coords = [local % gx, (local // gx) % gy, local // (gx * gy)]
    if port.sign < 0 and m.static_cable_ends == 1:
        return None
    step = 1 if port.sign > 0 else -1
    other = list(coords)
    other[port.d] += step
    if not 0 <= other[port.d] < m.cube_grid[port.d]:
        if not m.static_wrap:
            return None
        other[port.d] %= m.cube_grid[port.d]
    b = cube_number(m.cube_grid, tuple(other))
    if b == local:
        return None
    a, b = (local, b) if step > 0 else (b, local)
    p = port.p
    return pod, a, b, port.d, p


def place_static_cabled(m, dims, bad_cubes: set, cut: set) -> bool:
    """Is some box of ``dims`` free of bad cubes and of cut pairs ``(A, B, d)`` inside it?"""
    grid = m.cube_grid
    for box in static_boxes(grid, dims, wrap=m.static_wrap):
        cells = {cube_number(grid, cell) for cell in box.cells()}
        if cells & bad_cubes:
            continue
        if any(a in cells and b in cells for a, b, _ in cut):
            continue
        return True
    return False


def _ft_placeable(m, k: int, pod: int, down: dict, max_faults: int) -> bool:
    """Fault-tolerant rule, by brute force: k cubes with all hosts up whose link faults plus the
    pod's OCS faults stay within the budget (trying the least faulty cubes)."""
    cube = m.cube
    host_down = {u // cube.hosts for u in down["host"]}
    links = {}
    for u in down["ici_link"]:
        links[u // cube.links] = links.get(u // cube.links, 0) + 1
    ocs = sum(1 for u in down["ocs"] if u // m.ocs_per_pod == pod)
    cubes = [c for c in range(pod * m.cubes_per_pod, (pod + 1) * m.cubes_per_pod) if c not in host_down]
    if len(cubes) < k:
        return False
    return ocs + sum(sorted(links.get(c, 0) for c in cubes)[:k]) <= max_faults


def evaluate(scenario: Scenario, trace: list[tuple[float, str, int, bool]]) -> dict:
    """Slice and system availability per policy, as the DESIGN defines them, from ``trace``."""
    model = build_model(scenario)
    m, cube = model.machine, model.machine.cube
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
            sick |= {u // cube.hosts * cube.chips + x for x in cube.host_chips(u % cube.hosts)}
        static_sick = set(sick)
        static_bad = {u // cube.hosts for u in down["host"]}  # plus cubes with an electrical link down
        cuts: dict[int, set] = defaultdict(set)
        for u in down["ici_link"]:
            sick |= {u // cube.links * cube.chips + x for x in cube.link_chips[u % cube.links]}
            if u % cube.links < cube.electrical_count:
                static_bad.add(u // cube.links)
                static_sick |= {u // cube.links * cube.chips + x for x in cube.link_chips[u % cube.links]}
                continue
            cable = _static_cable(m, u)
            if cable is not None:
                pod, a, b, d, p = cable
                cuts[pod].add((a, b, d))
                first = pod * m.cubes_per_pod
                plus = cube.port_chip(cube.ports[cube.port_index(d, +1, p)])
                minus = cube.port_chip(cube.ports[cube.port_index(d, -1, p)])
                static_sick |= {(first + a) * cube.chips + plus, (first + b) * cube.chips + minus}
        sick_ocs = set(sick)
        for u in down["ocs"] - lit:  # only dark OCSes make chips sick
            pod, local = divmod(u, m.ocs_per_pod)
            for c in range(pod * m.cubes_per_pod, (pod + 1) * m.cubes_per_pod):
                sick_ocs |= {c * cube.chips + x for x in m.ocs_chips[local]}
        sick_area["static"] += len(static_sick) * dt
        sick_area["reconfigurable"] += len(sick_ocs) * dt
        sick_area["reconfigurable_ft"] += len(sick_ocs) * dt

        per_pod_bad = [
            {c % m.cubes_per_pod for c in unusable if c // m.cubes_per_pod == pod} for pod in range(m.pods)
        ]
        static_per_pod = [
            {c % m.cubes_per_pod for c in static_bad if c // m.cubes_per_pod == pod} for pod in range(m.pods)
        ]
        per_pod_ocs_up = [not any(u // m.ocs_per_pod == pod for u in down["ocs"]) for pod in range(m.pods)]
        for s, dims in enumerate(shapes):
            k = dims[0] * dims[1] * dims[2]
            if "static" in up_time and any(
                place_static_cabled(m, dims, bad, cuts[pod]) for pod, bad in enumerate(static_per_pod)
            ):
                up_time["static"][s] += dt
            if "reconfigurable" in up_time and any(
                place_reconfigurable(m.cubes_per_pod, k, bad, ok) is not None
                for bad, ok in zip(per_pod_bad, per_pod_ocs_up)
            ):
                up_time["reconfigurable"][s] += dt
            if "reconfigurable_ft" in up_time and any(
                _ft_placeable(m, k, pod, down, scenario.pod_manager.ft_routing.max_faults) for pod in range(m.pods)
            ):
                up_time["reconfigurable_ft"][s] += dt
        largest = {
            "static": max((d[0] * d[1] * d[2] for d in all_dims
                           if any(place_static_cabled(m, d, bad, cuts[pod])
                                  for pod, bad in enumerate(static_per_pod))), default=0),
            "reconfigurable": max((n - len(bad) if ok else 0) for bad, ok in zip(per_pod_bad, per_pod_ocs_up)),
            "reconfigurable_ft": max((k for k in range(n + 1) for pod in range(m.pods)
                                      if k == 0 or _ft_placeable(m, k, pod, down, max_faults)), default=0),
        }
        for p in scenario.policies:
            for k in range(largest[p] + 1):
                at_least[p][k] += dt
    return {
        p: {
            "slice_availability": [u / horizon for u in up_time[p]],
            "system_availability": 1.0 - sick_area[p] / (m.chips * horizon),
            "capacity": [a / horizon for a in at_least[p]],
        }
        for p in scenario.policies
    }
