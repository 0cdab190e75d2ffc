"""Jobs on the machine under one policy: a SimPy run replaying one failure trace and one workload.

The replication's failure trace (recorded once, see :mod:`tpusim.engine.replication`) and its jobs are
replayed identically under every policy (common random numbers). Two health states are kept:

- ``true``: the trace as it happens; a failure stalls every job whose slice uses the part;
- ``known``: what healthd/libtpunet have reported: a failure after ``detection_minutes`` (or at
  once, when a pre-flight check trips over it), a repair at once. The scheduler and the Pod
  Manager decide on ``known`` only. Faults present at t = 0 are known from the start.

The run ends at the horizon; jobs still running are charged up to it, and their progress so far
counts as useful.

Memory is bounded by the jobs in the system, not by the jobs of the run: a job object is made
when it arrives and, once it is rejected, completes or the horizon comes, becomes a row of the
columnar :class:`~tpusim.scheduler.records.JobRecords`. ``keep_jobs`` also keeps every job
object in ``jobs`` (for tests and notebooks that look at individual jobs). At the horizon the
simulation hands :meth:`~tpusim.scheduler.outcome.JobOutcome.measure` the records and what the
scheduler, the Pod Manager and the simulation itself counted (and the run records and gray
kills the outcome keeps), explicitly.

This module is the control plane's composition root. It takes two frozen inputs: a
:class:`JobModel` (the model's sections and the policy) and a :class:`Replay` (what the
replication replays under every policy). It builds the pool, the Pod Manager and the scheduler
for one policy, in that order, each complete when made (constructor injection, nothing set
afterwards): the scheduler gets the Pod Manager as its
:class:`~tpusim.scheduler.scheduler.Starter`; the Pod Manager gets the simulation's requeue
(into the scheduler's queue), detection hook and pass request as callbacks. Then it starts the
event sources in one step. Nothing else reaches through it. The scheduler's class is injected
(``scheduler_class``, as Ciw injects node classes): a test passes a subclass that checks the
scheduler's memos against the straightforward search.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import simpy

from tpusim.core.metrics import DETECTIONS, GRAY_INTERRUPTIONS, GRAY_LOST_CHIP_HOURS, MEAN_DETECTION_MINUTES
from tpusim.core.units import MINUTES_PER_HOUR
from tpusim.failures.causes import DownCauses
from tpusim.failures.health import HOST, OCS, HealthState
from tpusim.failures.maintenance import Campaign, Wave
from tpusim.failures.ocs_modes import OcsModes
from tpusim.failures.params import FailureParams
from tpusim.policies.base import Policy
from tpusim.scheduler.blocks import block_level
from tpusim.scheduler.gang import gang_members
from tpusim.scheduler.hero import hero_metrics
from tpusim.scheduler.job import PENDING, REJECTED, RUNNING, Job
from tpusim.scheduler.outcome import JobOutcome
from tpusim.scheduler.pod_manager import PodManager, PodManagerParams
from tpusim.scheduler.pool import CubePool
from tpusim.scheduler.records import JobRecords
from tpusim.scheduler.runs import RunLog
from tpusim.scheduler.scheduler import Scheduler, SchedulerParams
from tpusim.scheduler.workload import JobSpec, WorkloadParams, shape_problem
from tpusim.topology.machine import COMPONENT_CLASSES, MachineLayout

PROGRESS_STEPS = 100  # a run with a progress callback reports at each hundredth of the horizon


@dataclass(frozen=True)
class JobModel:
    """What a job simulation runs under one policy: the model's machine, the policy, the
    ``failures``, ``workload``, ``scheduler`` and ``pod_manager`` sections, the horizon (hours)
    and the maintenance campaigns (frozen and picklable, as the model is)."""

    machine: MachineLayout
    policy: Policy
    failures: FailureParams
    workload: WorkloadParams
    scheduler: SchedulerParams
    pod_manager: PodManagerParams
    horizon: float
    maintenance: tuple[Campaign, ...] = ()


@dataclass(frozen=True)
class Replay:
    """What one replication replays under every policy (common random numbers): its failure
    trace ``(time, class, unit, down)`` with each event's detection delay, its jobs, the
    maintenance waves that ran and the gray faults' glitches ``(time, class id, unit)``."""

    trace: Sequence[tuple[float, str, int, bool]]
    specs: Sequence[JobSpec]
    delays: Sequence[float]
    waves: Sequence[Wave] = ()
    glitches: Sequence[tuple[float, int, int]] = ()


