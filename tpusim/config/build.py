"""The build step: a validated scenario becomes a frozen, picklable, hours-only :class:`Model`.

Everything that spans keys is checked here, with key-path errors (the cube's hosts must hold its
chips, slices must fit a pod, a CSV must parse, a lognormal-only key must not sit on another
distribution, a replayed trace must cover every replication), and every file the scenario names
is read and parsed exactly once: replications, worker processes and Dask workers receive data,
never paths. Days and minutes end here: the model is in hours.

The model is kept with the scenario that made it (a scenario is immutable, and
:meth:`Scenario.model_copy` and :meth:`Scenario.with_overrides` validate again), so loading and
running build once.
"""

from __future__ import annotations

import dataclasses
import math
from contextlib import contextmanager
from contextvars import ContextVar
from importlib import resources
from pathlib import Path
from typing import Iterator, Literal

from tpusim.config.schema import CROSS_KEY_CHECKS, ComponentFailures, Scenario
from tpusim.config.strict_yaml import MAX_CSV_BYTES, read_text
from tpusim.core.errors import Problem, ScenarioError
from tpusim.failures.distributions import MixtureRepair, RepairDistribution
from tpusim.failures.params import GrayParams, PlantedGray
from tpusim.failures.maintenance import Campaign, Release, Watchdog
from tpusim.failures.params import ClassFailures, DomainFailures, FailureParams
from tpusim.failures.schedule import Schedule, parse_schedule
from tpusim.failures.trace import parse_trace
from tpusim.engine.model import Model
from tpusim.policies import registry
from tpusim.policies.base import RoutingParams
from tpusim.scheduler.checkpoint import Checkpointing, MemoryStore
from tpusim.scheduler.costs import CostParams
from tpusim.scheduler.pod_manager import PodManagerParams
from tpusim.scheduler.scheduler import SchedulerParams
from tpusim.scheduler.workload import BANDS, HeroSpec, WorkloadParams, parse_job_trace, parse_mix, shape_problem
from tpusim.topology.cube import CubeLayout, host_tray
from tpusim.topology.machine import COMPONENT_CLASSES, MachineLayout
from tpusim.topology.shapes import SliceShape
from tpusim.core.units import MINUTES_PER_HOUR

SHIPPED_RATES = "data/weekly_failure_rates.csv"
SHIPPED_MIX = "data/slice_mix.csv"


#: What one run may ask for (see ``_Builder._size`` and ``_Builder._events``): failing parts held
#: in memory (tens of bytes each), expected failure and repair events and job runs over all
#: replications (a few microseconds and about 100 microseconds each), replications, and
#: time-series values (one sample, about 150 bytes, per bucket, slice, policy and replication).
LIMITS = {"parts": 50_000_000, "events": 1e9, "jobs": 2e8, "replications": 100_000, "series": 5_000_000}


def _count(n: float) -> str:
    """An estimate for a message: ``about 3.65e+11``, or what it is when it overflowed."""
    return f"about {n:.3g}" if math.isfinite(n) else "more than 1e308"


#: Rough costs for the up-front run-time estimate (:func:`expected_work`), measured on this
#: project's 2-core machine (tpuv4_pod with its two policies: ~18 us per failure or repair,
#: both policies' capacity trackers included; bench/bench_jobs.py: ~55 us per job and policy).
#: A guide to say "this will take hours" before it does, not a benchmark.
SECONDS_PER_EVENT_AND_POLICY = 9e-6
SECONDS_PER_JOB_RUN = 55e-6


@dataclasses.dataclass(frozen=True)
class Work:
    """What a scenario asks a run to simulate, in expectation over all its replications."""

    events: float  # failures and repairs from the scenario's own rates (see failures_per_day)
    job_runs: float  # jobs times policies
    policies: int

    @property
    def seconds(self) -> float:
        """Rough single-core run time (see :data:`SECONDS_PER_EVENT_AND_POLICY`)."""
        return self.events * SECONDS_PER_EVENT_AND_POLICY * max(1, self.policies) + self.job_runs * SECONDS_PER_JOB_RUN


