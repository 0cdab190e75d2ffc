"""One replication: a SimPy run of the failure trace, observed by every policy at once.

The failure injector drives a single :class:`~tpusim.failures.HealthState`; every policy's
capacity tracker subscribes to it. One replication therefore draws one failure trace and every
policy sees exactly that trace (common random numbers, DESIGN §1): differences between policies
are due to the policy alone. The trace depends only on (seed, replication), never on which
policies are listed.

With a workload, the same run records its trace, the replication draws its jobs and detection
delays once, and each policy then runs its own
:class:`~tpusim.scheduler.simulation.JobSimulation` replaying them.

Every component measures itself (:mod:`tpusim.core.collect`): :func:`simulate` wires the
components, runs them, and collects them in a fixed order - each policy's chip-hours out for
maintenance, each policy's availability tracker, the failure source's component metrics (and
the drawn failures' control variates), a generated workload's control variates, then each
policy's job outcome (and costs) - which is the order of the samples (part of the
bit-for-bit contract). A replication returns those tidy :class:`~tpusim.core.metrics.Sample`
rows plus the components' typed records of what is not a metric (:class:`ReplicationResult`):
the failure trace's counts, the maintenance waves and rollouts, the gray episodes, time series,
the recorded trace, and per policy its job rows.

A replication with jobs may be run in parts, each simulating the jobs of some of the policies
(``simulate(..., policies=...)``): the policies' job simulations are independent given the
replication's trace, jobs and detection delays, which every part draws again from the same
streams. Invariant: :func:`merge_parts` of the parts, in policy order, equals the whole
replication's result, sample for sample and row for row.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import simpy

from tpusim.failures.counts import FailureCounts
from tpusim.failures.detection import detection_delays
from tpusim.failures.health import HealthState
from tpusim.failures.gray import GrayEpisode, GrayInjector, glitch_events
from tpusim.failures.injector import FailureInjector
from tpusim.failures.maintenance import CampaignDriver, MaintainedHealth, MaintenanceLog, Wave, planned_waves
from tpusim.failures.params import FailureParams
from tpusim.failures.ocs_modes import OcsModes
from tpusim.failures.trace import Trace, TraceRecorder, TraceReplayer
from tpusim.core.collect import Emit, SampleLog
from tpusim.core.metrics import MAINTENANCE_CHIP_HOURS, Sample
from tpusim.engine.model import Model
from tpusim.policies import registry
from tpusim.policies.base import Policy
from tpusim.policies.capacity import Availability, Series
from tpusim.scheduler.costs import JobCosts
from tpusim.scheduler.outcome import JobOutput
from tpusim.scheduler.scheduler import Scheduler
from tpusim.scheduler.simulation import JobModel, JobSimulation, Replay
from tpusim.scheduler.workload import JobSpec, JobStream, generate_jobs


@dataclass(frozen=True)
class ReplicationResult:
    """One replication's samples, and its components' typed records of what is not a metric."""

    replication: int
    samples: list[Sample]
    counts: FailureCounts  # what the failure trace counted (failures, repairs, events, ...)
    maintenance: MaintenanceLog = field(default=MaintenanceLog(), repr=False)  # waves and rollouts that ran
    gray: tuple[GrayEpisode, ...] = field(default=(), repr=False)  # gray episodes (ground truth)
    jobs: dict[str, JobOutput] | None = field(default=None, repr=False)  # per policy, with a workload
    trace: Trace | None = field(default=None, repr=False)  # the recorded trace (record_trace)
    series: dict[str, Series] | None = field(default=None, repr=False)  # per policy (timeseries_days)
    # samples[:shared_samples] come from the failure trace (the same in every part of a
    # replication split by policy); the rest from the job simulations, policy by policy
    shared_samples: int | None = field(default=None, repr=False)

    def without_jobs(self) -> "ReplicationResult":
        """This result without its job outputs (once their per-job rows have been written out)."""
        return replace(self, jobs=None)

    def only_samples(self) -> "ReplicationResult":
        """This result without what only a run's outputs read (job outputs, the trace, time
        series, maintenance log and gray episodes): what a sweep keeps of a replication, and so
        what a worker sends back for one (a pod-year with jobs: 15 kB instead of 19 MB)."""
        return ReplicationResult(self.replication, self.samples, self.counts, shared_samples=self.shared_samples)

    def values(self, policy: str | None, metric: str) -> list[float]:
        """This replication's values of ``metric`` for ``policy``, in breakdown order (for
        ``slice_availability``: the model's shape order)."""
        return [s.value for s in self.samples if s.policy == policy and s.metric == metric]

    def value(self, policy: str | None, metric: str, key: str | None = None) -> float:
        """This replication's value of one metric."""
        for s in self.samples:
            if s.policy == policy and s.metric == metric and s.key == key:
                return s.value
        raise KeyError((policy, metric, key))


def _ocs_modes(model: Model, replication: int) -> OcsModes:
    """The replication's OCS failure modes, drawn afresh: every health state that replays the
    trace draws them in trace order, so each failure has the same mode in all of them."""
    return OcsModes(model.failures.ocs_control_share, model.seed, replication)


