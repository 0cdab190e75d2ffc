"""Runs that stop when the answer is good enough (issue 33, point 3; tpusim.measure.sequential).

The rule is tested on synthetic streams through the very objects the runner uses
(:class:`Sequential`, which computes its intervals with :class:`tpusim.core.metrics.Estimates`):
where it stops against ``(t sigma / h)^2`` for a known sigma, and the coverage of the interval
it stops at. Then end to end: a run's first n replications are a fixed run of n, byte for byte,
and summary.json records the rule; bad options exit 2 naming the option.
"""

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

import tpusim
from tpusim import run_scenario, scenario_from_dict
from tpusim.cli import app
from tpusim.core.metrics import Sample
from tpusim.core.stats import Estimate, student_t_quantile
from tpusim.measure.sequential import Goal, Sequential, judge, stopping_from

METRIC = "margin_per_day"  # an unbounded metric: its interval is never clipped


def _stop(values, goal: Goal, minimum: int = 10, maximum: int = 100_000, block: int | None = None):
    """Feed ``values`` (one per replication) to the rule in the runner's order: the first stage,
    then block after block; the replications it stopped at, and the rule."""
    rule = Sequential([goal], None, minimum, maximum, block)
    target, done = rule.first(), 0
    while target is not None:
        for r in range(done, target):
            rule.add(r, [Sample(r, "p", goal.metric, None, float(values[r]))])
        done = target
        target = rule.next(done)
    return done, rule


def _n_sigma(sigma: float, h: float) -> int:
    """The smallest n with t(0.975, n-1) sigma / sqrt(n) <= h: (t sigma / h)^2 with t at that n."""
    n = 2
    while student_t_quantile(0.975, n - 1) * sigma / math.sqrt(n) > h:
        n += 1
    return n


@pytest.mark.parametrize("h, block", [(0.002, 1), (0.002, 10), (0.001, 25), (0.0005, None)])
def test_stops_within_one_block_of_t_sigma_over_h_squared_with_a_known_variance(h, block):
    # a stream whose spread is sigma at every n (+-sigma in turn): the sample variance is sigma^2
    # (n / (n-1) or (n+1) / n of it), so where the rule stops is known in advance
    sigma = 0.01
    values = 0.5 + sigma * (-1.0) ** np.arange(100_000)
    n, rule = _stop(values, Goal("p", METRIC, None, "absolute", h), block=block)
    expected = _n_sigma(sigma, h)
    assert rule.reason == "met"
    # the last block before the stop: the default grows with the replications done
    last = block if block is not None else max(1, math.ceil(0.1 * rule.checks[-2]))
    assert expected - 1 <= n <= expected + last + 1, (n, expected, last)


@pytest.mark.parametrize("seed", range(5))
def test_stops_near_t_sigma_over_h_squared_on_a_normal_stream(seed):
    # normal values: s at the stop is sigma within sampling error (sd of s/sigma ~ 1/sqrt(2n))
    sigma, h = 0.05, 0.0025  # (1.96 x 20)^2 = 1537 replications
    values = np.random.default_rng(seed).normal(0.5, sigma, 5000)
    n, rule = _stop(values, Goal("p", METRIC, None, "absolute", h))
    expected = _n_sigma(sigma, h)
    spread = 3 * 2 * expected / math.sqrt(2 * expected)  # 3 sd of (s / sigma)^2 x n
    last = math.ceil(0.1 * rule.checks[-2])
    assert expected - spread <= n <= expected + last + spread, (n, expected)


