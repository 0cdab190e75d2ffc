"""``static_ft``: the static pod with fault-tolerant ICI routing (DESIGN §1, issue 31 point 3).

Exact timelines of a job riding through a cable fault and stopped by a host fault; a job's
speed against a penalty computed here from a chip graph built afresh; the capacity tracker
against a naive replay (tests/reference.py's geometry, connectivity by networkx on a graph built
here); and, paired on the same traces, static_ft at least as available as static for every
shape, equal when no link ever fails.
"""

import itertools
import math
from collections import Counter

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference import Cube, _static_cable, boxes, grid_number
from tpusim import build_model, scenario_from_dict
from tpusim.engine.replication import job_simulation, simulate
from tpusim.policies import FT_ROUTING, STATIC_WIRING, get
from tpusim.scheduler.workload import JobSpec
from tpusim.topology.allocation import Allocation
from tpusim.topology.shapes import SliceShape

OFF = {"daily_rate": 0, "repair": {"mean_hours": 1}}


def _scenario(grid, slices=("4x4x8",), **extra):
    return scenario_from_dict({
        "name": "sft", "horizon_days": 5, "slices": list(slices), "policies": ["static", "static_ft"],
        "topology": {"cube_grid": list(grid)},
        "failures": {"host": OFF, "ici_link": OFF, "ocs": OFF, "detection_minutes": 6},
        "workload": {"restart_minutes": 12, "checkpoint": {"interval_hours": 1.0, "mode": "synchronous",
                                                            "write_minutes": 6}},
        "pod_manager": {"reconfigure_minutes": 3}, **extra,
    })


def _port_unit(machine, cube, d, sign, p):
    layout = machine.cube
    return cube * layout.links + layout.electrical_count + layout.port_index(d, sign, p)


def test_static_ft_is_the_static_wiring_with_ft_routing():
    cls = get("static_ft")
    assert (cls.wiring, cls.ici_routing) == (STATIC_WIRING, FT_ROUTING)
    assert issubclass(cls, get("static"))


def test_a_job_rides_through_a_cable_failure_degraded_and_speeds_up_after_repair():
    sc = _scenario((3, 1, 1))
    model = build_model(sc)
    # the job takes the box of cubes 0 and 1 (the first of equally good boxes); cable p of
    # connection (0, x) joins cube 0's +x port p to cube 1's -x port p: its +x end is the part
    unit = _port_unit(model.machine, 0, 0, +1, 5)
    t_fail, t_fix = 2.0, 4.0
    trace = [(t_fail, "ici_link", unit, True), (t_fix, "ici_link", unit, False)]
    spec = JobSpec(0, 0.0, SliceShape.parse("4x4x8"), 5.0, 1)
    sim = job_simulation(model, "static_ft", trace, [spec])
    sim.run()
    job = sim.jobs[0]
    assert job.alloc is None and job.finish is not None
    setup, detect, write = 12 / 60, 6 / 60, 6 / 60  # no cross-connect to program: the restart alone
    w = _weights((8, 4, 4), "allreduce")  # one x-link of an 8x4x4 box lost: its x phase doubles
    rate = 1 / (1 + dict(model.policy("static_ft").routing.comm_fraction)["allreduce"] * w[0] / sum(w))
    t = setup + 1.0 + write  # work 1 written
    done = 1.0 + (t_fail - t)  # work when the cable fails; stalled until detected, then rerouted
    t = t_fail + detect + (2.0 - done) / rate + write  # work 2 written, degraded
    t += 1.0 / rate + write  # work 3 written
    done = 3.0 + rate * (t_fix - t)  # full speed again at the repair
    finish = t_fix + (4.0 - done) + write + 1.0
    assert job.finish == pytest.approx(finish)
    assert job.interruptions == 0 and sim.pod_manager.ft_reroutes == 1
    assert job.lost == pytest.approx(128 * detect)  # the stall before the reroute is lost
    degraded = t_fix - (t_fail + detect)
    assert job.degraded_held == pytest.approx(128 * degraded)
    # the static pod without FT routing stops the job on the same trace
    plain = job_simulation(model, "static", trace, [spec])
    plain.run()
    assert plain.jobs[0].interruptions == 1 and plain.jobs[0].finish > job.finish


