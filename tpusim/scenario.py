"""Scenarios: what to simulate, as typed, validated objects.

A scenario is a YAML mapping whose dotted keys are part of tpusim's public interface (DESIGN §5).
:func:`load_scenario` reads a file, applies ``--set``-style overrides (dotted key = YAML value),
and validates everything at once: the returned :class:`Scenario` is known to be runnable, and a
bad one raises :class:`~tpusim.errors.ScenarioError` listing *every* problem with its key path.

Units at this edge: rates per day, repair times in hours, detection in minutes, horizon in days.
Inside the simulator everything is hours.
"""

from __future__ import annotations

import math
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from tpusim.errors import Problem, ScenarioError
from tpusim.topology.cube import CubeLayout
from tpusim.topology.machine import MachineLayout
from tpusim.topology.placement import fits_static_grid
from tpusim.topology.shapes import SliceShape

POLICIES = ("static", "reconfigurable", "reconfigurable_ft")
#: What this version does with each policy that it cannot yet simulate faithfully. Every run
#: that lists one prints the note and records it in summary.json: never silently.
POLICY_NOTES: dict[str, str] = {}


def _dims(value: Any) -> Any:
    """Accept ``[4, 4, 4]`` or ``"4x4x4"`` for a 3-tuple of extents."""
    if isinstance(value, str):
        parts = value.lower().split("x")
        if len(parts) == 3 and all(p.strip().isdigit() for p in parts):
            return [int(p) for p in parts]
    return value


