"""A job simulation's outcome: one replication's job metrics under one policy, and per-job rows.

Every metric name here is defined in :mod:`tpusim.core.metrics` (label, unit, bounds); an
outcome is a component of its replication (:mod:`tpusim.core.collect`) whose result hook emits
its metrics as tidy samples, checked against the registry's ``JOB_METRICS`` both ways, and
returns what is not a metric (:class:`JobOutput`: per-job rows, run records, gray kills). A
metric that is undefined in a replication (a goodput with nothing held, a wait with nothing
started) is NaN, and the estimates leave that replication out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tpusim.scheduler.costs import preemptible_useful
from tpusim.scheduler.job import DONE, PENDING, REJECTED
from tpusim.scheduler.records import COLUMNS
from tpusim.core.metrics import (
    DEGRADED_FRACTION,
    DETECTIONS,
    FT_REROUTES,
    GOODPUT,
    GRAY_INTERRUPTIONS,
    GRAY_LOST_CHIP_HOURS,
    JOB_METRICS,
    JOBS_ARRIVED,
    JOBS_COMPLETED,
    JOBS_INTERRUPTED,
    JOBS_REJECTED,
    JOBS_WAITING_AT_END,
    LOST_CHIP_HOURS,
    MAINTENANCE_DRAINS,
    MEAN_DETECTION_MINUTES,
    MEAN_QUEUE_LENGTH,
    MEAN_TIME_IN_QUEUE_HOURS,
    MIGRATIONS,
    PREEMPTIBLE_CHIP_HOURS,
    PREEMPTIONS,
    PREFLIGHT_FAILURES,
    QUEUE_WAIT_MEAN_HOURS,
    QUEUE_WAIT_P50_BY_CHIPS_HOURS,
    QUEUE_WAIT_P50_HOURS,
    QUEUE_WAIT_P95_BY_CHIPS_HOURS,
    QUEUE_WAIT_P95_HOURS,
    SLOWDOWN_CHIP_HOURS,
    SPARE_EVICTIONS,
    SPARE_SWAPS,
    USEFUL_CHIP_HOURS,
    UTILIZATION,
    XCONNECTS_PER_DAY,
    XCONNECTS_PER_JOB,
)
from tpusim.core.collect import Emit
from tpusim.core.units import HOURS_PER_DAY

GrayKill = tuple[float, int, int, int]  # (time, class, unit, job): a gray fault failed a job


@dataclass(frozen=True, eq=False)
class JobOutput:
    """What one policy's job simulation leaves besides its samples."""

    rows: dict[str, np.ndarray]  # per-job columns (records.COLUMNS)
    runs: dict[str, np.ndarray] | None = None  # every run's parts and fate (RunLog.columns), when recorded
    gray_kills: tuple[GrayKill, ...] = ()  # every job a gray fault failed, in time order


