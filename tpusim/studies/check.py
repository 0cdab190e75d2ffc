"""Regression checks of a model's numbers against a committed baseline (``tpusim check``).

A baseline records, for every checked metric of a run (slice and system availability per
policy; per component class its availability, its failures per unit-day and the mean hours of
its completed repairs; job metrics when there is a workload, and each hero job's figures by its
name), the mean, the standard deviation over replications and their number, and the resolved
scenario it was made from (less its seed and replication count). A check of another scenario
is refused unless asked for (:func:`scenario_differences` says which keys differ): a gate that
silently compares two different models says nothing about either.

Power: the component-level figures are where a changed failure rate or repair law shows first
(an availability moves by the product of the two, and a slice's by less). The regression scenario
is sized so that a 17 % change of any class's rate or mean repair time is found with at least
80 % power at the default alpha (tests/test_check.py checks this from the committed baseline);
:attr:`MetricCheck.detectable` is the smallest change each comparison finds with 80 % power. A check compares each metric of a new run with
Welch's two-sided t-test. With ``m`` metrics each is tested at ``alpha / m`` (Bonferroni), so an
unchanged model fails a check with probability at most ``alpha`` - across seeds too, not only
for the seed the baseline was made with. A metric fails when the two samples are inconsistent at
that level; the report says which metric moved, by how much and in which direction.

Checks read tidy samples (:class:`tpusim.core.metrics.Sample`), never a summary file;
:class:`CheckStudy` runs a scenario and checks its samples (what ``tpusim check`` does).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable

from tpusim.config.schema import Scenario
from tpusim.core.metrics import Sample, metric
from tpusim.studies.base import Runner, ScenarioStudy


def check_name(sample: Sample) -> str | None:
    """The dotted name a baseline uses for a sample's metric; None if it is not checked."""
    m = metric(sample.metric)
    if not m.checked:
        return None
    if m.group == "components":
        return f"components.{sample.key}.{sample.metric.removeprefix('component_')}"
    if m.group == "jobs":
        if m.breakdown == "hero":  # each hero job's figures, by its name
            return f"{sample.policy}.heroes.{sample.key}.{sample.metric}"
        return f"{sample.policy}.jobs.{sample.metric}" if m.breakdown is None else None
    return f"{sample.policy}.{sample.metric}" + (f".{sample.key}" if sample.key is not None else "")


def metric_samples(samples: Iterable[Sample]) -> dict[str, list[float]]:
    """Per-replication values of every checked metric, by dotted name. A job metric undefined
    (NaN) in some replication is left out: its mean and spread are not comparable."""
    out: dict[str, list[float]] = {}
    for s in samples:
        name = check_name(s)
        if name is not None:
            out.setdefault(name, []).append(s.value)
    return {name: values for name, values in out.items() if all(v == v for v in values)}


def _moments(values: list[float]) -> dict:
    n = len(values)
    mean = math.fsum(values) / n
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return {"mean": mean, "sd": sd, "n": n}


def baseline_problems(baseline: object) -> list[str]:
    """What is wrong with a loaded baseline (empty when it can be compared against): a mapping
    with ``metrics``, each metric a mapping of a finite ``mean``, an ``sd`` >= 0 and ``n`` >= 2."""
    if not isinstance(baseline, dict):
        return [f"must be a JSON object, got {type(baseline).__name__}"]
    metrics = baseline.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        return ["metrics: missing or empty (make a baseline with --update-baseline)"]
    problems = []
    for name, m in metrics.items():
        if not isinstance(m, dict):
            problems.append(f"metrics.{name}: must be an object with mean, sd and n")
            continue
        mean, sd, n = m.get("mean"), m.get("sd"), m.get("n")
        if not isinstance(mean, (int, float)) or isinstance(mean, bool) or not math.isfinite(mean):
            problems.append(f"metrics.{name}.mean: must be a finite number, got {mean!r}")
        if not isinstance(sd, (int, float)) or isinstance(sd, bool) or not sd >= 0 or not math.isfinite(sd):
            problems.append(f"metrics.{name}.sd: must be a number >= 0, got {sd!r}")
        if not isinstance(n, int) or isinstance(n, bool) or n < 2:
            problems.append(f"metrics.{name}.n: must be an integer >= 2, got {n!r}")
    return problems


#: Keys of a resolved scenario that a check may change without comparing another model.
FREE_KEYS = ("seed", "replications", "description", "assumptions")  # assumptions: ranges, not the model


def scenario_identity(resolved: dict) -> dict:
    """What makes two runs runs of the same model: the resolved scenario less :data:`FREE_KEYS`."""
    return {k: v for k, v in resolved.items() if k not in FREE_KEYS}


