"""Paired differences (DESIGN §4, "Comparisons are paired"; issue 32, point 1).

Every interval here is recomputed in the test from the per-replication samples with
scipy.stats.t, never with the code under test."""

import json
import math

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

import tpusim
from conftest import SCENARIOS
from tpusim.cli import app
from tpusim.core.metrics import GOODPUT, SLICE_AVAILABILITY, SYSTEM_AVAILABILITY, USEFUL_AVAILABILITY
from tpusim.measure.paired import CANNOT_TELL, HIGHER, LOWER, paired

POD = str(SCENARIOS / "tpuv4_pod.yaml")
runner = CliRunner()


@pytest.fixture(scope="module")
def pod():
    """The canonical scenario, small: 5 replications of 90 days (about 2 s)."""
    return tpusim.run(POD, replications=5, horizon_days=90)


def _series(results, policy, metric, key):
    frame = results.to_frame()
    rows = frame[(frame.policy == policy) & (frame.metric == metric)
                 & (frame.key.isna() if key is None else frame.key == key)]
    return dict(zip(rows.replication, rows.value))


def test_the_interval_is_students_t_of_the_per_replication_differences(pod):
    """(a) mean, interval, unpaired half-width and variance reduction, recomputed here."""
    frame = pod.comparisons()
    assert set(frame.policy) == set(pod.model.policy_names) - {"static"} and set(frame.baseline) == {"static"}
    checked = 0
    for row in frame.itertuples():
        a = _series(pod, row.policy, row.metric, row.key)
        b = _series(pod, row.baseline, row.metric, row.key)
        x = np.array([a[r] for r in sorted(a)])
        y = np.array([b[r] for r in sorted(a)])
        d = x - y
        n = len(d)
        assert row.replications == n == 5
        assert row.difference == pytest.approx(d.mean(), abs=1e-12)
        assert row.mean_a == pytest.approx(x.mean()) and row.mean_b == pytest.approx(y.mean())
        q = stats.t.ppf(0.975, n - 1)
        unpaired = q * math.sqrt((x.var(ddof=1) + y.var(ddof=1)) / n)
        assert row.unpaired_half_width == pytest.approx(unpaired, abs=1e-12)
        if np.all(np.abs(d - d[0]) <= 1e-12):  # every difference the same: no interval, and it says so
            assert math.isnan(row.ci95_low) and "no interval" in row.note and row.verdict == CANNOT_TELL
            assert math.isnan(row.variance_reduction)
            continue
        half = q * d.std(ddof=1) / math.sqrt(n)
        assert (row.ci95_low, row.ci95_high) == pytest.approx((d.mean() - half, d.mean() + half), abs=1e-12)
        assert row.variance_reduction == pytest.approx((x.var(ddof=1) + y.var(ddof=1)) / d.var(ddof=1))
        expected = HIGHER if d.mean() - half > 0 else LOWER if d.mean() + half < 0 else CANNOT_TELL
        assert row.verdict == expected
        checked += 1
    assert checked >= 5, "too few differences with an interval: the test reads nothing"
    one = pod.compare("reconfigurable", "static", SLICE_AVAILABILITY, "8x16x16")
    row = frame[(frame.policy == "reconfigurable") & (frame.key == "8x16x16")].iloc[0]
    assert one.mean == row.difference and one.ci == (row.ci95_low, row.ci95_high)


def test_pairing_is_never_wider_where_both_policies_vary(pod):
    """(b) Wherever both policies vary, the paired interval is at most the unpaired one and the
    variance ratio at least 1, on this run. A measured property of this run, not a theorem: the
    two policies replay one trace, so their availabilities move together, but where their outages
    barely overlap (static_ft and static at 12x16x16) a few replications can show a slightly
    negative sample covariance (measured: ratios 0.94-0.99 at 3-5 replications of 60 days)."""
    seen = 0
    for policy in pod.model.policy_names[1:]:
        for shape in (s.label for s in pod.model.shapes):
            a = list(_series(pod, policy, SLICE_AVAILABILITY, shape).values())
            b = list(_series(pod, "static", SLICE_AVAILABILITY, shape).values())
            if np.var(a) == 0 or np.var(b) == 0:
                continue
            d = pod.compare(policy, "static", SLICE_AVAILABILITY, shape)
            assert d.half_width is not None and d.unpaired_half_width is not None
            assert d.half_width <= d.unpaired_half_width + 1e-15, (policy, shape)
            assert d.variance_reduction is not None and d.variance_reduction >= 1.0, (policy, shape)
            seen += 1
    assert seen >= 3
    # reconfigurable vs static where both vary (8x16x16: both lose the slice to the same host
    # failures): pairing buys a factor above 1 (1.37 on this run)
    assert pod.compare("reconfigurable", "static", SLICE_AVAILABILITY, "8x16x16").variance_reduction > 1