Extents = Annotated[
    tuple[Annotated[int, Field(gt=0, strict=True)], Annotated[int, Field(gt=0, strict=True)], Annotated[int, Field(gt=0, strict=True)]],
    BeforeValidator(_dims),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Repair(_Strict):
    """Repair-time distribution of one component class (hours)."""

    dist: Literal["exponential", "lognormal", "fixed"] = "exponential"
    mean_hours: float = Field(gt=0)
    #: lognormal only: standard deviation of log(repair time); unset means 1.0, a long tail
    #: (coefficient of variation 1.31).
    sigma: float | None = Field(default=None, gt=0)

    @property
    def shape(self) -> float:
        return self.sigma if self.sigma is not None else 1.0


class RateSchedule(_Strict):
    """A daily failure rate that changes over time: one value per period, repeating."""

    #: CSV with a column of rates; unset means the TPU v4 weekly rates shipped with tpusim
    #: (columns machine_pct_per_day, ici_pct_per_day, ocs_pct_per_day).
    csv: str | None = None
    column: str
    unit: Literal["percent", "fraction"] = "percent"
    period_hours: float = Field(default=168.0, gt=0)
    #: multiplies every value (2.0: a fleet failing twice as often).
    scale: float = Field(default=1.0, ge=0)


class ComponentFailures(_Strict):
    """Failure and repair of one component class."""

    #: fraction of the population failing per day; per-unit hazard while up. 0 turns the class off.
    #: With a ``schedule`` the schedule sets the rate instead.
    daily_rate: float = Field(ge=0)
    repair: Repair
    schedule: RateSchedule | None = None
    #: healthd/libtpunet detection delay for this class; unset: failures.detection_minutes.
    detection_minutes: float | None = Field(default=None, ge=0)


class Failures(_Strict):
    host: ComponentFailures = ComponentFailures(
        daily_rate=0.0008, repair=Repair(dist="lognormal", mean_hours=6.0)
    )
    ici_link: ComponentFailures = ComponentFailures(
        daily_rate=0.00005, repair=Repair(dist="lognormal", mean_hours=24.0)
    )
    ocs: ComponentFailures = ComponentFailures(
        daily_rate=0.0004, repair=Repair(dist="lognormal", mean_hours=12.0)
    )
    #: healthd/libtpunet detection delay. Capacity availability is a property of the true
    #: health state and does not use it; the scheduler reacts only after it (jobs, DESIGN §3).
    detection_minutes: float = Field(default=5.0, ge=0)
    #: ``fixed``: every detection takes its class's delay; ``exponential``: drawn with that mean
    #: (stream ``detection``; the same draws under every policy).
    detection_dist: Literal["fixed", "exponential"] = "fixed"
    #: CSV failure trace to replay instead of drawing failures (see tpusim.failures.trace); the
    #: rates and repair times above are then used only by the closed forms.
    trace: str | None = None
    #: ``steady``: each unit starts down with its long-run probability MTTR/(MTBF+MTTR), with an
    #: equilibrium residual repair time, so time averages carry no start-up bias.
    #: ``all_up``: everything starts healthy (a fresh machine).
    initial_state: Literal["steady", "all_up"] = "steady"


class Duration(_Strict):
    """Useful work per job (hours of step time on a healthy slice)."""

    dist: Literal["lognormal", "exponential", "fixed"] = "lognormal"
    #: 1.2 h: with 139 jobs per pod-day and the default mix (mean 409 chips per job) the offered
    #: load is 70 % of the pod's chip-hours - a busy pod that is not saturated.
    mean_hours: float = Field(default=1.2, gt=0)
    #: lognormal only: sigma of log(duration); unset means 1.5 (median 0.39 h, a long tail).
    sigma: float | None = Field(default=None, gt=0)

    @property
    def shape(self) -> float:
        return self.sigma if self.sigma is not None else 1.5


class Priorities(_Strict):
    """Share of jobs in each priority band (normalised)."""

    production: float = Field(default=0.2, ge=0)
    batch: float = Field(default=0.5, ge=0)
    best_effort: float = Field(default=0.3, ge=0)


class Checkpoint(_Strict):
    #: hours of useful work between checkpoints, or ``young`` for sqrt(2 * write * MTBF).
    interval_hours: float | Literal["young"] = 1.0
    #: time to write a checkpoint; used by ``young`` (writes are asynchronous, no step time).
    write_minutes: float = Field(default=2.0, ge=0)

    @property
    def fixed_interval(self) -> float | None:
        return None if self.interval_hours == "young" else float(self.interval_hours)


class Traffic(_Strict):
    """Share of jobs per traffic pattern (normalised)."""

    allreduce: float = Field(default=0.8, ge=0)
    alltoall: float = Field(default=0.2, ge=0)


class Workload(_Strict):
    jobs_per_pod_day: float = Field(default=139.0, ge=0)
    #: CSV of ``shape,percent`` rows; unset means the TPU v4 mix shipped with tpusim.
    mix: str | None = None
    #: CSV of ``arrival_hours,shape,duration_hours,priority`` rows replacing the generated jobs.
    trace: str | None = None
    duration: Duration = Duration()
    priorities: Priorities = Priorities()
    #: all-reduce / nearest-neighbour vs all-to-all: what fault-tolerant routing costs a job.
    traffic: Traffic = Traffic()
    checkpoint: Checkpoint = Checkpoint()
    #: time from (re)start to the first useful step: load the checkpoint, compile, warm up.
    restart_minutes: float = Field(default=3.0, ge=0)


class SchedulerConfig(_Strict):
    #: a higher band may preempt lower bands (never production by production).
    preemption: bool = True
    #: preempted jobs get a notice and checkpoint before stopping (false: killed, losing the
    #: work since their last checkpoint).
    preemption_notice: bool = True
    #: a job waiting longer than this may have smaller jobs migrated or preempted to make room
    #: (defragmentation); null turns it off.
    defrag_wait_hours: float | None = Field(default=6.0, gt=0)
    #: a defragmentation attempt that found nothing to move is retried after this long.
    defrag_retry_minutes: float = Field(default=15.0, gt=0)


class CommFraction(_Strict):
    """Share of a step spent communicating, per traffic pattern (calibrates FT slowdowns)."""

    allreduce: float = Field(default=0.05, ge=0, le=1)
    alltoall: float = Field(default=0.5, ge=0, le=1)


class FtRouting(_Strict):
    """libtpunet's fault-tolerant routing, used by ``reconfigurable_ft``."""

    #: a slice keeps running through at most this many faulty links and OCSes (if connected).
    max_faults: int = Field(default=4, ge=0, strict=True)
    comm_fraction: CommFraction = CommFraction()


class PodManagerConfig(_Strict):
    #: time to program an allocation's cross-connects and run the pre-flight check.
    reconfigure_minutes: float = Field(default=1.0, ge=0)
    #: reconfigurable: swap a failed cube for a healthy free spare (false: requeue instead).
    swap_spares: bool = True
    ft_routing: FtRouting = FtRouting()


class Topology(_Strict):
    pods: int = Field(default=1, gt=0, strict=True)
    cube_grid: Extents = (4, 4, 4)
    cube_shape: Extents = (4, 4, 4)
    hosts_per_cube: int = Field(default=16, gt=0, strict=True)
    chips_per_host: int = Field(default=4, gt=0, strict=True)
    #: derived from cube_shape (one OCS per dimension and face position); if given, must match.
    ocs_per_pod: int | None = Field(default=None, gt=0, strict=True)


class Scenario(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    seed: int = Field(default=0, ge=0, strict=True)
    replications: int = Field(default=10, gt=0, strict=True)
    horizon_days: float = Field(default=365.0, gt=0)
    policies: list[Literal["static", "reconfigurable", "reconfigurable_ft"]] = Field(
        default_factory=lambda: ["static", "reconfigurable"], min_length=1
    )
    slices: list[str] = Field(min_length=1)
    topology: Topology = Topology()
    failures: Failures = Failures()
    #: width of the buckets of the availability time series (days); unset: no time series.
    timeseries_days: float | None = Field(default=None, gt=0)
    #: jobs on the machine; without it only capacity availability is measured.
    workload: Workload | None = None
    scheduler: SchedulerConfig = SchedulerConfig()
    pod_manager: PodManagerConfig = PodManagerConfig()

    # -- derived views used by the model -----------------------------------------------------
    @cached_property
    def machine(self) -> MachineLayout:
        t = self.topology
        return MachineLayout(CubeLayout(t.cube_shape, t.chips_per_host), t.cube_grid, t.pods)

    @property
    def shapes(self) -> list[SliceShape]:
        return [SliceShape.parse(s) for s in self.slices]

    @property
    def notes(self) -> list[str]:
        """Caveats about this scenario's policies that every output must carry."""
        return [POLICY_NOTES[p] for p in self.policies if p in POLICY_NOTES]

    @property
    def horizon_hours(self) -> float:
        return self.horizon_days * 24.0

    def resolved(self) -> dict[str, Any]:
        """The scenario with every default filled in (what summary.json records)."""
        data = self.model_dump(mode="json")
        data["topology"]["ocs_per_pod"] = self.machine.ocs_per_pod
        for cls in ("host", "ici_link", "ocs"):
            repair = data["failures"][cls]["repair"]
            if repair["dist"] == "lognormal":
                repair["sigma"] = getattr(self.failures, cls).repair.shape
            else:
                del repair["sigma"]
        return data


def defaults() -> dict[str, Any]:
    """The default value of every key that has one (what a scenario leaves out)."""
    return {"topology": Topology().model_dump(), "failures": Failures().model_dump()}


def _merged(base: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` laid over ``base``, recursively for mappings present in both."""
    out = dict(base)
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


# -- loading ---------------------------------------------------------------------------------

def _path_of(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith(("function-", "tuple[", "literal[")):
            out += ("." if out else "") + str(part)
    return out


def _describe(error: dict[str, Any]) -> str:
    kind, ctx, got = error["type"], error.get("ctx", {}), error.get("input")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        op, bound = {"greater_than": (">", "gt"), "greater_than_equal": (">=", "ge"),
                     "less_than": ("<", "lt"), "less_than_equal": ("<=", "le")}[kind]
        limit = ctx[bound]
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)
        return f"must be {op} {limit}, got {got!r}"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}, got {got!r}"
    if kind in ("float_parsing", "float_type"):
        return f"must be a number, got {got!r}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"must be a whole number, got {got!r}"
    if kind in ("string_type",):
        return f"must be a string, got {got!r}"
    if kind in ("list_type", "tuple_type"):
        return f"must be a list, got {got!r}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a mapping of keys, got {got!r}"
    if kind == "too_short":
        return f"must not be empty, got {got!r}"
    if kind == "too_long":
        return f"has too many items, got {got!r}"
    return f"{error['msg']}, got {got!r}"


def _semantic_problems(s: Scenario) -> list[Problem]:
    """Checks that span several keys (pydantic has already checked each key on its own)."""
    problems: list[Problem] = []
    t = s.topology
    chips_per_cube = math.prod(t.cube_shape)
    if t.hosts_per_cube * t.chips_per_host != chips_per_cube:
        problems.append(Problem(
            "topology.hosts_per_cube",
            f"{t.hosts_per_cube} hosts x {t.chips_per_host} chips per host must equal the "
            f"{chips_per_cube} chips of a {'x'.join(map(str, t.cube_shape))} cube",
        ))
    derived_ocs = sum(chips_per_cube // e for e in t.cube_shape)
    if t.ocs_per_pod is not None and t.ocs_per_pod != derived_ocs:
        problems.append(Problem(
            "topology.ocs_per_pod",
            f"must be {derived_ocs} for {'x'.join(map(str, t.cube_shape))} cubes "
            f"(one OCS per dimension and face position), got {t.ocs_per_pod}",
        ))
    if len(set(s.policies)) != len(s.policies):
        problems.append(Problem("policies", f"lists a policy twice: {s.policies}"))
    cubes_per_pod = math.prod(t.cube_grid)
    seen: set[tuple[int, int, int]] = set()
    for i, text in enumerate(s.slices):
        try:
            shape = SliceShape.parse(text)
            cubes = shape.cubes(t.cube_shape)
        except ValueError as exc:
            problems.append(Problem(f"slices[{i}]", str(exc)))
            continue
        if cubes > cubes_per_pod:
            problems.append(Problem(
                f"slices[{i}]",
                f"{shape.label} needs {cubes} cubes but a pod has {cubes_per_pod} "
                f"(a slice never spans pods)",
            ))
        if shape.dims in seen:
            problems.append(Problem(f"slices[{i}]", f"{shape.label} is listed twice"))
        seen.add(shape.dims)
    if s.workload is not None:
        problems += _workload_problems(s)
    for cls in ("host", "ici_link", "ocs"):
        sched = getattr(s.failures, cls).schedule
        if sched is not None:
            from tpusim.failures.schedule import read_schedule

            try:
                read_schedule(sched)
            except FileNotFoundError:
                problems.append(Problem(f"failures.{cls}.schedule.csv", f"no such file: {sched.csv}"))
            except (ValueError, KeyError) as exc:
                problems.append(Problem(f"failures.{cls}.schedule", str(exc)))
    if s.failures.trace is not None:
        from tpusim.failures.trace import read_trace_csv

        try:
            read_trace_csv(s.failures.trace, s.machine)
        except FileNotFoundError:
            problems.append(Problem("failures.trace", f"no such file: {s.failures.trace}"))
        except (ValueError, KeyError) as exc:
            problems.append(Problem("failures.trace", f"{s.failures.trace}: {exc}"))
    for cls in ("host", "ici_link", "ocs"):
        r = getattr(s.failures, cls).repair
        if r.sigma is not None and r.dist != "lognormal":
            problems.append(Problem(f"failures.{cls}.repair.sigma", f"only applies to dist: lognormal, not {r.dist}"))
    return problems


def job_shape_problem(s: "Scenario", shape: SliceShape) -> str | None:
    """Why a job of ``shape`` can never run on this machine, or None if it can."""
    from tpusim.scheduler.blocks import block_level

    cube_shape = s.topology.cube_shape
    if shape.chips < math.prod(cube_shape):
        if block_level(cube_shape, shape.dims) is None:
            return f"{shape.label} fits in no aligned block of a {'x'.join(map(str, cube_shape))} cube"
        return None
    try:
        cubes = shape.cubes(cube_shape)
    except ValueError as exc:
        return str(exc)
    if cubes > math.prod(s.topology.cube_grid):
        return f"{shape.label} needs {cubes} cubes but a pod has {math.prod(s.topology.cube_grid)}"
    return None


def _workload_problems(s: "Scenario") -> list[Problem]:
    from tpusim.workload import read_job_trace, read_mix

    w = s.workload
    problems: list[Problem] = []
    if sum((w.priorities.production, w.priorities.batch, w.priorities.best_effort)) <= 0:
        problems.append(Problem("workload.priorities", "at least one band needs a share > 0"))
    if w.duration.sigma is not None and w.duration.dist != "lognormal":
        problems.append(Problem("workload.duration.sigma", f"only applies to dist: lognormal, not {w.duration.dist}"))
    for key, reader in (("mix", read_mix), ("trace", read_job_trace)):
        path = getattr(w, key)
        if path is None:
            continue
        try:
            rows = reader(path)
        except FileNotFoundError:
            problems.append(Problem(f"workload.{key}", f"no such file: {path}"))
            continue
        except (KeyError, ValueError) as exc:
            problems.append(Problem(f"workload.{key}", f"{path}: unreadable row ({exc})"))
            continue
        shapes = [r[0] if isinstance(r, tuple) else r.shape for r in rows]
        for shape in dict.fromkeys(shapes):
            why = job_shape_problem(s, shape)
            if why:
                problems.append(Problem(f"workload.{key}", f"{path}: {why}"))
    return problems


def parse_override(text: str) -> tuple[str, Any]:
    """``"failures.host.daily_rate=0.01"`` -> (key, YAML-parsed value)."""
    if "=" not in text:
        raise ScenarioError([Problem("--set", f"expected KEY=VALUE, got {text!r}")])
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ScenarioError([Problem("--set", f"bad key in {text!r}")])
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ScenarioError([Problem(key, f"--set value is not valid YAML: {exc}")]) from None
    return key, value


def apply_overrides(data: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Set dotted keys in a raw scenario mapping (a copy), creating mappings on the way."""
    import copy

    data = copy.deepcopy(data)
    for text in overrides or []:
        key, value = parse_override(text)
        node = data
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ScenarioError([Problem(".".join(parts[: i + 1]), f"is not a mapping, cannot set {key}")])
            node = child
        node[parts[-1]] = value
    return data


def scenario_from_dict(data: Any, source: str | None = None) -> Scenario:
    """Validate a raw mapping into a :class:`Scenario`, or raise with every problem found."""
    if not isinstance(data, dict):
        raise ScenarioError([Problem("", f"a scenario must be a mapping of keys, got {type(data).__name__}")], source)
    data = _merged(defaults(), data)  # a key left out, at any depth, takes its default
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems = [Problem(_path_of(e["loc"]), _describe(e)) for e in exc.errors()]
        raise ScenarioError(problems, source) from None
    problems = _semantic_problems(scenario)
    if problems:
        raise ScenarioError(problems, source)
    return scenario


def load_scenario(path: str | Path, overrides: list[str] | None = None) -> Scenario:
    """Read, override and validate a scenario file."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ScenarioError([Problem("", "no such file")], source) from None
    except OSError as exc:
        raise ScenarioError([Problem("", f"cannot read: {exc.strerror}")], source) from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ScenarioError([Problem("", f"YAML syntax error at {where}{exc.problem}")], source) from None
    except yaml.YAMLError as exc:
        raise ScenarioError([Problem("", f"YAML error: {exc}")], source) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenarioError([Problem("", f"a scenario must be a mapping of keys, got {type(data).__name__}")], source)
    try:
        data = apply_overrides(data, overrides)
    except ScenarioError as exc:
        raise ScenarioError(exc.problems, source) from None
    files = [("workload", "mix"), ("workload", "trace"), ("failures", "trace")]
    files += [(f"failures.{c}.schedule", "csv") for c in ("host", "ici_link", "ocs")]
    for section, key in files:
        block = data
        for part in section.split("."):
            block = block.get(part) if isinstance(block, dict) else None
        if isinstance(block, dict) and isinstance(block.get(key), str) and not Path(block[key]).is_absolute():
            block[key] = str((path.parent / block[key]).resolve())  # beside the scenario file
    return scenario_from_dict(data, source)


def static_grid_fits(s: Scenario, shape: SliceShape) -> bool:
    """Can a static pod place ``shape`` at all (ignoring health)? False for shapes longer than the grid."""
    return fits_static_grid(s.topology.cube_grid, shape.cube_dims(s.topology.cube_shape))
