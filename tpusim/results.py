"""Results of a scenario run: per-replication measurements and their summaries.

:class:`Results` is what :func:`tpusim.run_scenario` returns. It keeps every replication's
numbers and derives from them, on demand, the DESIGN §5 ``summary.json`` mapping, tidy pandas
frames for notebooks, and confidence intervals (:mod:`tpusim.stats`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from tpusim import __version__
from tpusim.analytic import class_availability
from tpusim.engine import ReplicationResult
from tpusim.scenario import Scenario, static_grid_fits
from tpusim.jobsim import JobOutcome
from tpusim.stats import FRACTION, NON_NEGATIVE, Estimate, estimate
from tpusim.topology.machine import COMPONENT_CLASSES

#: Job metrics reported per policy (DESIGN §4), and whether each is a fraction in [0, 1].
JOB_METRICS = {
    "goodput": True, "jobs_interrupted": True, "lost_chip_hours": False,
    "queue_wait_p50_hours": False, "queue_wait_p95_hours": False, "queue_wait_mean_hours": False,
    "preemptions": False, "migrations": False, "xconnects_per_day": False, "xconnects_per_job": False,
    "utilization": True, "preflight_failures": False, "spare_swaps": False, "jobs_arrived": False,
    "jobs_completed": False, "jobs_rejected": False, "jobs_waiting_at_end": False,
    "mean_queue_length": False, "mean_time_in_queue_hours": False,
    "ft_reroutes": False, "degraded_fraction": True, "slowdown_chip_hours": False,
    "detections": False, "mean_detection_minutes": False,
}


def _estimate(values: list[float], bounded: bool) -> Estimate | None:
    """Estimate over the replications where the metric is defined (not NaN)."""
    values = [v for v in values if v == v]
    return estimate(values, bounds=FRACTION if bounded else NON_NEGATIVE) if values else None


@dataclass
class Results:
    scenario: Scenario
    replications: list[ReplicationResult]
    wall_seconds: float
    error: str | None = None  # set when a run failed part-way; the replications done are kept

    # -- estimates -------------------------------------------------------------------------
    def slice_availability(self, policy: str) -> list[tuple[str, int, int, Estimate]]:
        """(shape, cubes, chips, estimate) per slice shape, in scenario order."""
        cube_shape = self.scenario.topology.cube_shape
        return [
            (shape.label, shape.cubes(cube_shape), shape.chips,
             estimate([r.slice_availability[policy][i] for r in self.replications]))
            for i, shape in enumerate(self.scenario.shapes)
        ]

    def system_availability(self, policy: str) -> Estimate:
        return estimate([r.system_availability[policy] for r in self.replications])

    def component_availability(self, component_class: str) -> Estimate | None:
        values = [r.component_availability[component_class] for r in self.replications]
        return None if values[0] is None else estimate(values)  # None: class has no units

    # -- time series ---------------------------------------------------------------------------
    def availability_series_frame(self) -> pd.DataFrame | None:
        """Slice availability per time bucket: policy, shape, bucket start (days), mean, CI."""
        s = self.scenario
        if not self.replications or self.replications[0].series is None:
            return None
        rows = []
        for policy in s.policies:
            for i, shape in enumerate(s.slices):
                buckets = len(self.replications[0].series[policy][i])
                for b in range(buckets):
                    est = estimate([r.series[policy][i][b] for r in self.replications])
                    lo, hi = est.ci95 if est.ci95 else (None, None)
                    rows.append({"policy": policy, "shape": shape, "start_days": b * s.timeseries_days,
                                 "mean": est.mean, "ci95_low": lo, "ci95_high": hi})
        return pd.DataFrame(rows)

    # -- jobs ----------------------------------------------------------------------------------
    @property
    def has_jobs(self) -> bool:
        return bool(self.replications) and self.replications[0].jobs is not None

    def _outcomes(self, policy: str) -> list[JobOutcome]:
        return [r.jobs[policy] for r in self.replications]

    def job_metric(self, policy: str, name: str) -> Estimate | None:
        return _estimate([o.metrics[name] for o in self._outcomes(policy)], JOB_METRICS[name])

    def queue_wait_by_chips(self, policy: str) -> list[tuple[int, Estimate, Estimate]]:
        """(chips, p50, p95) of the wait before a job first starts, per slice size."""
        sizes = sorted({c for o in self._outcomes(policy) for c in o.by_chips})
        out = []
        for chips in sizes:
            got = [o.by_chips[chips] for o in self._outcomes(policy) if chips in o.by_chips]
            out.append((chips, estimate([g[0] for g in got], bounds=NON_NEGATIVE),
                        estimate([g[1] for g in got], bounds=NON_NEGATIVE)))
        return out

    def _jobs_summary(self, policy: str) -> dict:
        def dump(est: Estimate | None) -> dict:
            return est.as_dict() if est else {"mean": None, "ci95": None}

        out = {name: dump(self.job_metric(policy, name)) for name in JOB_METRICS
               if not name.startswith("queue_wait_p")}
        out["queue_wait_hours"] = {
            "p50": dump(self.job_metric(policy, "queue_wait_p50_hours")),
            "p95": dump(self.job_metric(policy, "queue_wait_p95_hours")),
            "by_slice": [{"chips": c, "p50": dump(p50), "p95": dump(p95)}
                         for c, p50, p95 in self.queue_wait_by_chips(policy)],
        }
        return out

    def trace_csv(self) -> str | None:
        """The failure traces of the run as CSV, if they were recorded."""
        from tpusim.failures.trace import trace_csv

        if not self.replications or self.replications[0].trace is None:
            return None
        return trace_csv({r.replication: r.trace for r in self.replications})

    def jobs_frame(self) -> pd.DataFrame:
        """One row per job, replication and policy (what ``jobs.csv`` holds)."""
        rows = [(r.replication, policy) + row
                for r in self.replications for policy in self.scenario.policies
                for row in r.jobs[policy].rows]
        return pd.DataFrame(rows, columns=("replication", "policy") + JobOutcome.COLUMNS)

    @property
    def events(self) -> int:
        return sum(r.events for r in self.replications)

    def static_unplaceable(self) -> list[str]:
        """Shapes that no box of the static cube grid can hold, whatever the health state."""
        return [s.label for s in self.scenario.shapes if not static_grid_fits(self.scenario, s)]

    # -- summary.json ----------------------------------------------------------------------
    def summary(self) -> dict:
        s = self.scenario
        policies = {}
        for policy in s.policies:
            policies[policy] = {
                "slice_availability": [
                    {"shape": shape, "cubes": cubes, "chips": chips, **est.as_dict()}
                    for shape, cubes, chips, est in self.slice_availability(policy)
                ],
                "system_availability": self.system_availability(policy).as_dict(),
                "jobs": self._jobs_summary(policy) if self.has_jobs else None,
            }
        components = {}
        for cls in COMPONENT_CLASSES:
            est = self.component_availability(cls)
            components[cls] = {
                **(est.as_dict() if est else {"mean": None, "ci95": None}),
                # no closed form for a replayed trace, nor (exactly) for a rate schedule
                "closed_form": class_availability(s, cls)
                if s.failures.trace is None and getattr(s.failures, cls).schedule is None else None,
                "failures": sum(r.failures[cls] for r in self.replications),
                "repairs": sum(r.repairs[cls] for r in self.replications),
            }
        out = {
            "tpusim_version": __version__,
            "scenario": s.resolved(),
            "seed": s.seed,
            "replications": len(self.replications),
            "horizon_days": s.horizon_days,
            "wall_seconds": self.wall_seconds,
            "events": self.events,
            "policies": policies,
            "components": components,
        }
        if s.notes:
            out["notes"] = s.notes
        if self.error is not None:
            out["error"] = self.error
        return out

    # -- frames ----------------------------------------------------------------------------
    def availability_frame(self) -> pd.DataFrame:
        """One row per policy and slice shape: mean availability and its 95 % CI."""
        rows = []
        for policy in self.scenario.policies:
            for shape, cubes, chips, est in self.slice_availability(policy):
                lo, hi = est.ci95 if est.ci95 else (None, None)
                rows.append({"policy": policy, "shape": shape, "cubes": cubes, "chips": chips,
                             "mean": est.mean, "ci95_low": lo, "ci95_high": hi,
                             "replications": est.n})
        return pd.DataFrame(rows)

    def plot(self, kind: str = "availability"):
        """A matplotlib figure: ``availability`` (against slice size), ``queue_wait`` or
        ``goodput`` (with a workload), ``timeseries`` (with ``timeseries_days``)."""
        from tpusim import report

        if kind == "availability":
            return report.plot_availability(self)
        if kind in ("queue_wait", "goodput") and self.has_jobs:
            return report.plot_queue_wait(self) if kind == "queue_wait" else report.plot_goodput(self)
        if kind == "timeseries" and self.availability_series_frame() is not None:
            return report.plot_series(self, self.availability_series_frame())
        raise ValueError(f"no {kind!r} plot for these results")

    def to_frame(self) -> pd.DataFrame:
        """Tidy per-replication frame: replication, policy, metric, shape, value."""
        rows = []
        for r in self.replications:
            for policy in self.scenario.policies:
                for shape, value in zip(self.scenario.slices, r.slice_availability[policy]):
                    rows.append((r.replication, policy, "slice_availability", shape, value))
                rows.append((r.replication, policy, "system_availability", None, r.system_availability[policy]))
        return pd.DataFrame(rows, columns=["replication", "policy", "metric", "shape", "value"])
