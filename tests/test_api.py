"""The notebook API: keyword overrides, numpy numbers, the long-form metrics frame, the HTML
view, and results saved and loaded."""

import json

import numpy as np
import pandas as pd
import pytest

import tpusim
from conftest import SCENARIOS


@pytest.fixture(scope="module")
def results():
    return tpusim.run(SCENARIOS / "tpuv4_pod_jobs.yaml", replications=np.int64(2), horizon_days=np.float64(3))


def test_keyword_overrides_and_numpy_numbers_are_accepted(results):
    assert results.scenario.replications == 2 and len(results.replications) == 2
    assert results.scenario.horizon_days == 3.0
    sc = tpusim.load_scenario(SCENARIOS / "tpuv4_pod.yaml").with_overrides(
        {"replications": np.int64(3), "failures.host.daily_rate": np.float32(0.5)})
    assert sc.replications == 3 and type(sc.replications) is int and sc.failures.host.daily_rate == 0.5
    with pytest.raises(tpusim.ScenarioError, match="replications"):
        tpusim.run(SCENARIOS / "tpuv4_pod.yaml", replications=0)


def test_metrics_frame_has_every_metric_with_its_interval(results):
    frame = results.metrics_frame()
    assert list(frame.policy.cat.categories) == list(results.scenario.policies)  # scenario order
    assert {"slice_availability", "system_availability", "goodput", "queue_wait_p95_hours",
            "component_availability"} <= set(frame.metric)
    assert frame["mean"].dtype == float and frame.ci95_low.dtype == float  # NaN, never None
    machine_wide = frame[frame.metric == "component_availability"]
    assert machine_wide.policy.isna().all() and set(machine_wide.key) == {"host", "ici_link", "ocs"}
    goodput = frame[(frame.metric == "goodput") & (frame.policy == "static")].iloc[0]
    est = results.job_metric("static", "goodput")
    assert goodput["mean"] == est.mean and (goodput.ci95_low, goodput.ci95_high) == tuple(est.ci95)
    assert goodput.replications == 2 and goodput.unit == "fraction" and not goodput.reliable


def test_html_view_and_short_repr(results):
    text = repr(results)
    assert len(text) < 200 and "2 replications" in text
    page = results._repr_html_()
    assert "<table" in page and "12x16x16" in page and "goodput" in page


def test_results_saved_and_loaded(results, tmp_path):
    results.save(tmp_path)
    again = tpusim.load_results(tmp_path)
    pd.testing.assert_frame_equal(again.metrics_frame(), results.metrics_frame())
    pd.testing.assert_frame_equal(again.jobs_frame(), results.jobs_frame())
    assert (tmp_path / "summary.json").exists() and not list(tmp_path.glob("*.pickle"))
    meta = json.loads((tmp_path / "results.json").read_text())
    (tmp_path / "results.json").write_text(json.dumps({**meta, "format": 0}))
    with pytest.raises(tpusim.ScenarioError, match="format 0"):
        tpusim.load_results(tmp_path)
    with pytest.raises(tpusim.ScenarioError, match="no results.json"):
        tpusim.load_results(tmp_path / "elsewhere")


def test_useful_chip_hours_is_goodput_times_held(results):
    """useful = goodput x held, held = utilization x chips x horizon (per replication)."""
    chips, hours = results.model.machine.chips, results.model.horizon
    for r in results.replications:
        for policy in results.model.policy_names:
            held = r.value(policy, "utilization") * chips * hours
            assert r.value(policy, "useful_chip_hours") == pytest.approx(r.value(policy, "goodput") * held, rel=1e-9)


# -- per-job rows streamed out as replications finish ------------------------------------------

