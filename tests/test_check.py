"""tpusim check: a statistical regression gate on the model's numbers."""

import json

import pytest
from scipy import stats as sps
from typer.testing import CliRunner

from conftest import REPO, SCENARIOS
from tpusim import load_scenario, run_scenario
from tpusim.studies.check import compare, make_baseline, welch_p
from tpusim.cli import app

runner = CliRunner()
BASELINE = REPO / "tests" / "baselines" / "regression.json"


@pytest.mark.slow
def test_the_model_matches_its_committed_baseline():
    """The project's own CI gate: fails when the availability numbers move."""
    result = runner.invoke(app, ["check", str(SCENARIOS / "regression.yaml"), "--baseline", str(BASELINE)])
    assert result.exit_code == 0, result.output
    assert "check passed" in result.output


def check_json(*args: str) -> tuple[int, dict | None]:
    """Run ``tpusim check --format json`` on the regression scenario: (exit code, report)."""
    result = runner.invoke(app, ["check", str(SCENARIOS / "regression.yaml"), "--baseline", str(BASELINE),
                                 "--format", "json", *args])
    try:
        return result.exit_code, json.loads(result.stdout)
    except json.JSONDecodeError:
        return result.exit_code, None


@pytest.mark.slow
def test_a_real_change_fails_the_check_and_is_named():
    code, report = check_json("--set", "failures.host.daily_rate=0.008", "--allow-other-scenario")
    assert code == 1
    moved = {m["name"]: m for m in report["metrics"] if m["failed"]}
    assert moved["components.host.availability"]["change"] < 0
    assert moved["components.host.failure_rate"]["change"] > 0
    assert report["baseline"]["scenario_differences"] == [
        "made from another version of scenario 'regression': failures.host.daily_rate differ"]


def test_the_gate_finds_a_17_percent_change_of_any_rate_or_repair_time_with_80_percent_power():
    """The design promise (issue 29): for every component class, the smallest change of its
    failure rate and of its mean repair time that the check finds with 80 % power, at the
    default family-wise alpha and with a run as large as the baseline's, is at most 17 %.
    Computed from the committed baseline's own spread on both sides (an unchanged model)."""
    from tpusim.studies.check import detectable

    metrics = json.loads(BASELINE.read_text())["metrics"]
    per_metric = 0.01 / len(metrics)  # the default alpha, Bonferroni over every checked metric
    for cls in ("host", "ici_link", "ocs"):
        for what in ("failure_rate", "repair_hours"):
            m = metrics[f"components.{cls}.{what}"]
            assert detectable(m, m, per_metric) / m["mean"] <= 0.17, (cls, what)


@pytest.mark.slow
def test_a_17_percent_longer_ocs_repair_fails_the_gate():
    """The change the old gate let through (p = 0.96): OCS repairs 17 % longer (12 -> 14.04 h)."""
    code, report = check_json("--set", "failures.ocs.repair.mean_hours=14.04", "--allow-other-scenario")
    assert code == 1, report
    moved = {m["name"] for m in report["metrics"] if m["failed"]}
    assert "components.ocs.repair_hours" in moved, moved


def test_a_baseline_of_another_scenario_is_refused_before_the_run(tmp_path):
    other = runner.invoke(app, ["check", str(SCENARIOS / "tpuv4_pod.yaml"), "--baseline", str(BASELINE)])
    assert other.exit_code == 2
    assert "made from scenario 'regression', this is 'tpuv4_pod'" in other.stderr
    changed = runner.invoke(app, ["check", str(SCENARIOS / "regression.yaml"), "--baseline", str(BASELINE),
                                  "--set", "failures.ocs.repair.mean_hours=13", "--set", "slices=[4x4x4]"])
    assert changed.exit_code == 2
    assert "failures.ocs.repair.mean_hours, slices differ" in changed.stderr, changed.stderr
    # a baseline from before baselines recorded their scenario
    old = json.loads(BASELINE.read_text())
    for key in ("resolved", "scenario_sha256"):
        old.pop(key)
    (tmp_path / "old.json").write_text(json.dumps(old))
    older = runner.invoke(app, ["check", str(SCENARIOS / "regression.yaml"), "--baseline", str(tmp_path / "old.json")])
    assert older.exit_code == 2 and "--update-baseline" in older.stderr


