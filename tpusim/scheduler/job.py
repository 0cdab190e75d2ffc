"""A job's life on the machine: runs, checkpoints, interruptions, and the accounting of each.

A job is started on an allocation, spends a *setup* time (programming xconnects when it needs
new ones, then ``restart`` to load its checkpoint and warm up) and then makes useful progress at
rate 1. Progress is known in closed form: ``progress + max(0, t - compute_start)``, so no event is
needed per checkpoint. Checkpoints sit at every multiple of the job's interval in useful work; a
planned stop (migration) writes one on the spot.

When a part under the job fails, progress stops at once (``stalled_at``); the Pod Manager learns
of it after the detection delay and then restarts, moves or requeues the job. Everything since
the last checkpoint is lost. Accounting, all in chip-hours:

- ``held``: chips x time the job held an allocation (setup, stalls and useful work alike);
- ``useful``: chips x useful work that counts (finally kept, or done by the horizon);
- ``lost``: chips x time lost to hardware interruptions: the work since the last checkpoint,
  the stall until the Pod Manager reacts, and the setup of the restart that follows.

Invariant: ``useful <= held`` for every job at every time.
"""

from __future__ import annotations

import math

from tpusim.scheduler.workload import JobSpec

PENDING, RUNNING, DONE, REJECTED = "pending", "running", "done", "rejected"


class Job:
    __slots__ = (
        "spec", "id", "arrival", "chips", "cubes", "cube_dims", "level", "work", "band", "interval",
        "state", "alloc", "seg_start", "compute_start", "progress", "stalled_at", "run",
        "held", "lost", "interruptions", "preempted", "migrated", "xconnects", "recovering",
        "first_start", "finish", "queued_since", "waited", "key",
        "pattern", "rate", "rate_since", "slow_lost", "degraded_held",
    )

    def __init__(self, spec: JobSpec, cubes: int, cube_dims, level: int | None, interval: float):
        self.spec = spec
        self.id = spec.id
        self.arrival = spec.arrival
        self.chips = spec.shape.chips
        self.cubes = cubes  # whole cubes the slice takes; 0 for a sub-cube slice
        self.cube_dims = cube_dims
        self.level = level  # buddy level of a sub-cube slice
        self.work = spec.work
        self.band = spec.band
        self.interval = interval  # checkpoint interval (hours of useful work)
        self.state = PENDING
        self.alloc = None
        self.seg_start = 0.0
        self.compute_start = 0.0
        self.progress = 0.0  # useful work saved at the start of the current run
        self.stalled_at: float | None = None
        self.run = 0  # increases with every start: stale events compare against it
        self.held = 0.0
        self.lost = 0.0
        self.interruptions = 0  # hardware interruptions
        self.preempted = 0
        self.migrated = 0
        self.xconnects = 0
        self.recovering = False  # the next setup is paid for a hardware interruption
        self.first_start: float | None = None
        self.finish: float | None = None
        self.queued_since = spec.arrival
        self.waited = 0.0  # total time pending, over all its waits
        self.key = (spec.band, spec.arrival, spec.id)  # queue order: band, then arrival
        self.pattern = spec.pattern
        self.rate = 1.0  # useful work per hour of compute: 1 / (1 + FT step penalty)
        self.rate_since = 0.0
        self.slow_lost = 0.0  # chip-hours lost to FT slowdown
        self.degraded_held = 0.0  # chip-hours held while running degraded

    def progress_at(self, t: float) -> float:
        """Useful work done by time ``t`` in the current run (progress stops at a stall)."""
        if self.stalled_at is not None and self.stalled_at < t:
            t = self.stalled_at
        return self.progress + self.rate * max(0.0, t - self.compute_start)

    def settle_rate(self, t: float) -> None:
        """Account the degraded running time up to ``t`` (call before the rate or run changes)."""
        if self.rate < 1.0:
            end = self.stalled_at if self.stalled_at is not None and self.stalled_at < t else t
            span = max(0.0, end - max(self.rate_since, self.compute_start))
            self.degraded_held += self.chips * span
            self.slow_lost += self.chips * span * (1.0 - self.rate)
        self.rate_since = t

    def set_rate(self, t: float, rate: float) -> None:
        """Change speed at ``t``: progress so far is banked at the old rate."""
        self.settle_rate(t)
        if t > self.compute_start:
            self.progress = self.progress_at(t)
            self.compute_start = t
        self.rate = rate

    def last_checkpoint(self, t: float) -> float:
        """Progress saved by the last checkpoint at or before ``t``."""
        done = self.progress_at(t)
        return max(self.progress, math.floor(done / self.interval) * self.interval)

    @property
    def useful(self) -> float:
        return self.chips * (self.work if self.state == DONE else self.progress)