def test_streamed_rows_come_in_replication_and_policy_order_and_are_the_rows_a_run_keeps(results):
    """With a ``rows`` sink the rows go out one policy of one replication at a time, in
    replication then policy order, on any executor (on 2 workers the 2 replications run in parts,
    one per policy), and are then dropped from the results: the same rows and samples as a run
    that keeps them."""
    from tpusim.api import run_scenario
    from tpusim.output.artifacts import job_frames

    kept = results.jobs_frame()
    policies = results.model.policy_names
    for workers in (1, 2):
        seen, frames = [], []

        def sink(r):
            seen.append((r.replication, *r.jobs))
            frames.extend(job_frames(r, list(r.jobs)))

        streamed = run_scenario(results.scenario, workers=workers, rows=sink)
        assert seen == [(r, p) for r in (0, 1) for p in policies]
        assert streamed.rows_streamed and streamed.has_jobs
        assert all(r.jobs is None for r in streamed.replications)
        assert streamed.samples == results.samples
        pd.testing.assert_frame_equal(pd.concat(frames, ignore_index=True), kept)
        with pytest.raises(ValueError, match="jobs.parquet"):
            streamed.jobs_frame()


def test_rows_that_come_back_early_wait_for_the_earlier_ones_and_only_those(results):
    """Whole replications and parts (one policy's) arriving in any order: the sink gets each
    (replication, policy) once, in order, as soon as every earlier one has gone; after a failure,
    the finished replications behind the gap go too, a replication with parts missing does not."""
    from dataclasses import replace

    from tpusim.measure.runner import _RowsInOrder

    policies = results.model.policy_names
    whole = {r.replication: r for r in results.replications}

    def part(rep, policy):
        return replace(whole[rep], jobs={policy: whole[rep].jobs[policy]})

    seen = []
    order = _RowsInOrder(lambda r: seen.append((r.replication, *r.jobs)), policies)
    assert order.receive(1, whole[1]).jobs is None and seen == []  # replication 0 not in yet
    order.receive(0, part(0, policies[2]))
    assert seen == []
    order.receive(0, part(0, policies[0]))
    assert seen == [(0, policies[0])]
    order.receive(0, part(0, policies[1]))
    assert seen == [(0, p) for p in policies] + [(1, p) for p in policies]
    assert not order.early

    seen.clear()  # replication 0 fails after one part is in: replication 1 still goes out, whole
    order = _RowsInOrder(lambda r: seen.append((r.replication, *r.jobs)), policies)
    order.receive(0, part(0, policies[1]))
    order.receive(1, whole[1])
    order.after_failure({1})
    assert seen == [(1, p) for p in policies]


@pytest.mark.parametrize("fails_at", [0, 2])
def test_a_run_failing_part_way_writes_the_rows_it_measured_and_no_temporary_file(tmp_path, monkeypatch, fails_at):
    """The CLI streams jobs.parquet: a replication failing part-way leaves the rows of those
    before it (exit status 1); one failing first leaves no jobs.parquet; neither leaves a
    temporary file."""
    from typer.testing import CliRunner

    from tpusim.engine import execution
    from tpusim.cli import app

    real = execution.simulate

    def failing(model, replication, *args, **kwargs):
        if replication == fails_at:
            raise RuntimeError("a broken replication")
        return real(model, replication, *args, **kwargs)

    monkeypatch.setattr(execution, "simulate", failing)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(SCENARIOS / "tpuv4_pod_jobs.yaml"), "--out", str(out),
                                      "--replications", "4", "--set", "horizon_days=2", "--no-plot", "--jobs-csv"])
    assert result.exit_code == 1 and "a broken replication" in result.output
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temporary file left
    if fails_at == 0:
        assert not (out / "jobs.parquet").exists() and not (out / "jobs.csv").exists()
    else:
        rows = pd.read_parquet(out / "jobs.parquet")
        assert sorted(rows.replication.unique()) == [0, 1] and len(pd.read_csv(out / "jobs.csv")) == len(rows)