def test_update_baseline_writes_one(tmp_path):
    out = tmp_path / "b.json"
    result = runner.invoke(app, ["check", str(SCENARIOS / "regression.yaml"), "--baseline", str(out),
                                 "--update-baseline", "--set", "horizon_days=10", "--set", "replications=3"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())["metrics"]
    assert metrics["static.slice_availability.4x4x4"]["n"] == 3


def test_welch():
    a = {"mean": 1.0, "sd": 0.0, "n": 5}
    assert welch_p(a, dict(a)) == 1.0
    assert welch_p(a, {**a, "mean": 1.1}) == 0.0
    assert welch_p({"mean": 0.0, "sd": 1.0, "n": 30}, {"mean": 0.0, "sd": 2.0, "n": 10}) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        welch_p({**a, "n": 1}, a)


@pytest.mark.slow
def test_other_seeds_of_an_unchanged_model_fail_no_more_often_than_alpha():
    """At family-wise alpha 0.2, 12 seeds of the same model may fail at most as often as a
    Binomial(12, 0.2) allows at the 99th percentile (Bonferroni makes the true rate lower)."""
    sc = load_scenario(SCENARIOS / "regression.yaml", ["replications=8", "horizon_days=60"])
    made = run_scenario(sc)
    base = make_baseline(sc.name, sc.seed, made.samples)
    failures = sum(
        compare(base, run_scenario(load_scenario(SCENARIOS / "regression.yaml",
                                                 ["replications=8", "horizon_days=60", f"seed={seed}"])).samples,
                0.2).failed
        for seed in range(100, 112)
    )
    assert failures <= sps.binom.ppf(0.99, 12, 0.2), failures


@pytest.mark.slow
def test_check_runs_fresh_seeds_reports_what_it_can_detect_and_writes_junit(tmp_path):
    """Asserted on the JSON report and the JUnit file, never on wrapped terminal text (whose
    line breaks depend on the terminal's width and on the length of the paths printed)."""
    import xml.etree.ElementTree as ET

    junit = tmp_path / "check.xml"
    code, report = check_json("--junit", str(junit))
    assert code == 0, report
    baseline = json.loads(BASELINE.read_text())
    assert report["seed"] == baseline["seed"] + 1 and report["baseline"]["seed"] == baseline["seed"]  # independent draws
    assert report["passed"] and [m["name"] for m in report["metrics"]] == list(baseline["metrics"])  # every metric
    assert all(m["detectable"] >= 0 for m in report["metrics"])
    suite = ET.parse(junit).getroot()
    assert suite.tag == "testsuite" and int(suite.get("tests")) == len(baseline["metrics"])
    assert suite.get("failures") == "0" and not suite.findall(".//failure")
    table = runner.invoke(app, ["check", str(SCENARIOS / "regression.yaml"), "--baseline", str(BASELINE)],
                          env={"COLUMNS": "300"})
    assert table.exit_code == 0 and "smallest change found with 80 % power" in table.output
    assert sum(name in table.output for name in baseline["metrics"]) == len(baseline["metrics"])
    moved = tmp_path / "moved.xml"
    code, _ = check_json("--set", "failures.host.daily_rate=0.008", "--allow-other-scenario", "--junit", str(moved))
    assert code == 1
    failures = ET.parse(moved).getroot().findall(".//failure")
    assert any("components.host.availability" in f.get("message") for f in failures)


def test_detectable_change_is_the_power_calculation():
    """(t_{1-a/2} + t_{0.8}) x standard error, checked against a simulated power of Welch's test."""
    import numpy as np

    from tpusim.studies.check import detectable

    a = {"mean": 0.0, "sd": 1.0, "n": 20}
    d = detectable(a, dict(a), 0.01)
    se = (2 / 20) ** 0.5
    assert d == pytest.approx((sps.t.ppf(0.995, 38) + sps.t.ppf(0.8, 38)) * se, rel=1e-9)
    rng = np.random.default_rng(5)  # a shift of d is found about 80 % of the time
    hits = sum(sps.ttest_ind(rng.normal(0, 1, 20), rng.normal(d, 1, 20), equal_var=False).pvalue < 0.01
               for _ in range(2000))
    # 2000 draws: a 99.9 % binomial interval around 0.8 is about +- 0.03
    assert abs(hits / 2000 - 0.8) < 0.03
    assert detectable({"mean": 1, "sd": 0, "n": 5}, {"mean": 1, "sd": 0, "n": 5}, 0.01) == 0.0