@pytest.mark.parametrize("kind, mean, sigma, target", [
    ("absolute", 0.5, 0.05, 0.01),   # ~100 replications
    ("absolute", 0.5, 0.05, 0.02),   # ~25: many stops soon after the first stage
    ("relative", 2.0, 1.0, 0.1),     # ~100; the target moves with the mean
])
def test_the_stopped_interval_covers_about_95_percent(kind, mean, sigma, target):
    """The coverage of the rule itself over 1000 seeds of a normal stream (a naive rule from a
    first stage of 2 or 3 covers far less; Chow and Robbins' is asymptotically 95 %)."""
    covered, ns = 0, []
    for seed in range(1000):
        values = np.random.default_rng([33, seed]).normal(mean, sigma, 3000)
        n, rule = _stop(values, Goal("p", METRIC, None, kind, target))
        est = rule.verdicts[0].estimate
        assert rule.reason == "met" and est is not None and est.ci95 is not None
        covered += est.ci95[0] <= mean <= est.ci95[1]
        ns.append(n)
    assert 0.92 <= covered / 1000 <= 0.98, covered
    assert min(ns) >= 10  # the first stage


def test_an_interval_marked_unreliable_or_missing_never_meets_a_target():
    goal = Goal("p", METRIC, None, "absolute", 1.0)
    narrow = Estimate(0.5, (0.49, 0.51), 20, "only 3 outages ...", reliable=False)
    assert not judge(goal, narrow).met
    assert not judge(goal, Estimate(0.5, None, 20, "the same in all 20 replications: no interval")).met
    assert not judge(goal, None).met
    assert judge(goal, Estimate(0.5, (0.49, 0.51), 20)).met
    # the farther end counts: a skewed or clipped interval is judged on its wider side
    skewed = judge(Goal("p", METRIC, None, "absolute", 0.02), Estimate(0.99, (0.95, 1.0), 20))
    assert skewed.reach == pytest.approx(0.04) and not skewed.met
    # a relative target on a mean of 0 is never met; the maximum stops the run
    values = np.random.default_rng(1).normal(0.0, 1.0, 500)
    values -= values[:10].mean()
    n, rule = _stop(values, Goal("p", METRIC, None, "relative", 0.5), maximum=40)
    assert n == 40 and rule.reason == "maximum"


def test_a_key_with_nothing_observed_holds_the_run_only_when_named():
    """A target without a key does not wait on a key that has no interval because nothing was
    seen (a slice shape with no outage): recorded as not judged; named, it holds the run."""
    normal = np.random.default_rng(3).normal(0.5, 0.05, 1000)

    def run(wild: bool):
        goals = [Goal("p", METRIC, None, "absolute", 0.02), Goal("q", METRIC, None, "absolute", 0.02, wild)]
        rule = Sequential(goals, None, 10, 60)
        target, done = rule.first(), 0
        while target is not None:
            for r in range(done, target):
                rule.add(r, [Sample(r, "p", METRIC, None, float(normal[r])), Sample(r, "q", METRIC, None, 1.0)])
            done = target
            target = rule.next(done)
        return done, rule.record(done)

    n, record = run(wild=True)
    assert n < 60 and record["met"] and record["stopped"].startswith("every judged target met")
    assert [t["judged"] for t in record["targets"]] == [True, False]
    assert "no interval" in record["targets"][1]["note"]
    n, record = run(wild=False)
    assert n == 60 and not record["met"] and record["targets"][1]["judged"]


def test_the_rule_stops_at_the_maximum_and_says_so():
    values = np.random.default_rng(2).normal(0.5, 0.05, 1000)
    n, rule = _stop(values, Goal("p", METRIC, None, "absolute", 1e-6), maximum=57)
    assert n == 57
    record = rule.record(n)
    assert record["met"] is False and record["targets"][0]["met"] is False
    assert record["stopped"].startswith("maximum")


TINY = {
    "name": "tiny-seq", "seed": 5, "replications": 2, "horizon_days": 10,
    "policies": ["static", "reconfigurable"], "slices": ["4x4x4", "8x8x8"],
    "failures": {"host": {"daily_rate": 0.01, "repair": {"mean_hours": 12}}},
}


