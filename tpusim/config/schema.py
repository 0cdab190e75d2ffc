"""The scenario schema: what a scenario YAML may say, as typed, validated pydantic models.

A scenario's dotted keys are part of tpusim's public interface (DESIGN §5). Every field carries
its description (``help(Scenario)``, IDEs and ``Scenario.model_json_schema()`` show them). Units
at this edge: rates per day, repair times in hours, detection and reconfiguration in minutes,
horizon in days; :mod:`tpusim.config.build` turns them into the hours-only model.

Each key is checked on its own here; checks that span keys (a slice that does not fit the pod,
a CSV that cannot be parsed) are the build step's, with the same key-path errors:
:func:`scenario_from_dict` runs both, and so does every copy of a scenario. Policy names
are checked against the policy registry (:mod:`tpusim.policies.registry`), so a registered
policy is a valid name at once.
"""

from __future__ import annotations

import unicodedata

from typing import Annotated, Any, Callable, Literal, Mapping, get_args, get_origin

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError,
                      ValidationInfo, field_validator)
from pydantic_core import PydanticCustomError

from tpusim.config.overrides import apply_overrides, override_strings, plain, value_at
from tpusim.config.problems import problems_of
from tpusim.core.errors import Problem, ScenarioError
from tpusim.policies import registry
from tpusim.topology.machine import COMPONENT_CLASSES


