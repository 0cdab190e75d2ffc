"""Same seed, same numbers: serially or in processes; different seeds, different traces."""

import json

from tpusim import run_scenario, scenario_from_dict
from tpusim import build_model
from tpusim.replication import simulate

BASE = {
    "name": "repro",
    "seed": 99,
    "replications": 4,
    "horizon_days": 60,
    "slices": ["4x4x4", "8x8x8", "12x16x16"],
    "failures": {"host": {"daily_rate": 0.005, "repair": {"mean_hours": 24}}},
}


def _summary(results):
    s = results.summary()
    s.pop("wall_seconds")  # the only field that measures the run rather than the model
    return json.dumps(s, sort_keys=True)


def test_same_seed_same_summary_serial_and_pool():
    sc = scenario_from_dict(BASE)
    first = _summary(run_scenario(sc))
    assert _summary(run_scenario(sc)) == first
    assert _summary(run_scenario(sc, workers=2)) == first


def test_replications_are_independent_of_how_many_run():
    few = run_scenario(scenario_from_dict({**BASE, "replications": 2}))
    many = run_scenario(scenario_from_dict({**BASE, "replications": 4}))
    assert [r.samples for r in few.replications] == [r.samples for r in many.replications[:2]]


def test_different_seeds_and_replications_draw_different_traces():
    sc = scenario_from_dict(BASE)
    model = build_model(sc)
    t0 = simulate(model, 0, record_trace=True).trace
    t1 = simulate(model, 1, record_trace=True).trace
    t_other = simulate(build_model(scenario_from_dict({**BASE, "seed": 100})), 0, record_trace=True).trace
    assert t0 != t1 and t0 != t_other


def test_run_accepts_a_path_a_mapping_or_a_scenario_with_overrides():
    from conftest import SCENARIOS
    from tpusim import run

    by_path = run(SCENARIOS / "tpuv4_pod.yaml", ["replications=2", "horizon_days=20"])
    by_dict = run({**BASE, "replications": 2}, ["horizon_days=20"])
    by_obj = run(scenario_from_dict(BASE), ["replications=2", "horizon_days=20"])
    assert by_path.scenario.replications == 2 and by_path.scenario.horizon_days == 20
    assert by_dict.summary()["policies"] == by_obj.summary()["policies"]
