"""Metrics: one registry of what tpusim reports, tidy samples, and their estimates (DESIGN §4).

Every number a run reports is a :class:`Metric` in :data:`REGISTRY`: its name (the key in
summary.json, frames, sweep tables and checks), a label, a unit, the range it can take (which
clips its confidence interval), how it is broken down (per slice shape, per slice size in chips,
per component class, or not at all) and the digits worth printing.

A replication emits :class:`Sample` rows ``(replication, policy, metric, key, value)``: ``key``
is the shape label for per-shape metrics, the slice size in chips (as text) for per-size metrics,
the component class for component metrics, and None otherwise; ``policy`` is None for metrics of
the machine rather than of a policy. A value may be NaN where the metric is undefined in that
replication. :class:`Estimates` computes every estimate once from the samples (Student-t 95 %
intervals over the replications where the metric is defined, clipped to the metric's bounds);
summary.json, the tables, the plots, ``check`` and sweep rows all read those estimates.

Layer: the bottom, with :mod:`tpusim.core.stats`; it knows no model code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, NamedTuple

from tpusim.core.stats import FRACTION, NON_NEGATIVE, UNBOUNDED, Estimate, availability_estimate, estimate


#: Metrics that may be negative (their intervals are not clipped at 0).
SIGNED = frozenset({"margin_per_day"})


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    unit: str  # "fraction" (shown in percent), "hours", "minutes", "chip-hours", "count", ...
    group: str  # "capacity", "jobs", "components" or "controls"
    breakdown: str | None = None  # "shape", "chips", "class" or None
    digits: int = 3  # decimals worth printing (of the percentage, for fractions)
    table: bool = True  # shown in the terminal's job table
    checked: bool = True  # part of the regression gate (``tpusim check``)
    internal: bool = False  # an ingredient of another estimate, never plotted or tabled on its own

    @property
    def bounds(self) -> tuple[float, float]:
        if self.unit == "fraction":
            return FRACTION
        return UNBOUNDED if self.name in SIGNED else NON_NEGATIVE

    @property
    def scale(self) -> float:
        """Factor from the stored value to the printed one (fractions print in percent)."""
        return 100.0 if self.unit == "fraction" else 1.0


def _jobs(name: str, label: str, unit: str, digits: int, table: bool = True, breakdown: str | None = None) -> Metric:
    return Metric(name, label, unit, "jobs", breakdown, digits, table)


#: Every reported metric, in the order tables print them.
REGISTRY: dict[str, Metric] = {m.name: m for m in (
    Metric("slice_availability", "slice availability", "fraction", "capacity", "shape"),
    Metric("system_availability", "system availability (chip-time on healthy hardware)", "fraction",
           "capacity", digits=4),
    Metric("useful_availability", "useful availability (chip-time able to do useful work)", "fraction",
           "capacity", digits=4),
    Metric("component_availability", "component availability", "fraction", "components", "class", digits=4),
    # the regression gate's component-level figures (a changed failure rate or repair law shows
    # here long before it moves an availability): failures per unit and day, and the mean hours
    # of the repairs completed in the run (of failures during it: units down at t = 0 excluded)
    Metric("component_failure_rate", "failures per unit-day", "per unit-day", "components", "class", digits=6),
    Metric("component_repair_hours", "mean repair time (completed repairs)", "hours", "components", "class",
           digits=2),
    Metric("capacity_fraction", "time with at least k cubes placeable as one slice", "fraction", "capacity",
           "cubes", checked=False),
    Metric("slice_outages", "slice outages (periods no pod could place the shape)", "count", "capacity",
           "shape", digits=1, checked=False),
    Metric("slice_outage_sq_hours", "sum of squared outage durations", "hours^2", "capacity", "shape",
           table=False, checked=False, internal=True),  # for the outage interval of slice availability
    Metric("slice_outage_longest_hours", "longest outage", "hours", "capacity", "shape", digits=1, checked=False),
    Metric("maintenance_chip_hours", "chip-hours out for planned maintenance", "chip-hours", "capacity", digits=0),
    _jobs("goodput", "goodput", "fraction", 2),
    _jobs("utilization", "utilization", "fraction", 2),
    _jobs("jobs_interrupted", "jobs interrupted", "fraction", 3),
    _jobs("lost_chip_hours", "lost chip-hours (hardware)", "chip-hours", 0),
    _jobs("gray_interruptions", "jobs failed by gray faults", "count", 0),
    _jobs("gray_lost_chip_hours", "  chip-hours they lost", "chip-hours", 0),
    _jobs("useful_chip_hours", "useful chip-hours delivered", "chip-hours", 0),
    _jobs("preemptible_chip_hours", "  of which best-effort (preemptible)", "chip-hours", 0),
    _jobs("queue_wait_p50_hours", "queue wait p50", "hours", 2),
    _jobs("queue_wait_p95_hours", "queue wait p95", "hours", 2),
    _jobs("queue_wait_mean_hours", "queue wait mean", "hours", 2, table=False),
    _jobs("preemptions", "preemptions", "count", 0),
    _jobs("migrations", "migrations", "count", 0),
    _jobs("spare_swaps", "spare-cube swaps", "count", 0),
    _jobs("spare_evictions", "preemptible jobs evicted for a swap", "count", 0),
    _jobs("maintenance_drains", "jobs drained for maintenance", "count", 0),
    _jobs("ft_reroutes", "FT reroutes", "count", 0),
    _jobs("degraded_fraction", "degraded (FT)", "fraction", 3),
    _jobs("slowdown_chip_hours", "chip-hours lost to FT slowdown", "chip-hours", 0),
    _jobs("checkpoint_chip_hours", "chip-hours stalled writing checkpoints", "chip-hours", 0),
    _jobs("held_chip_hours", "chip-hours held by jobs", "chip-hours", 0),
    _jobs("setup_chip_hours", "chip-hours of setups no failure caused", "chip-hours", 0),
    _jobs("preemption_lost_chip_hours", "chip-hours of work lost to preemption", "chip-hours", 0),
    _jobs("preflight_failures", "pre-flight failures", "count", 1),
    _jobs("detections", "failures detected by healthd", "count", 0),
    _jobs("mean_detection_minutes", "mean detection delay", "minutes", 2),
    _jobs("xconnects_per_day", "xconnects per day", "per day", 0),
    _jobs("xconnects_per_job", "xconnects per job", "per job", 1),
    _jobs("xconnects_per_job_first", "  of which first placement", "per job", 1),
    _jobs("xconnects_per_job_swap", "  of which spare swaps", "per job", 1),
    _jobs("xconnects_per_job_migration", "  of which migrations", "per job", 1),
    _jobs("xconnects_per_job_restart", "  of which restarts after requeue", "per job", 1),
    _jobs("xconnects_per_job_resize", "  of which elastic growth", "per job", 1),
    _jobs("circuits_per_job", "circuits its slice uses, per job", "per job", 1),
    _jobs("jobs_arrived", "jobs arrived", "count", 0),
    _jobs("jobs_completed", "jobs completed", "count", 0, table=False),
    _jobs("jobs_rejected", "jobs that never fit", "count", 0),
    _jobs("jobs_waiting_at_end", "jobs waiting at the end", "count", 0),
    _jobs("mean_queue_length", "mean queue length", "count", 2, table=False),
    _jobs("mean_time_in_queue_hours", "mean time in queue", "hours", 2, table=False),
    # the cost model (tpusim.scheduler.costs), measured only where a scenario gives prices
    _jobs("revenue_per_day", "revenue (useful chip-hours x price)", "per day", 0),
    _jobs("preemptible_revenue_per_day", "  of which preemptible work (on spare and idle cubes)", "per day", 0),
    _jobs("margin_per_day", "margin (revenue less the machine's cost)", "per day", 0),
    _jobs("goodput_per_cost", "useful chip-hours per unit of cost", "per cost unit", 3),
    # control variates (tpusim.measure.controls): per replication, of the machine (policy None),
    # quantities with means known exactly from the model; ingredients of the controlled estimates
    Metric("control_failure_candidates", "failure candidates before thinning (control)", "count", "controls",
           "class", 1, table=False, checked=False, internal=True),
    Metric("control_repair_hours", "repair hours drawn (control)", "hours", "controls", "class", 1,
           table=False, checked=False, internal=True),
    Metric("control_arrivals", "jobs arrived (control)", "count", "controls", None, 0, table=False, checked=False,
           internal=True),
    Metric("control_arrival_intensity", "expected arrivals given the day factors (control)", "count", "controls",
           None, 1, table=False, checked=False, internal=True),
    Metric("control_offered_chip_hours", "chip-hours of work offered (control)", "chip-hours", "controls", None, 0,
           table=False, checked=False, internal=True),
    # hero jobs (tpusim.scheduler.hero), one value per hero job (keyed by its name), measured only
    # where a scenario has them (workload.hero); fractions of its preferred slice's chip-time
    _jobs("hero_goodput", "hero goodput (useful share of its preferred slice's time)", "fraction", 2, False, "hero"),
    _jobs("hero_hardware_fraction", "  lost to hardware (work since checkpoint, stalls)", "fraction", 2, False, "hero"),
    _jobs("hero_restart_fraction", "  restarts (setups: after failures, first, after preemption)", "fraction", 2,
          False, "hero"),
    _jobs("hero_resize_fraction", "  resizes (setups of planned growth)", "fraction", 2, False, "hero"),
    _jobs("hero_checkpoint_fraction", "  checkpoint stalls", "fraction", 2, False, "hero"),
    _jobs("hero_slowdown_fraction", "  FT slowdown", "fraction", 2, False, "hero"),
    _jobs("hero_preemption_fraction", "  work lost to preemption", "fraction", 2, False, "hero"),
    _jobs("hero_shrunk_fraction", "  cubes not held while running smaller", "fraction", 2, False, "hero"),
    _jobs("hero_waiting_fraction", "  waiting for capacity (queued)", "fraction", 2, False, "hero"),
    _jobs("hero_time_at_preferred", "time at preferred size", "fraction", 2, False, "hero"),
    _jobs("hero_mean_cubes", "mean cubes held", "cubes", 2, False, "hero"),
    _jobs("hero_interruptions_per_day", "hardware interruptions per day", "per day", 3, False, "hero"),
    _jobs("hero_resizes_per_day", "resizes per day", "per day", 3, False, "hero"),
    _jobs("hero_scheduling_goodput", "scheduling goodput (chip-time held / asked for)", "fraction", 2, False, "hero"),
    _jobs("hero_runtime_goodput", "runtime goodput (useful / held)", "fraction", 2, False, "hero"),
    Metric("hero_program_goodput", "program goodput (an input, not simulated)", "fraction", "jobs", "hero", 2,
           table=False, checked=False),  # (an input: nothing for the regression gate to check)
    _jobs("hero_ml_goodput", "ML goodput (scheduling x runtime x program)", "fraction", 2, False, "hero"),
    _jobs("queue_wait_p50_by_chips_hours", "queue wait p50 by slice size", "hours", 2, False, "chips"),
    _jobs("queue_wait_p95_by_chips_hours", "queue wait p95 by slice size", "hours", 2, False, "chips"),
)}

#: Metric names as constants, for the code that names a metric: a mistyped constant is a
#: NameError (mypy finds it), a mistyped string was an estimate of nothing ("n/a"). Each equals
#: its registry name (tests/test_api.py checks that every one names a metric).
CAPACITY_FRACTION = "capacity_fraction"
CIRCUITS_PER_JOB = "circuits_per_job"
CHECKPOINT_CHIP_HOURS = "checkpoint_chip_hours"
CONTROL_ARRIVALS = "control_arrivals"
CONTROL_ARRIVAL_INTENSITY = "control_arrival_intensity"
CONTROL_FAILURE_CANDIDATES = "control_failure_candidates"
CONTROL_OFFERED_CHIP_HOURS = "control_offered_chip_hours"
CONTROL_REPAIR_HOURS = "control_repair_hours"
COMPONENT_AVAILABILITY = "component_availability"
COMPONENT_FAILURE_RATE = "component_failure_rate"
COMPONENT_REPAIR_HOURS = "component_repair_hours"
DEGRADED_FRACTION = "degraded_fraction"
DETECTIONS = "detections"
FT_REROUTES = "ft_reroutes"
GOODPUT = "goodput"
GOODPUT_PER_COST = "goodput_per_cost"
GRAY_INTERRUPTIONS = "gray_interruptions"
GRAY_LOST_CHIP_HOURS = "gray_lost_chip_hours"
HELD_CHIP_HOURS = "held_chip_hours"
HERO_CHECKPOINT_FRACTION = "hero_checkpoint_fraction"
HERO_GOODPUT = "hero_goodput"
HERO_HARDWARE_FRACTION = "hero_hardware_fraction"
HERO_INTERRUPTIONS_PER_DAY = "hero_interruptions_per_day"
HERO_MEAN_CUBES = "hero_mean_cubes"
HERO_ML_GOODPUT = "hero_ml_goodput"
HERO_PREEMPTION_FRACTION = "hero_preemption_fraction"
HERO_PROGRAM_GOODPUT = "hero_program_goodput"
HERO_RESIZE_FRACTION = "hero_resize_fraction"
HERO_RESIZES_PER_DAY = "hero_resizes_per_day"
HERO_RESTART_FRACTION = "hero_restart_fraction"
HERO_RUNTIME_GOODPUT = "hero_runtime_goodput"
HERO_SCHEDULING_GOODPUT = "hero_scheduling_goodput"
HERO_SHRUNK_FRACTION = "hero_shrunk_fraction"
HERO_SLOWDOWN_FRACTION = "hero_slowdown_fraction"
HERO_TIME_AT_PREFERRED = "hero_time_at_preferred"
HERO_WAITING_FRACTION = "hero_waiting_fraction"
JOBS_ARRIVED = "jobs_arrived"
JOBS_COMPLETED = "jobs_completed"
JOBS_INTERRUPTED = "jobs_interrupted"
JOBS_REJECTED = "jobs_rejected"
JOBS_WAITING_AT_END = "jobs_waiting_at_end"
LOST_CHIP_HOURS = "lost_chip_hours"
MAINTENANCE_CHIP_HOURS = "maintenance_chip_hours"
MAINTENANCE_DRAINS = "maintenance_drains"
MARGIN_PER_DAY = "margin_per_day"
MEAN_DETECTION_MINUTES = "mean_detection_minutes"
MEAN_QUEUE_LENGTH = "mean_queue_length"
MEAN_TIME_IN_QUEUE_HOURS = "mean_time_in_queue_hours"
MIGRATIONS = "migrations"
PREEMPTIBLE_CHIP_HOURS = "preemptible_chip_hours"
PREEMPTIBLE_REVENUE_PER_DAY = "preemptible_revenue_per_day"
PREEMPTIONS = "preemptions"
PREEMPTION_LOST_CHIP_HOURS = "preemption_lost_chip_hours"
PREFLIGHT_FAILURES = "preflight_failures"
QUEUE_WAIT_MEAN_HOURS = "queue_wait_mean_hours"
QUEUE_WAIT_P50_BY_CHIPS_HOURS = "queue_wait_p50_by_chips_hours"
QUEUE_WAIT_P50_HOURS = "queue_wait_p50_hours"
QUEUE_WAIT_P95_BY_CHIPS_HOURS = "queue_wait_p95_by_chips_hours"
QUEUE_WAIT_P95_HOURS = "queue_wait_p95_hours"
REVENUE_PER_DAY = "revenue_per_day"
SETUP_CHIP_HOURS = "setup_chip_hours"
SLICE_AVAILABILITY = "slice_availability"
SLICE_OUTAGES = "slice_outages"
SLICE_OUTAGE_LONGEST_HOURS = "slice_outage_longest_hours"
SLICE_OUTAGE_SQ_HOURS = "slice_outage_sq_hours"
SLOWDOWN_CHIP_HOURS = "slowdown_chip_hours"
SPARE_EVICTIONS = "spare_evictions"
SPARE_SWAPS = "spare_swaps"
SYSTEM_AVAILABILITY = "system_availability"
USEFUL_CHIP_HOURS = "useful_chip_hours"
USEFUL_AVAILABILITY = "useful_availability"
UTILIZATION = "utilization"
XCONNECTS_PER_DAY = "xconnects_per_day"
XCONNECTS_PER_JOB = "xconnects_per_job"

#: The control variates' names (:mod:`tpusim.measure.controls`).
CONTROL_METRICS = tuple(m.name for m in REGISTRY.values() if m.group == "controls")

#: The cost model's metrics, measured only where a scenario gives prices (:mod:`tpusim.scheduler.costs`).
COST_METRICS = ("revenue_per_day", "preemptible_revenue_per_day", "margin_per_day", "goodput_per_cost")

#: The job metrics a job simulation measures directly (one value per replication and policy).
JOB_METRICS = tuple(m.name for m in REGISTRY.values()
                    if m.group == "jobs" and m.breakdown is None and m.name not in COST_METRICS)

#: The hero-job metrics (:mod:`tpusim.scheduler.hero`), one per hero job, measured only where a scenario has them.
HERO_METRICS = tuple(m.name for m in REGISTRY.values() if m.breakdown == "hero")


def metric(name: str) -> Metric:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"no metric named {name!r}") from None


class Sample(NamedTuple):
    replication: int
    policy: str | None
    metric: str
    key: str | None
    value: float


SAMPLE_COLUMNS = Sample._fields


class Estimates:
    """Every metric's estimate, computed once from the samples.

    Values are grouped by (policy, metric, key) in replication order; NaN values (undefined in
    that replication) are left out; a group with no value left has no estimate (None). Slice
    availability, given the replications' ``horizon`` (hours), also uses its outages
    (:func:`tpusim.core.stats.availability_estimate`).
    """

    def __init__(self, samples: Iterable[Sample], horizon: float | None = None):
        groups: dict[tuple[str | None, str, str | None], list[float]] = {}
        for s in samples:
            groups.setdefault((s.policy, s.metric, s.key), []).append(s.value)
        self._by: dict[tuple[str | None, str, str | None], Estimate | None] = {}
        for (policy, name, key), values in groups.items():
            defined = [v for v in values if not math.isnan(v)]
            count = groups.get((policy, "slice_outages", key))
            sq = groups.get((policy, "slice_outage_sq_hours", key))
            longest = groups.get((policy, "slice_outage_longest_hours", key))
            if name == "slice_availability" and horizon is not None and count and sq and longest:
                self._by[(policy, name, key)] = availability_estimate(defined, horizon, math.fsum(count),
                                                                      math.fsum(sq), max(longest))
            else:
                self._by[(policy, name, key)] = estimate(defined, bounds=metric(name).bounds) if defined else None

    def get(self, policy: str | None, name: str, key: str | None = None) -> Estimate | None:
        """The estimate of ``name`` (for ``policy`` and breakdown ``key``), or None where the run
        measured no such thing (a job metric without a workload, a shape not listed). A name
        that is no metric at all raises ``KeyError``: a typo must not print "n/a"."""
        metric(name)
        return self._by.get((policy, name, key))

    def replaced(self, swap) -> "Estimates":
        """A copy with each estimate ``e`` of group ``(policy, metric, key)`` replaced by
        ``swap((policy, metric, key), e)`` (the same object: unchanged)."""
        out = object.__new__(Estimates)
        out._by = {k: swap(k, e) for k, e in self._by.items()}
        return out

    def keys(self, policy: str | None, name: str) -> list[str]:
        """The breakdown keys of a metric, in the order first seen (chips: ascending size)."""
        keys = [k for (p, n, k) in self._by if p == policy and n == name and k is not None]
        if metric(name).breakdown == "chips":
            keys.sort(key=int)
        return keys

    def items(self):
        """``((policy, metric, key), estimate)`` for every group, in the order first seen."""
        return self._by.items()
