"""Regression checks of a model's numbers against a committed baseline (``tpusim check``).

A baseline records, for every metric of a run (slice and system availability per policy,
component availability, job metrics when there is a workload), the mean, the standard deviation
over replications and their number. A check reruns the scenario and compares each metric with
Welch's two-sided t-test. With ``m`` metrics each is tested at ``alpha / m`` (Bonferroni), so an
unchanged model fails a check with probability at most ``alpha`` - across seeds too, not only
for the seed the baseline was made with. A metric fails when the two samples are inconsistent at
that level; the report says which metric moved, by how much and in which direction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from tpusim.results import JOB_METRICS, Results


def metric_samples(results: Results) -> dict[str, list[float]]:
    """Per-replication values of every metric of ``results``, by dotted name."""
    s = results.scenario
    out: dict[str, list[float]] = {}
    for policy in s.policies:
        for i, shape in enumerate(s.slices):
            out[f"{policy}.slice_availability.{shape}"] = [r.slice_availability[policy][i] for r in results.replications]
        out[f"{policy}.system_availability"] = [r.system_availability[policy] for r in results.replications]
        if results.has_jobs:
            for name in JOB_METRICS:
                values = [r.jobs[policy].metrics[name] for r in results.replications]
                if all(v == v for v in values):  # defined in every replication
                    out[f"{policy}.jobs.{name}"] = values
    for cls in ("host", "ici_link", "ocs"):
        values = [r.component_availability[cls] for r in results.replications]
        if values[0] is not None:
            out[f"components.{cls}.availability"] = values
    return out


def _moments(values: list[float]) -> dict:
    n = len(values)
    mean = math.fsum(values) / n
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return {"mean": mean, "sd": sd, "n": n}


def make_baseline(results: Results) -> dict:
    return {
        "scenario": results.scenario.name,
        "seed": results.scenario.seed,
        "metrics": {name: _moments(v) for name, v in metric_samples(results).items()},
    }


@dataclass
class MetricCheck:
    name: str
    old: dict
    new: dict
    p_value: float
    failed: bool

    @property
    def change(self) -> float:
        return self.new["mean"] - self.old["mean"]


@dataclass
class CheckReport:
    alpha: float
    per_metric_alpha: float
    checks: list[MetricCheck]
    missing: list[str]  # in the baseline, not in the run (or the reverse)

    @property
    def failed(self) -> bool:
        return any(c.failed for c in self.checks) or bool(self.missing)


def welch_p(a: dict, b: dict) -> float:
    """Two-sided p-value of Welch's t-test between two (mean, sd, n) summaries."""
    if a["n"] < 2 or b["n"] < 2:
        raise ValueError("a check needs at least two replications on both sides")
    va, vb = a["sd"] ** 2 / a["n"], b["sd"] ** 2 / b["n"]
    diff = a["mean"] - b["mean"]
    if va + vb == 0.0:
        return 1.0 if diff == 0.0 else 0.0  # both constant: equal or not
    t = diff / math.sqrt(va + vb)
    df = (va + vb) ** 2 / ((va**2 / (a["n"] - 1) if va else 0.0) + (vb**2 / (b["n"] - 1) if vb else 0.0))
    return float(2.0 * stats.t.sf(abs(t), df))


def compare(baseline: dict, results: Results, alpha: float = 0.01) -> CheckReport:
    new = {name: _moments(v) for name, v in metric_samples(results).items()}
    old = baseline["metrics"]
    common = [n for n in old if n in new]
    missing = sorted(set(old) ^ set(new))
    per = alpha / max(1, len(common))
    checks = []
    for name in common:
        p = welch_p(old[name], new[name])
        checks.append(MetricCheck(name, old[name], new[name], p, p < per))
    return CheckReport(alpha, per, checks, missing)