def failures_per_day(s: Scenario, peak_daily: dict[str, float] | None = None) -> dict[str, float]:
    """Expected failures per day of the whole machine, by the key whose rate gives them (a
    scheduled class at its peak rate ``peak_daily[class]`` where known, at which the thinned
    process draws candidates, else at its daily_rate; gray episodes and domain failures included)."""
    t, f = s.topology, s.failures
    cubes = math.prod(t.cube_grid) * t.pods
    chips = math.prod(t.cube_shape)
    populations = {"host": cubes * t.hosts_per_cube, "ici_link": cubes * 6 * chips, "ocs": t.pods * 3 * chips}
    peaks = peak_daily or {}
    per_day: dict[str, float] = {}
    for name, units in populations.items():
        cfg = getattr(f, name)
        if name in peaks:
            per_day[f"failures.{name}.schedule (peak {peaks[name]:.3g} per unit-day"
                    f"{', ' + cfg.schedule.csv if cfg.schedule and cfg.schedule.csv else ''})"] = units * peaks[name]
        else:
            per_day[f"failures.{name}.daily_rate"] = units * cfg.daily_rate
        if cfg.gray is not None:
            per_day[f"failures.{name}.gray.daily_rate"] = units * cfg.gray.daily_rate
    for i, d in enumerate(f.domains):
        per_day[f"failures.domains[{i}].daily_rate"] = populations[d.of] / d.units * d.daily_rate
    return per_day


def expected_work(s: Scenario, peak_daily: dict[str, float] | None = None) -> Work:
    """Expected failures and repairs and job runs of a whole run, from the scenario's own rates."""
    events = 2 * sum(failures_per_day(s, peak_daily).values()) * s.horizon_days * s.replications
    jobs = (s.workload.jobs_per_pod_day * s.topology.pods * s.horizon_days * s.replications * len(s.policies)
            if s.workload is not None else 0.0)
    return Work(events, jobs, len(s.policies))


def _shipped(name: str) -> str:
    return resources.files("tpusim").joinpath(name).read_text()


def shipped_mix() -> list[tuple[SliceShape, float]]:
    """The slice mix shipped with tpusim (``tpusim/data/slice_mix.csv``): (shape, percent) rows."""
    return parse_mix(_shipped(SHIPPED_MIX))


_RUN_LIMITS: ContextVar[bool] = ContextVar("run_limits", default=True)


@contextmanager
def closed_forms_only() -> Iterator[None]:
    """Inside, scenarios are validated and built without :data:`LIMITS`: those bound what a
    *simulation* can hold and run, and a closed form of a 1,000-pod machine needs neither
    (``tpusim analytic``). A model built inside is not kept with its scenario, so running that
    scenario later builds it again, with the limits."""
    token = _RUN_LIMITS.set(False)
    try:
        yield
    finally:
        _RUN_LIMITS.reset(token)


def build_model(scenario: Scenario, source: str | None = None) -> Model:
    """The model of ``scenario`` (built once, then kept with it); raises
    :class:`~tpusim.core.errors.ScenarioError` with every cross-key problem found."""
    if scenario._built is not None:
        return scenario._built
    limits = _RUN_LIMITS.get()
    model = _Builder(scenario, limits).build(source)
    if limits:
        scenario._built = model
    return model


