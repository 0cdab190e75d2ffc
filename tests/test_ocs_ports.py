"""OCS faults at port granularity (DESIGN §2): one switch port dark, the switch goes on.

A failure of the OCS port facing optical port ``q`` of a cube darkens that one circuit end, as a
failure of the cube's fibre would: a slice of whole cubes on the reconfigurable pod loses that
cube until repair or a swap (fault-tolerant routing routes around it); the statically wired pod
has no such part and never sees it. The closed forms here are written from the definitions, not
taken from the code under test."""

from __future__ import annotations

import pytest
from scipy import stats as sps

from test_jobs import job, run, scenario
from test_convergence import _within, mtbf_over_mtbf_plus_mttr
from tpusim import build_model, run_scenario, scenario_from_dict
from tpusim.core.metrics import COMPONENT_AVAILABILITY, SYSTEM_AVAILABILITY

OFF = {"daily_rate": 0, "repair": {"mean_hours": 1}}
POLICIES = ["static", "static_ft", "reconfigurable", "reconfigurable_ft"]


def ports_only(rate: float, mean_hours: float = 24.0) -> dict:
    return {"host": OFF, "ici_link": OFF, "ocs": OFF,
            "ocs_port": {"daily_rate": rate, "repair": {"dist": "exponential", "mean_hours": mean_hours}}}


def test_port_faults_follow_the_binomial_on_the_ocs_pod_and_never_touch_the_static_pod():
    rate, repair = 0.004, 24.0  # per port and day: about 0.38 dark ports per cube at any time
    sc = scenario_from_dict({
        "name": "ports", "seed": 5, "replications": 30, "horizon_days": 200, "policies": POLICIES,
        "slices": ["4x4x4", "12x12x16", "12x16x16"], "failures": ports_only(rate, repair),
    })
    results = run_scenario(sc)
    a_port = mtbf_over_mtbf_plus_mttr(rate, repair)
    ports_per_cube = 96  # 6 faces x 16 positions of a 4x4x4 cube
    q = a_port ** ports_per_cube  # a cube of the OCS pod: every switch port facing it up
    level = 1 - 0.05 / 4
    ok, est = _within([r.value(None, COMPONENT_AVAILABILITY, "ocs_port") for r in results.replications], a_port, level)
    assert ok, f"port availability {est} vs MTBF/(MTBF+MTTR) {a_port}"
    for i, k in enumerate([1, 36, 48]):
        form = float(sps.binom.sf(k - 1, 64, q))  # at least k of the pod's 64 cubes usable
        ok, est = _within([r.values("reconfigurable", "slice_availability")[i] for r in results.replications],
                          form, level)
        assert ok, f"{k} cubes: simulated {est} vs binomial {form}"
    model = build_model(sc)
    from tpusim.policies.analytic import any_k_cubes
    assert any_k_cubes(model.machine, model.failures, 36) == pytest.approx(float(sps.binom.sf(35, 64, q)), rel=1e-9)
    for r in results.replications:  # the static pod has no OCS port: nothing ever down
        for policy in ("static", "static_ft"):
            assert r.values(policy, "slice_availability") == [1.0, 1.0, 1.0]
            assert r.value(policy, SYSTEM_AVAILABILITY) == 1.0
        # a dark port makes its chip sick on the OCS pod (one chip per port)
        assert r.value("reconfigurable", SYSTEM_AVAILABILITY) < 1.0
        # FT routing keeps a slice through one or two dark ports: never less available
        assert all(ft >= plain - 1e-12 for ft, plain in zip(r.values("reconfigurable_ft", "slice_availability"),
                                                            r.values("reconfigurable", "slice_availability")))
    # the chip-time on dark ports: one chip of 64 per dark port, 96 ports per cube of 64 chips
    sick = 96 * (1 - a_port) / 64
    ok, est = _within([1 - r.value("reconfigurable", SYSTEM_AVAILABILITY) for r in results.replications], sick, level)
    assert ok, f"sick chip fraction {est} vs {sick}"


