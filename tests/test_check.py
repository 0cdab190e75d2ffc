"""tpusim check: a statistical regression gate on the model's numbers."""

import json

import pytest
from scipy import stats as sps
from typer.testing import CliRunner

from conftest import REPO, SCENARIOS
from tpusim import load_scenario, run_scenario
from tpusim.check import compare, make_baseline, welch_p
from tpusim.cli import app

runner = CliRunner()
BASELINE = REPO / "tests" / "baselines" / "regression.json"


def test_the_model_matches_its_committed_baseline():
    """The project's own CI gate: fails when the availability numbers move."""
    result = runner.invoke(app, ["check", str(SCENARIOS / "regression.yaml"), "--baseline", str(BASELINE)])
    assert result.exit_code == 0, result.output
    assert "check passed" in result.output


def test_a_real_change_fails_the_check_and_is_named():
    result = runner.invoke(app, ["check", str(SCENARIOS / "regression.yaml"), "--baseline", str(BASELINE),
                                 "--set", "failures.host.daily_rate=0.008"])
    assert result.exit_code == 1
    assert "components.host.availability moved down" in result.output


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


def test_check_runs_fresh_seeds_reports_what_it_can_detect_and_writes_junit(tmp_path):
    import xml.etree.ElementTree as ET

    junit = tmp_path / "check.xml"
    result = runner.invoke(app, ["check", str(SCENARIOS / "regression.yaml"), "--baseline", str(BASELINE),
                                 "--junit", str(junit)])
    assert result.exit_code == 0, result.output
    base_seed = json.loads(BASELINE.read_text())["seed"]
    assert f"seed {base_seed + 1}; the baseline's {base_seed}" in result.output  # independent draws
    assert "smallest change found with 80 % power" in result.output
    suite = ET.parse(junit).getroot()
    assert suite.tag == "testsuite" and int(suite.get("tests")) == len(json.loads(BASELINE.read_text())["metrics"])
    assert suite.get("failures") == "0" and not suite.findall(".//failure")
    moved = tmp_path / "moved.xml"
    result = runner.invoke(app, ["check", str(SCENARIOS / "regression.yaml"), "--baseline", str(BASELINE),
                                 "--set", "failures.host.daily_rate=0.008", "--junit", str(moved)])
    assert result.exit_code == 1
    failures = ET.parse(moved).getroot().findall(".//failure")
    assert any("components.host.availability" in f.get("message") for f in failures)


def test_detectable_change_is_the_power_calculation():
    """(t_{1-a/2} + t_{0.8}) x standard error, checked against a simulated power of Welch's test."""
    import numpy as np

    from tpusim.check import detectable

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
