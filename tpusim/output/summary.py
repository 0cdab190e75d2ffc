"""summary.json (DESIGN §5): the resolved scenario and every estimate, per policy.

Built from the run's estimates and model; nothing here simulates or recomputes a statistic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tpusim.core.version import __version__
from tpusim.policies.analytic import class_availability, domain_availability
from tpusim.core.metrics import COST_METRICS, HERO_METRICS, HERO_PROGRAM_GOODPUT, JOB_METRICS
from tpusim.output.provenance import provenance
from tpusim.core.stats import Estimate
from tpusim.topology.machine import COMPONENT_CLASSES, OPTIONAL_CLASSES
from tpusim.core.metrics import (
    GOODPUT,
    LOST_CHIP_HOURS,
    MAINTENANCE_CHIP_HOURS,
    QUEUE_WAIT_P50_HOURS,
    QUEUE_WAIT_P95_HOURS,
    SLICE_AVAILABILITY,
    SYSTEM_AVAILABILITY,
    USEFUL_AVAILABILITY,
)

if TYPE_CHECKING:  # the results layer calls this module; annotations only
    from tpusim.measure.results import Results


def _dump(est: Estimate | None) -> dict[str, Any]:
    return est.as_dict() if est else {"mean": None, "ci95": None}


def jobs_summary(results: "Results", policy: str) -> dict[str, Any]:
    """The ``jobs`` block of one policy: every job metric, queue waits grouped."""
    out = {name: _dump(results.job_metric(policy, name)) for name in JOB_METRICS
           if not name.startswith("queue_wait_p")}
    if results.model.cost is not None:
        out["cost"] = {name: _dump(results.job_metric(policy, name)) for name in COST_METRICS}
    out["queue_wait_hours"] = {
        "p50": _dump(results.job_metric(policy, QUEUE_WAIT_P50_HOURS)),
        "p95": _dump(results.job_metric(policy, QUEUE_WAIT_P95_HOURS)),
        "by_slice": [{"chips": c, "p50": _dump(p50), "p95": _dump(p95)}
                     for c, p50, p95 in results.queue_wait_by_chips(policy)],
    }
    return out


def heroes_summary(results: "Results", policy: str) -> dict[str, Any]:
    """The ``heroes`` block of one policy: per hero job (by name) its figures
    (:mod:`tpusim.scheduler.hero`), each an estimate over the replications; ``never_fits``: the
    policy can never place it (goodput 0 and waiting 1 by construction, not measured); the
    program goodput, an input of the scenario, carries ``"input": true``."""
    never = set(results.heroes_never_placed(policy))
    out: dict[str, Any] = {}
    for h in results.heroes:
        block: dict[str, Any] = {"shape": h.shape.label, "never_fits": h.name in never}
        for name in HERO_METRICS:
            block[name] = _dump(results.estimate(policy, name, h.name))
        block[HERO_PROGRAM_GOODPUT]["input"] = True
        out[h.name] = block
    return out


def noticed_gray(model) -> list[str]:
    """Classes whose gray faults healthd may notice (each one an extra failure of the class)."""
    return [cls for cls in COMPONENT_CLASSES if (g := model.failures.of(cls).gray) is not None
            and g.rate > 0 and g.detection_probability > 0]


def components(results: "Results") -> dict[str, dict[str, Any]]:
    """Per component class: measured availability, its closed form, failure and repair counts."""
    model = results.model
    released = {COMPONENT_CLASSES[c.release_class] for c in model.maintenance if c.release is not None}
    released |= set(noticed_gray(model))
    out = {}
    for k, cls in enumerate(COMPONENT_CLASSES):
        cfg = model.failures.of(cls)
        if cls in OPTIONAL_CLASSES and results.component_availability(cls) is None:
            continue  # not modelled in this run
        out[cls] = {
            **_dump(results.component_availability(cls)),
            # no closed form for a replayed trace, nor (exactly) for a rate schedule, a build-out,
            # a release that changes the class's rate, or gray faults noticed (extra failures)
            "closed_form": class_availability(model.failures, cls)
            if model.failures.traces is None and cfg.schedule is None and not model.failures.install_hours
            and cls not in released else None,
            "failures": sum(r.counts.failures[k] for r in results.replications),
            "repairs": sum(r.counts.repairs[k] for r in results.replications),
        }
    return out


def comparisons(results: "Results", baseline: str | None = None) -> dict[str, Any] | None:
    """The ``comparisons`` block: every other policy against ``baseline`` (default: the first
    policy) as paired differences (policy - baseline) over the replications, per metric as in
    ``policies`` (slice availability by shape; system and useful availability; with jobs,
    goodput and lost chip-hours under ``jobs``; with hero jobs, each one's goodput and mean cubes
    under ``heroes`` by name); None when nothing was measured."""
    if not results.replications:
        return None
    policies: dict[str, Any] = {}
    base = results.baseline_policy(baseline)
    for policy, diffs in results.paired_differences(base):
        block: dict[str, Any] = {SLICE_AVAILABILITY: []}
        for d in diffs:
            entry = {k: v for k, v in d.as_dict().items() if k not in ("a", "b", "metric", "key", "level")}
            if d.metric == SLICE_AVAILABILITY:
                block[SLICE_AVAILABILITY].append({"shape": d.key, **entry})
            elif d.metric in (GOODPUT, LOST_CHIP_HOURS):
                block.setdefault("jobs", {})[d.metric] = entry
            elif d.metric in HERO_METRICS:
                block.setdefault("heroes", {}).setdefault(d.key, {})[d.metric] = entry
            else:
                block[d.metric] = entry
        policies[policy] = block
    return {"baseline": base, "level": 0.95,
            "method": "paired by replication (common random numbers): mean and Student-t interval of the "
                      "per-replication differences policy - baseline; unpaired_half_width is what independent "
                      "runs with the same variances would give; variance_reduction = (var policy + var baseline) "
                      "/ var(difference); verdict 'a > b' or 'a < b' only when the interval excludes 0, else "
                      "'cannot tell'",
            "policies": policies}


def controlled_summary(results: "Results", policy: str | None) -> dict[str, Any]:
    """The ``controlled`` block of one policy (None: the machine's component availability): per
    metric (slice availability as a list by shape, other broken-down metrics by key), the plain
    and controlled estimates, the controls used, the variance-reduction factor, R² and the
    degrees of freedom (:meth:`tpusim.measure.results.Results.controlled`)."""
    out: dict[str, Any] = {}
    for name, key in results.controlled_metrics(policy):
        ce = results.controlled(policy, name, key)
        if ce is None:
            continue
        if name == SLICE_AVAILABILITY:
            out.setdefault(name, []).append({"shape": key, **ce.as_dict()})
        elif key is not None:
            out.setdefault(name, {})[key] = ce.as_dict()
        else:
            out[name] = ce.as_dict()
    return out


def control_variates(results: "Results") -> dict[str, Any] | None:
    """The ``control_variates`` block: the method, the controls' exact means and the machine's
    controlled component availability; None when nothing was measured."""
    if not results.replications:
        return None
    from tpusim.measure.controls import MIN_CONTROLLED, REPLICATIONS_PER_CONTROL, label

    return {"method": "regression control variates (Lavenberg-Welch): y = b0 + beta'(C - mu) + e by least squares "
                      "over the replications, controlled mean b0, Student-t interval on n - 1 - q degrees of "
                      f"freedom; q = (n - 2) // {REPLICATIONS_PER_CONTROL} controls at most (none below "
                      f"{MIN_CONTROLLED} replications), taken in a fixed order chosen without looking at y; "
                      "variance_reduction = plain variance of the mean / controlled",
            "means": {label(name, key): mean for (name, key), mean in sorted(results.control_means.items(),
                                                                             key=lambda kv: (kv[0][0], kv[0][1] or ""))},
            "components": controlled_summary(results, None).get("component_availability", {})}


def build_summary(results: "Results", command: list[str] | None = None, baseline: str | None = None) -> dict[str, Any]:
    s, model = results.scenario, results.model
    policies = {}
    for policy in model.policy_names:
        policies[policy] = {
            SLICE_AVAILABILITY: [
                {"shape": shape, "cubes": cubes, "chips": chips, **est.as_dict()}
                for shape, cubes, chips, est in results.slice_availability(policy)
            ] if results.replications else [],
            SYSTEM_AVAILABILITY: results.system_availability(policy).as_dict() if results.replications else None,
            USEFUL_AVAILABILITY: _dump(results.estimate(policy, USEFUL_AVAILABILITY)) if results.replications else None,
            "capacity_at_confidence": results.capacity_at_confidence(policy).as_dict() if results.replications else None,
            "jobs": jobs_summary(results, policy) if results.has_jobs else None,
            "controlled": controlled_summary(results, policy) if results.replications else None,
        }
        if results.heroes:  # only where the scenario has hero jobs: other summaries keep their form
            policies[policy]["heroes"] = heroes_summary(results, policy)
        if model.maintenance and results.replications:
            policies[policy][MAINTENANCE_CHIP_HOURS] = _dump(results.estimate(policy, MAINTENANCE_CHIP_HOURS))
    out: dict[str, Any] = {
        "tpusim_version": __version__,
        "provenance": provenance(s.resolved(), command),
        "scenario": s.resolved(),
        "seed": s.seed,
        "replications": len(results.replications),
        "horizon_days": s.horizon_days,
        "wall_seconds": results.wall_seconds,
        "events": results.events,
        "policies": policies,
        "components": components(results),
        "domains": {d.name: {"of": d.component_class, "units": d.units,
                             "failures": sum(r.counts.domain_failures.get(d.name, 0) for r in results.replications),
                             "availability_closed_form": domain_availability(d)}
                    for d in model.failures.domains},
        "maintenance": {c.name: {"upgrades": c.kind, "waves_per_campaign": c.waves_per_occurrence(model.machine),
                                 "waves_run": sum(1 for r in results.replications for w in r.maintenance.waves
                                                  if w.campaign == i)}
                        for i, c in enumerate(model.maintenance)},
        "rollouts": results.rollout_summary() if results.replications else {},
        "comparisons": comparisons(results, baseline),
        "control_variates": control_variates(results),
    }
    if results.stopping is not None:  # a run that stopped at a precision: its rule, targets and n
        out["stopping"] = results.stopping
    if results.importance is not None:  # estimation.estimator: importance (a plain run has no such key)
        out["importance"] = results.importance
    if results.error is not None:
        out["error"] = results.error
    return out