def test_a_dark_switch_port_interrupts_the_ocs_slice_only():
    """Exact timeline: a 2-cube job on a ring of 3 cubes; the switch port facing cube 0's +x
    port 0 fails at 2 h. The OCS job stops (detection, swap to the free cube, restart); the
    static job never notices; the FT job is routed around it and keeps going."""
    sc = scenario(**{"policies": POLICIES, "failures.ocs_port": {"daily_rate": 0, "repair": {"mean_hours": 1}}})
    cube = build_model(sc).machine.cube
    unit = 0 * len(cube.ports) + cube.port_index(0, +1, 0)
    trace = [(2.0, "ocs_port", unit, True), (10.0, "ocs_port", unit, False)]
    saved = 1.0  # last checkpoint (1 h interval) before 2 h of a job that started after setup
    setup = 3 / 60 + 12 / 60
    jobs, sim = run(sc, "reconfigurable", [job(0, 0.0, "4x4x8", 5.0)], trace)
    assert jobs[0].interruptions == 1 and sim.pod_manager.swaps == 1
    lost_work = (2.0 - setup) - saved
    assert jobs[0].finish == pytest.approx(setup + 5.0 + 6 / 60 + setup + lost_work)
    jobs, sim = run(sc, "static", [job(0, 0.0, "4x4x8", 5.0)], trace)
    assert jobs[0].interruptions == 0 and jobs[0].finish == pytest.approx(12 / 60 + 5.0)
    jobs, sim = run(sc, "reconfigurable_ft", [job(0, 0.0, "4x4x8", 5.0)], trace)
    assert jobs[0].interruptions == 0 and sim.pod_manager.ft_reroutes >= 1
    assert jobs[0].finish > setup + 5.0  # slowed (and stalled until the reroute), not stopped


def test_port_faults_are_off_by_default_and_reported_only_when_modelled():
    sc = scenario_from_dict({"name": "off", "seed": 1, "replications": 2, "horizon_days": 5, "slices": ["4x4x4"]})
    results = run_scenario(sc)
    assert results.component_availability("ocs_port") is None
    on = sc.with_overrides({"failures.ocs_port.daily_rate": 0.01})
    assert run_scenario(on).component_availability("ocs_port") is not None


# -- declared assumptions (DESIGN §2) ----------------------------------------------------------

def test_assumptions_name_numeric_keys_whose_value_lies_in_their_range():
    from tpusim.core.errors import ScenarioError

    base = {"name": "a", "slices": ["4x4x4"], "failures": {"ocs": {"daily_rate": 0.0002, "repair": {"mean_hours": 12}}}}
    ok = scenario_from_dict({**base, "assumptions": {
        "failures.ocs.repair.mean_hours": {"low": 1, "high": 24, "source": "assumed"}}})
    assert ok.assumptions["failures.ocs.repair.mean_hours"].high == 24
    assert ok.resolved()["assumptions"]["failures.ocs.repair.mean_hours"]["low"] == 1
    cases = {
        "failures.ocs.repair.mean_hourz": "names no key of this scenario",
        "failures.ocs.repair.dist": "must name a number",
    }
    for key, message in cases.items():
        with pytest.raises(ScenarioError) as err:
            scenario_from_dict({**base, "assumptions": {key: {"low": 0.001, "high": 0.01, "source": "x"}}})
        assert f"assumptions.{key}" in str(err.value) and message in str(err.value), str(err.value)
    # a value outside its range is a what-if, not an error (validate marks it)
    assert scenario_from_dict({**base, "assumptions": {"failures.ocs.daily_rate": {"low": 0.001, "high": 0.01,
                                                                                  "source": "x"}}})
    with pytest.raises(ScenarioError, match="low 24 is above high 1"):
        scenario_from_dict({**base, "assumptions": {"failures.ocs.repair.mean_hours": {"low": 24, "high": 1, "source": "x"}}})
    with pytest.raises(ScenarioError, match="source"):
        scenario_from_dict({**base, "assumptions": {"failures.ocs.repair.mean_hours": {"low": 1, "high": 24}}})


def test_every_bundled_scenario_states_its_assumptions_in_range():
    from conftest import REPO
    from tpusim import load_scenario

    sc = load_scenario(REPO / "scenarios" / "tpuv4_pod.yaml")
    assert {"failures.ocs.repair.mean_hours", "failures.ocs_control_plane_share", "failures.ocs.daily_rate",
            "failures.ocs_port.daily_rate"} <= set(sc.assumptions)
    for a in sc.assumptions.values():
        assert a.low <= a.high and a.source
