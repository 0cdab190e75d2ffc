"""``topology.sub_pod_slices: mesh`` (DESIGN §2): on the OCS pod a slice of whole cubes smaller
than a pod is wired as a mesh, in the orientation its shape names. Along a dimension it spans
with ``n > 1`` cubes it has ``n - 1`` joins per line, along one it spans with one cube none; so it
uses only the OCSes of the dimensions it spans and only the ports facing a neighbour inside it.
A full-pod slice stays a torus; ``torus`` (the default) is the model as it was (the goldens).

Closed forms are written here, never taken from the code under test (DESIGN §6).
"""

import pytest
from hypothesis import HealthCheck, given, settings

from reference import evaluate
from test_convergence import _within, failures_only, mtbf_over_mtbf_plus_mttr
from test_jobs import Checker, OracleScheduler, _run_with_oracle, job, job_scenarios, run, scenario
from test_properties import small_scenarios
from tpusim import build_model, run_scenario, scenario_from_dict
from tpusim.engine.replication import job_simulation, simulate
from tpusim.policies.analytic import any_k_cubes_mesh, any_k_cubes_spanning
from tpusim.policies.ft_routing import routed_rate, slot_faults
from tpusim.topology.allocation import Allocation
from tpusim.topology.shapes import SliceShape

MESH = {"topology.sub_pod_slices": "mesh"}
LINKS, ELECTRICAL, HOSTS = 240, 144, 16  # per 4x4x4 cube: links (electrical, then 96 optical ports)
X_OCS, Y_OCS, Z_OCS = 0, 16, 32  # the first OCS (d, 0) of each dimension in pod 0 (16 per dimension)


def port(d: int, sign: int, p: int = 0) -> int:
    """Optical port number of a 4x4x4 cube: by dimension, sign (+ then -), face position."""
    return d * 32 + (0 if sign > 0 else 16) + p


def port_link(cube: int, d: int, sign: int, p: int = 0) -> int:
    return cube * LINKS + ELECTRICAL + port(d, sign, p)


# -- 1. capacity under OCS failures alone -------------------------------------------------------

def _ocs_only(mode: str) -> dict:
    return {
        "name": f"mesh-ocs-{mode}", "seed": 11, "replications": 40, "horizon_days": 2 * 365,
        "policies": ["reconfigurable", "static"],
        "slices": ["4x4x4", "4x4x8", "16x16x16"],  # 1 cube, 1x1x2 cubes (spans z), the full pod
        "topology": {"sub_pod_slices": mode},
        "failures": failures_only(ocs={"daily_rate": 0.01, "repair": {"dist": "lognormal", "mean_hours": 12,
                                                                        "sigma": 1.0}}),
    }


def test_mesh_slices_need_only_the_ocses_of_the_dimensions_they_span():
    a = mtbf_over_mtbf_plus_mttr(0.01, 12)
    level = 1 - 0.05 / 4
    # mesh: one cube needs no OCS; 1x1x2 cubes the 16 z-OCSes; the full pod is a torus (all 48)
    sc = scenario_from_dict(_ocs_only("mesh"))
    results = run_scenario(sc)
    per_rep = [r.values("reconfigurable", "slice_availability") for r in results.replications]
    assert all(v[0] == 1.0 for v in per_rep)  # never a moment without a one-cube slice
    for i, truth in ((1, a ** 16), (2, a ** 48)):
        ok, est = _within([v[i] for v in per_rep], truth, level)
        assert ok, f"shape {i}: simulated {est} vs {truth}"
    # the capacity: some 2..63-cube slice (a line along one dimension) while any dimension's 16
    # OCSes are all up
    some_dim = 1 - (1 - a ** 16) ** 3
    ok, est = _within([r.value("reconfigurable", "capacity_fraction", "2") for r in results.replications],
                      some_dim, level)
    assert ok, f"capacity for 2 cubes: simulated {est} vs {some_dim}"
    model = build_model(sc)
    assert any_k_cubes_spanning(model.machine, model.failures, 2, (False, False, True)) == pytest.approx(a ** 16)
    assert any_k_cubes_mesh(model.machine, model.failures, 2) == pytest.approx(some_dim)
    assert any_k_cubes_mesh(model.machine, model.failures, 1) == pytest.approx(1.0)
    assert any_k_cubes_mesh(model.machine, model.failures, 64) == pytest.approx(a ** 48)
    # the torus default: every slice of whole cubes needs all 48, on the same trace
    torus = run_scenario(scenario_from_dict(_ocs_only("torus")))
    for i in range(3):
        ok, est = _within([r.values("reconfigurable", "slice_availability")[i] for r in torus.replications],
                          a ** 48, 1 - 0.05 / 3)
        assert ok, f"torus shape {i}: simulated {est} vs a^48 = {a ** 48}"
    # one trace, so the full-pod slice sees the same outages either way; the static pod has no OCS
    for m, t in zip(results.replications, torus.replications):
        assert m.values("reconfigurable", "slice_availability")[2] == t.values("reconfigurable",
                                                                                "slice_availability")[2]
        assert m.values("static", "slice_availability") == t.values("static", "slice_availability") == [1.0] * 3


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_scenarios())
def test_mesh_trackers_match_a_naive_replay_of_the_trace(sc):
    data = sc.model_dump(mode="json")
    data["topology"]["sub_pod_slices"] = "mesh"
    sc = scenario_from_dict(data)
    result = simulate(build_model(sc), 0, record_trace=True)
    expected = evaluate(sc, result.trace)
    for policy in ("reconfigurable", "reconfigurable_ft"):
        assert result.values(policy, "slice_availability") == pytest.approx(
            expected[policy]["slice_availability"], abs=1e-9), policy
        assert result.values(policy, "capacity_fraction") == pytest.approx(expected[policy]["capacity"],
                                                                            abs=1e-9), policy


