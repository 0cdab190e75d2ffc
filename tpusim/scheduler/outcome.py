"""A job simulation's outcome: one replication's job metrics under one policy, and per-job rows.

Every metric name here is defined in :mod:`tpusim.core.metrics` (label, unit, bounds). The
metrics of the job rows are computed here; the components count the rest themselves (the
scheduler's preemptions, the Pod Manager's swaps, the simulation's detections, ...), and the
simulation hands both over explicitly: nothing here reaches into a simulation. An outcome is a
component of its replication (:mod:`tpusim.core.collect`) whose result hook emits its metrics as
tidy samples, checked against the registry's ``JOB_METRICS`` both ways, and returns what is not
a metric (:class:`JobOutput`: per-job rows, run records, gray kills). A metric that is undefined
in a replication (a goodput with nothing held, a wait with nothing started) is NaN, and the
estimates leave that replication out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from tpusim.scheduler.costs import preemptible_useful
from tpusim.scheduler.job import DONE, PENDING, REJECTED
from tpusim.scheduler.records import COLUMNS, JobRecords
from tpusim.core.metrics import (
    CHECKPOINT_CHIP_HOURS,
    HELD_CHIP_HOURS,
    PREEMPTION_LOST_CHIP_HOURS,
    SETUP_CHIP_HOURS,
    CIRCUITS_PER_JOB,
    DEGRADED_FRACTION,
    GOODPUT,
    HERO_METRICS,
    JOB_METRICS,
    JOBS_ARRIVED,
    JOBS_COMPLETED,
    JOBS_INTERRUPTED,
    JOBS_REJECTED,
    JOBS_WAITING_AT_END,
    LOST_CHIP_HOURS,
    MEAN_TIME_IN_QUEUE_HOURS,
    PREEMPTIBLE_CHIP_HOURS,
    QUEUE_WAIT_MEAN_HOURS,
    QUEUE_WAIT_P50_BY_CHIPS_HOURS,
    QUEUE_WAIT_P50_HOURS,
    QUEUE_WAIT_P95_BY_CHIPS_HOURS,
    QUEUE_WAIT_P95_HOURS,
    SLOWDOWN_CHIP_HOURS,
    USEFUL_CHIP_HOURS,
    UTILIZATION,
    XCONNECTS_PER_DAY,
    XCONNECTS_PER_JOB,
)
from tpusim.core.collect import Emit
from tpusim.core.units import days

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
                 runs: dict[str, np.ndarray] | None = None, gray_kills: tuple[GrayKill, ...] = (),
                 heroes: Mapping[str, Mapping[str, float]] | None = None):
        self.metrics = metrics  # name -> float (nan when undefined)
        self.by_chips = by_chips  # chips -> (p50, p95) of queue wait
        self.heroes = dict(heroes or {})  # hero name -> its metrics (tpusim.scheduler.hero)
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
        for hero, values in self.heroes.items():
            for name in HERO_METRICS:
                emit(name, hero, float(values[name]))
        return JobOutput(self.rows, self.runs, self.gray_kills)

    @classmethod
    def measure(cls, records: JobRecords, T: float, chips: int, xconnects_by: Mapping[str, int],
                counted: Mapping[str, float], circuits_used: int = 0, runs: dict[str, np.ndarray] | None = None,
                gray_kills: tuple[GrayKill, ...] = (),
                heroes: Mapping[str, Mapping[str, float]] | None = None) -> "JobOutcome":
        """Measure a run finished at horizon ``T`` on a machine of ``chips`` chips, from what it
        hands over: its job ``records`` (every job that arrived has left by then), the
        cross-connects programmed (circuits changed) by why (``xconnects_by``), the circuits the
        started jobs' first slices use (``circuits_used``, changed or not: the per-job figure
        beside the xconnects; both per started job, sub-cube jobs counting 0), the metrics its
        components counted themselves (``counted``: the scheduler's, the Pod Manager's and the
        simulation's own, by metric name), and what the outcome keeps besides: the run records
        (``runs``, when recorded), the jobs gray faults failed (``gray_kills``) and each hero job's
        figures by its name (``heroes``: :func:`~tpusim.scheduler.hero.hero_metrics`)."""
        rows = records.columns()
        state = rows["state"]
        admitted = state != REJECTED
        started = admitted & ~np.isnan(rows["first_start_hours"])
        n_started = int(started.sum())
        held = float(rows["held_chip_hours"][admitted].sum())
        useful = float(rows["useful_chip_hours"][admitted].sum())
        waits = rows["wait_hours"][started]
        nan = float("nan")
        xconnects = sum(xconnects_by.values())
        metrics = {
            JOBS_ARRIVED: float(len(state)),
            JOBS_REJECTED: float(len(state) - int(admitted.sum())),
            JOBS_COMPLETED: float((state == DONE).sum()),
            JOBS_WAITING_AT_END: float((state == PENDING).sum()),
            GOODPUT: useful / held if held else nan,
            JOBS_INTERRUPTED: float((rows["interruptions"][started] > 0).sum()) / n_started if n_started else nan,
            LOST_CHIP_HOURS: float(rows["lost_chip_hours"][admitted].sum()),
            USEFUL_CHIP_HOURS: useful,
            PREEMPTIBLE_CHIP_HOURS: preemptible_useful(rows),
            QUEUE_WAIT_P50_HOURS: float(np.percentile(waits, 50)) if n_started else nan,
            QUEUE_WAIT_P95_HOURS: float(np.percentile(waits, 95)) if n_started else nan,
            QUEUE_WAIT_MEAN_HOURS: float(waits.mean()) if n_started else nan,
            XCONNECTS_PER_DAY: xconnects / days(T),
            XCONNECTS_PER_JOB: xconnects / n_started if n_started else nan,
            **{f"xconnects_per_job_{kind}": count / n_started if n_started else nan
               for kind, count in xconnects_by.items()},
            CIRCUITS_PER_JOB: circuits_used / n_started if n_started else nan,
            UTILIZATION: held / (chips * T),
            DEGRADED_FRACTION: records.degraded_held / held if held else nan,
            SLOWDOWN_CHIP_HOURS: records.slowdown,
            CHECKPOINT_CHIP_HOURS: records.checkpointing,
            HELD_CHIP_HOURS: held,
            SETUP_CHIP_HOURS: records.setups,
            PREEMPTION_LOST_CHIP_HOURS: records.preempted_work,
            MEAN_TIME_IN_QUEUE_HOURS: records.waited / records.admitted if records.admitted else nan,
        }
        assert not metrics.keys() & counted.keys(), "a metric measured twice"
        metrics.update(counted)
        by_chips = {}
        chips = rows["chips"][started]
        for size in np.unique(chips):
            w = waits[chips == size]
            by_chips[int(size)] = (float(np.percentile(w, 50)), float(np.percentile(w, 95)))
        return cls(metrics, by_chips, rows, runs, gray_kills, heroes)