def _dims(value: Any) -> Any:
    """Accept ``[4, 4, 4]`` or ``"4x4x4"`` for a 3-tuple of extents (ASCII digits only: ``int``
    would read ``４`` or ``٤`` as 4, and a shape must print back as it was written); a list of
    another length says how many values it needs, not which position is missing."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.lower().split("x")]
        if len(parts) == 3 and all(p.isascii() and p.isdigit() for p in parts):
            return [int(p) for p in parts]
        raise PydanticCustomError("extents_length", "must be XxYxZ (ASCII digits, e.g. 4x4x4) or a list of 3 "
                                  "whole numbers, got {value}", {"value": repr(value)})
    if isinstance(value, (list, tuple)) and len(value) != 3:
        raise PydanticCustomError("extents_length", "needs 3 values (x, y, z), got {n}: {value}",
                                  {"n": len(value), "value": list(value)})
    return value


_Extent = Annotated[int, Field(gt=0, strict=True)]
Extents = Annotated[tuple[_Extent, _Extent, _Extent], BeforeValidator(_dims)]


def _registered(name: str) -> str:
    known = registry.names()
    if name not in known:
        listed = ", ".join(repr(n) for n in known[:-1]) + f" or {known[-1]!r}" if len(known) > 1 else repr(known[0])
        raise PydanticCustomError("unknown_policy", "must be one of {expected}", {"expected": listed})
    return name


PolicyName = Annotated[str, AfterValidator(_registered)]


def _one_line(text: str) -> str:
    """A name is one line of printable text: it heads tables, reports and plots (where a newline
    or a NUL byte would break them) and, made safe, names the output folder."""
    bad = next((c for c in text if unicodedata.category(c) in ("Cc", "Zl", "Zp")), None)
    if bad is not None:
        raise PydanticCustomError("control_character", "must be one line of printable text, got {value} "
                                  "(it holds {char})", {"value": repr(text[:60]), "char": repr(bad)})
    return text


Name = Annotated[str, Field(min_length=1), AfterValidator(_one_line)]


def _mentions(annotation: Any, kinds: tuple[type, ...]) -> bool:
    """Whether ``annotation`` (a type, a union, ``Annotated``, ``Literal`` ...) names one of ``kinds``."""
    if annotation in kinds:
        return True
    if get_origin(annotation) is Literal:  # Literal[1, 2] takes numbers
        return any(isinstance(arg, kinds) and not isinstance(arg, bool) for arg in get_args(annotation))
    return any(_mentions(arg, kinds) for arg in get_args(annotation))


class _Strict(BaseModel):
    """The base of every section: unknown keys are errors, values are frozen, numbers are finite
    (``.inf``, ``.nan``, ``1e400``: pydantic's ``allow_inf_nan``) and never booleans."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_number(cls, value: Any, info: ValidationInfo) -> Any:
        """Negative zero is zero. YAML 1.1 reads ``yes``, ``no``, ``on``, ``off``, ``true`` and ``false`` as booleans, and
        pydantic would take a boolean for 1 or 0 where a number is expected (``daily_rate: yes``
        would mean 1.0 per day): a boolean is a number only where the key takes a boolean."""
        if isinstance(value, float) and value == 0.0:
            return 0.0  # -0.0 (YAML reads -0.0 and -.0 so) is 0; a rate of -0.0 would print as "-0"
        if isinstance(value, bool) and info.field_name is not None:
            annotation = cls.model_fields[info.field_name].annotation
            if _mentions(annotation, (int, float)) and not _mentions(annotation, (bool,)):
                raise PydanticCustomError("bool_number", "must be a number, got the boolean {value} (YAML reads "
                                          "yes, no, on, off, true and false as booleans)",
                                          {"value": str(value).lower()})
        return value


class Repair(_Strict):
    """Repair-time distribution of one component class (hours)."""

    dist: Literal["exponential", "lognormal", "fixed"] = Field(
        "exponential", description="Repair-time distribution.")
    mean_hours: float = Field(gt=0, description="Mean time to repair (hours).")
    sigma: float | None = Field(None, gt=0, description=(
        "lognormal only: standard deviation of log(repair time); unset means 1.0, a long tail "
        "(coefficient of variation 1.31)."))

    @property
    def shape(self) -> float:
        return self.sigma if self.sigma is not None else 1.0


class RateSchedule(_Strict):
    """A daily failure rate that changes over time: one value per period, repeating."""

    csv: str | None = Field(None, description=(
        "CSV with a column of rates; unset means the TPU v4 weekly rates shipped with tpusim "
        "(columns machine_pct_per_day, ici_pct_per_day, ocs_pct_per_day)."))
    column: str = Field(description="The column holding this class's rates.")
    unit: Literal["percent", "fraction"] = Field("percent", description="Unit of the values in the column.")
    period_hours: float = Field(168.0, gt=0, description="Length of one period (hours); 168 = weekly.")
    scale: float = Field(1.0, ge=0, description="Multiplies every value (2.0: a fleet failing twice as often).")


class GrayFailures(_Strict):
    """Gray faults of one class: parts that pass health checks but fail jobs (tpusim.failures.gray)."""

    daily_rate: float = Field(ge=0, description=(
        "Gray episodes per unit per day (a unit that is gray already does not start another)."))
    job_failures_per_hour: float = Field(gt=0, description=(
        "While gray, the part glitches this often per hour; each glitch fails every job using it "
        "(a job using it for h hours fails with probability 1 - exp(-rate h))."))
    mean_hours: float = Field(gt=0, description=(
        "Mean length of an episode nobody notices (exponential): it clears or is fixed in passing."))
    detection_probability: float = Field(0.0, ge=0, le=1, description=(
        "Share of episodes healthd notices at all; a noticed one takes the unit out as an "
        "ordinary failure (repaired with the class's repair law)."))
    detection_hours: float = Field(24.0, ge=0, description="Mean delay (exponential) before healthd notices.")


class PlantedGrayConfig(_Strict):
    """A gray episode put on one unit on purpose, never noticed by healthd (a localisation study)."""

    of: Literal["host", "ici_link", "ocs"] = Field(description="Class of the unit.")
    unit: int = Field(ge=0, strict=True, description=(
        "The unit, numbered as in failure traces (hosts and links cube by cube, OCSes pod by pod)."))
    start_day: float = Field(ge=0, description="When the episode starts (days).")
    days: float = Field(gt=0, description="How long it lasts (days).")
    job_failures_per_hour: float = Field(gt=0, description="Glitches per hour; each fails every job using it.")


class ComponentFailures(_Strict):
    """Failure and repair of one component class."""

    daily_rate: float = Field(ge=0, description=(
        "Fraction of the population failing per day; the per-unit hazard while up. 0 turns the "
        "class off. With a schedule the schedule sets the rate instead."))
    repair: Repair
    schedule: RateSchedule | None = Field(None, description="Time-varying rates, replacing daily_rate.")
    detection_minutes: float | None = Field(None, ge=0, description=(
        "healthd/libtpunet detection delay for this class; unset: failures.detection_minutes."))
    gray: GrayFailures | None = Field(None, description=(
        "Gray faults of this class (none by default: no rates are published)."))


class RepairPart(_Strict):
    """One part of a mixed repair law."""

    share: float = Field(gt=0, description="Relative weight of this part (the shares are normalised).")
    dist: Literal["exponential", "lognormal", "fixed"] = Field("exponential", description="Its distribution.")
    mean_hours: float = Field(gt=0, description="Its mean time to repair (hours).")
    sigma: float | None = Field(None, gt=0, description="lognormal only (default 1.0).")


class Domain(_Strict):
    """A correlated failure domain: groups of consecutive units of one class that fail together."""

    name: Name = Field(description="Name used in reports (e.g. rack_power, pdu_row).")
    of: Literal["host", "ocs"] = Field(description="The class of the members.")
    units: int = Field(gt=0, description=(
        "Members per domain: consecutive units of that class (hosts are numbered cube by cube, 16 "
        "per TPU v4 cube: 16 = one cube's rack power, 64 = a PDU row of four cubes; for OCSes, the "
        "switches one power supply feeds)."))
    daily_rate: float = Field(ge=0, description="Failures per domain per day while it is up.")
    repair: Repair | None = Field(None, description="Its repair law; or give repair_mix.")
    repair_mix: list[RepairPart] | None = Field(None, min_length=1, description=(
        "A mixed repair law, e.g. 90 % soft failures fixed by a reboot in 20 minutes and 10 % "
        "hard ones needing 2 hours."))


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
    ocs_port: ComponentFailures = Field(ComponentFailures(
        daily_rate=0.0, repair=Repair(dist="lognormal", mean_hours=12.0)), description=(
        "OCS faults at port granularity (DESIGN §2): one mirror or port pair of a switch fails and "
        "only the circuit end through it goes dark, like a failed cube fibre; the switch goes on. "
        "daily_rate is per OCS port (every cube port has one). Off by default: no rate is "
        "published (see scenarios/tpuv4_pod.yaml for the split of the published OCS rate)."))
    ocs_control_plane_share: float = Field(0.5, ge=0, le=1, description=(
        "Share of OCS failures that are control-plane failures (DESIGN §2): existing circuits keep "
        "carrying light, but no cross-connect through the switch can be made or changed until "
        "repair (new placements, swaps and migrations wait; running slices keep running). The rest "
        "are data-plane failures: the switch's circuits go dark. No share is published; 0.5 is the "
        "midpoint between the two published accounts (see scenarios/tpuv4_pod.yaml)."))
    domains: list[Domain] = Field(default_factory=list, description=(
        "Correlated failure domains (none by default: no rates are published). A domain takes "
        "all its members down at once; members' own failures go on."))
    planted_gray: list[PlantedGrayConfig] = Field(default_factory=list, description=(
        "Gray episodes on chosen units (ground truth for tpusim.localise)."))
    detection_minutes: float = Field(5.0, ge=0, description=(
        "healthd/libtpunet detection delay. Capacity availability is a property of the true "
        "health state and does not use it; the scheduler reacts only after it (jobs, DESIGN §3)."))
    detection_dist: Literal["fixed", "exponential"] = Field("fixed", description=(
        "fixed: every detection takes its class's delay; exponential: drawn with that mean "
        "(stream 'detection'; the same draws under every policy)."))
    trace: str | None = Field(None, description=(
        "CSV failure trace to replay instead of drawing failures (see tpusim.failures.trace); the "
        "rates and repair times above are then used only by the closed forms."))
    initial_state: Literal["steady", "all_up"] = Field("steady", description=(
        "steady: each unit starts down with its long-run probability MTTR/(MTBF+MTTR), with an "
        "equilibrium residual repair time, so time averages carry no start-up bias. all_up: "
        "everything starts healthy (a fresh machine)."))


class Duration(_Strict):
    """Useful work per job (hours of step time on a healthy slice)."""

    dist: Literal["lognormal", "exponential", "fixed"] = Field("lognormal", description="Distribution of useful work.")
    mean_hours: float = Field(1.2, gt=0, description=(
        "Mean useful work (hours). 1.2 h: with 139 jobs per pod-day and the default mix (mean "
        "409 chips per job) the offered load is 70 % of the pod's chip-hours."))
    sigma: float | None = Field(None, gt=0, description=(
        "lognormal only: sigma of log(duration); unset means 1.5 (median 0.39 h, a long tail)."))

    @property
    def shape(self) -> float:
        return self.sigma if self.sigma is not None else 1.5


class Priorities(_Strict):
    """Share of jobs in each priority band (normalised)."""

    production: float = Field(0.2, ge=0, description="Share of production jobs (highest band).")
    batch: float = Field(0.5, ge=0, description="Share of batch jobs.")
    best_effort: float = Field(0.3, ge=0, description="Share of best-effort jobs (lowest band).")


class Checkpoint(_Strict):
    """What a checkpoint costs (DESIGN section 3): each write stalls training for its blocking
    part, and is durable (survives a failure) once the whole write is done."""

    interval_hours: Annotated[float, Field(gt=0)] | Literal["young", "daly"] = Field(1.0, description=(
        "Hours of useful work between checkpoints, at least the write time; or 'young' "
        "(sqrt(2 C M)) or 'daly' (Daly's higher-order rule), from the blocking cost C and the "
        "mean time M between the failures that interrupt the job under its policy."))
    write_minutes: float = Field(2.0, ge=0, description=(
        "Time from the start of a write until the checkpoint is durable on storage; a failure "
        "before then loses it. 2 min: an assumption (a multi-GB model state to remote storage)."))
    mode: Literal["synchronous", "asynchronous"] = Field("asynchronous", description=(
        "synchronous: training stalls for the whole write; asynchronous: only for the snapshot "
        "into host memory, the write goes on in the background (as JAX/Orbax async "
        "checkpointing does)."))
    snapshot_minutes: float = Field(0.25, ge=0, description=(
        "asynchronous only: the stall per write while the state is copied to host memory. "
        "15 s: an assumption (device-to-host copy of a large model's state); at most the write."))
    store: Literal["storage", "memory"] = Field("storage", description=(
        "Where the periodic checkpoints go. storage: remote storage (write_minutes, mode, "
        "snapshot_minutes). memory: the hosts' RAM, each host's shard replicated on one peer host "
        "of the job (as Gemini, SOSP 2023, does): each checkpoint stalls memory_write_minutes, "
        "every storage_every-th is also persisted to storage in the background (durable "
        "write_minutes after its start); the in-memory copy is lost when a host and its "
        "replica's host both fail before the restore, or when the job leaves its hosts, and the "
        "job then restores from storage (tpusim.scheduler.checkpoint)."))
    storage_restore_minutes: float = Field(0.0, ge=0, description=(
        "Reading a checkpoint back from storage at a (re)start with progress to restore, on top "
        "of restart_minutes (the warm-up). 0: restart_minutes covers the load too."))
    memory_write_minutes: float = Field(0.25, ge=0, description=(
        "memory only: the stall per checkpoint to copy the state into host RAM and replicate it "
        "on the peer host; durable in memory when done. 15 s: an assumption, the snapshot's "
        "device-to-host copy (Gemini overlaps the peer copy with training)."))
    memory_restore_minutes: float = Field(0.0, ge=0, description=(
        "memory only: reading a checkpoint back from peers' RAM at a (re)start, on top of "
        "restart_minutes. Gemini reports recovery about 13x faster than from remote storage: "
        "about storage_restore_minutes / 13."))
    storage_every: int = Field(1, ge=1, description=(
        "memory only: every n-th in-memory checkpoint is also persisted to storage (the fallback "
        "when the in-memory copy is lost); n intervals must span at least write_minutes."))

    @property
    def fixed_interval(self) -> float | None:
        return None if isinstance(self.interval_hours, str) else float(self.interval_hours)

    @property
    def blocking_minutes(self) -> float:
        if self.store == "memory":
            return self.memory_write_minutes
        return self.write_minutes if self.mode == "synchronous" else self.snapshot_minutes


class Traffic(_Strict):
    """Share of jobs per traffic pattern (normalised)."""

    allreduce: float = Field(0.8, ge=0, description="All-reduce / nearest-neighbour jobs.")
    alltoall: float = Field(0.2, ge=0, description="All-to-all jobs (bisection-bound).")


class Hero(_Strict):
    """A hero job: one long-lived job asking for most of a pod, beside the ordinary workload
    (DESIGN section 3). Rigid, it waits for its whole slice; elastic (``min_cubes`` below its
    shape's cubes), it trains on fewer cubes after a failure and grows back when cubes return."""

    name: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$", description=(
        "Its name: the key its figures are reported under."))
    shape: str = Field(description=(
        "Its preferred slice, in chips (e.g. 16x32x64: 4x8x16 = 128 cubes of 4x4x4). An elastic "
        "job shrinks along the last dimension, one layer of cubes at a time (its data-parallel "
        "replicas): write the shape with that dimension last."))
    min_cubes: int | None = Field(None, ge=1, description=(
        "The fewest cubes it trains on; sizes between are the shape shortened along its last "
        "dimension. Unset (or the shape's cubes): rigid."))
    slices: int = Field(1, ge=1, description=(
        "Multislice: that many slices of its shape, each in a different pod, joined over the "
        "data-center network (tpusim.scheduler.gang). All start together; a failure under any "
        "stops all, which restart together from the same checkpoint; if one cannot run, all go "
        "back to the queue. Needs as many pods; production only; rigid (no min_cubes)."))
    arrival_hours: float = Field(0.0, ge=0, description="When it is submitted.")
    work_days: float | None = Field(None, gt=0, description=(
        "Days of useful work at the preferred size; unset: more than the horizon (it never "
        "finishes, as a frontier training run outlasting the study)."))
    priority: Literal["production", "batch", "best_effort"] = Field("production", description=(
        "Its band: production preempts batch and best-effort work for its start and its growth."))
    program_goodput: float = Field(1.0, gt=0, le=1, description=(
        "An INPUT, not simulated: the share of the chips' peak its program achieves (e.g. model "
        "FLOPs utilisation, 0.4-0.6 for large models). Only the ML-goodput product reads it; "
        "1 leaves that product equal to scheduling x runtime goodput."))