def job_simulation(model: Model, policy: str, trace, specs: Sequence[JobSpec], delays: list[float] | None = None,
                   replication: int = 0, waves: Sequence[Wave] | None = None,
                   glitches: Sequence[tuple[float, int, int]] = (), record_runs: bool = False,
                   keep_jobs: bool = True, scheduler_class: type[Scheduler] = Scheduler) -> JobSimulation:
    """The control plane of ``model`` under one policy (any registered one, listed in the model
    or not), replaying ``trace`` and ``specs`` (detection delays drawn for ``replication``
    unless given) and the maintenance ``waves`` (default: the model's campaigns as planned,
    with no watchdog stop) and the gray faults' ``glitches`` ``(time, class id, unit)``, with a
    scheduler of ``scheduler_class``; ``keep_jobs``: keep every job object (the replication does
    not)."""
    if waves is None:
        waves = planned_waves(model.maintenance, model.machine, model.horizon)
    if delays is None:
        delays = detection_delays(model.failures, trace, model.seed, replication)
    if policy in model.policy_names:
        chosen = model.policy(policy)
    else:  # every policy of a model shares the scenario's routing section
        chosen = registry.get(policy)(model.machine, model.policies[0].routing)
    return JobSimulation(_job_model(model, chosen), Replay(trace, specs, delays, waves, glitches),
                         _ocs_modes(model, replication), keep_jobs=keep_jobs, record_runs=record_runs,
                         scheduler_class=scheduler_class)


def _job_model(model: Model, policy: Policy) -> JobModel:
    """What a job simulation of ``model`` runs under ``policy``."""
    assert model.workload is not None, "a job simulation needs a workload"
    return JobModel(model.machine, policy, model.failures, model.workload, model.scheduler, model.pod_manager,
                    model.horizon, model.maintenance)


def _repair_sampler(failures: FailureParams):
    """``f(class, generator)``: one repair time of the class (a bad release's extra failures)."""
    return lambda k, gen: failures.classes[k].repair.sample(gen, 1)[0]


def merge_parts(parts: Sequence[ReplicationResult]) -> ReplicationResult:
    """One replication's result from its parts (:func:`simulate` with ``policies``), given in
    the model's policy order: the shared samples once, then each part's job samples and job
    outputs in turn; what a part shares (counts, trace, series, ...) from the first."""
    first = parts[0]
    shared = first.shared_samples
    assert shared is not None and all(p.shared_samples == shared and p.replication == first.replication
                                      for p in parts), "parts of different replications"
    jobs = None if first.jobs is None else {name: out for p in parts for name, out in (p.jobs or {}).items()}
    return replace(first, samples=first.samples[:shared] + [s for p in parts for s in p.samples[shared:]], jobs=jobs)


class _MaintenanceOut:
    """A policy's chip-hours out for maintenance: the chip-time its maintained view of the health
    lost against the shared trace's (a component of a replication under maintenance)."""

    def __init__(self, policy: Policy, shared: HealthState, seen: HealthState):
        self.policy, self.shared, self.seen = policy, shared, seen

    def collect(self, horizon: float, emit: Emit) -> None:
        policy = self.policy
        lost = (policy.chip_availability(self.shared, horizon)
                - policy.chip_availability(self.seen, horizon)) * policy.machine.chips * horizon
        emit(MAINTENANCE_CHIP_HOURS, None, max(0.0, lost))


@dataclass
class _Wiring:
    """One replication's components, connected on one SimPy environment (made in this order:
    every component draws from its own named streams when it is made or runs, so the order is
    part of the bit-for-bit contract)."""

    env: simpy.Environment
    recorder: TraceRecorder | None
    availability: dict[str, Availability]  # per policy: its tracker, on the health it observes
    injector: "FailureInjector | TraceReplayer"
    driver: CampaignDriver | None
    gray: GrayInjector | None
    maintenance_out: dict[str, _MaintenanceOut]  # per policy, under maintenance