# -- 2. exact timelines ---------------------------------------------------------------------------

SETUP = 3 / 60 + 12 / 60  # reconfiguration + restart


@pytest.mark.parametrize("mode", ["torus", "mesh"])
def test_an_x_ocs_failure_interrupts_a_z_spanning_slice_only_as_a_torus(mode):
    sc = scenario(**{"topology.sub_pod_slices": mode})  # a pod of 3 cubes: 1x1x2 is sub-pod
    trace = [(2.7, "ocs", X_OCS + 3, True), (10.0, "ocs", X_OCS + 3, False)]
    jobs, sim = run(sc, "reconfigurable", [job(0, 0.0, "4x4x8", 5.0)], trace)
    j = jobs[0]
    if mode == "mesh":
        assert j.interruptions == 0 and j.finish == pytest.approx(SETUP + 5.0)
        assert j.xconnects == 16  # one face join along z, no wraparound
    else:
        # darkened: requeued (no torus runs in the pod) until the repair at 10 h, from the
        # checkpoint at 2 h; the circuits are still set, so the restart programs nothing
        assert j.interruptions == 1
        assert j.finish == pytest.approx(10.0 + 12 / 60 + 5.0 - 2.0)
        assert j.xconnects == 96


def test_a_z_ocs_failure_interrupts_a_z_spanning_mesh_slice():
    sc = scenario(**MESH)
    trace = [(2.7, "ocs", Z_OCS + 5, True), (10.0, "ocs", Z_OCS + 5, False)]
    jobs, sim = run(sc, "reconfigurable", [job(0, 0.0, "4x4x8", 5.0)], trace)
    j = jobs[0]
    assert j.interruptions == 1
    assert j.finish == pytest.approx(10.0 + 12 / 60 + 5.0 - 2.0)  # waits for the repair, circuits kept
    assert j.xconnects == 16 and sim.pod_manager.xconnects_by["first"] == 16


def test_a_one_cube_mesh_slice_uses_no_ocs_and_no_port():
    sc = scenario(**MESH)
    trace = [(1.0, "ocs", X_OCS, True), (1.5, "ocs", Y_OCS + 1, True), (2.0, "ocs", Z_OCS + 2, True),
             (2.5, "ici_link", port_link(0, 2, +1), True)]  # even a dark port of its own cube
    trace += [(50.0, cls, unit, False) for _, cls, unit, _ in trace]
    jobs, sim = run(sc, "reconfigurable", [job(0, 0.0, "4x4x4", 5.0)], trace)
    j = jobs[0]
    assert j.interruptions == 0 and j.xconnects == 0
    assert j.finish == pytest.approx(12 / 60 + 5.0)  # no circuit programmed: no reconfiguration time
    # a torus one-cube slice programs its 48 wraparound circuits and is hit by the first failure
    jobs, _ = run(scenario(), "reconfigurable", [job(0, 0.0, "4x4x4", 5.0)], trace)
    assert jobs[0].xconnects == 48 and jobs[0].interruptions >= 1