class Workload(_Strict):
    jobs_per_pod_day: float = Field(139.0, ge=0, description="Mean job arrivals per pod per day.")
    daily_rate_cv: float = Field(0.0, ge=0, le=10, description=(
        "Day-to-day burstiness of arrivals: each day's arrival rate is the mean times a gamma "
        "factor of mean 1 and this coefficient of variation (a Cox process; the daily count's "
        "variance is m + (cv m)^2 for a mean m). 0: Poisson."))
    mix: str | None = Field(None, description=(
        "CSV of shape,percent rows; unset means the TPU v4 mix shipped with tpusim."))
    trace: str | None = Field(None, description=(
        "CSV of arrival_hours,shape,duration_hours,priority rows replacing the generated jobs."))
    duration: Duration = Duration()
    priorities: Priorities = Priorities()
    traffic: Traffic = Field(Traffic(), description=(
        "All-reduce / nearest-neighbour vs all-to-all: what fault-tolerant routing costs a job."))
    checkpoint: Checkpoint = Checkpoint()
    restart_minutes: float = Field(3.0, ge=0, description=(
        "Time from (re)start to the first useful step: load the checkpoint, compile, warm up."))
    hero: list[Hero] = Field(default_factory=list, description=(
        "Hero jobs, beside the generated or replayed ones (tpusim.scheduler.hero reports what each "
        "gets). Elastic ones resize by the rule in tpusim.scheduler.scheduler: after a failure, "
        "swap in a free spare if there are enough (the policy permitting), else restart at once "
        "at the largest size the usable free cubes (and preemption of lower bands) allow, else "
        "wait; before each scheduling pass, grow to the largest size that free cubes, its own, "
        "and lower bands' cubes allow (each resize a planned checkpoint and a restart)."))


