"""Fault-tolerant ICI routing: faulty slice graphs, step penalties, and degraded jobs."""

import networkx as nx
import pytest

from tpusim import scenario_from_dict
from tpusim import build_model
from tpusim.engine.replication import job_simulation
from tpusim.topology import CubeLayout
from tpusim.config.build import shipped_mix
from tpusim.config.schema import CommFraction
from tpusim.policies.base import RoutingParams
from tpusim.topology.routing import (PUBLISHED_PENALTY, calibrate_comm_fraction, comm_slowdown, faulty_graph,
                                     joined, lost_links, single_fault_slowdowns, slice_topology, step_penalty)
from tpusim.topology.shapes import SliceShape
from tpusim.scheduler.workload import JobSpec

CUBE = CubeLayout()


def topo(cube_dims):
    return slice_topology(CUBE, cube_dims)


@pytest.mark.parametrize("cube_dims", [(1, 1, 1), (1, 1, 2), (2, 2, 2), (1, 3, 2)])
def test_an_ocs_down_removes_one_port_pair_per_cube(cube_dims):
    g = topo(cube_dims).graph
    k = cube_dims[0] * cube_dims[1] * cube_dims[2]
    for d, p in ((0, 0), (1, 7), (2, 15)):
        f = faulty_graph(g, lost_links(topo(cube_dims), set(), set(), {(d, p)}))
        removed = [(u, v) for u, v in g.edges if not f.has_edge(u, v)]
        assert len(removed) == k
        plus = CUBE.port_chip(CUBE.ports[CUBE.port_index(d, +1, p)])
        minus = CUBE.port_chip(CUBE.ports[CUBE.port_index(d, -1, p)])
        # each removed link joins some cube's +d port p chip to a -d port p chip
        for u, v in removed:
            assert {u[1], v[1]} == {plus, minus} or (plus == minus == u[1] == v[1])
        assert sorted(g.edges[e]["plus_cube"] for e in removed) == list(range(k))


def test_port_and_electrical_faults_remove_exactly_their_link():
    g = topo((1, 1, 2)).graph
    f = faulty_graph(g, lost_links(topo((1, 1, 2)), {(0, 0, 1)}, {(1, 2, -1, 3)}, set()))
    assert g.number_of_edges() - f.number_of_edges() == 2
    assert not f.has_edge((0, 0), (0, 1))


@pytest.mark.parametrize("shape", ["4x4x4", "4x4x8", "8x8x8", "8x8x16", "12x16x16"])
@pytest.mark.parametrize("pattern", ["allreduce", "alltoall"])
def test_one_ocs_down_keeps_the_slice_connected_and_costs_at_most_the_published_ceiling(shape, pattern):
    s = SliceShape.parse(shape)
    t = topo(s.cube_dims((4, 4, 4)))
    fraction = RoutingParams().fraction(pattern)
    for d, p in ((0, 5), (2, 9)):
        lost = lost_links(t, set(), set(), {(d, p)})
        assert nx.is_connected(faulty_graph(t.graph, lost))
        penalty = step_penalty(t, lost, pattern, fraction)
        assert penalty is not None and 0.0 < penalty <= 0.0865, (shape, pattern, penalty)
    assert step_penalty(t, [], pattern, fraction) == 0.0  # every link up: exactly zero
    assert comm_slowdown(t, [], pattern) == 1.0


def x_link(x, y, z):
    """The electrical link of a 4x4x4 cube (slot 0) from chip (x, y, z) to (x + 1, y, z)."""
    return (0, CUBE.chip_index(x, y, z), CUBE.chip_index(x + 1, y, z))


def y_link(x, y, z):
    return (0, CUBE.chip_index(x, y, z), CUBE.chip_index(x, y + 1, z))


def slowdown(cube_dims, pattern, electrical=(), ports=(), ocs=()):
    t = topo(cube_dims)
    return comm_slowdown(t, lost_links(t, set(electrical), set(ports), set(ocs)), pattern)