def _wire(model: Model, replication: int, record_trace: bool) -> _Wiring:
    """Build and connect every component of one replication (nothing runs yet)."""
    env = simpy.Environment()
    health = HealthState(model.machine, _ocs_modes(model, replication))
    recorder = TraceRecorder(health) if record_trace or model.workload is not None else None
    # Under maintenance each policy whose machine a campaign touches sees its own health: the
    # shared trace plus its waves' holds (made before the injector, to see the faults at t = 0).
    views = {p.name: MaintainedHealth(health, model.maintenance, p.maintenance_holds)
             for p in model.policies if model.maintenance}
    seen = {p.name: views[p.name].health if p.name in views else health for p in model.policies}
    width, labels = model.timeseries_width, [shape.label for shape in model.shapes]
    availability = {p.name: Availability(p.capacity_tracker(model.shapes_in_cubes, seen[p.name], width is not None),
                                         seen[p.name], labels, width, p.useful_availability) for p in model.policies}
    injector: FailureInjector | TraceReplayer
    if model.failures.traces is not None:
        injector = TraceReplayer(env, health, model.failures.trace_for(replication))
    else:
        injector = FailureInjector(env, health, model.failures, model.seed, replication)
    driver = None
    if model.maintenance:
        drawn = injector if isinstance(injector, FailureInjector) else None
        driver = CampaignDriver(env, model.maintenance, model.machine, health,
                                tuple(c.rate for c in model.failures.classes), _repair_sampler(model.failures),
                                model.seed, replication, drawn.causes.fail if drawn else None,
                                drawn.schedule_repair if drawn else None)
        driver.listeners += [view.on_wave for view in views.values()]
    gray = None
    if model.failures.has_gray:
        assert isinstance(injector, FailureInjector), "gray faults need drawn failures (checked by the build)"
        gray = GrayInjector(env, health.population, tuple(c.gray for c in model.failures.classes),
                            model.failures.planted_gray, tuple(c.repair for c in model.failures.classes),
                            model.seed, replication, injector.causes.fail, injector.schedule_repair)
    out = {p.name: _MaintenanceOut(p, health, seen[p.name]) for p in model.policies if driver is not None}
    return _Wiring(env, recorder, availability, injector, driver, gray, out)


def _collect_trace(w: _Wiring, horizon: float, log: SampleLog) -> ReplicationResult:
    """What the components that observed the failure trace measured, collected in the order of
    the shared samples: each policy's chip-hours out for maintenance, each policy's
    availability, the component metrics (no sample from the campaign driver or gray faults)."""
    for name, out in w.maintenance_out.items():
        log.collect(name, out, horizon)
    kept = {name: log.collect(name, availability, horizon) for name, availability in w.availability.items()}
    series = {name: s for name, s in kept.items() if s is not None}  # every policy's, or none
    log.collect(None, w.injector, horizon)
    maintenance = log.collect(None, w.driver, horizon) if w.driver is not None else MaintenanceLog()
    gray = log.collect(None, w.gray, horizon) if w.gray is not None else ()
    counts = sum((c.counts for c in (w.driver, w.gray) if c is not None), w.injector.counts)
    return ReplicationResult(log.replication, list(log.samples), counts, maintenance, gray,
                             series=series or None, shared_samples=len(log.samples))


def _simulate_jobs(model: Model, w: _Wiring, shared: ReplicationResult, specs: Sequence[JobSpec] | None,
                   policies: Sequence[str] | None, record_runs: bool, log: SampleLog,
                   progress: Callable[[float], None] | None) -> dict[str, JobOutput] | None:
    """Each policy's job simulation over the replication's recorded trace (with a workload),
    collected policy by policy: its outcome, then its costs (with a cost model)."""
    if model.workload is None or specs is None:
        return None
    assert w.recorder is not None
    replication, trace = shared.replication, w.recorder.events
    delays = detection_delays(model.failures, trace, model.seed, replication)
    glitches = glitch_events(shared.gray, model.horizon)
    simulated = [p.name for p in model.policies if policies is None or p.name in policies]
    jobs = {}
    for n, name in enumerate(simulated):
        sim = job_simulation(model, name, trace, specs, delays, replication, shared.maintenance.waves, glitches,
                             record_runs, keep_jobs=False)
        outcome = sim.run(None if progress is None else
                          lambda f, n=n: progress((n + f) / len(simulated)))  # type: ignore[misc]
        jobs[name] = log.collect(name, outcome, model.horizon)
        if model.cost is not None:
            log.collect(name, JobCosts(outcome.rows, model.machine.chips, model.cost), model.horizon)
    return jobs


def simulate(model: Model, replication: int, record_trace: bool = False, record_runs: bool = False,
             policies: Sequence[str] | None = None,
             progress: Callable[[float], None] | None = None) -> ReplicationResult:
    """Run replication number ``replication`` of ``model`` and measure every policy
    (``record_runs``: keep every job run's parts and fate, see :mod:`tpusim.scheduler.runs`).

    ``policies`` (with a workload): simulate the jobs of these policies only. A replication may
    so be split into parts, each simulating the shared failure trace (every capacity sample)
    and its own policies' jobs; :func:`merge_parts` puts them together into the replication's
    result, bit for bit: every part draws the same trace, jobs and detection delays from the
    replication's streams.

    ``progress(fraction)``: with a workload, called as the job simulations go (each policy's
    share of the replication, a hundredth of its horizon at a time); it changes no number."""
    w = _wire(model, replication, record_trace)
    w.env.run(until=model.horizon)
    log = SampleLog(replication)
    shared = _collect_trace(w, model.horizon, log)
    specs = None
    if model.workload is not None:
        specs = generate_jobs(model.workload, model.horizon, model.seed, replication)
        if isinstance(specs, JobStream):  # a generated workload's control variates, shared too
            log.collect(None, specs, model.horizon)
            shared = replace(shared, samples=list(log.samples), shared_samples=len(log.samples))
    jobs = _simulate_jobs(model, w, shared, specs, policies, record_runs, log, progress)
    return replace(shared, samples=log.samples, jobs=jobs,
                   trace=w.recorder.events if record_trace and w.recorder is not None else None)