class JobSimulation:
    def __init__(self, model: JobModel, replay: Replay, ocs_modes: OcsModes | None = None, *,
                 keep_jobs: bool = True, record_runs: bool = False, scheduler_class: type[Scheduler] = Scheduler):
        """``ocs_modes``: the stream that draws each OCS failure's mode (None: every one dark);
        ``keep_jobs``: keep every job object in ``jobs``; ``record_runs``: keep every run's parts
        and fate (:mod:`tpusim.scheduler.runs`); ``scheduler_class``: the scheduler to build."""
        self.model = model
        machine, policy = self.machine, self.policy = model.machine, model.policy
        self.replay = replay
        self.horizon = model.horizon
        self.keep_jobs = keep_jobs
        self.env = simpy.Environment()
        self.true = HealthState(machine, ocs_modes)  # draws each OCS failure's mode, in trace order
        self.known = HealthState(machine)
        # own failures apart from maintenance holds, in both views (a hold is known at once)
        self.true_causes, self.known_causes = DownCauses(self.true), DownCauses(self.known)
        # each collaborator is complete when made (constructor injection, no attribute set later):
        # the Pod Manager first, then the scheduler that starts jobs through it; the Pod Manager's
        # callbacks (requeue, detect, request_pass, finished) are this simulation's own methods
        params = model.pod_manager
        self.pool = CubePool(machine, policy, self.known, params.spare_cubes, params.preemptible_spares)
        self.pod_manager = PodManager(params, policy, self.pool, self.true, self.env, model.workload.restart,
                                      requeue=self._requeue, detect=self.detect, request_pass=self.request_pass,
                                      finished=self._finished, runs=RunLog(machine, policy) if record_runs else None)
        self.scheduler = scheduler_class(model.scheduler, self.pool, policy, self.pod_manager, self.request_pass)
        self.detections = 0  # failures reported by healthd (not found first by a pre-flight check)
        self.detection_hours = 0.0
        self._traits: dict = {}  # shape -> what its jobs share (see _shape_traits)
        self.jobs: list[Job] = []  # every arrived job, with keep_jobs
        self.records = JobRecords()
        self._live: dict[int, Job] = {}  # admitted jobs not yet completed
        self._serial: dict[tuple[int, int], int] = {}  # failures seen per unit
        self._stalled: dict[tuple[int, int, int], list] = {}  # failure -> (job, run) it stalled
        self._pass_due = False
        self.gray_kills: list[tuple[float, int, int, int]] = []  # (time, class, unit, job) per job failed
        self.gray_lost = 0.0  # chip-hours lost to gray faults: work since the checkpoint and the restart
        self.heroes: list[Job] = []  # the hero jobs that arrived (workload.hero)
        self._program_goodput = {h.name: h.program_goodput for h in model.workload.heroes}
        self._start_sources(replay)

    def _start_sources(self, replay: Replay) -> None:
        """Start the event sources, in this order (SimPy runs events of one instant in the order
        they were scheduled, so the order is part of the bit-for-bit contract)."""
        self.env.process(self._replay(replay.trace, replay.delays))
        if replay.glitches:
            self.env.process(self._glitch(replay.glitches))
        self.env.process(self._arrivals())
        if self.model.workload.heroes:
            self.env.process(self._hero_arrivals())
        if replay.waves:
            self.env.process(self._maintain(replay.waves))

    def _job(self, spec: JobSpec) -> Job:
        traits = self._traits.get(spec.shape)
        if traits is None:
            traits = self._traits[spec.shape] = self._shape_traits(spec)
        cubes, dims, level, interval, rejected = traits
        job = Job(spec, cubes, dims, level, interval, self.model.workload.checkpointing)
        if job.elastic:  # the sizes this policy can place (static: boxes that fit the grid)
            job.sizes = tuple(d for d in job.sizes if self.policy.grid_fits(d))
            rejected = not job.sizes
            if job.sizes and job.sizes[0] != job.cube_dims:  # never at its preferred size here
                job.set_size(job.sizes[0], self.machine.cube.chips)
        if rejected:
            job.state = REJECTED  # this policy can never place it
        return job

    def _shape_traits(self, spec: JobSpec) -> tuple:
        """What every job of ``spec.shape`` shares: cubes, cube shape, buddy level, checkpoint
        interval, and whether this policy can never place it (computed once per shape)."""
        cube = self.machine.cube
        if spec.shape.chips < cube.chips:
            cubes, dims, level = 0, None, block_level(cube.shape, spec.shape.dims)
        else:
            cubes, dims, level = spec.shape.cubes(cube.shape), spec.shape.cube_dims(cube.shape), None
        rate = self.policy.interrupting_rate(self.model.failures, spec.shape)
        interval = self.model.workload.checkpointing.interval_for(float("inf") if rate == 0 else 1.0 / rate)
        rejected = bool(shape_problem(self.machine, spec.shape)
                        or (dims is not None and not self.policy.grid_fits(dims)))
        return cubes, dims, level, interval, rejected

    # -- event sources -------------------------------------------------------------------------
    def _arrivals(self):
        env = self.env
        for spec in self.replay.specs:
            if spec.arrival >= self.horizon:
                return
            if spec.arrival > env.now:
                yield env.timeout(spec.arrival - env.now)
            job = self._job(spec)
            if self._admit(job):
                self.scheduler.enqueue(job, env.now)

    def _admit(self, job: Job) -> bool:
        """An arrived job joins the run: kept (with ``keep_jobs``), recorded at once if this
        policy can never place it, else live. True if it is live."""
        if self.keep_jobs:
            self.jobs.append(job)
        if job.state == REJECTED:
            self.records.add(job)
            return False
        self._live[job.id] = job
        return True

    def _hero_arrivals(self):
        """The hero jobs (``workload.hero``) arrive, in arrival order, beside the workload's (a
        multislice one as its slices, of which only the first waits in the queue:
        :mod:`tpusim.scheduler.gang`)."""
        env = self.env
        heroes = self.model.workload.heroes
        specs = sorted(((h.job_spec(i), h.slices) for i, h in enumerate(heroes)),
                       key=lambda s: (s[0].arrival, s[0].id))
        for spec, slices in specs:
            if spec.arrival >= self.horizon:
                return
            if spec.arrival > env.now:
                yield env.timeout(spec.arrival - env.now)
            members = gang_members(spec, slices, self._job)
            job = members[0]
            self.heroes.append(job)
            live = [self._admit(member) for member in members]
            if live[0]:
                self.scheduler.enqueue(job, env.now)

    def _finished(self, job: Job) -> None:
        del self._live[job.id]
        self.records.add(job)

    def _requeue(self, job: Job, t: float) -> None:
        self.scheduler.enqueue(job, t)

    def _replay(self, trace, delays):
        env = self.env
        for index, (t, cls, unit, down) in enumerate(trace):
            if t > env.now:
                yield env.timeout(t - env.now)
            k = COMPONENT_CLASSES.index(cls)
            if down:
                self._failed(k, unit, t, delays[index])
            else:
                self.true_causes.repair(k, unit, t)
                if self.known_causes.own[k][unit]:
                    self.known_causes.repair(k, unit, t)
                self._came_up(k, (unit,), t)

    def _came_up(self, k: int, units, t: float) -> None:
        for unit in units:  # degraded slices on these parts (routed around them) speed up again
            for job in self.pool.jobs_using(k, unit):
                if job.rate < job.scale and job.state == RUNNING and job.stalled_at is None:
                    self.pod_manager.rerate(job, t)
        self.request_pass()

    def _glitch(self, glitches: Sequence[tuple[float, int, int]]):
        """Replay the gray faults' glitches: each fails every job running on the part (a part
        that is down carries no job's traffic)."""
        env, restart = self.env, self.model.workload.restart
        for t, k, unit in glitches:
            if t >= self.horizon:
                return
            if t > env.now:
                yield env.timeout(t - env.now)
            if self.true.down[k][unit]:
                continue
            hit = [job for job in self.pool.jobs_using(k, unit) if job.state == RUNNING and job.stalled_at is None]
            for job in sorted(hit, key=lambda j: j.id):
                chips = job.chips
                lost = self.pod_manager.crash(job, t)  # (chip-hours: the work lost and the restore)
                self.gray_kills.append((t, k, unit, job.id))
                self.gray_lost += lost + chips * job.slices * restart  # (every slice of a gang)
            if hit:
                self.request_pass()

    def _maintain(self, waves: Sequence[Wave]):
        """Replay the maintenance waves under this policy: at a wave's start its parts are held
        down in both views at once (planned work is known) and the jobs on them drained; at its
        end they come back."""
        env = self.env
        steps = sorted([(w.start, 1, n, w) for n, w in enumerate(waves)] + [(w.end, 0, n, w) for n, w in enumerate(waves)])
        for t, begins, _, wave in steps:
            if t >= self.horizon:
                return
            if t > env.now:
                yield env.timeout(t - env.now)
            parts = self.policy.maintenance_holds(self.model.maintenance[wave.campaign], wave)
            for k, units, dark in parts:
                for causes in (self.known_causes, self.true_causes):
                    if begins:
                        causes.hold(k, units, t, dark)
                    else:
                        causes.release(k, units, t)
            if not begins:
                for k, units, _ in parts:
                    self._came_up(k, units, t)
                continue
            drained: dict[int, Job] = {}
            for k, units, dark in parts:
                if k == OCS and not dark:
                    continue  # a control-plane upgrade leaves the circuits lit: slices run on
                for unit in units:
                    for job in self.pool.jobs_using(k, unit):
                        if job.state == RUNNING:
                            drained.setdefault(job.id, job)
            for job in sorted(drained.values(), key=lambda j: j.id):
                if job.state == RUNNING:
                    self.pod_manager.drain(job, t)
            self.request_pass()

    def _failed(self, k: int, unit: int, t: float, delay: float) -> None:
        dark = None
        if k == OCS:  # drawn for every OCS failure, held or not, so modes follow the trace order
            modes = self.true.ocs_modes
            dark = modes.dark() if modes is not None else True
        self.true_causes.fail(k, unit, t, dark)
        serial = self._serial.get((k, unit), 0) + 1
        self._serial[(k, unit)] = serial
        hit = []
        lit = k == OCS and not self.true.dark[unit]  # a control-plane failure: circuits stay up
        for job in () if lit else self.pool.jobs_using(k, unit):
            if job.stalled_at is None:
                job.settle_rate(t)
                job.stall(t)
                hit.append((job, job.run))
                if job.gang is not None:
                    job.gang.stall(t)  # a multislice job stops when any of its slices stops
            if k == HOST and job.ram_down is not None:  # the host's RAM, and its in-memory copies, are gone
                job.ram_down.add(self._host_slot(job, unit))
        if hit:
            self._stalled[(k, unit, serial)] = hit
        if t == 0.0 or delay == 0.0:  # faults present at the start are already known
            self._detected(k, unit, serial)
        else:
            self.env.timeout(delay, (k, unit, serial)).callbacks.append(
                lambda ev: self._detected(k, unit, serial, delay)
            )

    def _host_slot(self, job: Job, unit: int) -> tuple[int, int]:
        """Host ``unit`` as a slot of ``job``'s slice: (its cube's position in the slice, host)."""
        hosts, alloc = self.machine.cube.hosts, job.alloc
        assert alloc is not None  # (a job using a host holds it)
        return (alloc.cubes.index(unit // hosts) if job.cubes else 0, unit % hosts)

    def _detected(self, k: int, unit: int, serial: int, delay: float = 0.0) -> None:
        t = self.env.now
        if self._serial[(k, unit)] == serial and self.true_causes.own[k][unit]:
            if not self.known_causes.own[k][unit] and t > 0.0:
                self.detections += 1
                self.detection_hours += delay
            self.detect(k, unit, t)
        for job, run in self._stalled.pop((k, unit, serial), ()):
            if job.run == run and job.state == RUNNING and job.stalled_at is not None:
                self.pod_manager.recover(job, t)
        self.request_pass()

    def detect(self, k: int, unit: int, t: float) -> None:
        """Make a truly-down unit known (idempotent)."""
        if self.true_causes.own[k][unit] and not self.known_causes.own[k][unit]:
            self.known_causes.fail(k, unit, t, dark=bool(self.true.dark[unit]) if k == OCS else None)

    def request_pass(self) -> None:
        """Run one scheduling pass at the current instant, after the events already due."""
        if not self._pass_due:
            self._pass_due = True
            self.env.timeout(0).callbacks.append(self._run_pass)

    def _run_pass(self, _event) -> None:
        self._pass_due = False
        self.scheduler.run_pass(self.env.now)

    # -- run -----------------------------------------------------------------------------------
    def run(self, progress: Callable[[float], None] | None = None) -> JobOutcome:
        """Simulate to the horizon and measure. ``progress(fraction of the horizon)`` is called
        at each hundredth of it: the run stops there and goes on, which changes nothing (the
        stop is one more event; every other event keeps its order)."""
        if progress is None:
            self.env.run(until=self.horizon)
        else:
            for k in range(1, PROGRESS_STEPS + 1):
                self.env.run(until=self.horizon if k == PROGRESS_STEPS else self.horizon * k / PROGRESS_STEPS)
                progress(k / PROGRESS_STEPS)
        T = self.horizon
        if self.pod_manager.runs is not None:
            self.pod_manager.runs.close_all(T, self._live.values())
        for job in self._live.values():
            if job.state == RUNNING:
                job.settle_rate(T)
                if job.stalled_at is not None:  # stalled at the horizon, the failure not yet noticed
                    job.lost += job.chips * (T - job.stalled_at)
                job.close_segment(T)
                job.progress = job.progress_at(T)
            elif job.state == PENDING:
                job.waited += T - job.queued_since
            self.records.add(job)
        self._live.clear()
        counted = {**self.scheduler.metrics(T), **self.pod_manager.metrics(), **self._metrics()}
        pm = self.pod_manager
        runs = pm.runs.columns() if pm.runs is not None else None
        chips = self.machine.cube.chips
        heroes = {job.spec.hero: hero_metrics(job if job.gang is None else job.gang, T,
                                              self._program_goodput[job.spec.hero], chips) for job in self.heroes}
        return JobOutcome.measure(self.records, T, self.machine.chips, pm.xconnects_by, counted, pm.circuits_used,
                                  runs, tuple(self.gray_kills), heroes)

    def _metrics(self) -> dict[str, float]:
        """What the simulation itself counted: healthd's detections and the gray faults' harm."""
        detections = self.detections
        return {DETECTIONS: float(detections),
                MEAN_DETECTION_MINUTES: (MINUTES_PER_HOUR * self.detection_hours / detections if detections
                                         else float("nan")),
                GRAY_INTERRUPTIONS: float(len(self.gray_kills)), GRAY_LOST_CHIP_HOURS: self.gray_lost}