class SchedulerConfig(_Strict):
    preemption: bool = Field(True, description="A higher band may preempt lower bands (never production by production).")
    preemption_notice: bool = Field(True, description=(
        "Preempted jobs get a notice and checkpoint before stopping (false: killed, losing the "
        "work since their last checkpoint)."))
    defrag_wait_hours: float | None = Field(6.0, gt=0, description=(
        "A job waiting longer than this may have smaller jobs migrated or preempted to make room "
        "(defragmentation); null turns it off."))
    defrag_retry_minutes: float = Field(15.0, gt=0, description=(
        "A defragmentation attempt that found nothing to move is retried after this long."))


class CommFraction(_Strict):
    """Share of a step spent communicating, per traffic pattern: the one free parameter of the
    FT penalty (step time grows by this share x the communication slowdown - 1).

    CALIBRATED, not measured (tpusim.topology.routing.calibrate_comm_fraction): each job of the
    shipped slice mix (every whole-cube shape, each pattern) meets its costliest single fault
    (one OCS or one port link down); the defaults make the cheapest such job cost 0.5 % and the
    costliest 8.6 % of step time, the published range (NSDI 2024). All-to-all sets the floor
    (a 4x4x4 slice), all-reduce the ceiling (a 4x4x192 slice, an OCS of its long dimension).
    """

    allreduce: float = Field(0.198, ge=0, le=1, description=(
        "All-reduce jobs. Calibrated: the costliest single fault of any whole-cube shape of the "
        "shipped mix costs 8.6 % of step time."))
    alltoall: float = Field(0.465, ge=0, le=1, description=(
        "All-to-all jobs. Calibrated: the cheapest whole-cube shape of the shipped mix pays 0.5 % "
        "of step time for its costliest single fault."))


