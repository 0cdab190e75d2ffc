"""Per-job records, kept in columns: one row per job that arrived before the horizon.

A job becomes a row when it leaves the simulation: when it is rejected (at arrival), when it
completes, or at the horizon (still running or waiting). Its :class:`~tpusim.scheduler.job.Job`
object can then be dropped, so a long run holds Python objects only for the jobs in the system
and 8 bytes per number for every job that has been (a 25-pod year, 1.25 million jobs, is about
140 MB of rows per policy; a list of tuples would be five times that).

Besides the rows, the records keep the sums a job's row does not carry (degraded and slowdown
chip-hours, time in queue over all waits), so that every job metric of
:class:`~tpusim.scheduler.outcome.JobOutcome` is computed from the records alone.

Invariant: ``columns()`` returns the rows in job-id order (the order of the workload), whatever
the order in which jobs left, so that the rows do not depend on how the run was scheduled.
"""

from __future__ import annotations

from array import array

import numpy as np

from tpusim.scheduler.job import DONE, PENDING, REJECTED, RUNNING

COLUMNS = ("job", "arrival_hours", "shape", "chips", "band", "work_hours", "state", "first_start_hours",
           "wait_hours", "finish_hours", "interruptions", "preemptions", "evictions", "migrations", "held_chip_hours",
           "useful_chip_hours", "lost_chip_hours", "xconnects")
STATES = (PENDING, RUNNING, DONE, REJECTED)  # codes of the ``state`` column
_STATE_CODE = {s: i for i, s in enumerate(STATES)}
_NAN = float("nan")


class JobRecords:
    """The rows of the jobs that have left the simulation, and the sums they do not carry."""

    _FLOAT = ("arrival_hours", "work_hours", "first_start_hours", "wait_hours", "finish_hours",
              "held_chip_hours", "useful_chip_hours", "lost_chip_hours")
    _INT = ("job", "chips", "band", "shape", "state", "interruptions", "preemptions", "evictions", "migrations",
            "xconnects")
    _BLOCK = 4096  # rows gathered as tuples before they go into the columns (one append per job)

    def __init__(self) -> None:
        self._cols: dict[str, array] = {name: array("d") for name in self._FLOAT}
        self._cols.update({name: array("q") for name in self._INT})
        self._pending: list[tuple] = []  # rows not yet in the columns, in COLUMNS order
        self.shapes: list[str] = []  # labels, indexed by the shape code
        self._shape_code: dict[str, int] = {}
        self.degraded_held = 0.0  # chip-hours held while running degraded (admitted jobs)
        self.slowdown = 0.0  # chip-hours lost to fault-tolerant slowdown
        self.checkpointing = 0.0  # chip-hours stalled writing checkpoints
        self.setups = 0.0  # chip-hours of setups that no failure caused
        self.preempted_work = 0.0  # chip-hours of work lost to preemption
        self.waited = 0.0  # hours in queue, over all waits of admitted jobs
        self.admitted = 0

    def __len__(self) -> int:
        return len(self._cols["job"]) + len(self._pending)

    def add(self, job) -> None:
        """Record ``job`` as it leaves the simulation (its accounting must be final)."""
        label = job.spec.shape.label
        code = self._shape_code.get(label)
        if code is None:
            code = self._shape_code[label] = len(self.shapes)
            self.shapes.append(label)
        start, finish = job.first_start, job.finish
        self._pending.append((
            job.id, job.arrival, code, job.work_chips, job.band, job.work, _STATE_CODE[job.state],
            _NAN if start is None else start, _NAN if start is None else start - job.arrival,
            _NAN if finish is None else finish, job.interruptions, job.preempted, job.evicted, job.migrated,
            job.held, job.useful, job.lost, job.xconnects,
        ))
        if len(self._pending) >= self._BLOCK:
            self._flush()
        if job.state != REJECTED:
            self.admitted += 1
            self.degraded_held += job.degraded_held
            self.slowdown += job.slow_lost
            self.checkpointing += job.ckpt_stall
            self.setups += job.setup_held
            self.preempted_work += job.preempt_lost
            self.waited += job.waited

    def _flush(self) -> None:
        if self._pending:
            for name, values in zip(COLUMNS, zip(*self._pending)):
                self._cols[name].extend(values)
            self._pending.clear()

    def columns(self) -> dict[str, np.ndarray]:
        """The rows as numpy columns in job-id order: ``shape`` and ``state`` as strings,
        ``band`` 0-2 (production, batch, best-effort), NaN where a time does not apply."""
        self._flush()
        c = self._cols
        if not len(self):
            return {name: np.empty(0, np.float64 if name in self._FLOAT else np.int64) for name in COLUMNS}
        order = np.argsort(np.frombuffer(c["job"], dtype=np.int64), kind="stable")
        out = {}
        for name in COLUMNS:
            out[name] = np.frombuffer(c[name], dtype=np.float64 if name in self._FLOAT else np.int64)[order]
        out["shape"] = np.array(self.shapes, dtype=object)[out["shape"]]
        out["state"] = np.array(STATES, dtype=object)[out["state"]]
        return out
