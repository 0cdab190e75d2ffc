"""A job simulation's outcome: one replication's job metrics under one policy, and per-job rows.

Every metric name here is defined in :mod:`tpusim.metrics` (label, unit, bounds); the
replication turns an outcome into tidy samples. A metric that is undefined in a replication
(a goodput with nothing held, a wait with nothing started) is NaN, and the estimates leave that
replication out.
"""

from __future__ import annotations

import numpy as np

from tpusim.scheduler.job import DONE, PENDING, REJECTED


class JobOutcome:
    """One replication's job metrics under one policy, plus the per-job rows."""

    def __init__(self, metrics: dict, by_chips: dict, rows: list[tuple]):
        self.metrics = metrics  # name -> float (nan when undefined)
        self.by_chips = by_chips  # chips -> (p50, p95) of queue wait
        self.rows = rows

    COLUMNS = ("job", "arrival_hours", "shape", "chips", "band", "work_hours", "state", "first_start_hours",
               "wait_hours", "finish_hours", "interruptions", "preemptions", "migrations", "held_chip_hours",
               "useful_chip_hours", "lost_chip_hours", "xconnects")

    @classmethod
    def measure(cls, sim, T: float) -> "JobOutcome":
        """Measure a finished :class:`~tpusim.scheduler.simulation.JobSimulation` at horizon ``T``."""
        jobs = [j for j in sim.jobs if j.arrival < T]
        admitted = [j for j in jobs if j.state != REJECTED]
        started = [j for j in admitted if j.first_start is not None]
        held = sum(j.held for j in admitted)
        useful = sum(j.useful for j in admitted)
        waits = np.array([j.first_start - j.arrival for j in started])
        nan = float("nan")
        days = T / 24.0
        metrics = {
            "jobs_arrived": float(len(jobs)),
            "jobs_rejected": float(len(jobs) - len(admitted)),
            "jobs_completed": float(sum(j.state == DONE for j in admitted)),
            "jobs_waiting_at_end": float(sum(j.state == PENDING for j in admitted)),
            "goodput": useful / held if held else nan,
            "jobs_interrupted": sum(j.interruptions > 0 for j in started) / len(started) if started else nan,
            "lost_chip_hours": sum(j.lost for j in admitted),
            "queue_wait_p50_hours": float(np.percentile(waits, 50)) if len(waits) else nan,
            "queue_wait_p95_hours": float(np.percentile(waits, 95)) if len(waits) else nan,
            "queue_wait_mean_hours": float(waits.mean()) if len(waits) else nan,
            "preemptions": float(sim.scheduler.preemptions),
            "migrations": float(sim.scheduler.migrations),
            "xconnects_per_day": sim.pod_manager.xconnects / days,
            "xconnects_per_job": sim.pod_manager.xconnects / len(started) if started else nan,
            **{f"xconnects_per_job_{kind}": count / len(started) if started else nan
               for kind, count in sim.pod_manager.xconnects_by.items()},
            "utilization": held / (sim.machine.chips * T),
            "preflight_failures": float(sim.pod_manager.preflight_failures),
            "detections": float(sim.detections),
            "mean_detection_minutes": 60.0 * sim.detection_hours / sim.detections if sim.detections else nan,
            "spare_swaps": float(sim.pod_manager.swaps),
            "ft_reroutes": float(sim.pod_manager.ft_reroutes),
            "degraded_fraction": sum(j.degraded_held for j in admitted) / held if held else nan,
            "slowdown_chip_hours": sum(j.slow_lost for j in admitted),
            "mean_queue_length": sim.scheduler.mean_length(T),
            "mean_time_in_queue_hours": sum(j.waited for j in admitted) / len(admitted) if admitted else nan,
        }
        by_chips = {}
        for chips in sorted({j.chips for j in started}):
            w = np.array([j.first_start - j.arrival for j in started if j.chips == chips])
            by_chips[chips] = (float(np.percentile(w, 50)), float(np.percentile(w, 95)))
        rows = [
            (j.id, j.arrival, j.spec.shape.label, j.chips, j.band, j.work, j.state, j.first_start,
             (j.first_start - j.arrival) if j.first_start is not None else None, j.finish, j.interruptions,
             j.preempted, j.migrated, j.held, j.useful, j.lost, j.xconnects)
            for j in jobs
        ]
        return cls(metrics, by_chips, rows)
