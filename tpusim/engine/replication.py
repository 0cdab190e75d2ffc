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
maintenance, each policy's availability tracker, the failure source's component metrics, then
each policy's job outcome (and costs) - which is the order of the samples (part of the
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

from tpusim.core.collect import Emit, SampleLog
from tpusim.core.metrics import JOB_METRICS, MAINTENANCE_CHIP_HOURS, Sample
from tpusim.core.metrics import QUEUE_WAIT_P50_BY_CHIPS_HOURS, QUEUE_WAIT_P95_BY_CHIPS_HOURS
from tpusim.engine.model import Model
from tpusim.failures.counts import FailureCounts
from tpusim.failures.detection import detection_delays
from tpusim.failures.gray import GrayEpisode, GrayInjector, glitch_events
from tpusim.failures.health import HealthState
from tpusim.failures.injector import FailureInjector
from tpusim.failures.maintenance import CampaignDriver, MaintainedHealth, MaintenanceLog, Wave, planned_waves
from tpusim.failures.ocs_modes import OcsModes
from tpusim.failures.params import FailureParams
from tpusim.failures.trace import Trace, TraceRecorder, TraceReplayer
from tpusim.policies import registry
from tpusim.policies.base import Policy
from tpusim.policies.capacity import Availability, Series
from tpusim.scheduler.costs import cost_metrics
from tpusim.scheduler.outcome import JobOutcome
from tpusim.scheduler.simulation import JobSimulation
from tpusim.scheduler.workload import JobSpec, generate_jobs


@dataclass(frozen=True)
class ReplicationResult:
    replication: int
    samples: list[Sample]
    counts: FailureCounts  # what the failure trace counted (failures, repairs, events, ...)
    maintenance: MaintenanceLog = field(default=MaintenanceLog(), repr=False)  # waves and rollouts that ran
    gray: tuple[GrayEpisode, ...] = field(default=(), repr=False)  # gray episodes (ground truth)
    runs: dict[str, dict] | None = field(default=None, repr=False)  # policy -> run records (record_runs)
    gray_kills: dict[str, list] | None = field(default=None, repr=False)  # policy -> (t, class, unit, job)
    trace: Trace | None = field(default=None, repr=False)
    job_rows: dict[str, dict] | None = field(default=None, repr=False)  # policy -> per-job columns
    series: dict[str, Series] | None = field(default=None, repr=False)  # per policy (timeseries_days)
    # samples[:shared_samples] come from the failure trace (the same in every part of a
    # replication split by policy); the rest from the job simulations, policy by policy
    shared_samples: int | None = field(default=None, repr=False)

    def without_rows(self) -> "ReplicationResult":
        """This result without its per-job rows (once they have been written out)."""
        return replace(self, job_rows=None)

    def only_samples(self) -> "ReplicationResult":
        """This result without what only a run's outputs read (per-job rows, run records, the
        trace, time series, waves and gray episodes): what a sweep keeps of a replication, and
        so what a worker sends back for one (a pod-year with jobs: 15 kB instead of 19 MB)."""
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


def job_simulation(model: Model, policy: str, trace, specs: Sequence[JobSpec], delays: list[float] | None = None,
                   replication: int = 0, waves: Sequence[Wave] | None = None,
                   glitches: Sequence[tuple[float, int, int]] = (), record_runs: bool = False) -> JobSimulation:
    """The control plane of ``model`` under one policy (any registered one, listed in the model
    or not), replaying ``trace`` and ``specs`` (detection delays drawn for ``replication``
    unless given) and the maintenance ``waves`` (default: the model's campaigns as planned,
    with no watchdog stop) and the gray faults' ``glitches`` ``(time, class id, unit)``."""
    if waves is None:
        waves = planned_waves(model.maintenance, model.machine, model.horizon)
    assert model.workload is not None, "a job simulation needs a workload"
    if delays is None:
        delays = detection_delays(model.failures, trace, model.seed, replication)
    if policy in model.policy_names:
        chosen = model.policy(policy)
    else:  # every policy of a model shares the scenario's routing section
        chosen = registry.get(policy)(model.machine, model.policies[0].routing)
    return JobSimulation(model.machine, chosen, model.failures, model.workload, model.scheduler,
                         model.pod_manager, model.horizon, trace, specs, delays,
                         OcsModes(model.failures.ocs_control_share, model.seed, replication),
                         maintenance=model.maintenance, waves=waves, glitches=glitches, record_runs=record_runs)


def _repair_sampler(failures: FailureParams):
    """``f(class, generator)``: one repair time of the class (a bad release's extra failures)."""
    return lambda k, gen: failures.classes[k].repair.sample(gen, 1)[0]


def _job_samples(replication: int, policy: str, outcome: JobOutcome) -> list[Sample]:
    if outcome.metrics.keys() != set(JOB_METRICS):  # the registry and the measurement, both ways
        missing, extra = set(JOB_METRICS) - outcome.metrics.keys(), outcome.metrics.keys() - set(JOB_METRICS)
        raise RuntimeError(f"job metrics out of step with the registry: not measured {sorted(missing)}, "
                           f"not registered {sorted(extra)}")
    out = [Sample(replication, policy, name, None, float(outcome.metrics[name])) for name in JOB_METRICS]
    for chips, (p50, p95) in outcome.by_chips.items():
        out.append(Sample(replication, policy, QUEUE_WAIT_P50_BY_CHIPS_HOURS, str(chips), float(p50)))
        out.append(Sample(replication, policy, QUEUE_WAIT_P95_BY_CHIPS_HOURS, str(chips), float(p95)))
    return out