def test_an_unused_cable_and_the_unused_end_of_a_cable_touch_nothing():
    model = build_model(_scenario((3, 1, 1)))
    spec = JobSpec(0, 0.0, SliceShape.parse("4x4x8"), 5.0, 1)
    for unit in (_port_unit(model.machine, 1, 0, +1, 5),  # cable (1, x): to cube 2, outside the box
                 _port_unit(model.machine, 1, 0, -1, 5)):  # the -x end of the box's cable: no part
        sim = job_simulation(model, "static_ft", [(2.0, "ici_link", unit, True)], [spec])
        sim.run()
        assert sim.pod_manager.ft_reroutes == 0 and sim.jobs[0].interruptions == 0


def test_a_host_failure_still_stops_the_job():
    sc = _scenario((3, 1, 1))
    model = build_model(sc)
    host = 3  # a host of cube 0
    trace = [(2.0, "host", host, True), (2.5, "host", host, False)]
    spec = JobSpec(0, 0.0, SliceShape.parse("4x4x8"), 5.0, 1)
    sim = job_simulation(model, "static_ft", trace, [spec])
    sim.run()
    job = sim.jobs[0]
    assert job.interruptions == 1 and sim.pod_manager.ft_reroutes == 0
    assert sim.pod_manager.swaps == 0  # a static pod has no spare to swap in
    # only host failures interrupt it: the young/daly intervals read this rate
    rate = model.policy("static_ft").interrupting_rate(model.failures, spec.shape)
    assert rate == pytest.approx(2 * 16 * model.failures.of("host").rate)


def test_too_many_faults_stop_the_job():
    model = build_model(_scenario((3, 1, 1), pod_manager={"reconfigure_minutes": 3, "ft_routing": {"max_faults": 2}}))
    units = [_port_unit(model.machine, 0, 0, +1, p) for p in range(3)]
    trace = [(2.0 + 0.01 * i, "ici_link", u, True) for i, u in enumerate(units)]
    sim = job_simulation(model, "static_ft", trace, [JobSpec(0, 0.0, SliceShape.parse("4x4x8"), 5.0, 1)])
    sim.run()
    assert sim.jobs[0].interruptions == 1  # the third cable is one fault over the budget


# -- the penalty, from a chip graph built here ----------------------------------------------------

def _box_graph(chip_dims, torus):
    """The chip graph of a box, built afresh: a grid of chips, periodic along ``torus``."""
    g = nx.Graph()
    for pos in itertools.product(*map(range, chip_dims)):
        for d in range(3):
            q = list(pos)
            q[d] += 1
            if q[d] == chip_dims[d]:
                if not torus[d]:
                    continue
                q[d] = 0
            g.add_edge(pos, tuple(q))
    return g


def _weights(chip_dims, pattern):
    """Healthy phase times per dimension, as DESIGN's model states them (written out here): the
    bucket all-reduce over every order of the ring dimensions (a phase on a ring of n moves
    (n - 1) / n of what it starts with, twice; each reduce-scatter leaves 1 / n), or one ring
    all-to-all per dimension (busiest link: sum(min(j, n - j)) / 2n)."""
    rings = [d for d in range(3) if chip_dims[d] >= 2]
    w = [0.0, 0.0, 0.0]
    if pattern == "alltoall":
        for d in rings:
            n = chip_dims[d]
            w[d] = sum(min(j, n - j) for j in range(1, n)) / (2 * n)
        return w
    orders = list(itertools.permutations(rings))
    for order in orders:
        share = 1.0 / len(orders)
        for d in order:
            w[d] += 2 * share * (chip_dims[d] - 1) / chip_dims[d]
            share /= chip_dims[d]
    return w


