"""A job's life on the machine: runs, checkpoints, interruptions, and the accounting of each.

A job is started on an allocation, spends a *setup* time (programming xconnects when it needs
new ones, then ``restart`` to warm up, and the restore of its checkpoint from the store that holds
it, :meth:`Job.restore_hours`) and then makes useful progress at
its rate (1, or less while FT routing detours around a fault). Each time its useful work reaches
a multiple of its checkpoint interval (short of the end) it stalls for the write's blocking part
(:mod:`tpusim.scheduler.checkpoint`); the checkpoint is durable once the whole write is done.
Progress, the writes started and the durable checkpoint are known in closed form from the run's
state (progress, the time compute resumed, the next checkpoint's index, what is left of a write
in progress and the one write not yet durable), so no event is needed per checkpoint. The state
is re-based (:meth:`Job.rebase`) whenever the rate changes or a stall ends in a reroute; a
(re)start restores it from the saved progress (:meth:`Job.restore`). A planned stop (migration)
writes a checkpoint on the spot.

Under the in-memory store (:class:`~tpusim.scheduler.checkpoint.MemoryStore`) the timeline's
checkpoints are the in-memory copies, and the last one durable on storage is known in closed
form too (:meth:`Job.last_storage_checkpoint`: every ``every``-th checkpoint, ``storage_write``
after its start). ``ram_down`` holds the job's host slots whose RAM was lost since the last
restore completed; the Pod Manager falls back to storage when it says a shard lost both copies
or when the job leaves its hosts.

When a part under the job fails, progress stops at once (``stalled_at``); the Pod Manager learns
of it after the detection delay and then restarts, moves, reroutes or requeues the job.
Everything since the last *durable* checkpoint is lost. Accounting, all in chip-hours:

- ``held``: chips x time the job held an allocation (setup, stalls and useful work alike);
- ``useful``: chips x useful work that counts (finally kept, or done by the horizon);
- ``lost``: chips x time lost to hardware interruptions: the work since the last checkpoint,
  the stall until the Pod Manager reacts, and the setup of the restart that follows;
- ``ckpt_stall``: chips x time stalled writing checkpoints;
- ``slow_lost``: chips x time lost to FT slowdown;
- ``setup_held``: chips x setup time that no failure caused (first starts, moves, restarts
  after preemption), accounted as it is spent (a setup cut short counts only its part);
- ``preempt_lost``: chips x work lost when a preemption killed the job.

**Elastic jobs** (``spec.min_cubes``, :func:`elastic_sizes`) run as one of several sizes of whole
cubes between runs (:meth:`Job.set_size`; the scheduler chooses, :mod:`tpusim.scheduler.scheduler`).
``work`` and progress are in hours at the *preferred* size: on k of its P cubes a job progresses
at ``scale = k / P`` (``rate`` is the FT speed times ``scale``; only the FT part is slowdown), so a
chip-hour of work is ``work_chips`` (the preferred slice's chips) x hours of progress, and a
chip-hour of time is ``chips`` (those held now) x hours. Since a job changes size only at a
(re)start, which resumes from a checkpoint, the work since the last checkpoint was all done at the
current size, and the decomposition below stays exact. ``short`` counts the preferred slice's
chip-time not held while running smaller, ``at_full`` the hours held at the preferred size,
``resize_held`` the setups of planned growth (inside ``setup_held``), ``recovery_setup`` the
setups after hardware interruptions (inside ``lost``). A rigid job has one size: ``work_chips ==
chips``, ``scale == 1``.

Invariants: ``useful <= held`` for every job at every time; the durable checkpoint never exceeds
the progress made; once a job leaves the simulation, ``held = useful + lost + slow_lost +
ckpt_stall + setup_held + preempt_lost`` (the goodput decomposition, exact up to rounding).
"""

from __future__ import annotations

import math
from typing import Any

from tpusim.scheduler.checkpoint import Checkpointing
from tpusim.scheduler.workload import JobSpec

PENDING, RUNNING, DONE, REJECTED = "pending", "running", "done", "rejected"