def merge_parts(parts: Sequence[ReplicationResult]) -> ReplicationResult:
    """One replication's result from its parts (:func:`simulate` with ``policies``), given in
    the model's policy order: the shared samples once, then each part's job samples, rows, run
    records and gray kills in turn; what a part shares (counts, trace, series) from the first."""
    first = parts[0]
    shared = first.shared_samples
    assert shared is not None and all(p.shared_samples == shared and p.replication == first.replication
                                      for p in parts), "parts of different replications"

    def joined(name: str):
        values = [getattr(p, name) for p in parts]
        return None if values[0] is None else {k: v for d in values for k, v in d.items()}

    return replace(first, samples=first.samples[:shared] + [s for p in parts for s in p.samples[shared:]],
                   runs=joined("runs"), gray_kills=joined("gray_kills"), job_rows=joined("job_rows"))


class _MaintenanceOut:
    """A policy's chip-hours out for maintenance: the chip-time its maintained view of the health
    lost against the shared trace's (a component of a replication under maintenance)."""

    def __init__(self, policy: Policy, shared: HealthState, seen: HealthState):
        self.policy, self.shared, self.seen = policy, shared, seen

    def collect(self, horizon: float, emit: Emit) -> None:
        policy = self.policy
        lost = (self.shared.chip_availability(horizon, policy.uses_ocs)
                - self.seen.chip_availability(horizon, policy.uses_ocs)) * policy.machine.chips * horizon
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


def _ocs_modes(model: Model, replication: int) -> OcsModes:
    """The replication's OCS failure modes, drawn afresh (each health state that replays the
    trace draws them in trace order: the same mode for the same failure)."""
    return OcsModes(model.failures.ocs_control_share, model.seed, replication)


def _wire(model: Model, replication: int, record_trace: bool) -> _Wiring:
    """Build and connect every component of one replication (nothing runs yet)."""
    env = simpy.Environment()
    health = HealthState(model.machine, _ocs_modes(model, replication))
    recorder = TraceRecorder(health) if record_trace or model.workload is not None else None
    # Under maintenance each policy whose machine a campaign touches sees its own health: the
    # shared trace plus its waves' holds (made before the injector, to see the faults at t = 0).
    views = {p.name: MaintainedHealth(health, model.maintenance, not p.uses_ocs)
             for p in model.policies if model.maintenance}
    seen = {p.name: views[p.name].health if p.name in views else health for p in model.policies}
    width, labels = model.timeseries_width, [shape.label for shape in model.shapes]
    availability = {p.name: Availability(p.capacity_tracker(model.shapes_in_cubes, seen[p.name], width is not None),
                                         seen[p.name], labels, width) for p in model.policies}
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
    return ReplicationResult(log.replication, log.samples, counts, maintenance, gray,
                             series=series or None, shared_samples=len(log.samples))


@dataclass
class _Jobs:
    """What the job simulations of one replication (or part) produced."""

    samples: list[Sample] = field(default_factory=list)
    rows: dict | None = None
    runs: dict | None = None
    kills: dict | None = None


def _simulate_jobs(model: Model, replication: int, w: _Wiring, trace: ReplicationResult,
                   policies: Sequence[str] | None, record_runs: bool,
                   progress: Callable[[float], None] | None) -> _Jobs:
    """Each policy's job simulation over the replication's recorded trace (with a workload)."""
    out = _Jobs(runs={} if record_runs and model.workload is not None else None,
                kills={} if w.gray is not None and model.workload is not None else None)
    glitches = glitch_events(trace.gray, model.horizon)
    if model.workload is None:
        return out
    assert w.recorder is not None
    specs = generate_jobs(model.workload, model.horizon, model.seed, replication)
    delays = detection_delays(model.failures, w.recorder.events, model.seed, replication)
    out.rows = {}
    simulated = [p for p in model.policies if policies is None or p.name in policies]
    for n, policy in enumerate(simulated):
        sim = JobSimulation(model.machine, policy, model.failures, model.workload, model.scheduler,
                            model.pod_manager, model.horizon, w.recorder.events, specs, delays,
                            _ocs_modes(model, replication),
                            keep_jobs=False, maintenance=model.maintenance,
                            waves=trace.maintenance.waves, glitches=glitches,
                            record_runs=out.runs is not None)
        jobs = sim.run(None if progress is None else
                       lambda f, n=n: progress((n + f) / len(simulated)))  # type: ignore[misc]
        out.samples += _job_samples(replication, policy.name, jobs)
        if model.cost is not None:
            out.samples += [Sample(replication, policy.name, name, None, value) for name, value
                            in cost_metrics(jobs.rows, model.machine.chips, model.horizon, model.cost).items()]
        out.rows[policy.name] = jobs.rows
        if out.runs is not None and sim.pod_manager.runs is not None:
            out.runs[policy.name] = sim.pod_manager.runs.columns()
        if out.kills is not None:
            out.kills[policy.name] = sim.gray_kills
    return out


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
    shared = _collect_trace(w, model.horizon, SampleLog(replication))
    jobs = _simulate_jobs(model, replication, w, shared, policies, record_runs, progress)
    return replace(shared, samples=shared.samples + jobs.samples, runs=jobs.runs, gray_kills=jobs.kills,
                   trace=w.recorder.events if record_trace and w.recorder is not None else None,
                   job_rows=jobs.rows)