# All-reduce phase weights written out by hand: the bucket algorithm (reduce-scatter along the
# dimensions in one order, all-gather back) over the six orders of three rings. A phase on a ring
# of n moves (n - 1) / n of what it starts with and leaves 1 / n of it; reduce-scatter and
# all-gather count alike, so a dimension's weight is the mean over orders of (n - 1) / n x the
# share left by the dimensions before it (x2, a constant, left out).
W_444 = (2 * 3 / 4 + 2 * 3 / 16 + 2 * 3 / 64) / 6  # each dimension of a 4x4x4 slice, the same
W_448_X = (2 * 3 / 4 + 3 / 16 + 3 / 32 + 2 * 3 / 128) / 6  # first, after y, after z, last
W_448_Z = (2 * 7 / 8 + 2 * 7 / 32 + 2 * 7 / 128) / 6  # the 8-ring: first, second, last


def test_one_lost_link_of_a_one_cube_slice_doubles_one_phase_of_three_by_hand():
    # the detour of a lost x-link must cross some other x-link, which then carries two units in
    # the x phase; the y and z phases do not see it: (2 w + w + w) / 3 w
    expected = (2 * W_444 + W_444 + W_444) / (3 * W_444)
    assert expected == pytest.approx(4 / 3)
    assert slowdown((1, 1, 1), "allreduce", electrical={x_link(0, 0, 0)}) == pytest.approx(expected)
    # the x wrap-around (an optical port, the cube joined to itself) costs the same
    assert slowdown((1, 1, 1), "allreduce", ports={(0, 0, +1, 0)}) == pytest.approx(expected)
    assert slowdown((1, 1, 1), "allreduce", ocs={(1, 3)}) == pytest.approx(expected)


def test_a_fault_in_a_longer_dimension_costs_more_by_hand():
    # 4x4x8: the 8-ring's phases carry more of the all-reduce than each 4-ring's
    total = 2 * W_448_X + W_448_Z
    assert total == pytest.approx(127 / 128)  # the bucket algorithm's (N - 1) / N, whatever the order
    z_fault = slowdown((1, 1, 2), "allreduce", ocs={(2, 4)})
    x_fault = slowdown((1, 1, 2), "allreduce", ocs={(0, 4)})
    assert z_fault == pytest.approx(1 + W_448_Z / total)
    assert x_fault == pytest.approx(1 + W_448_X / total)
    assert z_fault > x_fault


def test_two_faults_in_one_dimension_cost_less_than_in_two_dimensions():
    far_x = {x_link(0, 0, 0), x_link(2, 2, 2)}  # detours through different lines: no shared link
    x_and_y = {x_link(0, 0, 0), y_link(2, 2, 2)}
    one = slowdown((1, 1, 1), "allreduce", electrical={x_link(0, 0, 0)})
    same = slowdown((1, 1, 1), "allreduce", electrical=far_x)
    two = slowdown((1, 1, 1), "allreduce", electrical=x_and_y)
    assert same == pytest.approx((2 * W_444 + 2 * W_444) / (3 * W_444)) == pytest.approx(one)  # one phase doubled
    assert two == pytest.approx((2 * W_444 + 2 * W_444 + W_444) / (3 * W_444))  # two phases doubled
    assert two > same
    # a whole x-line cut twice: its detours leave the line, and the busiest link may carry more
    assert slowdown((1, 1, 1), "allreduce", electrical={x_link(0, 0, 0), x_link(2, 0, 0)}) >= one