class FtRouting(_Strict):
    """libtpunet's fault-tolerant routing, used by policies that route around faults."""

    max_faults: int = Field(4, ge=0, strict=True, description=(
        "A slice keeps running through at most this many faulty links and OCSes (if connected)."))
    comm_fraction: CommFraction = CommFraction()


class PodManagerConfig(_Strict):
    reconfigure_minutes: float = Field(1.0, ge=0, description=(
        "Time to program an allocation's cross-connects and run the pre-flight check (paid when "
        "at least one circuit changes)."))
    reconfigure_seconds_per_circuit: float = Field(0.0, ge=0, description=(
        "Extra time per circuit changed (xconnect), for a control plane that programs mirrors one "
        "after another; 0: the mirrors of one reconfiguration move together (a MEMS OCS switches "
        "in milliseconds), so only reconfigure_minutes is paid."))
    swap_spares: bool = Field(True, description=(
        "Swap a failed cube for a healthy free spare where the policy can (false: requeue instead)."))
    spare_cubes: int = Field(0, ge=0, strict=True, description=(
        "Usable cubes per pod kept free of production and batch work for swaps (policies that swap "
        "spares; the static pod keeps none)."))
    preemptible_spares: bool = Field(False, description=(
        "Best-effort (preemptible) work may run on the spares and on any cube a swap needs; a swap "
        "evicts it at once (killed, back to the queue). false: the spares stay idle."))
    ft_routing: FtRouting = FtRouting()


class CostConfig(_Strict):
    """Prices per chip-hour, in one currency (tpusim.scheduler.costs)."""

    chip_hour: float = Field(ge=0, description=(
        "What one chip-hour of the machine costs (every chip, every hour: busy, idle, down or spare)."))
    reserved_price: float = Field(ge=0, description="Paid per useful chip-hour of production and batch work.")
    preemptible_price: float = Field(ge=0, description="Paid per useful chip-hour of best-effort (preemptible) work.")


class Install(_Strict):
    """A build-out: cubes arrive one after another (numbered pod by pod, as hosts are)."""

    at_start: int = Field(0, ge=0, strict=True, description="Cubes installed before the run starts.")
    cubes_per_day: float = Field(gt=0, description=(
        "Installation rate: after the first at_start cubes, cube n arrives at (n - at_start + 1) / "
        "cubes_per_day days."))