def test_a_run_stops_between_its_minimum_and_maximum_and_equals_a_fixed_run_of_that_many():
    sc = scenario_from_dict(TINY)
    stopping = stopping_from(half_width="system_availability=0.00025", max_replications=80)
    seq = run_scenario(sc, stopping=stopping)
    n = len(seq.replications)
    assert 10 < n < 80, n
    record = seq.stopping
    assert record is not None and record["met"] and record["replications"] == n
    assert record["minimum"] == 10 and record["maximum"] == 80 and record["checks"][-1] == n
    assert {(t["policy"], t["metric"]) for t in record["targets"]} == {
        ("static", "system_availability"), ("reconfigurable", "system_availability")}
    assert all(t["met"] and t["half_width"] <= 0.00025 for t in record["targets"])
    fixed = run_scenario(sc.model_copy(update={"replications": n}))
    assert [r.samples for r in seq.replications] == [r.samples for r in fixed.replications]
    assert [r.replication for r in seq.replications] == list(range(n))
    # the half-widths judged are the ones every output prints
    for t in record["targets"]:
        est = fixed.estimate(t["policy"], t["metric"])
        assert t["half_width"] == pytest.approx(max(est.mean - est.ci95[0], est.ci95[1] - est.mean), rel=1e-12)
    summary = seq.summary()
    assert summary["stopping"]["rule"].startswith("Chow and Robbins") and summary["replications"] == n
    # in processes: the same replications, the same stop
    pooled = run_scenario(sc, stopping=stopping, workers=2)
    assert [r.samples for r in pooled.replications] == [r.samples for r in seq.replications]


def test_the_facade_and_the_cli_stop_at_a_precision(tmp_path):
    res = tpusim.run(TINY, precision={"system_availability": 0.5}, max_replications=30)  # met at once
    assert len(res.replications) == 10 and res.stopping["met"]
    with pytest.raises(ValueError, match="--precision"):
        tpusim.run(TINY, precision=0)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", json_file(tmp_path), "--out", str(out), "--no-plot", "-q",
                                      "--half-width", "slice_availability:4x4x4=0.01",
                                      "--precision", "system_availability=0.5", "--max-replications", "40"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    stop = summary["stopping"]
    assert stop["replications"] == summary["replications"] and 10 <= stop["replications"] <= 40
    kinds = {(t["metric"], t["key"], t["kind"]) for t in stop["targets"]}
    assert kinds == {("slice_availability", "4x4x4", "absolute"), ("system_availability", None, "relative")}
    # the saved results keep the record
    saved = tmp_path / "saved"
    res.save(saved)
    assert tpusim.load_results(saved).stopping == res.stopping


def json_file(tmp_path) -> str:
    path = tmp_path / "tiny.yaml"
    path.write_text(json.dumps(TINY))  # JSON is YAML
    return str(path)


@pytest.mark.parametrize("args, says", [
    (["--precision", "0"], "--precision 0: must be a number > 0"),
    (["--precision", "-0.1"], "--precision -0.1: must be a number > 0"),
    (["--half-width", "nan"], "--half-width nan: must be a number > 0"),
    (["--precision", "ten"], "--precision ten: not a number"),
    (["--precision", "1.5"], "must be below 1"),
    (["--precision", "nosuch=0.1"], "no metric named 'nosuch'"),
    (["--half-width", "slice_availability:9x9x9=0.01"], "no shape '9x9x9'"),
    (["--half-width", "system_availability:host=0.01"], "has no breakdown"),
    (["--precision", "goodput=0.1"], "only with a workload"),
    (["--precision", "queue_wait_p50_by_chips_hours=0.1"], "broken down by chips"),
    (["--precision", "0.1", "--max-replications", "5"], "--max-replications 5: below the first stage of 10"),
    (["--max-replications", "50"], "--max-replications: only with --precision or --half-width"),
])
def test_bad_stopping_options_exit_2_naming_the_option(tmp_path, args, says):
    result = CliRunner().invoke(app, ["run", json_file(tmp_path), "--out", str(tmp_path / "o"), "--no-plot", "-q",
                                      *args])
    assert result.exit_code == 2, result.output
    assert says in result.output
