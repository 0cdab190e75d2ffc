"""Jobs on the machine under one policy: a SimPy run replaying one failure trace and one workload.

The replication's failure trace (recorded once, see :mod:`tpusim.engine`) and its jobs are
replayed identically under every policy (common random numbers). Two health states are kept:

- ``true``: the trace as it happens; a failure stalls every job whose slice uses the part;
- ``known``: what healthd/libtpunet have reported: a failure after ``detection_minutes`` (or at
  once, when a pre-flight check trips over it), a repair at once. The scheduler and the Pod
  Manager decide on ``known`` only. Faults present at t = 0 are known from the start.

The run ends at the horizon; jobs still running are charged up to it, and their progress so far
counts as useful.
"""

from __future__ import annotations

import math

import numpy as np
import simpy

from tpusim.failures.health import HealthState
from tpusim.rng import generator
from tpusim.scenario import Scenario, job_shape_problem
from tpusim.scheduler.borg import Scheduler
from tpusim.scheduler.blocks import block_level
from tpusim.scheduler.job import DONE, PENDING, REJECTED, RUNNING, Job
from tpusim.scheduler.pod_manager import PodManager
from tpusim.scheduler.pool import CubePool
from tpusim.topology.machine import COMPONENT_CLASSES
from tpusim.topology.placement import fits_static_grid
from tpusim.workload import JobSpec, young_interval