def test_a_mesh_slice_is_not_hit_by_a_port_it_does_not_use():
    """The 1x1x2 mesh on cubes 0 (slot z=0) and 1 (z=1) joins cube 0's +z face to cube 1's -z
    face: cube 0's -z port, its x and y ports and cube 1's +z port carry nothing."""
    sc = scenario(**MESH)
    unused = [(1.0, "ici_link", port_link(0, 2, -1), True), (1.2, "ici_link", port_link(1, 2, +1, 7), True),
              (1.4, "ici_link", port_link(0, 0, +1, 3), True)]
    trace = unused + [(40.0, cls, unit, False) for _, cls, unit, _ in unused]
    jobs, _ = run(sc, "reconfigurable", [job(0, 0.0, "4x4x8", 5.0)], trace)
    assert jobs[0].interruptions == 0 and jobs[0].finish == pytest.approx(SETUP + 5.0)
    used = [(1.0, "ici_link", port_link(1, 2, -1, 4), True), (40.0, "ici_link", port_link(1, 2, -1, 4), False)]
    jobs, _ = run(sc, "reconfigurable", [job(0, 0.0, "4x4x8", 5.0)], used)
    assert jobs[0].interruptions == 1


def test_the_one_cube_mesh_runs_while_the_pod_has_an_ocs_down():
    """Placement gates a pod by the OCSes of the dimensions the shape uses: with an x-OCS down a
    one-cube and a z-spanning mesh slice start, a 4x8x4 (spans y) slice also, an 8x4x4 (spans
    x) waits for the repair."""
    sc = scenario(**MESH, **{"topology.cube_grid": [2, 2, 2]})
    trace = [(0.0, "ocs", X_OCS + 1, True), (6.0, "ocs", X_OCS + 1, False)]
    specs = [job(0, 1.0, "4x4x4", 1.0), job(1, 1.0, "4x4x8", 1.0), job(2, 1.0, "4x8x4", 1.0),
             job(3, 1.0, "8x4x4", 1.0)]
    jobs, _ = run(sc, "reconfigurable", specs, trace)
    assert [jobs[i].first_start for i in range(3)] == [1.0, 1.0, 1.0]
    assert jobs[3].first_start == 6.0


# -- 4. FT routing on the mesh graph ---------------------------------------------------------------

def _policy(model, name):
    return next(p for p in model.policies if p.name == name)


def test_ft_routes_a_mesh_slice_on_its_mesh_graph():
    sc = scenario(**MESH, **{"policies": ["reconfigurable_ft"]})
    model = build_model(sc)
    unused = [(1.0, "ici_link", port_link(0, 2, -1), True), (30.0, "ici_link", port_link(0, 2, -1), False)]
    jobs, sim = run(sc, "reconfigurable_ft", [job(0, 0.0, "4x4x8", 5.0)], unused)
    j = jobs[0]
    # a port the mesh does not use costs nothing: no stall, no reroute, full speed
    assert j.interruptions == 0 and sim.pod_manager.ft_reroutes == 0
    assert j.finish == pytest.approx(SETUP + 5.0) and j.lost == 0
    # the same fault under the torus: its z wraparound runs through that port
    jobs, sim = run(scenario(policies=["reconfigurable_ft"]), "reconfigurable_ft", [job(0, 0.0, "4x4x8", 5.0)],
                    unused)
    assert sim.pod_manager.ft_reroutes == 1 and jobs[0].finish > SETUP + 5.0
    # a fault it uses: the speed is that of the mesh graph (no wraparound), not the torus's
    # (all-to-all: the mesh's bisection is half the ring's, so one lost circuit costs more)
    policy = _policy(model, "reconfigurable_ft")
    alloc = Allocation(0, [0, 1], model.machine.cube.full_mask)
    fraction = policy.routing.fraction("alltoall")
    holder = _Holder()
    for faults in ([(1, port_link(0, 2, +1, 5))], [(3, 1 * 96 + port(2, -1, 9))]):  # a port link, a switch port
        got = policy.slice_rate(holder, alloc, faults)
        by_slot = slot_faults(model.machine, {0: 0, 1: 1}, faults)
        mesh = routed_rate(model.machine.cube, (1, 1, 2), (False, False, False), "alltoall", fraction, by_slot)
        torus = routed_rate(model.machine.cube, (1, 1, 2), (True, True, True), "alltoall", fraction, by_slot)
        assert mesh is not None and torus is not None
        assert got == mesh < torus < 1.0, faults


class _Holder:
    """A running 1x1x2-cube all-to-all slice, as the policy reads one."""

    id, chips, cubes, cube_dims, pattern, alloc = 0, 128, 2, (1, 1, 2), "alltoall", None