@pytest.mark.parametrize("k", [1, 3, 16])
def test_alltoall_lost_links_across_one_cut_slow_its_phase_by_healthy_over_surviving_links(k):
    # 4x4x4, one cube: the x bisection through planes x=1|2 (16 electrical links) and x=3|0 (the
    # 16 wrap-around ports) has 32 links; k of the electrical ones are lost.
    lines = [(y, z) for z in range(4) for y in range(4)][:k]
    lost = {x_link(1, y, z) for y, z in lines}
    # ring all-to-all phase weights: sum(min(j, n - j)) / 2n, 4 / 8 on every 4-ring: all equal
    w = (1 + 2 + 1) / 8
    expected = (w * 32 / (32 - k) + w + w) / (3 * w)
    assert slowdown((1, 1, 1), "alltoall", electrical=lost) == pytest.approx(expected)
    # the same k links split over the cut's two planes (the rest on the x wrap-around ports of
    # x=3|0, port position y + 4 z): still one cut, the same ratio
    electrical = {x_link(1, y, z) for y, z in lines[: k // 2]}
    ports = {(0, 0, +1, y + 4 * z) for y, z in lines[k // 2:]}
    assert slowdown((1, 1, 1), "alltoall", electrical=electrical, ports=ports) == pytest.approx(expected)


def test_alltoall_is_limited_by_its_weakest_cut_and_one_ocs_costs_a_4x4x8_slice_by_hand():
    # lost links on two different x cuts: 2 on x=0|1 (cut with x=2|3), 3 on x=1|2 (cut with x=3|0)
    lost = {x_link(0, 0, 0), x_link(0, 1, 0), x_link(1, 0, 1), x_link(1, 1, 1), x_link(1, 2, 1)}
    w = 4 / 8
    assert slowdown((1, 1, 1), "alltoall", electrical=lost) == pytest.approx((w * 32 / 29 + 2 * w) / (3 * w))
    # 4x4x8 (two cubes along z): OCS (2, p) darkens the link of planes z=3|4 and z=7|0 in line p,
    # the two planes of one bisection (16 + 16 links): 32 / 30 on the z phase. Weights: 4-rings
    # 4 / 8, the 8-ring (1 + 2 + 3 + 4 + 3 + 2 + 1) / 16.
    wx, wz = 4 / 8, 16 / 16
    assert slowdown((1, 1, 2), "alltoall", ocs={(2, 6)}) == pytest.approx((2 * wx + wz * 32 / 30) / (2 * wx + wz))
    # an OCS of x: one link per cube on plane x=3|0 (two cubes side by side: 2 x 16 links), whose
    # cut partner x=1|2 keeps its 32: 64 / 62
    assert slowdown((1, 1, 2), "alltoall", ocs={(0, 6)}) == pytest.approx((wx * 64 / 62 + wx + wz) / (2 * wx + wz))


def test_the_calibration_reproduces_the_defaults():
    fractions = calibrate_comm_fraction(CUBE, [s for s, _ in shipped_mix()])
    defaults = dict(RoutingParams().comm_fraction)
    schema = CommFraction()
    for pattern in ("allreduce", "alltoall"):
        assert round(fractions[pattern], 3) == defaults[pattern] == getattr(schema, pattern)
    low, high = PUBLISHED_PENALTY
    # by hand: all-to-all sets the floor on a 4x4x4 slice, whose costliest single fault (any: one
    # OCS is one port there) takes 1 of the 32 links of one bisection in one of three equal phases
    assert fractions["alltoall"] == pytest.approx(low / ((32 / 31 - 1) / 3))
    # all-reduce sets the ceiling on 4x4x192 (48 cubes in a line), an OCS of its 192-ring, the
    # phase that carries most: weights by hand over the six orders (4, 4, 192)
    wx = 2 * 3 / 4 + 3 / 16 + 3 / 768 + 2 * 3 / 3072
    wz = 2 * 191 / 192 + 2 * 191 / 768 + 2 * 191 / 3072
    assert fractions["allreduce"] == pytest.approx(high / (wz / (2 * wx + wz)))
    # and with the rounded defaults the jobs span the published range to within rounding
    per_job = [defaults[p] * max(single_fault_slowdowns(CUBE, s.cube_dims(CUBE.shape), p).values())
               for s, _ in shipped_mix() if s.chips >= 64 for p in defaults]
    assert min(per_job) == pytest.approx(low, rel=1e-3) and max(per_job) == pytest.approx(high, rel=5e-3)


def test_a_cut_apart_slice_cannot_run():
    t = topo((1, 1, 1))
    chip = 0  # a corner chip: 3 electrical links and 3 ports
    electrical = {(0, a, b) for a, b in CUBE.electrical_links if chip in (a, b)}
    ports = {(0, p.d, p.sign, p.p) for p in CUBE.ports if CUBE.port_chip(p) == chip}
    lost = lost_links(t, electrical, ports, set())
    assert len(lost) == 6 and not nx.is_connected(faulty_graph(t.graph, lost))
    assert comm_slowdown(t, lost, "allreduce") is None
    assert comm_slowdown(t, lost, "alltoall") is None


@pytest.mark.parametrize("cube_dims, wrap", [((1, 1, 1), (True, True, True)), ((2, 1, 1), (False, True, True)),
                                             ((2, 2, 1), (True, False, True))])
def test_joined_says_exactly_whether_the_faulty_graph_stays_connected(cube_dims, wrap):
    """joined (the fault budget's connectivity check) against networkx on the filtered view, on
    random sets of lost links, many around one chip so that some cut it off."""
    import random
    t = slice_topology(CUBE, cube_dims, wrap)
    edges = list(t.graph.edges)
    rng = random.Random(7)
    cut_apart = 0
    for trial in range(300):
        if trial % 3 == 0:  # every link of one chip but maybe one
            chip = rng.choice(list(t.graph.nodes))
            around = [(chip, b) for b in t.graph[chip]]
            lost = rng.sample(around, len(around) - rng.randint(0, 1))
        else:
            lost = rng.sample(edges, rng.randint(0, 8))
        expected = nx.is_connected(faulty_graph(t.graph, lost))
        assert joined(t.graph, lost) == expected
        cut_apart += not expected
    assert cut_apart > 20


def test_ft_job_rides_through_an_ocs_failure_degraded_and_speeds_up_after_repair():
    off = {"daily_rate": 0, "repair": {"mean_hours": 1}}
    sc = scenario_from_dict({
        "name": "ft", "horizon_days": 5, "slices": ["4x4x8"], "policies": ["reconfigurable_ft"],
        "topology": {"cube_grid": [3, 1, 1]},
        "failures": {"host": off, "ici_link": off, "ocs": off, "detection_minutes": 6,
                     "ocs_control_plane_share": 0.0},  # a data-plane failure: its circuits go dark
        "workload": {"restart_minutes": 12, "checkpoint": {"interval_hours": 1.0, "mode": "synchronous",
                                                            "write_minutes": 6}},
        "pod_manager": {"reconfigure_minutes": 3},
    })
    setup, detect, write = 15 / 60, 6 / 60, 6 / 60
    t_fail, t_fix = 2.0, 4.0
    trace = [(t_fail, "ocs", 7, True), (t_fix, "ocs", 7, False)]
    sim = job_simulation(build_model(sc), "reconfigurable_ft", trace, [JobSpec(0, 0.0, SliceShape.parse("4x4x8"), 5.0, 1)])
    sim.run()
    job = sim.jobs[0]
    # OCS 7 is (x, 7): each cube's x wrap-around in line 7 goes dark, which doubles the x phase
    # of the all-reduce (a detour shares an x-link); 4x4x8 phase weights by hand: x and y (4-rings)
    # (2·3/4 + 3/16 + 3/32 + 2·3/128) / 6 each, z (the 8-ring) (2·7/8 + 2·7/32 + 2·7/128) / 6
    wx = (2 * 3 / 4 + 3 / 16 + 3 / 32 + 2 * 3 / 128) / 6
    wz = (2 * 7 / 8 + 2 * 7 / 32 + 2 * 7 / 128) / 6
    rate = 1 / (1 + 0.198 * (wx / (2 * wx + wz)))  # the default all-reduce comm fraction (calibrated)
    # the timeline, step by step: checkpoints at 1, 2, 3 and 4 hours of work, each a 6-minute stall
    t = setup + 1.0 + write  # work 1 written
    done = 1.0 + (t_fail - t)  # work when the OCS fails; stalled until detected, then rerouted
    t = t_fail + detect + (2.0 - done) / rate + write  # work 2 written, degraded
    t += 1.0 / rate + write  # work 3 written
    done = 3.0 + rate * (t_fix - t)  # full speed again at the repair
    finish = t_fix + (4.0 - done) + write + 1.0
    assert job.finish == pytest.approx(finish)
    assert job.interruptions == 0 and sim.pod_manager.ft_reroutes == 1
    assert job.lost == pytest.approx(128 * detect)  # the stall before the reroute is lost
    assert job.ckpt_stall == pytest.approx(128 * 4 * write)
    degraded = t_fix - (t_fail + detect)
    assert job.degraded_held == pytest.approx(128 * degraded)
    assert job.slow_lost == pytest.approx(128 * (degraded - 2 * write) * (1 - rate))  # two writes while degraded
    # without FT routing the same failure stops the job and costs lost work and a restart
    sim2 = job_simulation(build_model(sc), "reconfigurable", trace, [JobSpec(0, 0.0, SliceShape.parse("4x4x8"), 5.0, 1)])
    sim2.run()
    assert sim2.jobs[0].interruptions == 1 and sim2.jobs[0].finish > job.finish