def elastic_sizes(cube_dims, min_cubes: int) -> tuple[tuple[int, int, int], ...]:
    """The cube shapes an elastic job of preferred ``cube_dims`` (x, y, z) may run as, largest
    first: its slice shortened along its last dimension (its data-parallel replicas), one
    x-by-y layer of cubes at a time, down to the smallest holding at least ``min_cubes``
    cubes. A rigid job (``min_cubes`` 0, or as many as it prefers) has one size."""
    x, y, z = cube_dims
    if not min_cubes or min_cubes >= x * y * z:
        return (tuple(cube_dims),)
    low = max(1, -(-min_cubes // (x * y)))
    return tuple((x, y, n) for n in range(z, low - 1, -1))


class Job:
    __slots__ = (
        "spec", "id", "arrival", "chips", "cubes", "cube_dims", "level", "work", "band", "interval",
        "state", "alloc", "seg_start", "compute_start", "progress", "stalled_at", "run",
        "held", "lost", "interruptions", "preempted", "evicted", "migrated", "xconnects", "recovering",
        "first_start", "finish", "queued_since", "waited", "key",
        "pattern", "rate", "rate_since", "slow_lost", "degraded_held",
        "block", "write", "saved", "next_k", "block_left", "pending", "ckpt_stall",
        "setup_from", "setup_end", "setup_lost", "setup_held", "preempt_lost",
        "storage_restore", "memory", "from_memory", "saved_storage", "pending_storage", "ram_down",
        "sizes", "work_chips", "scale", "short", "at_full", "resizes", "resize_held", "recovery_setup",
        "resizing", "ran_cubes", "spare_exempt", "gang", "queue",
    )

    def __init__(self, spec: JobSpec, cubes: int, cube_dims, level: int | None, interval: float,
                 checkpointing: Checkpointing):
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
        self.preempted = 0  # stopped by the scheduler's preemption (the preemptions metric)
        self.evicted = 0  # stopped to free a spare cube for another job's swap (spare_evictions)
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
        self.block = checkpointing.block  # hours stalled per checkpoint write
        self.write = checkpointing.write  # hours from a write's start until it is durable
        self.saved = 0.0  # progress of the last checkpoint known durable when compute resumed
        self.next_k = 1  # index of the next checkpoint to write (at next_k x interval)
        self.block_left = 0.0  # stall left of a write in progress when compute resumed
        self.pending: tuple[float, float] | None = None  # (progress, durable at) of a write in flight
        self.ckpt_stall = 0.0  # chip-hours stalled writing checkpoints
        self.setup_from = self.setup_end = 0.0  # the current setup's part not yet accounted
        self.setup_lost = False  # the current setup follows a hardware interruption (lost, not setup)
        self.setup_held = 0.0  # chip-hours of setups that no failure caused
        self.preempt_lost = 0.0  # chip-hours of work lost when preempted (killed)
        self.storage_restore = checkpointing.restore  # hours to read a checkpoint from storage
        self.memory = checkpointing.memory  # the in-memory store, or None
        self.from_memory = False  # the progress to restore is the in-memory checkpoint (the next start reads RAM)
        self.saved_storage = 0.0  # progress of the last checkpoint known durable on storage when compute resumed
        self.pending_storage: tuple[float, float] | None = None  # (progress, durable at) of a storage write in flight
        # host slots (cube position, host) whose RAM was lost since the last restore completed
        self.ram_down: set[tuple[int, int]] | None = set() if self.memory is not None else None
        # elastic jobs (``spec.min_cubes``): the cube shapes it may run as, largest (preferred) first
        self.sizes: tuple[tuple[int, int, int], ...] = elastic_sizes(cube_dims, spec.min_cubes) if cube_dims else ()
        self.work_chips = self.chips  # chips of the preferred slice: chip-hours per hour of work
        self.scale = 1.0  # cubes held / preferred cubes: useful work per hour of healthy compute
        self.short = 0.0  # chip-hours of the preferred slice not held while running smaller
        self.at_full = 0.0  # hours held at the preferred size
        self.resizes = 0  # starts at another size than the last run's (an elastic job's shrinks and growths)
        self.ran_cubes = cubes  # cubes of its last run
        self.spare_exempt = bool(spec.hero)  # a hero job may take the spare cubes (they are kept for it)
        # the scheduler's queue within its band: one per shape (a shape that does not fit is skipped
        # for the rest of a pass), but one of its own for a hero job, which is placed otherwise
        # (elastic, multislice, exempt from the spare cap)
        self.queue = ("hero", spec.id) if spec.hero else spec.shape.dims
        self.resize_held = 0.0  # chip-hours of the setups of planned resizes (part of setup_held)
        self.recovery_setup = 0.0  # chip-hours of setups after hardware interruptions (part of lost)
        self.resizing = False  # the next setup is paid for a planned resize
        self.gang: Any = None  # the multislice job it is one slice of (:mod:`tpusim.scheduler.gang`), or None

    # -- segments and their setups -------------------------------------------------------------
    def begin_segment(self, t: float, setup: float, recovery: bool, resize: bool = False) -> None:
        """The job holds an allocation from ``t``, setting up for ``setup`` hours (charged to
        ``lost`` after a hardware interruption, else to ``setup_held`` and, for a planned
        ``resize``, to ``resize_held`` too, as it is spent)."""
        self.seg_start = self.setup_from = t
        self.setup_end = t + setup
        self.setup_lost = recovery
        self.resizing = resize and not recovery

    def _settle_setup(self, cutoff: float) -> None:
        end = min(self.setup_end, cutoff)
        if end > self.setup_from:
            spent = self.chips * (end - self.setup_from)
            if self.setup_lost:
                self.lost += spent
                self.recovery_setup += spent
            else:
                self.setup_held += spent
                if self.resizing:
                    self.resize_held += spent
            self.setup_from = end

    def abandon_setup(self, at: float) -> None:
        """A stall at ``at`` cut the setup short: what was spent is accounted, the rest never is."""
        self._settle_setup(at)
        self.setup_end = self.setup_from

    def close_segment(self, t: float) -> None:
        """The allocation is given back (or re-begun) at ``t``: account the time held."""
        self._settle_setup(self.stalled_at if self.stalled_at is not None and self.stalled_at < t else t)
        span = t - self.seg_start
        self.held += self.chips * span
        if self.chips == self.work_chips:
            self.at_full += span
        else:
            self.short += (self.work_chips - self.chips) * span
        self.seg_start = self.setup_from = self.setup_end = t

    # -- the run's timeline (closed form) ------------------------------------------------------
    def _last_writable(self) -> int:
        """Index of the last checkpoint short of the end of the job's work."""
        if math.isinf(self.interval):
            return 0
        return math.ceil(self.work / self.interval * (1.0 - 1e-12)) - 1

    def _write_start(self, j: int) -> float:
        """When the write of checkpoint ``j`` (>= ``next_k``) starts, in this run's state."""
        return (self.compute_start + self.block_left + (j * self.interval - self.progress) / self.rate
                + (j - self.next_k) * self.block)

    def _writes_by(self, t: float) -> int:
        """Checkpoint writes started by ``t`` in this run's state."""
        k, interval = self.next_k, self.interval
        last = self._last_writable()
        if last < k:
            return 0
        cycle = interval / self.rate + self.block
        reach = t - self.compute_start - self.block_left + self.progress / self.rate + k * self.block
        j = math.floor(reach / cycle * (1.0 + 1e-12))
        return max(0, min(j, last) - k + 1)

    def progress_at(self, t: float) -> float:
        """Useful work done by time ``t`` in the current run (progress stops at a stall)."""
        if self.stalled_at is not None and self.stalled_at < t:
            t = self.stalled_at
        if t <= self.compute_start + self.block_left:
            return self.progress
        n = self._writes_by(t)
        if n == 0:
            return min(self.work, self.progress + self.rate * (t - self.compute_start - self.block_left))
        j = self.next_k + n - 1
        resumed = self._write_start(j) + self.block
        return min(self.work, j * self.interval + self.rate * max(0.0, t - resumed))

    def _stalled_by(self, t: float) -> float:
        """Hours stalled writing checkpoints from ``compute_start`` to ``t``, in this state."""
        if self.stalled_at is not None and self.stalled_at < t:
            t = self.stalled_at
        if t <= self.compute_start:
            return 0.0
        spent = min(self.block_left, t - self.compute_start)
        n = self._writes_by(t)
        if n:
            last = self._write_start(self.next_k + n - 1)
            spent += (n - 1) * self.block + min(self.block, max(0.0, t - last))
        return spent

    def last_checkpoint(self, t: float) -> float:
        """Progress saved by the last checkpoint durable at or before ``t`` (or at the stall)."""
        if self.stalled_at is not None and self.stalled_at < t:
            t = self.stalled_at
        best = self.saved
        if self.pending is not None and self.pending[1] <= t:
            best = max(best, self.pending[0])
        n = self._writes_by(t - self.write)
        if n:
            best = max(best, (self.next_k + n - 1) * self.interval)
        return best

    def last_storage_checkpoint(self, t: float) -> float:
        """Progress saved by the last checkpoint durable on storage at or before ``t`` (or at the
        stall); without the in-memory store, every checkpoint is a storage one."""
        mem = self.memory
        if mem is None:
            return self.last_checkpoint(t)
        if self.stalled_at is not None and self.stalled_at < t:
            t = self.stalled_at
        best = self.saved_storage
        if self.pending_storage is not None and self.pending_storage[1] <= t:
            best = max(best, self.pending_storage[0])
        n = self._writes_by(t - mem.storage_write)
        if n:
            m = (self.next_k + n - 1) // mem.every * mem.every  # the last persisted index started by then
            if m >= self.next_k:
                best = max(best, m * self.interval)
        return best

    def stall(self, t: float) -> None:
        """A failure stops progress at ``t``. A stall after compute resumed means the last restore
        completed (its copies were rebuilt): the RAM lost before it no longer matters."""
        self.stalled_at = t
        if self.ram_down is not None and t >= self.compute_start:
            self.ram_down.clear()

    def restore_hours(self) -> float:
        """The restore the next start pays: none without progress, else from the store that holds it."""
        if self.progress <= 0.0:
            return 0.0
        return self.memory.restore if self.from_memory and self.memory is not None else self.storage_restore

    def finish_time(self) -> float:
        """When the current run completes the job's work, if nothing stops it."""
        writes = max(0, self._last_writable() - self.next_k + 1)
        return (self.compute_start + self.block_left + (self.work - self.progress) / self.rate
                + writes * self.block)

    def restore(self, compute_start: float) -> None:
        """A (re)start: compute resumes at ``compute_start`` from ``progress``, which is saved
        (restored from a checkpoint, or written on the spot by a planned stop, to both stores;
        a restore from RAM leaves the storage checkpoint as it was)."""
        self.saved = self.progress
        if not self.from_memory:
            self.saved_storage = self.progress
        self.from_memory = False
        self.pending_storage = None  # (a failure cancels a storage write in flight)
        self.next_k = 1 if math.isinf(self.interval) else math.floor(self.progress / self.interval * (1.0 + 1e-12)) + 1
        self.block_left = 0.0
        self.pending = None
        self.compute_start = compute_start

    def rebase(self, t: float, resume: float) -> None:
        """Bank the run's state at ``t`` (at or before any stall) and resume computing at
        ``resume`` (>= ``t``); a write in progress at ``t`` finishes after ``resume``."""
        if t <= self.compute_start:  # still in setup: nothing has happened yet
            self.compute_start = max(resume, self.compute_start)
            return
        saved = self.last_checkpoint(t)
        n = self._writes_by(t)
        progress = self.progress_at(t)
        if self.memory is not None:
            self._rebase_storage(t, n)
        if n:
            j = self.next_k + n - 1
            start = self._write_start(j)
            self.block_left = max(0.0, start + self.block - t)
            self.pending = (j * self.interval, start + self.write) if start + self.write > t else None
            self.next_k = j + 1
        else:
            self.block_left = max(0.0, self.block_left - (t - self.compute_start))
            if self.pending is not None and self.pending[1] <= t:
                self.pending = None
        self.saved = saved
        self.progress = progress
        self.compute_start = resume

    def _rebase_storage(self, t: float, n: int) -> None:
        """The storage side of :meth:`rebase` (in the run's state before it changes): the last
        checkpoint durable on storage at ``t`` and the storage write still in flight."""
        mem = self.memory
        assert mem is not None
        saved = self.last_storage_checkpoint(t)
        m = (self.next_k + n - 1) // mem.every * mem.every if n else 0
        if n and m >= self.next_k:
            durable = self._write_start(m) + mem.storage_write
            self.pending_storage = (m * self.interval, durable) if durable > t else None
        elif self.pending_storage is not None and self.pending_storage[1] <= t:
            self.pending_storage = None
        self.saved_storage = saved

    def settle_rate(self, t: float) -> None:
        """Account the degraded running time and the checkpoint stalls up to ``t`` (call before
        the rate or run changes)."""
        stall = self._stalled_by(t) - self._stalled_by(self.rate_since) if t > self.rate_since else 0.0
        self.ckpt_stall += self.chips * stall
        if self.rate < self.scale:  # FT slowdown (an elastic job's smaller size is not one)
            end = self.stalled_at if self.stalled_at is not None and self.stalled_at < t else t
            span = max(0.0, end - max(self.rate_since, self.compute_start))
            self.degraded_held += self.chips * span
            self.slow_lost += self.chips * (span - stall) * (1.0 - self.rate / self.scale)  # writing is not slowed
        self.rate_since = t

    def set_rate(self, t: float, rate: float) -> None:
        """Change speed at ``t``: progress so far is banked at the old rate."""
        self.settle_rate(t)
        self.rebase(t, t)
        self.rate = rate

    @property
    def slices(self) -> int:
        """Slices of the job it belongs to: 1, or a multislice gang's (:mod:`tpusim.scheduler.gang`)."""
        return 1 if self.gang is None else len(self.gang.members)

    @property
    def useful(self) -> float:
        return self.work_chips * (self.work if self.state == DONE else self.progress)

    # -- elastic jobs --------------------------------------------------------------------------
    @property
    def elastic(self) -> bool:
        return len(self.sizes) > 1

    def set_size(self, cube_dims: tuple[int, int, int], chips_per_cube: int) -> None:
        """Hold a slice of ``cube_dims`` from the next start (an elastic job between runs):
        its chips, and its speed relative to the preferred slice (useful work per hour)."""
        cubes = cube_dims[0] * cube_dims[1] * cube_dims[2]
        self.cube_dims, self.cubes, self.chips = cube_dims, cubes, cubes * chips_per_cube
        self.scale = self.chips / self.work_chips