class _Builder:
    def __init__(self, scenario: Scenario, limits: bool = True):
        self.s = scenario
        self.limits = limits  # LIMITS apply (a simulation), or not (closed forms only)
        self.problems: list[Problem] = []
        self._peak_daily: dict[str, float] = {}  # a scheduled class's highest daily rate

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def build(self, source: str | None) -> Model:
        s = self.s
        if self.limits:
            self._size()
        if self.problems:  # a machine or run too large to build: say so before allocating it
            raise ScenarioError(self.problems, source)
        machine = self._machine()
        shapes = self._shapes(machine)
        if len(set(s.policies)) != len(s.policies):
            self.problem("policies", f"lists a policy twice: {s.policies}")
        self._ocs_ports()
        failures = self._failures(machine)
        if self.limits:
            self._events()
        maintenance = self._maintenance(machine)
        if maintenance:
            failures = dataclasses.replace(failures, planned_outages=True)
        workload = self._workload(machine) if s.workload is not None else None
        if machine is not None and s.pod_manager.spare_cubes >= machine.cubes_per_pod:
            self.problem("pod_manager.spare_cubes", f"must be fewer than the {machine.cubes_per_pod} cubes of a pod, "
                                                    f"got {s.pod_manager.spare_cubes}")
        if s.cost is not None and s.workload is None:
            self.problem("cost", "prices need work to price: give a workload (or remove cost)")
        if self.problems or machine is None:
            raise ScenarioError(self.problems, source)
        ft = s.pod_manager.ft_routing
        routing = RoutingParams(ft.max_faults, (("allreduce", ft.comm_fraction.allreduce),
                                                ("alltoall", ft.comm_fraction.alltoall)))
        sched = s.scheduler
        return Model(
            name=s.name,
            seed=s.seed,
            replications=s.replications,
            horizon=s.horizon_days * 24.0,
            machine=machine,
            shapes=tuple(shapes),
            policies=tuple(registry.get(name)(machine, routing) for name in s.policies),
            failures=failures,
            workload=workload,
            scheduler=SchedulerParams(
                preemption=sched.preemption,
                preemption_notice=sched.preemption_notice,
                defrag_wait=sched.defrag_wait_hours,
                defrag_retry=sched.defrag_retry_minutes / 60.0,
            ),
            pod_manager=PodManagerParams(s.pod_manager.reconfigure_minutes / 60.0, s.pod_manager.swap_spares,
                                         s.pod_manager.spare_cubes, s.pod_manager.preemptible_spares,
                                         s.pod_manager.reconfigure_seconds_per_circuit / 3600.0),
            cost=CostParams(s.cost.chip_hour, s.cost.reserved_price, s.cost.preemptible_price) if s.cost else None,
            timeseries_width=s.timeseries_days * 24.0 if s.timeseries_days else None,
            capacity_confidence=s.capacity_confidence,
            maintenance=maintenance,
        )

    # -- size ----------------------------------------------------------------------------------
    def _size(self) -> None:
        """Refuse, before anything is allocated, a run larger than a simulation can be: too many
        failing parts to hold, failure events or jobs to simulate in any reasonable time.
        The estimates are expectations from the scenario's own rates; each message says how
        much and the limit (DESIGN: bad input is refused up front, with its key path)."""
        s, t = self.s, self.s.topology
        cubes = math.prod(t.cube_grid) * t.pods
        chips = math.prod(t.cube_shape)
        parts_per_cube = t.hosts_per_cube + 3 * chips + 3 * chips  # hosts, <= 3 links per chip, ports
        parts = cubes * parts_per_cube
        if parts > LIMITS["parts"]:
            self.problem("topology", f"{cubes:,} cubes have about {parts:,} failing parts; tpusim holds at "
                                     f"most {LIMITS['parts']:,} (about {LIMITS['parts'] * 40 / 1e9:.0f} GB): "
                                     f"simulate fewer pods or a smaller cube_grid")
            return
        work = expected_work(s)
        if s.timeseries_days is not None:
            buckets = s.horizon_days / s.timeseries_days
            values = buckets * len(s.slices) * len(s.policies) * s.replications
            if values > LIMITS["series"]:
                least = s.timeseries_days * values / LIMITS["series"]
                self.problem("timeseries_days", f"{s.timeseries_days:g} days makes {_count(buckets)} buckets per "
                             f"replication, {_count(values)} time-series values in all ({len(s.slices)} slices x "
                             f"{len(s.policies)} policies x {s.replications:,} replications); at most "
                             f"{LIMITS['series']:,} can be held: use buckets of at least {least:.3g} days")
        if s.workload is not None:
            jobs = work.job_runs
            if jobs > LIMITS["jobs"]:
                self.problem("workload.jobs_per_pod_day",
                             f"about {jobs:.3g} job runs ({s.replications:,} replications x {len(s.policies)} "
                             f"policies x {s.horizon_days:,g} days x {t.pods} pods); the limit is "
                             f"{LIMITS['jobs']:.0e} (several hours of run time): shorten the horizon or run "
                             f"fewer replications")
        if s.replications > LIMITS["replications"]:
            self.problem("replications", f"{s.replications:,} is more than {LIMITS['replications']:,}; "
                                         f"use --target-ci in a sweep to stop when the CIs are narrow enough")

    def _events(self) -> None:
        """Refuse a run that would simulate more failure and repair events than run time allows
        (expected counts from the scenario's rates; a scheduled class at its peak rate, at which
        the thinned process draws candidates; gray episodes and domain failures included). Run
        after the schedules are parsed: a schedule of huge rates would otherwise run for ever."""
        s = self.s
        per_day = failures_per_day(s, self._peak_daily)
        events = 2 * sum(per_day.values()) * s.horizon_days * s.replications
        if events > LIMITS["events"]:
            most = max(per_day, key=lambda k: per_day[k])
            self.problem("horizon_days", f"{s.replications:,} replications x {s.horizon_days:,g} days would "
                                         f"simulate {_count(events)} failures and repairs, most from {most}; "
                                         f"the limit is {LIMITS['events']:.0e} (hours of run time): shorten "
                                         f"the horizon, run fewer replications or lower the failure rates")

    # -- machine and slices ----------------------------------------------------------------
    def _machine(self) -> MachineLayout | None:
        t = self.s.topology
        chips_per_cube = math.prod(t.cube_shape)
        cube_text = "x".join(map(str, t.cube_shape))
        ok = True
        if t.hosts_per_cube * t.chips_per_host != chips_per_cube:
            self.problem("topology.hosts_per_cube",
                         f"{t.hosts_per_cube} hosts x {t.chips_per_host} chips per host must equal the "
                         f"{chips_per_cube} chips of a {cube_text} cube")
            ok = False
        elif host_tray(t.cube_shape, t.chips_per_host) is None:
            self.problem("topology.chips_per_host",
                         f"no tray of {t.chips_per_host} chips tiles a {cube_text} cube (a host is an "
                         f"aligned box of chips whose extents divide the cube's)")
            ok = False
        derived_ocs = sum(chips_per_cube // e for e in t.cube_shape)
        if t.ocs_per_pod is not None and t.ocs_per_pod != derived_ocs:
            self.problem("topology.ocs_per_pod",
                         f"must be {derived_ocs} for {cube_text} cubes (one OCS per dimension and face "
                         f"position), got {t.ocs_per_pod}")
        return MachineLayout(CubeLayout(t.cube_shape, t.chips_per_host), t.cube_grid, t.pods,
                             t.static_wrap, t.static_cable_ends, t.sub_pod_slices) if ok else None

    def _shapes(self, machine: MachineLayout | None) -> list[SliceShape]:
        t = self.s.topology
        cubes_per_pod = math.prod(t.cube_grid)
        shapes: list[SliceShape] = []
        seen: set[tuple[int, int, int]] = set()
        for i, text in enumerate(self.s.slices):
            try:
                shape = SliceShape.parse(text)
                cubes = shape.cubes(t.cube_shape)
            except ValueError as exc:
                self.problem(f"slices[{i}]", str(exc))
                continue
            if cubes > cubes_per_pod:
                self.problem(f"slices[{i}]", f"{shape.label} needs {cubes} cubes but a pod has {cubes_per_pod} "
                             f"(a slice never spans pods)")
            if shape.dims in seen:
                self.problem(f"slices[{i}]", f"{shape.label} is listed twice")
            seen.add(shape.dims)
            shapes.append(shape)
        return shapes

    # -- failures --------------------------------------------------------------------------
    def _failures(self, machine: MachineLayout | None) -> FailureParams:
        f = self.s.failures
        classes = tuple(self._class(name, getattr(f, name), f.detection_minutes) for name in COMPONENT_CLASSES)
        traces = None
        text = self._csv("failures.trace", f.trace) if machine is not None else None
        if text is not None and machine is not None:
            try:
                traces = parse_trace(text, machine)
            except ValueError as exc:
                self.problem("failures.trace", f"{f.trace}: {exc}")
            if traces is not None and None not in traces:
                lacking = [r for r in range(self.s.replications) if r not in traces]
                if lacking:
                    self.problem("failures.trace", f"{f.trace}: has no replication {lacking[0]} "
                                 f"(it has {sorted(r for r in traces if r is not None)}; replications: "
                                 f"{self.s.replications})")
        install: tuple[float, ...] = ()
        plan = self.s.topology.install
        if plan is not None and machine is not None:
            if plan.at_start > machine.cubes:
                self.problem("topology.install.at_start", f"{plan.at_start} cubes, but the machine has {machine.cubes}")
            install = tuple(0.0 if n < plan.at_start else 24.0 * (n - plan.at_start + 1) / plan.cubes_per_day
                            for n in range(machine.cubes))
        return FailureParams(classes, f.detection_dist, f.initial_state, traces, f.ocs_control_plane_share,
                             self._domains(machine), install, planted_gray=self._planted(machine))

    def _planted(self, machine: MachineLayout | None) -> tuple[PlantedGray, ...]:
        f, out = self.s.failures, []
        gray = f.planted_gray or [getattr(f, c).gray for c in COMPONENT_CLASSES if getattr(f, c).gray is not None]
        if gray and f.trace is not None:
            where = "failures.planted_gray" if f.planted_gray else "failures"
            self.problem(where, "gray faults are drawn by tpusim; they cannot be added to a replayed trace "
                                "(failures.trace)")
        for i, p in enumerate(f.planted_gray):
            where = f"failures.planted_gray[{i}]"
            if machine is not None and p.unit >= machine.population(p.of):
                self.problem(f"{where}.unit", f"the machine has {machine.population(p.of)} {p.of} units "
                                              f"(0..{machine.population(p.of) - 1}), got {p.unit}")
            if p.start_day >= self.s.horizon_days:
                self.problem(f"{where}.start_day", f"starts after the horizon ({self.s.horizon_days} days)")
            out.append(PlantedGray(p.of, p.unit, 24.0 * p.start_day, 24.0 * p.days, p.job_failures_per_hour))
        return tuple(out)

    def _maintenance(self, machine: MachineLayout | None) -> tuple[Campaign, ...]:
        out = []
        seen: set[str] = set()
        horizon = self.s.horizon_days * 24.0
        for i, c in enumerate(self.s.maintenance):
            where = f"maintenance[{i}]"
            if c.name in seen:
                self.problem(f"{where}.name", f"{c.name!r} names two campaigns")
            seen.add(c.name)
            release = Release(c.release.bad_probability, c.release.failure_multiplier) if c.release else None
            watchdog = (Watchdog(c.watchdog.window_hours, c.watchdog.alpha, c.watchdog.rollback)
                        if c.watchdog else None)
            campaign = Campaign(c.name, c.upgrades, c.start_day * 24.0, c.wave_size, c.wave_hours, c.bake_hours,
                                c.every_days * 24.0 if c.every_days else None, c.static_scope, release, watchdog)
            if c.start_day * 24.0 >= horizon:
                self.problem(f"{where}.start_day", f"{c.start_day} is not before the horizon ({self.s.horizon_days} days)")
            if watchdog is not None and release is None:
                self.problem(f"{where}.watchdog", "a watchdog watches a release: give release too")
            if release is not None and self.s.failures.trace is not None:
                self.problem(f"{where}.release", "a bad release adds failures, which a replayed failures.trace cannot")
            if campaign.target == "ocs" and c.static_scope not in (None, "none"):
                self.problem(f"{where}.static_scope", f"{c.upgrades} touches OCSes, which the static machine "
                             f"does not have (leave it unset or none)")
            if machine is not None:
                per = campaign.units_per_pod(machine)
                if c.wave_size > per:
                    self.problem(f"{where}.wave_size", f"{c.wave_size}, but a pod has {per} "
                                 f"{'cubes' if campaign.target == 'cube' else 'OCSes'}")
                elif campaign.every is not None and campaign.every < campaign.duration(machine):
                    self.problem(f"{where}.every_days", f"{c.every_days} days, but one campaign takes "
                                 f"{campaign.duration(machine) / 24.0:g} days ({campaign.waves_per_occurrence(machine)} "
                                 f"waves); occurrences may not overlap")
            out.append(campaign)
        return tuple(out)

    def _domains(self, machine: MachineLayout | None) -> tuple[DomainFailures, ...]:
        out = []
        seen: set[str] = set()
        multi_cube = 0
        for i, d in enumerate(self.s.failures.domains):
            where = f"failures.domains[{i}]"
            if d.name in seen:
                self.problem(f"{where}.name", f"{d.name!r} names two domains")
            seen.add(d.name)
            if (d.repair is None) == (d.repair_mix is None):
                self.problem(where, "give exactly one of repair and repair_mix")
                continue
            repair: RepairDistribution | MixtureRepair
            if d.repair is not None:
                if d.repair.sigma is not None and d.repair.dist != "lognormal":
                    self.problem(f"{where}.repair.sigma", f"only applies to dist: lognormal, not {d.repair.dist}")
                repair = RepairDistribution(d.repair.dist, d.repair.mean_hours, d.repair.shape)
            else:
                parts = []
                for j, part in enumerate(d.repair_mix or []):
                    if part.sigma is not None and part.dist != "lognormal":
                        self.problem(f"{where}.repair_mix[{j}].sigma", f"only applies to dist: lognormal, not {part.dist}")
                    parts.append((part.share, RepairDistribution(part.dist, part.mean_hours,
                                                                 part.sigma if part.sigma is not None else 1.0)))
                repair = MixtureRepair(tuple(parts))
            if machine is not None:
                population = machine.population(d.of)
                if d.units > population:
                    self.problem(f"{where}.units", f"{d.units} {d.of}s, but the machine has {population}")
                if d.of == "host":
                    per_cube = machine.cube.hosts
                    if per_cube % d.units and d.units % per_cube:
                        self.problem(f"{where}.units", f"must divide the {per_cube} hosts of a cube or be a "
                                                       f"multiple of them (a domain covers whole hosts trays or "
                                                       f"whole cubes), got {d.units}")
                    elif d.units > per_cube:
                        multi_cube += 1
                        if machine.cubes_per_pod % (d.units // per_cube):
                            self.problem(f"{where}.units", f"{d.units // per_cube} cubes per domain do not divide "
                                                           f"the {machine.cubes_per_pod} cubes of a pod")
                if d.of == "ocs" and machine.ocs_per_pod % d.units:
                    self.problem(f"{where}.units", f"must divide the {machine.ocs_per_pod} OCSes of a pod, got {d.units}")
            out.append(DomainFailures(d.name, d.of, d.units, d.daily_rate / 24.0, repair))
        if multi_cube > 1:
            self.problem("failures.domains", "at most one host domain may span several cubes (the closed "
                                             "forms handle one level of grouping)")
        return tuple(out)

    def _class(self, name: str, cfg: ComponentFailures, default_detection: float) -> ClassFailures:
        r = cfg.repair
        if r.sigma is not None and r.dist != "lognormal":
            self.problem(f"failures.{name}.repair.sigma", f"only applies to dist: lognormal, not {r.dist}")
        schedule = None
        if cfg.schedule is not None:
            sched = cfg.schedule
            factor = sched.scale / (100.0 if sched.unit == "percent" else 1.0)
            text: str | None
            if sched.csv is None:
                text, where = _shipped(SHIPPED_RATES), "the shipped TPU v4 weekly rates"
            else:
                text, where = self._csv(f"failures.{name}.schedule.csv", sched.csv), sched.csv
            if text is not None:
                try:
                    daily = parse_schedule(text, sched.column, factor, where)
                    schedule = Schedule(tuple(r / 24.0 for r in daily), sched.period_hours)
                    self._peak_daily[name] = max(daily)
                except ValueError as exc:
                    self.problem(f"failures.{name}.schedule", str(exc))
        detection = cfg.detection_minutes if cfg.detection_minutes is not None else default_detection
        g = cfg.gray
        gray = None if g is None else GrayParams(g.daily_rate / 24.0, g.job_failures_per_hour, g.mean_hours,
                                                  g.detection_probability, g.detection_hours)
        return ClassFailures(
            rate=cfg.daily_rate / 24.0,
            repair=RepairDistribution(r.dist, float(r.mean_hours), float(r.shape)),
            detection_hours=detection / 60.0,
            schedule=schedule,
            gray=gray,
        )

    def _csv(self, key: str, path: str | None) -> str | None:
        """The text of the CSV file at ``path`` named by ``key`` (None: not given, or a problem
        noted): a regular UTF-8 file (a byte-order mark dropped) of at most MAX_CSV_BYTES; a
        device such as /dev/zero, a FIFO or a directory is refused before it is read."""
        if path is None:
            return None
        try:
            return read_text(Path(path), kind="CSV", limit=MAX_CSV_BYTES, key=key)
        except ScenarioError as exc:
            self.problems.extend(exc.problems)
            return None

    # -- workload --------------------------------------------------------------------------
    def _workload(self, machine: MachineLayout | None) -> WorkloadParams | None:
        w = self.s.workload
        assert w is not None
        p = w.priorities
        if sum((p.production, p.batch, p.best_effort)) <= 0:
            self.problem("workload.priorities", "at least one band needs a share > 0")
        if w.duration.sigma is not None and w.duration.dist != "lognormal":
            self.problem("workload.duration.sigma", f"only applies to dist: lognormal, not {w.duration.dist}")
        mix = self._rows("mix", w.mix, machine, parse_mix, lambda row: row[0])
        trace = self._rows("trace", w.trace, machine, parse_job_trace, lambda job: job.shape)
        if w.mix is None:
            mix = shipped_mix()
        if machine is None or mix is None:
            return None
        return WorkloadParams(
            arrivals_per_hour=w.jobs_per_pod_day * machine.pods / 24.0,
            daily_rate_cv=w.daily_rate_cv,
            mix=tuple(mix),
            duration_dist=w.duration.dist,
            duration_mean=w.duration.mean_hours,
            duration_sigma=w.duration.shape,
            band_shares=(p.production, p.batch, p.best_effort),
            pattern_shares=(w.traffic.allreduce, w.traffic.alltoall),
            checkpointing=self._checkpointing(w.checkpoint),
            restart=w.restart_minutes / 60.0,
            trace=tuple(trace) if trace is not None else None,
            heroes=self._heroes(machine),
        )

    def _heroes(self, machine: MachineLayout) -> tuple[HeroSpec, ...]:
        """``workload.hero``: whole-cube slices that fit a pod, unique names, ``min_cubes`` at
        most the shape's cubes; work beyond the horizon unless given."""
        w = self.s.workload
        assert w is not None
        out = []
        seen: set[str] = set()
        for i, h in enumerate(w.hero):
            key = f"workload.hero[{i}]"
            if h.name in seen:
                self.problem(f"{key}.name", f"{h.name!r} is the name of an earlier hero job: names must differ")
            seen.add(h.name)
            try:
                shape = SliceShape.parse(h.shape)
            except ValueError as exc:
                self.problem(f"{key}.shape", str(exc))
                continue
            problem = shape_problem(machine, shape)
            if problem is None and shape.chips < machine.cube.chips:
                problem = f"a hero job takes whole cubes ({machine.cube.chips} chips each), not {shape.label}"
            if problem is not None:
                self.problem(f"{key}.shape", problem)
                continue
            cubes = shape.cubes(machine.cube.shape)
            if h.min_cubes is not None and h.min_cubes > cubes:
                self.problem(f"{key}.min_cubes", f"must be at most the {cubes} cubes of {shape.label}, got {h.min_cubes}")
                continue
            if h.slices > machine.pods:
                self.problem(f"{key}.slices", f"{h.slices} slices need as many pods (a slice never spans "
                             f"pods), but topology.pods is {machine.pods}")
                continue
            if h.slices > 1 and h.min_cubes is not None and h.min_cubes < cubes:
                self.problem(f"{key}.slices", "a multislice hero job is rigid: elastic multislice (slices > 1 "
                             "with min_cubes) is not modelled; drop min_cubes or set slices: 1")
                continue
            if h.slices > 1 and h.priority != "production":
                self.problem(f"{key}.slices", f"a multislice hero job is production (nothing may preempt or "
                             f"move one slice of it), not {h.priority}")
                continue
            horizon = self.s.horizon_days * 24.0
            work = h.work_days * 24.0 if h.work_days is not None else 2.0 * horizon + 1.0
            out.append(HeroSpec(h.name, shape, h.min_cubes or 0, h.arrival_hours, work, BANDS.index(h.priority),
                                h.program_goodput, h.slices))
        return tuple(out)

    def _ocs_ports(self) -> None:
        """Every listed policy's switches have the ports its pods need."""
        t = self.s.topology
        cubes = math.prod(t.cube_grid)
        needs = {name: registry.get(name).ocs_ports_needed(cubes) for name in self.s.policies
                 if name in registry.names()}
        short = [name for name, needed in needs.items() if needed > t.ocs_ports]
        if short:
            self.problem("topology.ocs_ports",
                         f"a pod of {cubes} cubes needs {max(needs[n] for n in short)} ports on each OCS (the +d "
                         f"and -d port of every cube) but a switch has {t.ocs_ports}; {', '.join(short)} "
                         f"cannot be wired (give larger switches with topology.ocs_ports, or a smaller pod)")

    def _checkpointing(self, c) -> Checkpointing:
        """The checkpoint section in hours; an interval shorter than the write, or a snapshot
        longer than it, is refused (the write would not be durable before the next one)."""
        key = "workload.checkpoint"
        first = c.write_minutes if c.store == "storage" else c.memory_write_minutes  # the timeline's write
        if c.fixed_interval is not None and c.fixed_interval * MINUTES_PER_HOUR < first:
            self.problem(f"{key}.interval_hours", f"must be at least the write time ({first} min = "
                         f"{first / MINUTES_PER_HOUR:g} h), got {c.fixed_interval:g}")
        if c.store == "storage" and c.mode == "asynchronous" and c.snapshot_minutes > c.write_minutes:
            self.problem(f"{key}.snapshot_minutes", f"must be at most write_minutes ({c.write_minutes}), "
                         f"got {c.snapshot_minutes}")
        if c.fixed_interval is None and c.blocking_minutes == 0:
            self.problem(f"{key}.interval_hours", f"'{c.interval_hours}' trades the blocking cost of a write "
                         "against failures, and this one costs nothing: give a fixed interval")
        restore = c.storage_restore_minutes / MINUTES_PER_HOUR
        rule: Literal["fixed", "young", "daly"] = ("fixed" if c.fixed_interval is not None
                                                   else "daly" if c.interval_hours == "daly" else "young")
        if c.store == "memory":
            return self._memory_checkpointing(c, rule, restore)
        write = c.write_minutes / MINUTES_PER_HOUR
        block = min(c.blocking_minutes / MINUTES_PER_HOUR, write)
        interval = c.fixed_interval if c.fixed_interval is None or c.fixed_interval >= write else write
        return Checkpointing(rule, interval, write, block, restore)

    def _memory_checkpointing(self, c, rule: Literal["fixed", "young", "daly"], restore: float) -> Checkpointing:
        """The in-memory store: the timeline's writes are the in-memory copies; storage gets every
        ``storage_every``-th, which must be written before the next one starts."""
        key = "workload.checkpoint"
        if c.memory_write_minutes > c.write_minutes:
            self.problem(f"{key}.memory_write_minutes", f"must be at most write_minutes ({c.write_minutes}): "
                         f"a checkpoint reaches storage from RAM, got {c.memory_write_minutes}")
        if c.fixed_interval is not None and c.fixed_interval * c.storage_every * MINUTES_PER_HOUR < c.write_minutes:
            self.problem(f"{key}.storage_every", f"{c.storage_every} intervals of {c.fixed_interval:g} h are shorter "
                         f"than the storage write ({c.write_minutes} min): raise one of them")
        write = c.memory_write_minutes / MINUTES_PER_HOUR
        memory = MemoryStore(c.memory_restore_minutes / MINUTES_PER_HOUR, c.storage_every,
                             max(write, c.write_minutes / MINUTES_PER_HOUR))
        interval = c.fixed_interval
        if interval is not None:
            interval = max(interval, write, memory.storage_write / memory.every)  # (refused above when shorter)
        return Checkpointing(rule, interval, write, write, restore, memory)

    def _rows(self, key: str, path: str | None, machine: MachineLayout | None, parse, shape_of):
        """Parse the workload CSV at ``path`` (None: not given) and check the shape of every row."""
        text = self._csv(f"workload.{key}", path)
        if text is None:
            return None
        try:
            rows = parse(text)
            shapes = [shape_of(row) for row in rows]
        except ValueError as exc:
            self.problem(f"workload.{key}", f"{path}: {exc}")
            return None
        if machine is not None:
            for shape in dict.fromkeys(shapes):
                why = shape_problem(machine, shape)
                if why:
                    self.problem(f"workload.{key}", f"{path}: {why}")
        return rows


CROSS_KEY_CHECKS.append(build_model)  # every validated scenario is built (and so checked) once