class JobOutcome:
    """One replication's job metrics under one policy, plus the per-job rows (numpy columns,
    :data:`~tpusim.scheduler.records.COLUMNS`), the run records (when kept) and gray kills."""

    def __init__(self, metrics: dict, by_chips: dict, rows: dict[str, np.ndarray],
                 runs: dict[str, np.ndarray] | None = None, gray_kills: tuple[GrayKill, ...] = ()):
        self.metrics = metrics  # name -> float (nan when undefined)
        self.by_chips = by_chips  # chips -> (p50, p95) of queue wait
        self.rows = rows
        self.runs = runs
        self.gray_kills = gray_kills

    COLUMNS = COLUMNS

    def collect(self, horizon: float, emit: Emit) -> JobOutput:
        """Emit the job metrics in the registry's order, then the queue-wait percentiles of each
        slice size; return the rows, run records and gray kills."""
        if self.metrics.keys() != set(JOB_METRICS):  # the registry and the measurement, both ways
            missing, extra = set(JOB_METRICS) - self.metrics.keys(), self.metrics.keys() - set(JOB_METRICS)
            raise RuntimeError(f"job metrics out of step with the registry: not measured {sorted(missing)}, "
                               f"not registered {sorted(extra)}")
        for name in JOB_METRICS:
            emit(name, None, float(self.metrics[name]))
        for chips, (p50, p95) in self.by_chips.items():
            emit(QUEUE_WAIT_P50_BY_CHIPS_HOURS, str(chips), float(p50))
            emit(QUEUE_WAIT_P95_BY_CHIPS_HOURS, str(chips), float(p95))
        return JobOutput(self.rows, self.runs, self.gray_kills)

    @classmethod
    def measure(cls, sim, T: float) -> "JobOutcome":
        """Measure a finished :class:`~tpusim.scheduler.simulation.JobSimulation` at horizon
        ``T`` from its records alone (every job that arrived has left by then)."""
        records = sim.records
        rows = records.columns()
        state = rows["state"]
        admitted = state != REJECTED
        started = admitted & ~np.isnan(rows["first_start_hours"])
        n_started = int(started.sum())
        held = float(rows["held_chip_hours"][admitted].sum())
        useful = float(rows["useful_chip_hours"][admitted].sum())
        waits = rows["wait_hours"][started]
        nan = float("nan")
        days = T / HOURS_PER_DAY
        metrics = {
            JOBS_ARRIVED: float(len(state)),
            JOBS_REJECTED: float(len(state) - int(admitted.sum())),
            JOBS_COMPLETED: float((state == DONE).sum()),
            JOBS_WAITING_AT_END: float((state == PENDING).sum()),
            GOODPUT: useful / held if held else nan,
            JOBS_INTERRUPTED: float((rows["interruptions"][started] > 0).sum()) / n_started if n_started else nan,
            LOST_CHIP_HOURS: float(rows["lost_chip_hours"][admitted].sum()),
            GRAY_INTERRUPTIONS: float(len(sim.gray_kills)),
            GRAY_LOST_CHIP_HOURS: sim.gray_lost,
            USEFUL_CHIP_HOURS: useful,
            PREEMPTIBLE_CHIP_HOURS: preemptible_useful(rows),
            QUEUE_WAIT_P50_HOURS: float(np.percentile(waits, 50)) if n_started else nan,
            QUEUE_WAIT_P95_HOURS: float(np.percentile(waits, 95)) if n_started else nan,
            QUEUE_WAIT_MEAN_HOURS: float(waits.mean()) if n_started else nan,
            PREEMPTIONS: float(sim.scheduler.preemptions),
            MIGRATIONS: float(sim.scheduler.migrations),
            XCONNECTS_PER_DAY: sim.pod_manager.xconnects / days,
            XCONNECTS_PER_JOB: sim.pod_manager.xconnects / n_started if n_started else nan,
            **{f"xconnects_per_job_{kind}": count / n_started if n_started else nan
               for kind, count in sim.pod_manager.xconnects_by.items()},
            UTILIZATION: held / (sim.machine.chips * T),
            PREFLIGHT_FAILURES: float(sim.pod_manager.preflight_failures),
            DETECTIONS: float(sim.detections),
            MEAN_DETECTION_MINUTES: 60.0 * sim.detection_hours / sim.detections if sim.detections else nan,
            SPARE_SWAPS: float(sim.pod_manager.swaps),
            SPARE_EVICTIONS: float(sim.pod_manager.evictions),
            MAINTENANCE_DRAINS: float(sim.pod_manager.drains),
            FT_REROUTES: float(sim.pod_manager.ft_reroutes),
            DEGRADED_FRACTION: records.degraded_held / held if held else nan,
            SLOWDOWN_CHIP_HOURS: records.slowdown,
            MEAN_QUEUE_LENGTH: sim.scheduler.mean_length(T),
            MEAN_TIME_IN_QUEUE_HOURS: records.waited / records.admitted if records.admitted else nan,
        }
        by_chips = {}
        chips = rows["chips"][started]
        for size in np.unique(chips):
            w = waits[chips == size]
            by_chips[int(size)] = (float(np.percentile(w, 50)), float(np.percentile(w, 95)))
        runs = sim.pod_manager.runs.columns() if sim.pod_manager.runs is not None else None
        return cls(metrics, by_chips, rows, runs, tuple(sim.gray_kills))