def identity_sha256(identity: dict) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(identity, sort_keys=True, allow_nan=False).encode()).hexdigest()


def scenario_differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """The dotted keys whose values differ between two resolved scenarios (mappings compared
    key by key; anything else as a whole)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in old or key not in new:
                out.append(path)
            else:
                out += scenario_differences(old[key], new[key], path)
        return out
    return [] if old == new else [prefix or "(the whole scenario)"]


def _at(data: Any, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            return _MISSING
        data = data[part]
    return data


_MISSING = object()


@functools.lru_cache(maxsize=1)
def _default_resolved() -> dict:
    """The resolved scenario of one that sets nothing it need not (built once, not per key)."""
    from tpusim.config.schema import scenario_from_dict

    return scenario_from_dict({"name": "defaults", "slices": ["4x4x4"]}).resolved()


def _added_at_default(old: dict, new: dict, key: str) -> bool:
    """Is ``key`` absent from the ``old`` resolved scenario and, in ``new``, at the default a
    scenario that does not mention it gets (a key a newer tpusim added: the model is the same)?"""
    if _at(old, key) is not _MISSING:
        return False
    default = _default_resolved()
    return _at(default, key) == _at(new, key) is not _MISSING


def make_baseline(name: str, seed: int, samples: Iterable[Sample], resolved: dict | None = None) -> dict:
    """A baseline of ``samples`` (and of the resolved scenario that made them, when given)."""
    made: dict = {"scenario": name, "seed": seed}
    if resolved is not None:
        identity = scenario_identity(resolved)
        made["scenario_sha256"] = identity_sha256(identity)
        made["resolved"] = identity
    made["metrics"] = {metric_name: _moments(v) for metric_name, v in metric_samples(samples).items()}
    return made


def other_scenario(baseline: dict, name: str, resolved: dict) -> list[str]:
    """Why ``baseline`` is not a baseline of this scenario (empty when it is)."""
    if baseline.get("scenario") != name:
        return [f"made from scenario {baseline.get('scenario')!r}, this is {name!r}"]
    if "resolved" not in baseline or "scenario_sha256" not in baseline:
        return ["holds no resolved scenario (made by an older tpusim), so what it was made from cannot be "
                "compared: remake it with --update-baseline"]
    identity = scenario_identity(resolved)
    if identity_sha256(identity) == baseline["scenario_sha256"]:
        return []
    keys = [k for k in scenario_differences(baseline["resolved"], identity)
            if not _added_at_default(baseline["resolved"], identity, k)]
    if not keys and scenario_differences(baseline["resolved"], identity):
        return []  # only keys a newer tpusim added, at their defaults: the same model
    keys = keys or ["(the baseline's hash does not match its scenario)"]
    shown = ", ".join(keys[:6]) + (f" and {len(keys) - 6} more" if len(keys) > 6 else "")
    return [f"made from another version of scenario {name!r}: {shown} differ"]


@dataclass
class MetricCheck:
    name: str
    old: dict
    new: dict
    p_value: float
    failed: bool
    detectable: float = 0.0  # the smallest change this comparison finds with 80 % power

    @property
    def change(self) -> float:
        return self.new["mean"] - self.old["mean"]

    @property
    def fraction(self) -> bool:
        """An availability (a fraction of time): its changes scale its unavailability."""
        from tpusim.core.metrics import metric

        return metric(_metric_of(self.name)).unit == "fraction"

    @property
    def relative_detectable(self) -> float | None:
        """``detectable`` relative to the baseline's value - for a fraction, to its complement
        (the unavailability, which a changed rate or repair time scales). None where that is 0."""
        scale = 1.0 - self.old["mean"] if self.fraction else abs(self.old["mean"])
        return self.detectable / scale if scale > 0 else None

    def as_dict(self) -> dict:
        return {"name": self.name, "baseline": self.old, "now": self.new, "change": self.change,
                "p_value": self.p_value, "detectable": self.detectable,
                "relative_detectable": self.relative_detectable,
                "relative_to": "unavailability" if self.fraction else "value", "failed": self.failed}


def _metric_of(check_name: str) -> str:
    """The registry metric a check name stands for (``<policy>.slice_availability.<shape>``,
    ``<policy>.jobs.<metric>``, ``components.<class>.<what>``)."""
    parts = check_name.split(".")
    if parts[0] == "components":
        return f"component_{parts[2]}"
    return parts[2] if parts[1] == "jobs" else parts[1]


@dataclass
class CheckReport:
    alpha: float
    per_metric_alpha: float
    checks: list[MetricCheck]
    missing: list[str]  # in the baseline, not in the run (or the reverse)

    @property
    def failed(self) -> bool:
        return any(c.failed for c in self.checks) or bool(self.missing)

    def as_dict(self) -> dict:
        return {"passed": not self.failed, "alpha": self.alpha, "per_metric_alpha": self.per_metric_alpha,
                "test": "Welch t-test, Bonferroni over the metrics", "power": 0.8,
                "metrics": [c.as_dict() for c in self.checks], "missing": self.missing}


def welch_p(a: dict, b: dict) -> float:
    """Two-sided p-value of Welch's t-test between two (mean, sd, n) summaries."""
    from scipy import stats

    if a["n"] < 2 or b["n"] < 2:
        raise ValueError("a check needs at least two replications on both sides")
    va, vb = a["sd"] ** 2 / a["n"], b["sd"] ** 2 / b["n"]
    diff = a["mean"] - b["mean"]
    if va + vb == 0.0:
        return 1.0 if diff == 0.0 else 0.0  # both constant: equal or not
    t = diff / math.sqrt(va + vb)
    df = (va + vb) ** 2 / ((va**2 / (a["n"] - 1) if va else 0.0) + (vb**2 / (b["n"] - 1) if vb else 0.0))
    return float(2.0 * stats.t.sf(abs(t), df))