class JobSimulation:
    def __init__(self, scenario: Scenario, policy: str, trace, specs: list[JobSpec],
                 detections: list[float] | None = None):
        self.scenario = scenario
        self.policy = policy
        self.env = simpy.Environment()
        machine = scenario.machine
        self.true = HealthState(machine)
        self.known = HealthState(machine)
        self.pool = CubePool(machine, policy, self.known, scenario.pod_manager.ft_routing.max_faults)
        self.scheduler = Scheduler(self)
        self.pod_manager = PodManager(self)
        self.detection = scenario.failures.detection_minutes / 60.0  # the longest fixed delay
        self.delays = detections if detections is not None else detection_delays(scenario, trace)
        self.detection = max([self.detection] + list(self.delays))
        self.detections = 0  # failures reported by healthd (not found first by a pre-flight check)
        self.detection_hours = 0.0
        self.horizon = scenario.horizon_hours
        self.jobs = [self._job(spec) for spec in specs]
        self._serial: dict[tuple[int, int], int] = {}  # failures seen per unit
        self._stalled: dict[tuple[int, int, int], list] = {}  # failure -> (job, run) it stalled
        self._pass_due = False
        self.env.process(self._replay(trace))
        self.env.process(self._arrivals())

    def _job(self, spec: JobSpec) -> Job:
        s, cube_shape = self.scenario, self.scenario.topology.cube_shape
        if spec.shape.chips < math.prod(cube_shape):
            cubes, dims, level = 0, None, block_level(cube_shape, spec.shape.dims)
        else:
            cubes, dims, level = spec.shape.cubes(cube_shape), spec.shape.cube_dims(cube_shape), None
        interval = s.workload.checkpoint.fixed_interval
        if interval is None:
            interval = young_interval(s.workload.checkpoint.write_minutes / 60.0, self._mtbf(spec, cubes))
        job = Job(spec, cubes, dims, level, interval)
        if job_shape_problem(s, spec.shape) or (cubes and self.pool.static and not fits_static_grid(s.topology.cube_grid, dims)):
            job.state = REJECTED  # this policy can never place it
        return job

    def _mtbf(self, spec: JobSpec, cubes: int) -> float:
        """Mean hours between failures of the parts a slice of this shape uses."""
        s, m = self.scenario, self.scenario.machine
        per_hour = {c: getattr(s.failures, c).daily_rate / 24.0 for c in COMPONENT_CLASSES}
        if cubes:
            rate = cubes * (m.cube.hosts * per_hour["host"] + m.cube.links * per_hour["ici_link"])
            if self.policy != "static":
                rate += m.ocs_per_pod * per_hour["ocs"]
        else:
            hosts = max(1, spec.shape.chips // m.cube.chips_per_host)
            x, y, z = spec.shape.dims
            links = (x - 1) * y * z + x * (y - 1) * z + x * y * (z - 1)
            rate = hosts * per_hour["host"] + links * per_hour["ici_link"]
        return math.inf if rate == 0 else 1.0 / rate

    # -- event sources -------------------------------------------------------------------------
    def _arrivals(self):
        env = self.env
        for job in self.jobs:
            if job.arrival > env.now:
                yield env.timeout(job.arrival - env.now)
            if job.state != REJECTED:
                self.scheduler.enqueue(job, env.now)

    def _replay(self, trace):
        env = self.env
        for index, (t, cls, unit, down) in enumerate(trace):
            if t > env.now:
                yield env.timeout(t - env.now)
            k = COMPONENT_CLASSES.index(cls)
            if down:
                self._failed(k, unit, t, self.delays[index])
            else:
                self.true.set_up(k, unit, t)
                if self.known.down[k][unit]:
                    self.known.set_up(k, unit, t)
                if self.pool.ft:  # degraded slices on this part speed up again
                    for job in self.pool.jobs_using(k, unit):
                        if job.rate < 1.0 and job.state == RUNNING and job.stalled_at is None:
                            self.pod_manager.rerate(job, t)
                self.request_pass()

    def _failed(self, k: int, unit: int, t: float, delay: float) -> None:
        self.true.set_down(k, unit, t)
        serial = self._serial.get((k, unit), 0) + 1
        self._serial[(k, unit)] = serial
        hit = []
        for job in self.pool.jobs_using(k, unit):
            if job.stalled_at is None:
                job.settle_rate(t)
                job.stalled_at = t
                hit.append((job, job.run))
        if hit:
            self._stalled[(k, unit, serial)] = hit
        if t == 0.0 or delay == 0.0:  # faults present at the start are already known
            self._detected(k, unit, serial)
        else:
            self.env.timeout(delay, (k, unit, serial)).callbacks.append(
                lambda ev: self._detected(*ev.value, delay)
            )

    def _detected(self, k: int, unit: int, serial: int, delay: float = 0.0) -> None:
        t = self.env.now
        if self._serial[(k, unit)] == serial and self.true.down[k][unit]:
            if not self.known.down[k][unit] and t > 0.0:
                self.detections += 1
                self.detection_hours += delay
            self.detect(k, unit, t)
        for job, run in self._stalled.pop((k, unit, serial), ()):
            if job.run == run and job.state == RUNNING and job.stalled_at is not None:
                self.pod_manager.recover(job, t)
        self.request_pass()

    def detect(self, k: int, unit: int, t: float) -> None:
        """Make a truly-down unit known (idempotent)."""
        if self.true.down[k][unit] and not self.known.down[k][unit]:
            self.known.set_down(k, unit, t)

    def request_pass(self) -> None:
        """Run one scheduling pass at the current instant, after the events already due."""
        if not self._pass_due:
            self._pass_due = True
            self.env.timeout(0).callbacks.append(self._run_pass)

    def _run_pass(self, _event) -> None:
        self._pass_due = False
        self.scheduler.run_pass(self.env.now)

    # -- run -----------------------------------------------------------------------------------
    def run(self) -> "JobOutcome":
        self.env.run(until=self.horizon)
        T = self.horizon
        for job in self.jobs:
            if job.state == RUNNING:
                job.settle_rate(T)
                job.held += job.chips * (T - job.seg_start)
                job.progress = job.progress_at(T)
            elif job.state == PENDING and job.arrival < T:
                job.waited += T - job.queued_since
        return JobOutcome.measure(self, T)


def detection_delays(scenario: Scenario, trace, replication: int = 0) -> list[float]:
    """Detection delay (hours) of every failure in ``trace`` (0 for repairs), drawn once so that
    every policy sees the same delays."""
    f = scenario.failures
    mean = {c: (getattr(f, c).detection_minutes if getattr(f, c).detection_minutes is not None
                else f.detection_minutes) / 60.0 for c in COMPONENT_CLASSES}
    if f.detection_dist == "fixed":
        return [mean[cls] if down else 0.0 for _, cls, _, down in trace]
    gen = generator(scenario.seed, replication, "detection")
    draws = gen.standard_exponential(len(trace)).tolist()
    return [mean[cls] * x if down else 0.0 for (_, cls, _, down), x in zip(trace, draws)]


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
    def measure(cls, sim: JobSimulation, T: float) -> "JobOutcome":
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
            "utilization": held / (sim.scenario.machine.chips * T),
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