def test_every_study_takes_every_form_of_a_scenario():
    """One API (issue 29): a path (str or Path), a bundled scenario's name, a mapping or a
    Scenario wherever a scenario goes; the same numbers from each form."""
    import yaml

    from conftest import REPO

    tiny = REPO / "tests" / "golden" / "tiny.yaml"
    data = yaml.safe_load(tiny.read_text())
    forms = [str(tiny), tiny, data, tpusim.load_scenario(tiny)]
    summaries = [tpusim.run_scenario(form).summary() for form in forms]
    for s in summaries[1:]:
        assert s["policies"] == summaries[0]["policies"]
    assert tpusim.run(data, {"replications": 2}).scenario.replications == 2
    swept = tpusim.sweep(str(tiny), {"failures.host.daily_rate": [0.01, 0.02]}, overrides={"replications": 2})
    assert len(swept.points) == 2 and all(len(p.samples) and p.scenario.replications == 2 for p in swept.points)
    plan = tpusim.plan_spares(data, (0.9,), overrides=["horizon_days=10"])
    assert plan.results.scenario.horizon_days == 10
    assert len(plan.frame)
    # the studies that need more of a scenario say so (they got past reading it: no AttributeError)
    with pytest.raises(ValueError, match="no failures.domains"):
        tpusim.domain_attribution(str(tiny))
    with pytest.raises(ValueError, match="no maintenance campaigns"):
        tpusim.campaign_cost(tiny)
    with pytest.raises(ValueError, match="needs a workload"):
        tpusim.localise(data)
    assert tpusim.load_scenario("tpuv4_pod").name == "tpuv4_pod"  # a bundled scenario by name
    with pytest.raises(TypeError, match="expected a Scenario, a YAML path"):
        tpusim.run_scenario(42)


def test_metric_names_are_the_registrys_both_ways(results):
    """Issue 30: every metric a run emits is in the registry, every job metric of the registry
    is what a job simulation measures, and an unknown name raises instead of printing n/a."""
    from tpusim.core.metrics import JOB_METRICS, REGISTRY
    from tpusim.scheduler.outcome import JobOutcome

    emitted = {s.metric for s in results.samples}
    assert emitted <= set(REGISTRY), emitted - set(REGISTRY)
    policy = results.model.policy_names[0]
    measured = {s.metric for s in results.samples if s.policy == policy and s.key is None
                and REGISTRY[s.metric].group == "jobs"}
    assert set(JOB_METRICS) <= measured, set(JOB_METRICS) - measured
    # a job measurement with one metric too many or too few is refused, not silently dropped
    outcome = JobOutcome({name: 0.0 for name in JOB_METRICS if name != "goodput"} | {"goodput_typo": 1.0}, {}, {})
    with pytest.raises(RuntimeError, match=r"not measured \['goodput'\], not registered \['goodput_typo'\]"):
        outcome.collect(0.0, lambda metric, key, value: None)
    from tpusim.core import metrics

    constants = {k: v for k, v in vars(metrics).items() if k.isupper() and isinstance(v, str) and v == k.lower()}
    assert len(constants) >= 40 and set(constants.values()) <= set(REGISTRY)
    with pytest.raises(KeyError, match="no metric named 'slice_availabilty'"):
        results.estimates.get(policy, "slice_availabilty", "4x4x4")


def test_ctrl_c_part_way_keeps_what_was_measured_and_exits_130(tmp_path, monkeypatch):
    """Ctrl-C (the CLI's SIGINT handler raises its Interrupted) after two replications: the run
    writes what they measured, summary.json says it was interrupted after 2 of 4, and the shell
    gets 130 (before, the summary said that nothing was measured)."""
    import json
    import subprocess
    import sys

    code = f"""
import sys
from tpusim import cli
from tpusim.engine import execution
real = execution.simulate
def interrupted(model, replication, *args, **kwargs):
    if replication == 2:
        raise cli.Interrupted
    return real(model, replication, *args, **kwargs)
execution.simulate = interrupted
sys.argv = ["tpusim", "run", {str(SCENARIOS / "tpuv4_pod.yaml")!r}, "--out", {str(tmp_path / "out")!r},
            "--replications", "4", "--set", "horizon_days=5", "--no-plot"]
cli.main()
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 130, done.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["replications"] == 2 and summary["error"].startswith("interrupted (after 2 of 4")
    assert "interrupted" in done.stderr