def _penalties(chip_dims, torus, lost, fractions):
    """(all-reduce, all-to-all) step penalties, as DESIGN's model states them: per-dimension
    phases, each slowed by its busiest link's load over the healthy one (all-reduce: each lost
    link's unit takes its shortest detour, loading that dimension's phase; all-to-all: healthy
    over surviving links across its weakest bisection, two planes half a ring apart; a mesh has
    no link across its end), weighted by their healthy times."""
    g = _box_graph(chip_dims, torus)
    h = g.copy()
    h.remove_edges_from(lost)
    dim = lambda u, v: next(d for d in range(3) if u[d] != v[d])  # noqa: E731
    extra = [Counter(), Counter(), Counter()]
    for u, v in lost:
        path = nx.shortest_path(h, u, v)
        extra[dim(u, v)].update(frozenset(e) for e in zip(path, path[1:]))
    allreduce = [max([1] + [k + (dim(*tuple(e)) == d) for e, k in extra[d].items()]) for d in range(3)]
    alltoall = [1.0, 1.0, 1.0]
    for d in range(3):
        n = chip_dims[d]
        if n < 2:
            continue

        def crossing(edges, i):  # links between layers i and i+1 (mod n) along d
            return sum(1 for u, v in edges if {u[d], v[d]} == {i, (i + 1) % n} and u[d] != v[d])
        alltoall[d] = max((crossing(g.edges, i) + crossing(g.edges, (i + n // 2) % n))
                          / (crossing(h.edges, i) + crossing(h.edges, (i + n // 2) % n)) for i in range(n))
    out = []
    for pattern, ratios in (("allreduce", allreduce), ("alltoall", alltoall)):
        w = _weights(chip_dims, pattern)
        out.append(fractions[pattern] * (sum(a * b for a, b in zip(w, ratios)) / sum(w) - 1.0))
    return tuple(out)


@pytest.mark.parametrize("grid, torus", [((3, 1, 1), (False, False, False)), ((2, 1, 1), (True, False, False))])
@pytest.mark.parametrize("pattern", ["allreduce", "alltoall"])
def test_the_job_rate_is_the_penalty_of_its_box_graph(grid, torus, pattern):
    model = build_model(_scenario(grid))
    policy, machine = model.policy("static_ft"), model.machine
    cube = machine.cube
    job = JobSpec(0, 0.0, SliceShape.parse("4x4x8"), 5.0, 1, pattern)
    holder = type("Holder", (), {"id": 0, "chips": 128, "cubes": 2, "cube_dims": (2, 1, 1), "pattern": pattern,
                                 "alloc": None})()
    alloc = Allocation(0, [0, 1], cube.full_mask)
    # cable (0, x) p=5, and an electrical x-link of cube 1 between chips (1,2,3) and (2,2,3)
    p = 5
    a = cube.port_chip(cube.ports[cube.port_index(0, +1, p)])
    b = cube.port_chip(cube.ports[cube.port_index(0, -1, p)])
    link = cube.electrical_links.index((cube.chip_index(1, 2, 3), cube.chip_index(2, 2, 3)))
    faults = [(1, _port_unit(machine, 0, 0, +1, p)), (1, cube.links + link)]
    xa, ya, za = cube.chip_coords(a)
    xb, yb, zb = cube.chip_coords(b)
    lost = [((xa, ya, za), (4 + xb, yb, zb)), ((5, 2, 3), (6, 2, 3))]
    fractions = dict(policy.routing.comm_fraction)  # the calibrated inputs
    expected = _penalties((8, 4, 4), torus, lost, fractions)[0 if pattern == "allreduce" else 1]
    assert policy.slice_rate(holder, alloc, faults) == pytest.approx(1 / (1 + expected), rel=1e-12)
    assert job.pattern == pattern


def test_a_corner_chip_cut_off_cannot_run():
    """A mesh corner chip has 3 links: 3 faults (within a budget of 4) cut it off."""
    model = build_model(_scenario((3, 1, 1), slices=["4x4x4"]))
    policy, cube = model.policy("static_ft"), model.machine.cube
    corner = cube.chip_index(0, 0, 0)
    holder = type("Holder", (), {"id": 0, "chips": 64, "cubes": 1, "cube_dims": (1, 1, 1), "pattern": "allreduce",
                                 "alloc": None})()
    links = [n for n, (u, v) in enumerate(cube.electrical_links) if corner in (u, v)]
    assert len(links) == 3
    alloc = Allocation(0, [0], cube.full_mask)
    assert policy.slice_rate(holder, alloc, [(1, n) for n in links[:2]]) is not None
    assert policy.slice_rate(holder, alloc, [(1, n) for n in links]) is None


# -- slice availability: a naive replay, and static_ft against static ------------------------------

def _connected(m, cube: Cube, cells: set, elec: set, cables: set) -> bool:
    g = nx.Graph()
    for c in cells:
        g.add_nodes_from((c, x) for x in range(cube.chips))
        g.add_edges_from(((c, u), (c, v)) for n, (u, v) in enumerate(cube.link_chips[:cube.electrical])
                         if (c, n) not in elec)
    grid = m.cube_grid
    for a in cells:
        coords = [a % grid[0], (a // grid[0]) % grid[1], a // (grid[0] * grid[1])]
        for d in range(3):
            there = list(coords)
            there[d] += 1
            if there[d] == grid[d]:
                if not m.static_wrap:
                    continue
                there[d] = 0
            b = grid_number(grid, there)
            if b == a or b not in cells:
                continue
            g.add_edges_from(((a, cube.port_chip(d, +1, p)), (b, cube.port_chip(d, -1, p)))
                             for p in range(cube.chips // cube.shape[d]) if (a, b, d, p) not in cables)
    return nx.is_connected(g)


def _ft_placeable(m, cube: Cube, dims, pod: int, down: dict, max_faults: int) -> bool:
    first = pod * m.cubes_per_pod
    hosts = {u // cube.hosts - first for u in down["host"]}
    elec = {(u // cube.links - first, u % cube.links) for u in down["ici_link"] if u % cube.links < cube.electrical}
    cables = set()
    for u in down["ici_link"]:
        cable = _static_cable(m, cube, u)
        if cable is not None and cable[0] == pod:
            cables.add(cable[1:])
    for box in boxes(m.cube_grid, dims, m.static_wrap):
        cells = {grid_number(m.cube_grid, c) for c in box}
        if cells & hosts:
            continue
        e = {(c, n) for c, n in elec if c in cells}
        k = {(a, b, d, p) for a, b, d, p in cables if a in cells and b in cells}
        if len(e) + len(k) <= max_faults and (not e and not k or _connected(m, cube, cells, e, k)):
            return True
    return False


def _naive(scenario, trace):
    model = build_model(scenario)
    m, topo = model.machine, scenario.topology
    cube = Cube(topo.cube_shape, topo.chips_per_host)
    max_faults = scenario.pod_manager.ft_routing.max_faults
    events = sorted(trace, key=lambda e: e[0])
    times = sorted({0.0} | {e[0] for e in events}) + [model.horizon]
    down = {"host": set(), "ici_link": set(), "ocs": set()}
    up = [0.0] * len(model.shapes_in_cubes)
    for t, t_next in zip(times, times[1:]):
        for when, cls, unit, is_down in events:
            if when == t:
                (down[cls].add if is_down else down[cls].discard)(unit)
        for s, dims in enumerate(model.shapes_in_cubes):
            if any(_ft_placeable(m, cube, dims, pod, down, max_faults) for pod in range(m.pods)):
                up[s] += t_next - t
    return [u / model.horizon for u in up]


@st.composite
def small_scenarios(draw, link_rate=None):
    cube_shape = draw(st.sampled_from([(2, 2, 2), (2, 2, 4)]))
    grid = draw(st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 2)))
    shapes = {"x".join(str(d * c) for d, c in zip(dims, cube_shape))
              for dims in draw(st.lists(st.tuples(*[st.integers(1, 3)] * 3), min_size=1, max_size=3))
              if math.prod(dims) <= math.prod(grid)} or {"x".join(map(str, cube_shape))}

    def component(rate):
        return {"daily_rate": rate, "repair": {"dist": "exponential", "mean_hours": draw(st.sampled_from([2.0, 24.0]))}}
    link = draw(st.sampled_from([0.002, 0.02])) if link_rate is None else link_rate
    return scenario_from_dict({
        "name": "sftprop", "policies": ["static", "static_ft"], "replications": 1,
        "seed": draw(st.integers(0, 2**32)), "horizon_days": 30.0, "slices": sorted(shapes),
        "pod_manager": {"ft_routing": {"max_faults": draw(st.integers(0, 4))}},
        "topology": {"pods": draw(st.integers(1, 2)), "cube_grid": list(grid), "cube_shape": list(cube_shape),
                     "hosts_per_cube": math.prod(cube_shape) // 2, "chips_per_host": 2,
                     "static_wrap": draw(st.booleans()), "static_cable_ends": draw(st.sampled_from([1, 2]))},
        "failures": {"host": component(draw(st.sampled_from([0.0, 0.005]))), "ici_link": component(link),
                     "ocs": component(0.01)},
    })


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_scenarios())
def test_the_tracker_matches_a_naive_replay_and_static_ft_is_never_less_available(scenario):
    result = simulate(build_model(scenario), 0, record_trace=True)
    ft, plain = result.values("static_ft", "slice_availability"), result.values("static", "slice_availability")
    assert ft == pytest.approx(_naive(scenario, result.trace), abs=1e-9)
    assert all(a >= b for a, b in zip(ft, plain))  # paired, exact: FT only relaxes the rule
    assert result.value("static_ft", "system_availability") == result.value("static", "system_availability")
    capacity_ft = result.values("static_ft", "capacity_fraction")
    capacity = result.values("static", "capacity_fraction")
    assert all(a >= b - 1e-12 for a, b in zip(capacity_ft, capacity))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_scenarios(link_rate=0.0))
def test_without_link_failures_static_ft_equals_static(scenario):
    result = simulate(build_model(scenario), 0)
    assert result.values("static_ft", "slice_availability") == result.values("static", "slice_availability")
    assert result.values("static_ft", "capacity_fraction") == pytest.approx(
        result.values("static", "capacity_fraction"), abs=1e-12)


def test_on_the_pod_static_ft_is_at_least_static_for_every_shape_and_replication():
    sc = scenario_from_dict({
        "name": "pod", "replications": 3, "horizon_days": 120, "policies": ["static", "static_ft"],
        "slices": ["4x4x4", "4x4x8", "8x8x8", "8x16x16", "12x16x16", "16x16x16"],
        "failures": {"ici_link": {"daily_rate": 0.0005}},  # ten times the published rate: faults meet
    })
    model = build_model(sc)
    gained = 0.0
    for r in range(sc.replications):
        result = simulate(model, r)
        ft, plain = result.values("static_ft", "slice_availability"), result.values("static", "slice_availability")
        assert all(a >= b for a, b in zip(ft, plain)), (r, ft, plain)
        gained += sum(ft) - sum(plain)
    assert gained > 0  # and link faults do cost the static pod availability FT routing wins back


def test_the_tracker_needs_the_box_graph_joined():
    """One cube, a 4x4x4 mesh: its corner chip's three links down are within a budget of 4 but
    cut the chip off, so the slice is not placeable; two of them leave it placeable."""
    from tpusim.failures.health import ICI_LINK, HealthState

    model = build_model(_scenario((1, 1, 1), slices=["4x4x4"]))
    policy, cube = model.policy("static_ft"), model.machine.cube
    health = HealthState(model.machine)
    tracker = policy.capacity_tracker([(1, 1, 1)], health)
    corner = cube.chip_index(0, 0, 0)
    links = [n for n, (u, v) in enumerate(cube.electrical_links) if corner in (u, v)]
    health.set_down(ICI_LINK, links[0], 1.0)
    health.set_down(ICI_LINK, links[1], 2.0)
    assert tracker.placeable() == [True]
    health.set_down(ICI_LINK, links[2], 3.0)
    assert tracker.placeable() == [False]
    health.set_up(ICI_LINK, links[0], 5.0)
    assert tracker.placeable() == [True]
    outcome = tracker.finish(10.0, health)
    assert outcome.slice_availability == [pytest.approx(0.8)]
    assert outcome.capacity == [1.0, pytest.approx(0.8)]


def test_the_schedulers_memos_hold_under_the_fault_budget():
    """static_ft keeps static's exact victim search (which boxes fit depends on known health
    alone): every search a memo skips is re-run by the straightforward search (test_jobs'
    oracle), on a busy pod whose links fail often enough for the budget to matter."""
    from test_jobs import OracleScheduler, _run_with_oracle

    sc = scenario_from_dict({
        "name": "busy", "seed": 3, "replications": 1, "horizon_days": 4, "slices": ["4x4x4"],
        "policies": ["static_ft"], "topology": {"cube_grid": [2, 2, 2]},
        "failures": {"host": {"daily_rate": 0.05, "repair": {"mean_hours": 10}},
                     "ici_link": {"daily_rate": 0.002, "repair": {"mean_hours": 10}}},
        "workload": {"jobs_per_pod_day": 150, "duration": {"mean_hours": 2.0}},
        "scheduler": {"defrag_wait_hours": 0.5},
        "pod_manager": {"ft_routing": {"max_faults": 2}},
    })
    OracleScheduler.skipped = 0
    _run_with_oracle(sc)
    assert OracleScheduler.skipped > 100