def test_cannot_tell_when_the_interval_spans_zero():
    """(c) A constructed case: differences +1, -1, +2, -1.5 hold 0; none are ever printed ±0."""
    a, b = [10.0, 11.0, 14.0, 10.5], [9.0, 12.0, 12.0, 12.0]
    d = paired(a, b, a_name="x", b_name="y", metric=SYSTEM_AVAILABILITY, bounds=(-math.inf, math.inf))
    diffs = np.array(a) - np.array(b)
    half = stats.t.ppf(0.975, 3) * diffs.std(ddof=1) / 2.0
    assert d.ci == pytest.approx((diffs.mean() - half, diffs.mean() + half))
    assert d.ci[0] < 0 < d.ci[1] and d.verdict == CANNOT_TELL and d.conclusion == "cannot tell"
    assert not d.difference.reliable and "only 4 replications" in d.difference.note  # fewer than 5
    clear = paired([5.0, 6.0, 7.0, 8.0, 9.0], [1.0, 2.5, 3.0, 4.5, 5.0], a_name="x", b_name="y",
                   bounds=(-math.inf, math.inf))
    assert clear.verdict == HIGHER and clear.conclusion == "x > y"
    assert paired([1.0, 2.0, 3.0], [1.5, 2.5, 3.5], bounds=(-9, 9)).verdict == CANNOT_TELL  # all equal: no interval
    same = paired([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert same.ci is None and same.verdict == CANNOT_TELL and "equal in all 3" in same.difference.note
    assert same.variance_reduction is None
    alone = paired([0.5], [0.4])
    assert alone.ci is None and alone.verdict == CANNOT_TELL and "one replication" in alone.difference.note
    # replications pair by number; NaN (undefined there) and unmatched ones are left out
    partial = paired({0: 1.0, 1: float("nan"), 2: 3.0, 5: 9.0}, {0: 0.5, 1: 1.0, 2: 2.0}, bounds=(-9, 9))
    assert partial.n == 2 and partial.mean == pytest.approx(0.75)
    with pytest.raises(ValueError, match="no replication"):
        paired({0: 1.0}, {1: 1.0})


def test_compare_checks_its_names(pod):
    with pytest.raises(KeyError, match="no metric named"):
        pod.compare("reconfigurable", "static", "slice_availabilty", "4x4x4")
    with pytest.raises(KeyError, match="no policy named"):
        pod.compare("reconfigurable", "nonsense", SYSTEM_AVAILABILITY)
    with pytest.raises(ValueError, match="give key"):
        pod.compare("reconfigurable", "static", SLICE_AVAILABILITY)
    with pytest.raises(ValueError, match="measured no goodput"):
        pod.compare("reconfigurable", "static", GOODPUT)  # no workload
    with pytest.raises(KeyError):
        pod.comparisons("nonsense")
    flipped = pod.compare("static", "reconfigurable", SLICE_AVAILABILITY, "8x16x16")
    forward = pod.compare("reconfigurable", "static", SLICE_AVAILABILITY, "8x16x16")
    assert flipped.mean == pytest.approx(-forward.mean) and flipped.verdict != forward.verdict
    assert set(pod.comparisons("reconfigurable").policy) == {"static", "static_ft", "reconfigurable_ft"}


def test_cli_rejects_a_baseline_that_is_no_policy(tmp_path):
    """(d) Exit 2, the option and the policies named, before anything runs."""
    result = runner.invoke(app, ["run", POD, "--out", str(tmp_path / "o"), "--baseline", "nonsense", "-r", "2"])
    assert result.exit_code == 2
    assert "--baseline nonsense" in result.output and "reconfigurable_ft" in result.output
    assert not (tmp_path / "o" / "summary.json").exists()
    swept = runner.invoke(app, ["sweep", POD, "--out", str(tmp_path / "s"), "--vary", "horizon_days=10,20",
                                "--baseline-point", "5", "-r", "2"])
    assert swept.exit_code == 2 and "--baseline-point 5" in swept.output


def test_summary_report_and_table_carry_the_comparisons(tmp_path):
    """(e) summary.json's comparisons against the chosen baseline equal Results.compare; the
    terminal and report.html show the same table."""
    import html

    out = tmp_path / "o"
    result = runner.invoke(app, ["run", POD, "--out", str(out), "-r", "3", "--set", "horizon_days=30",
                                 "--no-plot", "--baseline", "reconfigurable"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    block = summary["comparisons"]
    assert block["baseline"] == "reconfigurable"
    assert set(block["policies"]) == {"static", "static_ft", "reconfigurable_ft"}
    results = tpusim.run(POD, replications=3, horizon_days=30)
    for policy, entry in block["policies"].items():
        for row in entry[SLICE_AVAILABILITY]:
            d = results.compare(policy, "reconfigurable", SLICE_AVAILABILITY, row["shape"])
            assert row["difference"] == d.difference.as_dict() and row["verdict"] == d.verdict
            assert row["variance_reduction"] == d.variance_reduction
        for name in (SYSTEM_AVAILABILITY, USEFUL_AVAILABILITY):
            assert entry[name]["difference"] == results.compare(policy, "reconfigurable", name).difference.as_dict()
        assert "jobs" not in entry  # no workload
    assert "paired differences vs reconfigurable: static - reconfigurable" in result.output
    assert "cannot tell" in result.output and "± 0 " not in result.output
    report = html.unescape((out / "report.html").read_text())
    assert "<h2>Paired differences</h2>" in report
    assert "paired differences vs reconfigurable: reconfigurable_ft - reconfigurable" in report


def test_with_jobs_the_comparisons_hold_goodput_and_lost_chip_hours():
    results = tpusim.run(SCENARIOS / "tpuv4_pod_jobs.yaml", replications=2, horizon_days=20)
    frame = results.comparisons()
    assert {"goodput", "lost_chip_hours"} <= set(frame.metric)
    summary = results.summary()
    first = next(iter(summary["comparisons"]["policies"].values()))
    assert set(first["jobs"]) == {"goodput", "lost_chip_hours"}
    json.dumps(summary, allow_nan=False)  # no NaN or infinity anywhere


def test_sweep_points_pair_by_replication():
    """The OCS repair time does not touch a static pod: on common random numbers every static
    difference is exactly 0 (and says so); the reconfigurable pod's is the difference of the
    points' per-replication values."""
    swept = tpusim.sweep(POD, {"failures.ocs.repair.mean_hours": [1, 24]},
                         overrides={"replications": 5, "horizon_days": 60})
    frame = swept.differences()
    assert set(frame.point) == {1} and set(frame.baseline_point) == {0}
    static = frame[(frame.policy == "static") & (frame.metric == SLICE_AVAILABILITY)]
    assert (static.difference == 0).all() and static.ci95_low.isna().all()
    assert (static.verdict == CANNOT_TELL).all() and static.note.str.contains("equal in all").all()
    reps = swept.replications_frame()
    sel = reps[(reps.policy == "reconfigurable") & (reps.metric == SYSTEM_AVAILABILITY)]
    x = sel[sel.point == 1].sort_values("replication").value.to_numpy()
    y = sel[sel.point == 0].sort_values("replication").value.to_numpy()
    row = frame[(frame.policy == "reconfigurable") & (frame.metric == SYSTEM_AVAILABILITY)].iloc[0]
    half = stats.t.ppf(0.975, 4) * (x - y).std(ddof=1) / math.sqrt(5)
    assert row.difference == pytest.approx((x - y).mean(), abs=1e-12)
    assert (row.ci95_low, row.ci95_high) == pytest.approx(((x - y).mean() - half, (x - y).mean() + half))
    back = swept.differences(baseline_point=1)
    assert set(back.point) == {0}
    with pytest.raises(IndexError):
        swept.differences(baseline_point=2)