class Topology(_Strict):
    pods: int = Field(1, gt=0, strict=True, description="Pods in the machine (a slice never spans pods).")
    cube_grid: Extents = Field((4, 4, 4), description="Cubes per pod, as the static pod's fixed grid.")
    cube_shape: Extents = Field((4, 4, 4), description="Chips per cube along x, y, z.")
    hosts_per_cube: int = Field(16, gt=0, strict=True, description="Hosts (machines) per cube.")
    chips_per_host: int = Field(4, gt=0, strict=True, description="Chips per host.")
    ocs_per_pod: int | None = Field(None, gt=0, strict=True, description=(
        "Derived from cube_shape (one OCS per dimension and face position); if given, must match."))
    static_wrap: bool = Field(True, description=(
        "The static pod is a torus of cubes: wraparound cables join the grid's ends, so a static "
        "box may straddle them (DESIGN §1). false: a mesh of cubes, boxes inside the grid (the "
        "rule of tpusim 0.1)."))
    static_cable_ends: Literal[1, 2] = Field(1, description=(
        "How the published per-cable ICI rate maps onto a static inter-cube cable. 1: the cable "
        "is one part at the published rate (DESIGN §1); in the shared trace its failures are those "
        "of its +d end's port link, while the reconfigurable pod has one fibre per cube port, "
        "each a part at the same rate. 2: both ends fail independently (twice the rate; the model "
        "of tpusim 0.1)."))
    sub_pod_slices: Literal["torus", "mesh"] = Field("torus", description=(
        "How the OCS pod (reconfigurable, reconfigurable_ft) wires a slice of whole cubes smaller "
        "than a pod (DESIGN §2). torus: wraparound circuits along every dimension (a one-cube "
        "slice joins each face to its own opposite face), so every such slice uses every OCS of its "
        "pod and every optical port of its cubes. mesh: no wraparound, in the orientation the shape "
        "names: along a dimension it spans with n > 1 cubes, n - 1 joins per line; along one it "
        "spans with one cube, no circuit. It then uses only the OCSes of the dimensions it spans "
        "and only the ports facing a neighbour inside the slice (a one-cube slice: no OCS, no "
        "optical port). A full-pod slice is a torus either way; the static pods are unaffected. "
        "Placement stays conservative: a cube with any dark optical port takes no new slice of "
        "whole cubes, whether or not the slice would use that port."))
    install: Install | None = Field(None, description=(
        "Partial deployment: cubes installed over time (none: the whole machine from the start). "
        "A cube not yet installed is unusable for every policy; the OCSes are there from the start."))
    ocs_ports: int = Field(136, gt=0, strict=True, description=(
        "Ports per OCS. OCS (d, p) holds the +d and -d port p of every cube of its pod, so a pod of "
        "N cubes needs 2N ports per switch. 136: Google's Palomar OCS (TPU v4: 64 cubes use 128). "
        "Larger pods need more or larger switches: say which, here."))


class ReleaseConfig(_Strict):
    """What a campaign rolls out: a release that may be bad."""

    bad_probability: float = Field(ge=0, le=1, description=(
        "Chance that a rollout's release is bad (drawn once per occurrence)."))
    failure_multiplier: float = Field(ge=1, description=(
        "A bad release multiplies the failure rate of what it has touched (hosts of an upgraded cube "
        "for host firmware, its ICI links for the ICI stack, the switch for an OCS upgrade)."))


class WatchdogConfig(_Strict):
    """A Gandalf-style watchdog that stops a rollout whose upgraded units fail more often."""

    window_hours: float = Field(48.0, gt=0, description="Failures compared over this many past hours.")
    alpha: float = Field(0.05, gt=0, lt=1, description=(
        "Significance of a whole rollout: a good release is stopped with probability at most alpha "
        "(each check after a wave's bake uses alpha / checks, Bonferroni)."))
    rollback: bool = Field(True, description="A stop returns the upgraded units to the old release at once.")


class CampaignConfig(_Strict):
    """A maintenance campaign: every cube or OCS of the machine upgraded in waves."""

    name: Name = Field(description="Name used in reports.")
    upgrades: Literal["host_firmware", "ici_stack", "ocs_software", "ocs_hardware"] = Field(description=(
        "host_firmware, ici_stack: cubes are upgraded (their hosts down); ocs_software: switches "
        "frozen (circuits stay lit, none can change); ocs_hardware: switches dark."))
    start_day: float = Field(ge=0, description="When the first wave starts (days).")
    wave_size: int = Field(gt=0, strict=True, description="Units (cubes or OCSes) of each pod per wave.")
    wave_hours: float = Field(gt=0, description="How long a wave's units are out (hours).")
    bake_hours: float = Field(0.0, ge=0, description="Wait after a wave before the next (a watchdog decides then).")
    every_days: float | None = Field(None, gt=0, description="Repeat the campaign this often (unset: once).")
    static_scope: Literal["units", "pod", "none"] | None = Field(None, description=(
        "What the statically wired machine takes down: units (the wave's cubes), pod (the whole "
        "machine once, in one window of wave_hours at the first wave: a static pod cannot mix ICI "
        "versions, the default for ici_stack), none (OCS upgrades: it has no OCS). Unset: the "
        "upgrade's default."))
    release: ReleaseConfig | None = Field(None, description="A release that may be bad (a safe-rollout study).")
    watchdog: WatchdogConfig | None = Field(None, description="Stop a bad release (needs a release).")