RATES = {"host": {"daily_rate": 0.001, "repair": {"mean_hours": 24}},
         "ici_link": {"daily_rate": 0.0002, "repair": {"mean_hours": 24}},
         "ocs": {"daily_rate": 0.0004, "repair": {"mean_hours": 12}},
         "ocs_port": {"daily_rate": 0.0003, "repair": {"mean_hours": 6}},
         "ocs_control_plane_share": 0.25}


def test_mesh_interrupting_rate_counts_the_parts_it_uses():
    """The Young/Daly MTBF of a mesh slice: its cubes' hosts and electrical links, both ends of
    each circuit it uses (a port link and the switch port facing it) and the OCSes of the
    dimensions it spans (data-plane failures only)."""
    host, link, ocs, ocs_port = (RATES[c]["daily_rate"] / 24 for c in ("host", "ici_link", "ocs", "ocs_port"))
    dark = ocs * 0.75
    for mode in ("mesh", "torus"):
        model = build_model(scenario(failures=RATES, **{"topology.cube_grid": [2, 2, 2],
                                                       "topology.sub_pod_slices": mode}))
        plain = _policy(model, "reconfigurable")
        f = model.failures
        full = 8 * (16 * host + 240 * link + 96 * ocs_port) + 48 * dark  # the full pod: a torus
        assert plain.interrupting_rate(f, SliceShape.parse("8x8x8")) == pytest.approx(full, rel=1e-12)
        if mode == "mesh":
            # 8x8x4 = 2x2x1 cubes: 2 joins along x, 2 along y, 16 circuits each, 2 ports a circuit
            want = 4 * (16 * host + 144 * link) + 4 * 16 * 2 * (link + ocs_port) + 32 * dark
            one = 16 * host + 144 * link
        else:
            want = 4 * (16 * host + 240 * link + 96 * ocs_port) + 48 * dark
            one = 16 * host + 240 * link + 96 * ocs_port + 48 * dark
        assert plain.interrupting_rate(f, SliceShape.parse("8x8x4")) == pytest.approx(want, rel=1e-12), mode
        assert plain.interrupting_rate(f, SliceShape.parse("4x4x4")) == pytest.approx(one, rel=1e-12), mode


# -- the scheduler's memos and the job layer's invariants hold with meshes -----------------------

def _meshed(sc):
    data = sc.model_dump(mode="json")
    data["topology"]["sub_pod_slices"] = "mesh"
    return scenario_from_dict(data)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(job_scenarios())
def test_mesh_memoised_searches_agree_with_the_straightforward_search(sc):
    """The pool's open counts are gated per shape as they are read (an OCS down blocks only the
    shapes wired through it): every search a memo skips is checked against a fresh one."""
    _run_with_oracle(_meshed(sc))


def test_the_mesh_oracle_is_exercised_with_ocs_failures():
    sc = scenario_from_dict({
        "name": "busy-mesh", "seed": 5, "replications": 1, "horizon_days": 4, "slices": ["4x4x4"],
        "policies": ["reconfigurable", "reconfigurable_ft"],
        "topology": {"cube_grid": [2, 2, 2], "sub_pod_slices": "mesh"},
        "failures": {"host": {"daily_rate": 0.05, "repair": {"mean_hours": 10}},
                     "ocs": {"daily_rate": 0.2, "repair": {"mean_hours": 5}}},
        "workload": {"jobs_per_pod_day": 150, "duration": {"mean_hours": 2.0}},
        "scheduler": {"defrag_wait_hours": 0.5},
    })
    OracleScheduler.skipped = 0
    _run_with_oracle(sc)
    assert OracleScheduler.skipped > 100


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(job_scenarios())
def test_mesh_job_invariants_hold_on_random_scenarios(sc):
    from tpusim.scheduler.workload import generate_jobs

    model = build_model(_meshed(sc))
    trace = simulate(model, 0, record_trace=True).trace
    specs = generate_jobs(model.workload, model.horizon, model.seed, 0)
    for policy in ("reconfigurable", "reconfigurable_ft"):
        sim = job_simulation(model, policy, trace, specs)
        Checker(sim)
        m = sim.run().metrics
        states = [j.state for j in sim.jobs]
        assert m["jobs_arrived"] == len(states)
        for j in sim.jobs:
            assert j.useful <= j.held + 1e-6
            # a one-cube mesh never programs a circuit; no slice programs more than its torus would
            if j.cubes == 1:
                assert j.xconnects == 0