def detectable(a: dict, b: dict, alpha: float, power: float = 0.8) -> float:
    """The smallest difference of means that Welch's test at two-sided level ``alpha`` finds
    with probability ``power`` between samples like these (normal-theory approximation:
    (t_{1-alpha/2} + t_{power}) x the standard error, at Welch's degrees of freedom). 0 when
    both sides are constant: then any change is found."""
    from scipy import stats

    va, vb = a["sd"] ** 2 / a["n"], b["sd"] ** 2 / b["n"]
    if va + vb == 0.0:
        return 0.0
    df = (va + vb) ** 2 / ((va**2 / (a["n"] - 1) if va else 0.0) + (vb**2 / (b["n"] - 1) if vb else 0.0))
    return float((stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)) * math.sqrt(va + vb))


def fresh_seed(baseline_seed: int) -> int:
    """The seed a check runs with by default: not the baseline's, so that the two samples are
    independent (Welch's test assumes it; rerunning the baseline's own seed would compare a
    model with itself, draw for draw)."""
    return baseline_seed + 1


def compare(baseline: dict, samples: Iterable[Sample], alpha: float = 0.01) -> CheckReport:
    new = {name: _moments(v) for name, v in metric_samples(samples).items()}
    old = baseline["metrics"]
    common = [n for n in old if n in new]
    missing = sorted(set(old) ^ set(new))
    per = alpha / max(1, len(common))
    checks = []
    for name in common:
        p = welch_p(old[name], new[name])
        checks.append(MetricCheck(name, old[name], new[name], p, p < per, detectable(old[name], new[name], per)))
    return CheckReport(alpha, per, checks, missing)


@dataclass(frozen=True)
class CheckStudy(ScenarioStudy[CheckReport]):
    """A run of a scenario compared with ``baseline`` (:func:`compare`, family-wise ``alpha``).
    Give the scenario a seed other than the baseline's (:func:`fresh_seed`): the same seed
    would compare a model with itself, draw for draw."""

    name: ClassVar[str] = "check"
    summary: ClassVar[str] = "a run's metrics against a baseline's: Welch t-tests, Bonferroni over the metrics"

    baseline: dict
    alpha: float = 0.01

    def run(self, scenario: Scenario, runner: Runner) -> CheckReport:
        return compare(self.baseline, runner.run(scenario).samples, self.alpha)


def junit_xml(report: CheckReport, suite: str) -> bytes:
    """The check as JUnit XML (one test case per metric; a moved metric is a failure) for CI
    systems that show test reports."""
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuite", name=suite, tests=str(len(report.checks) + len(report.missing)),
                      failures=str(sum(c.failed for c in report.checks) + len(report.missing)))
    for c in report.checks:
        case = ET.SubElement(root, "testcase", classname=suite, name=c.name)
        detail = (f"baseline {c.old['mean']:.6g} (n={c.old['n']}), now {c.new['mean']:.6g} (n={c.new['n']}), "
                  f"p = {c.p_value:.3g} against {report.per_metric_alpha:.3g}; detectable change "
                  f"{c.detectable:.3g}")
        if c.failed:
            ET.SubElement(case, "failure", message=f"{c.name} moved by {c.change:+.3g}").text = detail
        else:
            ET.SubElement(case, "system-out").text = detail
    for name in report.missing:
        case = ET.SubElement(root, "testcase", classname=suite, name=name)
        ET.SubElement(case, "failure", message=f"{name}: on one side only")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
