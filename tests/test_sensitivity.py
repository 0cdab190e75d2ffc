"""Sensitivity (DESIGN §8, issue 32 point 3): the indices of the study's own analysis path
against functions whose indices are known in closed form, a small end-to-end study on common
random numbers, and the CLI's answers to bad input."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import tpusim
from tpusim.studies.sensitivity import (Claim, Factor, Output, SensitivityStudy, claim_sentence, claim_verdicts,
                                        finding, paired_mean_difference, screen)

from typer.testing import CliRunner

from conftest import REPO
from tpusim.cli import app

runner = CliRunner()

TINY = REPO / "tests" / "golden" / "tiny.yaml"


# -- (a) known indices ------------------------------------------------------------------------------
def test_morris_mu_star_of_a_linear_model_is_its_slope_times_the_range():
    """y = sum b_i x_i: every elementary effect of x_i, in SALib's units (the factor's range
    scaled to 1), is b_i x (high - low), so mu* = |b_i| x range, sigma = 0, and the ranking and
    the finding follow."""
    factors = [Factor("a", 0.0, 1.0), Factor("b", 0.0, 2.0), Factor("c", -1.0, 1.0), Factor("d", 10.0, 20.0)]
    b = np.array([3.0, -1.0, 0.0, 0.05])
    got = screen(factors, lambda X: X @ b, "morris", trajectories=6, seed=3)
    expected = {"a": 3.0, "b": 2.0, "c": 0.0, "d": 0.5}
    assert list(got.factor) == ["a", "b", "d", "c"]  # ranked, largest first
    for row in got.itertuples():
        assert row.mu_star == pytest.approx(expected[row.factor], abs=1e-9)
        assert row.sigma == pytest.approx(0.0, abs=1e-9)
        assert row.mu == pytest.approx(math.copysign(expected[row.factor], b["abcd".index(row.factor)]) if
                                       expected[row.factor] else 0.0, abs=1e-9)
    assert list(got["rank"]) == [1, 2, 3, 4]
    assert finding("y", got, "morris").startswith("a moves y most (mu* = 3, 95 % CI [3, 3])")


def test_sobol_indices_of_the_ishigami_function_are_its_analytic_ones():
    """Ishigami (a = 7, b = 0.1) on [-pi, pi]^3: S1 = 0.3139, 0.4424, 0 and ST = 0.5576, 0.4424,
    0.2437 (Ishigami and Homma 1990; Sobol' and Levitan 1999). Each analytic value lies within
    the 95 % interval SALib gives (widened by a small allowance for the finite design)."""
    factors = [Factor(f"x{i}", -math.pi, math.pi) for i in (1, 2, 3)]

    def ishigami(X):
        return np.sin(X[:, 0]) + 7.0 * np.sin(X[:, 1]) ** 2 + 0.1 * X[:, 2] ** 4 * np.sin(X[:, 0])

    got = screen(factors, ishigami, "sobol", samples=4096, seed=1).set_index("factor")
    s1 = {"x1": 0.3139, "x2": 0.4424, "x3": 0.0}
    st = {"x1": 0.5576, "x2": 0.4424, "x3": 0.2437}
    for name in s1:
        assert abs(got.S1[name] - s1[name]) <= got.S1_conf[name] + 0.01, name
        assert abs(got.ST[name] - st[name]) <= got.ST_conf[name] + 0.01, name
    assert got["rank"]["x1"] == 1 and got["rank"]["x3"] == 3  # ranked by ST


def test_the_finding_says_when_the_top_two_cannot_be_told_apart():
    frame = pd.DataFrame({"factor": ["p", "q"], "index": [0.010, 0.008], "low": [0.006, 0.005],
                          "high": [0.014, 0.011], "rank": [1, 2]})
    text = finding("d", frame, "morris", 100.0, " pp")
    assert "p and q move d most" in text and "cannot be told apart" in text
    assert "mu* = 1 pp, 95 % CI [0.6, 1.4]" in text
    apart = frame.assign(high=[0.014, 0.0055])
    assert finding("d", apart, "morris", 100.0, " pp").startswith("p moves d most")
    zero = frame.assign(index=[0.0, 0.0], low=[0.0, 0.0], high=[0.0, 0.0])
    assert "no assumption moves d" in finding("d", zero, "morris")


def test_paired_mean_difference_is_the_mean_of_per_replication_differences():
    assert paired_mean_difference(np.array([1.0, 0.5, np.nan]), np.array([0.25, 0.5, 1.0])) == pytest.approx(0.375)
    assert math.isnan(paired_mean_difference(np.array([np.nan]), np.array([1.0])))


# -- (b) a small study, end to end ----------------------------------------------------------------------
FACTORS = {"failures.ocs.repair.mean_hours": (1.0, 24.0), "failures.host.daily_rate": (0.005, 0.04)}


def _small(**options):
    return tpusim.sensitivity(TINY, FACTORS, overrides={"replications": 2, "horizon_days": 10}, trajectories=3,
                              **options)


def test_a_small_study_runs_every_point_on_the_same_random_numbers():
    found = _small()
    assert len(found.points) == 3 * (2 + 1) and found.method == "morris"
    # common random numbers: every point has the scenario's seed and replications 0 and 1
    assert set(found.seeds) == {12345}
    assert found.values.groupby("point").replication.apply(lambda r: sorted(set(r))).tolist() == [[0, 1]] * 9
    # the default outputs: both policies at the smallest and largest shape, then the difference
    labels = [o.label for o in found.outputs]
    assert labels[-2:] == ["reconfigurable - static: slice_availability 2x2x2",
                           "reconfigurable - static: slice_availability 4x4x2"]
    # a difference is the mean of the per-replication differences at the point
    design = found.design_frame()
    v = found.values
    for point in range(len(found.points)):
        at = v[(v.point == point) & (v.key == "2x2x2")].pivot(index="replication", columns="policy", values="value")
        assert design[labels[-2]][point] == pytest.approx((at.reconfigurable - at.static).mean())
    # a factor that touches no OCS moves no OCS-only difference; the static single cube never
    # depends on the OCS repair time
    static_small = found.indices["static: slice_availability 2x2x2"].set_index("factor")
    assert static_small.mu_star["failures.ocs.repair.mean_hours"] == 0.0
    assert "failures.ocs.repair.mean_hours moves reconfigurable - static" in found.findings()[labels[-2]]
    json.dumps(found.to_dict(), allow_nan=False)


def test_the_study_is_the_same_on_any_runner():
    serial, pooled = _small(), _small(workers=2)
    np.testing.assert_array_equal(serial.Y, pooled.Y)


def test_integer_keys_are_rounded_and_bad_factors_refused():
    study = SensitivityStudy(factors=(Factor("pod_manager.spare_cubes", 0, 2, integer=True),), trajectories=2,
                             outputs=(Output("static", "slice_availability", "2x2x2"),))
    found = study.on(TINY, {"replications": 1, "horizon_days": 2})
    assert all(isinstance(p["pod_manager.spare_cubes"], int) for p in found.points)
    # given as a plain range, the key is still known to be an integer
    again = tpusim.sensitivity(TINY, {"pod_manager.spare_cubes": (0, 2)}, trajectories=2,
                               outputs=[Output("static", "slice_availability", "2x2x2")],
                               overrides={"replications": 1, "horizon_days": 2})
    assert again.factors[0].integer and all(isinstance(p["pod_manager.spare_cubes"], int) for p in again.points)
    with pytest.raises(ValueError, match="names no key"):
        SensitivityStudy(factors=(Factor("failures.nokey", 1, 2),)).on(TINY)
    with pytest.raises(ValueError, match="low 3 must be below high 1"):
        SensitivityStudy(factors=(Factor("failures.ocs.repair.mean_hours", 3, 1),)).on(TINY)
    with pytest.raises(ValueError, match="method"):
        SensitivityStudy(method="foo")


def test_the_cli_writes_its_files(tmp_path):
    out = tmp_path / "s"
    done = runner.invoke(app, ["sensitivity", str(TINY), "--vary", "failures.ocs.repair.mean_hours=1:24",
                               "--vary", "failures.host.daily_rate=0.005:0.04", "-r", "2", "--horizon-days", "10",
                               "--trajectories", "2", "-w", "1", "--metric", "slice_availability:2x2x2",
                               "--difference", "reconfigurable-static", "--out", str(out)])
    assert done.exit_code == 0, done.output
    meta = json.loads((out / "sensitivity.json").read_text())
    assert [o["label"] for o in meta["outputs"]] == ["static: slice_availability 2x2x2",
                                                    "reconfigurable: slice_availability 2x2x2",
                                                    "reconfigurable - static: slice_availability 2x2x2"]
    assert meta["replications"] == 2 and meta["horizon_days"] == 10 and meta["points"] == 6
    points = pd.read_csv(out / "sensitivity_points.csv")
    assert len(points) == 6 and set(points.seed) == {12345}
    assert len(pd.read_csv(out / "sensitivity_indices.csv")) == 3 * 2
    assert len(list(out.glob("tornado_*.png"))) == 3
    assert "moves reconfigurable - static: slice_availability 2x2x2 most" in " ".join(done.output.split())
    as_json = runner.invoke(app, ["sensitivity", str(TINY), "--vary", "failures.ocs.repair.mean_hours=1:24", "-r", "1",
                                  "--horizon-days", "2", "--trajectories", "2", "-w", "1", "--no-plot", "--format",
                                  "json", "--out", str(tmp_path / "j")])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)["factors"][0]["key"] == "failures.ocs.repair.mean_hours"


# -- (c) bad input ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, says", [
    (["--vary", "nonsense"], "--vary nonsense: expected KEY=LOW:HIGH"),
    (["--vary", "failures.nokey=1:2"], "--vary failures.nokey: names no key"),
    (["--vary", "failures.ocs.repair.mean_hours=24:1"], "--vary failures.ocs.repair.mean_hours: low 24 must be below high 1"),
    (["--vary", "failures.ocs.repair.mean_hours=a:b"], "LOW and HIGH must be numbers"),
    (["--vary", "policies=1:2"], "must name a number"),
    (["--vary", "failures.ocs.repair.mean_hours=-5:1"], "--vary failures.ocs.repair.mean_hours=-5.0:"),
    (["--vary", "failures.host.daily_rate=0.01:0.01"], "--vary failures.host.daily_rate: low 0.01 must be below high 0.01"),
    (["--vary", "seed=1:5"], "--vary seed: is held fixed at every design point"),
    ([], "tiny: the scenario declares no assumptions"),
    (["--method", "foo"], "--method foo: must be morris or sobol"),
    (["--method", "sobol", "--samples", "12"], "--samples 12: must be a power of two"),
    (["--levels", "3"], "--levels 3: must be even"),
    (["--metric", "nosuch"], "--metric no metric named 'nosuch'"),
    (["--metric", "slice_availability:9x9x9"], "'9x9x9' is not a slice"),
    (["--difference", "static-nosuch"], "--difference static-nosuch: 'nosuch' is not a policy"),
    (["--difference", "static"], "--difference 'static': expected A-B"),
])
def test_bad_input_exits_2_naming_the_option(args, says):
    done = runner.invoke(app, ["sensitivity", str(TINY), *args])
    assert done.exit_code == 2, done.output
    assert isinstance(done.exception, SystemExit) and "Traceback" not in done.output
    assert says in " ".join(done.output.split()), done.output


def test_bad_input_is_one_line_from_the_entry_point():
    """Through ``main`` (the installed ``tpusim``): exit 2 and an error line, never a traceback."""
    import os

    done = subprocess.run([sys.executable, "-m", "tpusim.cli", "sensitivity", str(TINY), "--vary", "nonsense"],
                          capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: --vary nonsense: expected KEY=LOW:HIGH")


# -- robustness of a claim (issue 32 point 4) -----------------------------------------------------------------
def test_a_claim_reads_both_ways_round_and_refuses_other_forms():
    assert Claim.parse("reconfigurable > static: slice_availability 4x4x4") == Claim(
        "reconfigurable", "static", "slice_availability", "4x4x4", "reconfigurable > static: slice_availability 4x4x4")
    flipped = Claim.parse(" static<reconfigurable : system_availability ")
    assert (flipped.better, flipped.worse, flipped.key) == ("reconfigurable", "static", None)
    assert Claim.parse("a > b: slice_availability:4x4x4").key == "4x4x4"
    for bad in ("nonsense", "a >: slice_availability", "a = b: slice_availability 4x4x4"):
        with pytest.raises(ValueError, match="expected 'A > B: METRIC"):
            Claim.parse(bad)


def test_claim_verdicts_use_bonferroni_intervals_over_the_points():
    """Each point's interval is the Student-t interval at level 1 - alpha/m (m points), computed
    here with scipy; above 0 holds, below 0 fails, across 0 or no interval with mean 0: cannot tell."""
    from scipy import stats

    rows = np.array([[0.30, 0.31, 0.29, 0.32, 0.28],  # clearly above 0
                     [-0.2, -0.21, -0.19, -0.2, -0.22],  # clearly below
                     [0.1, -0.1, 0.05, -0.05, 0.0],  # across 0
                     [0.0, 0.0, 0.0, 0.0, 0.0]])  # the same everywhere, 0: a tie
    got = claim_verdicts(rows, alpha=0.05)
    assert list(got.verdict) == ["holds", "fails", "cannot tell", "cannot tell"]
    q = stats.t.ppf(1 - 0.05 / (2 * 4), 4)
    half = q * rows[0].std(ddof=1) / math.sqrt(5)
    assert (got.low[0], got.high[0]) == pytest.approx((rows[0].mean() - half, rows[0].mean() + half))
    assert got.level[0] == pytest.approx(1 - 0.05 / 4)
    assert "the same in all 5" in got.note[3]
    claim = Claim("a", "b", "slice_availability", "4x4x4", "a > b: slice_availability 4x4x4")
    points = pd.DataFrame({"k": [1.0, 2.0, 3.0, 4.0]})
    assert " fails at k = 2: difference -20.4 pp" in claim_sentence(claim, pd.concat([points, got], axis=1),
                                                                     ["k"], 100.0, " pp")
    three = pd.concat([points.iloc[[0, 2, 3]].reset_index(drop=True), claim_verdicts(rows[[0, 2, 3]])], axis=1)
    assert claim_sentence(claim, three, ["k"]).endswith(
        "cannot tell: the interval spans 0 at 2 of 3 points (95 % simultaneous intervals over 3 points: holds at 1, "
        "fails at 0, cannot tell at 2); nearest to failing at k = 3: 0 [-0.14, 0.14]")
    one = pd.concat([points.iloc[[0]], claim_verdicts(rows[[0]])], axis=1)
    assert "holds everywhere in the box: at all 1 design points, corners included" in claim_sentence(claim, one, ["k"])


def test_a_claim_is_judged_at_every_corner_of_the_box():
    claim = Claim.parse("static > reconfigurable: slice_availability 4x4x2")
    found = tpusim.sensitivity(TINY, FACTORS, overrides={"replications": 6, "horizon_days": 20}, trajectories=3,
                               claim=claim)
    judged = found.claim_points
    keys = list(FACTORS)
    corners_run = {tuple(r) for r in judged[judged.corner][keys].itertuples(index=False)}
    assert corners_run == {(a, b) for a in FACTORS[keys[0]] for b in FACTORS[keys[1]]}
    assert not judged.duplicated(keys).any()  # a point Morris visits twice is judged once
    assert (judged.level == 1 - 0.05 / len(judged)).all()
    # the static pod places the 4-cube slice more often everywhere in this box (a one-pod slice
    # of a two-pod machine: the OCS pod loses it to any OCS fault), corners included
    assert (judged.verdict == "holds").all()
    assert found.claim_finding().startswith("'static > reconfigurable: slice_availability 4x4x2' holds everywhere "
                                            "in the box: at all 9 design points, corners included")
    assert json.loads(json.dumps(found.to_dict(), allow_nan=False))["claim"]["finding"] == found.claim_finding()
    # the sensitivity outputs are those of the design alone, the corners not among them
    assert len(found.design_frame()) == 9 and set(found.values.point) == set(range(9))


@pytest.mark.parametrize("claim, says", [
    ("nonsense", "--claim 'nonsense': expected 'A > B: METRIC [KEY]'"),
    ("static > nosuch: slice_availability 2x2x2", "'nosuch' is not a policy"),
    ("static > reconfigurable: slice_availability", "name the metric's key"),
])
def test_a_bad_claim_exits_2(claim, says):
    done = runner.invoke(app, ["sensitivity", str(TINY), "--vary", "failures.ocs.repair.mean_hours=1:24",
                               "--claim", claim])
    assert done.exit_code == 2, done.output
    assert says in " ".join(done.output.split()), done.output


def test_where_a_claim_flips_is_bracketed_by_bisection():
    """One factor, the OCS rate: with hosts failing often and no link faults, any 2 cubes
    (reconfigurable) beat a fixed pair's box (static) while no OCS fails, and lose once OCSes
    fail often. The design holds at rate 0 and fails above: bisection narrows the segment to
    1/2**steps of its width, and rerunning its two ends (independently of the study) gives mean
    paired differences of opposite signs."""
    overrides = {"replications": 6, "horizon_days": 60, "failures.ici_link.daily_rate": 0.0,
                 "failures.host.daily_rate": 0.1}
    claim = "reconfigurable > static: slice_availability 2x4x2"
    found = tpusim.sensitivity(TINY, {"failures.ocs.daily_rate": (0.0, 0.2)}, claim=claim, trajectories=2,
                               overrides=overrides, bisection_steps=4)
    verdicts = dict(zip(found.claim_points["failures.ocs.daily_rate"], found.claim_points.verdict))
    assert verdicts[0.0] == "holds" and "fails" in verdicts.values()
    assert len(found.flips) == 1
    flip = found.flips.iloc[0]
    failing = min(r for r, v in verdicts.items() if v == "fails")
    assert flip.fails_at - flip.holds_at == pytest.approx(failing / 2 ** 4)
    assert 0.0 <= flip.holds_at < flip.fails_at <= failing
    for rate, sign in ((flip.holds_at, 1), (flip.fails_at, -1)):
        results = tpusim.run(TINY, {**overrides, "failures.ocs.daily_rate": rate})
        d = results.compare("reconfigurable", "static", "slice_availability", "2x4x2")
        assert sign * d.mean > 0, (rate, d.mean)
    assert "by bisection" in found.claim_finding()
    assert found.to_dict()["claim"]["flips"][0]["factor"] == "failures.ocs.daily_rate"
