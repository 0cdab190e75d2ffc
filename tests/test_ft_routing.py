"""Fault-tolerant ICI routing: faulty slice graphs, step penalties, and degraded jobs."""

import networkx as nx
import pytest

from tpusim import scenario_from_dict
from tpusim import build_model
from tpusim.engine.replication import job_simulation
from tpusim.topology import CubeLayout
from tpusim.topology.routing import comm_slowdown, faulty_graph, lost_links, slice_topology, step_penalty
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
@pytest.mark.parametrize("pattern, fraction", [("allreduce", 0.05), ("alltoall", 0.5)])
def test_one_ocs_down_keeps_the_slice_connected_within_the_published_penalties(shape, pattern, fraction):
    s = SliceShape.parse(shape)
    t = topo(s.cube_dims((4, 4, 4)))
    for d, p in ((0, 5), (2, 9)):
        lost = lost_links(t, set(), set(), {(d, p)})
        assert nx.is_connected(faulty_graph(t.graph, lost))
        penalty = step_penalty(t, lost, pattern, fraction)
        assert penalty is not None and 0.005 <= penalty <= 0.086, (shape, pattern, penalty)
    assert step_penalty(t, [], pattern, fraction) == 0.0  # every link up: exactly zero


def test_a_cut_apart_slice_cannot_run():
    t = topo((1, 1, 1))
    chip = 0  # a corner chip: 3 electrical links and 3 ports
    electrical = {(0, a, b) for a, b in CUBE.electrical_links if chip in (a, b)}
    ports = {(0, p.d, p.sign, p.p) for p in CUBE.ports if CUBE.port_chip(p) == chip}
    lost = lost_links(t, electrical, ports, set())
    assert len(lost) == 6 and not nx.is_connected(faulty_graph(t.graph, lost))
    assert comm_slowdown(t, lost, "allreduce") is None
    assert comm_slowdown(t, lost, "alltoall") is None


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
    rate = 1 / 1.05  # one OCS down, all-reduce: comm fraction 0.05 x (slowdown 2 - 1)
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