class Assumption(_Strict):
    """A number no publication fixes: its plausible range and why (DESIGN §2). The value itself
    is the scenario's own, at the key this entry is filed under."""

    low: float = Field(description="Lowest plausible value.")
    high: float = Field(description="Highest plausible value.")
    source: str = Field(min_length=1, description=(
        "Where the value and the range come from (a publication, a measurement, or the reasoning)."))
    interval: float | None = Field(None, gt=0, lt=1, description=(
        "Set when [low, high] is a confidence interval of an estimate (tpusim fit writes 0.95): "
        "`tpusim uncertainty` then draws the value from the sampling distribution it implies. "
        "Unset: a plausible range only, which `tpusim sensitivity` explores."))


class ImportanceConfig(_Strict):
    """Importance sampling of rare slice outages (the ``rare`` study, ``tpusim rare``'s options)."""

    cycles: int = Field(20000, ge=2, strict=True, description=(
        "Biased regenerative cycles per slice shape (as many plain ones estimate the cycle length)."))
    bias: float = Field(0.5, ge=0, lt=1, description=(
        "Total probability of a failure in a biased state (balanced failure biasing); 0: no biasing, "
        "plain regenerative cycles."))


class EstimationConfig(_Strict):
    """How a run estimates (DESIGN §9): plain replications, or also importance sampling of rare
    slice outages."""

    estimator: Literal["plain", "importance"] = Field("plain", description=(
        "plain: the replications alone. importance: after them, also each whole-cube slice shape's "
        "unavailability under the reconfigurable rule by importance sampling (the rare study, "
        "tpusim rare), for outages too rare for the replications to see; scenarios outside its "
        "model (traces, rate schedules, domains, maintenance, build-outs, noticed gray faults, mesh "
        "sub-pod slices) are refused."))
    importance: ImportanceConfig = ImportanceConfig()
    control_variates: Literal["beside", "headline"] = Field("beside", description=(
        "beside: every table and file reports the plain estimate, and the control-variate "
        "estimate (tpusim.measure.controls) beside it in its own table. headline: where a "
        "control-variate estimate exists (at least 7 replications), it is the one every table, "
        "plot and file reports, marked as such with its variance reduction (DESIGN section 9); "
        "the plain one stays in the control-variates table. Paired differences stay plain."))


MAX_SEED = 2**64 - 1  # a seed is 64 bits, as numpy's SeedSequence draws it
MIN_HORIZON_DAYS = 1 / 1440  # one minute


def _at_least_a_minute(days: float) -> float:
    """A horizon shorter than a minute is a mistake (a unit slip: 1e-3 meant as hours?), not a
    run: the model's delays are minutes (detection, reconfiguration), so nothing could happen."""
    if days < MIN_HORIZON_DAYS:
        raise PydanticCustomError(
            "horizon_short", "must be at least one minute (1/1440 = 0.000694 days), got {got}: the "
            "model's delays (detection, reconfiguration) are minutes, so a shorter run measures nothing",
            {"got": days})
    return days


