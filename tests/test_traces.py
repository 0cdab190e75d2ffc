"""Failure traces out and in: a replayed trace reproduces its run bit for bit."""

import json

import pytest

from tpusim import ScenarioError, load_scenario, run_scenario, scenario_from_dict

BASE = {
    "name": "trace", "seed": 5, "replications": 3, "horizon_days": 40,
    "slices": ["4x4x4", "8x8x8", "12x16x16"], "policies": ["static", "reconfigurable", "reconfigurable_ft"],
    "failures": {"host": {"daily_rate": 0.01, "repair": {"mean_hours": 24}},
                 "ici_link": {"daily_rate": 0.001, "repair": {"mean_hours": 24}},
                 "ocs": {"daily_rate": 0.01, "repair": {"mean_hours": 12}}},
}


def _model_numbers(results):
    s = results.summary()
    for info in s["components"].values():
        info.pop("closed_form")
    return json.dumps({k: s[k] for k in ("policies", "components", "events")}, sort_keys=True)


@pytest.mark.parametrize("workload", [None, pytest.param({"jobs_per_pod_day": 60}, marks=pytest.mark.slow)])
def test_replayed_trace_reproduces_the_run_bit_for_bit(tmp_path, workload):
    data = {**BASE, "workload": workload} if workload else BASE
    first = run_scenario(scenario_from_dict(data), record_traces=True)
    path = tmp_path / "trace.csv"
    path.write_text(first.trace_csv())
    again = run_scenario(scenario_from_dict({**data, "failures": {**data["failures"], "trace": str(path)}}))
    assert _model_numbers(again) == _model_numbers(first)


def test_a_single_trace_serves_every_replication(tmp_path):
    path = tmp_path / "fleet.csv"
    path.write_text("time_hours,component,event\n1.5,host:3,fail\n30,host:3,repair\n10,ocs:2,fail\n20,ocs:2,repair\n")
    with pytest.raises(ScenarioError, match=r"line 4, column 1 \(time_hours\): time goes backwards"):
        load_scenario(_scenario_file(tmp_path, path))
    path.write_text("time_hours,component,event\n1.5,host:3,fail\n10,ocs:2,fail\n20,ocs:2,repair\n30,host:3,repair\n")
    results = run_scenario(load_scenario(_scenario_file(tmp_path, path)))
    a = [[s.value for s in r.samples] for r in results.replications]
    assert a[0] == a[1]
    # 4x4x4 reconfigurable: down while the OCS is (10 h of 48 h)
    assert results.replications[0].values("reconfigurable", "slice_availability")[0] == pytest.approx(1 - 10 / 48)


def _scenario_file(tmp_path, trace):
    path = tmp_path / "s.yaml"
    path.write_text(f"name: t\nreplications: 2\nhorizon_days: 2\nslices: [4x4x4]\nfailures: {{trace: {trace.name}}}\n")
    return path


@pytest.mark.parametrize("row, message", [
    ("1,disk:3,fail", "column 2 (component): unknown component class 'disk'"),
    ("1,host:5000,fail", "column 2 (component): host unit 5000 is outside 0..1023"),
    ("1,host:3,explode", "column 3 (event): must be fail or repair, got 'explode'"),
    ("1,host:3,repair", "column 3 (event): repair of host:3, which is already up"),
])
def test_bad_trace_rows_are_named_by_line(tmp_path, row, message):
    trace = tmp_path / "bad.csv"
    trace.write_text("time_hours,component,event\n" + row + "\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(_scenario_file(tmp_path, trace))
    assert any("failures.trace" in line and "line 2" in line and message in line for line in info.value.lines())
