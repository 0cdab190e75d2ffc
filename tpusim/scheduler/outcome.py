"""A job simulation's outcome: one replication's job metrics under one policy, and per-job rows.

Every metric name here is defined in :mod:`tpusim.core.metrics` (label, unit, bounds); the
replication turns an outcome into tidy samples. A metric that is undefined in a replication
(a goodput with nothing held, a wait with nothing started) is NaN, and the estimates leave that
replication out.
"""

from __future__ import annotations

import numpy as np

from tpusim.scheduler.costs import preemptible_useful
from tpusim.scheduler.job import DONE, PENDING, REJECTED
from tpusim.scheduler.records import COLUMNS


class JobOutcome:
    """One replication's job metrics under one policy, plus the per-job rows (numpy columns,
    :data:`~tpusim.scheduler.records.COLUMNS`)."""

    def __init__(self, metrics: dict, by_chips: dict, rows: dict[str, np.ndarray]):
        self.metrics = metrics  # name -> float (nan when undefined)
        self.by_chips = by_chips  # chips -> (p50, p95) of queue wait
        self.rows = rows

    COLUMNS = COLUMNS

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
        days = T / 24.0
        metrics = {
            "jobs_arrived": float(len(state)),
            "jobs_rejected": float(len(state) - int(admitted.sum())),
            "jobs_completed": float((state == DONE).sum()),
            "jobs_waiting_at_end": float((state == PENDING).sum()),
            "goodput": useful / held if held else nan,
            "jobs_interrupted": float((rows["interruptions"][started] > 0).sum()) / n_started if n_started else nan,
            "lost_chip_hours": float(rows["lost_chip_hours"][admitted].sum()),
            "gray_interruptions": float(len(sim.gray_kills)),
            "gray_lost_chip_hours": sim.gray_lost,
            "useful_chip_hours": useful,
            "preemptible_chip_hours": preemptible_useful(rows),
            "queue_wait_p50_hours": float(np.percentile(waits, 50)) if n_started else nan,
            "queue_wait_p95_hours": float(np.percentile(waits, 95)) if n_started else nan,
            "queue_wait_mean_hours": float(waits.mean()) if n_started else nan,
            "preemptions": float(sim.scheduler.preemptions),
            "migrations": float(sim.scheduler.migrations),
            "xconnects_per_day": sim.pod_manager.xconnects / days,
            "xconnects_per_job": sim.pod_manager.xconnects / n_started if n_started else nan,
            **{f"xconnects_per_job_{kind}": count / n_started if n_started else nan
               for kind, count in sim.pod_manager.xconnects_by.items()},
            "utilization": held / (sim.machine.chips * T),
            "preflight_failures": float(sim.pod_manager.preflight_failures),
            "detections": float(sim.detections),
            "mean_detection_minutes": 60.0 * sim.detection_hours / sim.detections if sim.detections else nan,
            "spare_swaps": float(sim.pod_manager.swaps),
            "spare_evictions": float(sim.pod_manager.evictions),
            "maintenance_drains": float(sim.pod_manager.drains),
            "ft_reroutes": float(sim.pod_manager.ft_reroutes),
            "degraded_fraction": records.degraded_held / held if held else nan,
            "slowdown_chip_hours": records.slowdown,
            "mean_queue_length": sim.scheduler.mean_length(T),
            "mean_time_in_queue_hours": records.waited / records.admitted if records.admitted else nan,
        }
        by_chips = {}
        chips = rows["chips"][started]
        for size in np.unique(chips):
            w = waits[chips == size]
            by_chips[int(size)] = (float(np.percentile(w, 50)), float(np.percentile(w, 95)))
        return cls(metrics, by_chips, rows)