class Scenario(_Strict):
    """A validated scenario: what to simulate (see :func:`tpusim.load_scenario`).

    Build one from YAML with :func:`tpusim.load_scenario`, from a mapping with
    :func:`tpusim.scenario_from_dict`, or change one with :meth:`with_overrides`; every route
    validates, so a scenario always describes the machine it will simulate.
    """

    name: Name = Field(description=(
        "Name of the scenario, one line; the default output folder is out/<name>, made a safe folder name."))
    description: str = Field("", description="What the scenario is for, and the assumptions it rests on.")
    seed: int = Field(0, ge=0, le=MAX_SEED, strict=True, description=(
        "Root seed of every random stream (at most 2**64 - 1)."))
    replications: int = Field(10, gt=0, strict=True, description="Independent replications.")
    horizon_days: Annotated[float, AfterValidator(_at_least_a_minute)] = Field(365.0, gt=0, description=(
        "Simulated time per replication (days; at least one minute)."))
    policies: list[PolicyName] = Field(default_factory=lambda: list(registry.DEFAULT), min_length=1, description=(
        "Policies compared on the same failure trace and workload."))
    slices: list[str] = Field(min_length=1, description="Slice shapes (chips, XxYxZ) whose availability is measured.")
    topology: Topology = Topology()
    failures: Failures = Failures()
    capacity_confidence: float = Field(0.95, gt=0, lt=1, description=(
        "capacity_at_confidence reports the most cubes placeable as one slice at least this "
        "fraction of the time (DESIGN §4)."))
    timeseries_days: float | None = Field(None, gt=0, description=(
        "Width of the buckets of the availability time series (days); unset: no time series."))
    workload: Workload | None = Field(None, description=(
        "Jobs on the machine; without it only capacity availability is measured."))
    scheduler: SchedulerConfig = SchedulerConfig()
    pod_manager: PodManagerConfig = PodManagerConfig()
    maintenance: list[CampaignConfig] = Field(default_factory=list, description=(
        "Planned maintenance campaigns and rollouts (tpusim.failures.maintenance)."))
    cost: CostConfig | None = Field(None, description=(
        "Prices for the cost model (needs a workload); unset: no cost metrics."))
    estimation: EstimationConfig = EstimationConfig()
    assumptions: dict[str, Assumption] = Field(default_factory=dict, description=(
        "Numbers no publication fixes, by dotted key (failures.ocs.repair.mean_hours; an entry of "
        "a list by its name or index, maintenance.ici_stack.wave_size): each with a plausible low "
        "and high and its source or reason; `tpusim sensitivity` varies them."))
    #: the model built from this scenario (set once by tpusim.config.build.build_model)
    _built: Any = PrivateAttr(default=None)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> "Scenario":
        """A copy with top-level fields replaced, validated like a loaded scenario (pydantic's own
        copy would skip validation and could describe a machine it does not simulate)."""
        data = self.model_dump(mode="json")
        for key, value in (update or {}).items():
            data[key] = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
        return scenario_from_dict(data)

    def with_overrides(self, overrides: "dict[str, Any] | list[str]") -> "Scenario":
        """A validated copy with dotted keys set: ``{"failures.host.daily_rate": 0.01}`` or
        ``["failures.host.daily_rate=0.01"]`` (values as YAML, like ``--set``)."""
        texts = override_strings(overrides) if isinstance(overrides, dict) else list(overrides)
        return scenario_from_dict(apply_overrides(self.model_dump(mode="json"), texts))

    def resolved(self) -> dict[str, Any]:
        """The scenario with every default filled in (what summary.json records)."""
        import math

        data = self.model_dump(mode="json")
        t = self.topology
        data["topology"]["ocs_per_pod"] = sum(math.prod(t.cube_shape) // e for e in t.cube_shape)
        for cls in COMPONENT_CLASSES:
            repair = data["failures"][cls]["repair"]
            if repair["dist"] == "lognormal":
                repair["sigma"] = getattr(self.failures, cls).repair.shape
            else:
                del repair["sigma"]
        if data.get("workload"):
            checkpoint = data["workload"]["checkpoint"]
            if checkpoint["store"] == "storage":  # the in-memory store's keys describe nothing here ...
                for key in ("memory_write_minutes", "memory_restore_minutes", "storage_every"):
                    del checkpoint[key]
                if checkpoint["storage_restore_minutes"] == 0:  # ... nor these, in the model from
                    del checkpoint["store"], checkpoint["storage_restore_minutes"]  # before them
        return data


def defaults() -> dict[str, Any]:
    """The default value of every key that has one (what a scenario leaves out)."""
    return {"topology": Topology().model_dump(), "failures": Failures().model_dump()}


#: Checks that span keys, run on every validated scenario after pydantic's per-key checks. The
#: build step registers itself here (building the model is the check), so that this module,
#: the lowest of the package, needs nothing above it.
CROSS_KEY_CHECKS: list[Callable[[Scenario, str | None], Any]] = []


def assumption_value(data: Mapping[str, Any], key: str) -> Any:
    """The value at dotted ``key`` of a scenario mapping (``model_dump`` or raw), or KeyError; in
    a list a part names an entry by its name or index (``maintenance.ici_stack.wave_size``)."""
    return value_at(data, key)


def _check_assumptions(scenario: Scenario, source: str | None) -> None:
    """Each assumption names a numeric key of this scenario, with low <= high."""
    if not scenario.assumptions:
        return
    data = scenario.model_dump(mode="json")
    problems = []
    for key, a in scenario.assumptions.items():
        path = f"assumptions.{key}"
        try:
            value = assumption_value(data, key)
        except KeyError:
            problems.append(Problem(path, "names no key of this scenario (a dotted path such as "
                                          "failures.ocs.repair.mean_hours; set the key in the scenario first)"))
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(Problem(path, f"must name a number, but {key} is {value!r}"))
        elif not a.low <= a.high:
            problems.append(Problem(path, f"low {a.low:g} is above high {a.high:g}"))
        # a value outside [low, high] is allowed: the range says what is plausible, and a
        # what-if (--set failures.ocs.daily_rate=0) may leave it on purpose; validate marks it
    if problems:
        raise ScenarioError(problems, source)


CROSS_KEY_CHECKS.append(_check_assumptions)


def _merged(base: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` laid over ``base``, recursively for mappings present in both."""
    out = dict(base)
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def scenario_from_dict(data: Any, source: str | None = None) -> Scenario:
    """Validate a raw mapping into a :class:`Scenario`, or raise with every problem found."""
    if not isinstance(data, dict):
        raise ScenarioError([Problem("", f"a scenario must be a mapping of keys, got {type(data).__name__}")], source)
    data = _merged(defaults(), plain(data))  # a key left out, at any depth, takes its default
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(problems_of(exc, Scenario), source) from None
    for check in CROSS_KEY_CHECKS:  # every rule that spans keys (tpusim.config.build)
        check(scenario, source)
    return scenario
