"""The workload: jobs arriving at the machine, drawn once per replication (or replayed).

A job asks for a slice shape, belongs to a priority band (``production`` > ``batch`` >
``best_effort``), carries a duration of useful work, a checkpoint interval and, like every job
in the scenario, a restart cost. Generated workloads are a Poisson stream of arrivals at
``arrivals_per_hour`` (``jobs_per_pod_day`` x pods / 24), shapes drawn from a mix (by default
the TPU v4 slice-size table shipped with tpusim, ``tpusim/data/slice_mix.csv``), durations from
a lognormal (or exponential, or fixed) distribution, bands from configured shares. All draws
come from the ``workload`` stream of the replication, so every policy sees the same jobs.

Checkpoints (their cost, and the fixed, Young or Daly interval) are
:mod:`tpusim.scheduler.checkpoint`'s.

:func:`parse_mix` and :func:`parse_job_trace` turn CSV text into rows; the config layer reads
the files. Everything here is in hours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from tpusim.core import csvrows
from tpusim.core.collect import Emit
from tpusim.core.metrics import CONTROL_ARRIVALS, CONTROL_ARRIVAL_INTENSITY, CONTROL_OFFERED_CHIP_HOURS
from tpusim.core.rng import generator
from tpusim.scheduler.blocks import block_level
from tpusim.scheduler.checkpoint import Checkpointing
from tpusim.topology.machine import MachineLayout
from tpusim.topology.shapes import SliceShape
from tpusim.core.units import HOURS_PER_DAY

BANDS = ("production", "batch", "best_effort")  # index = band; lower index = higher priority
PATTERNS = ("allreduce", "alltoall")


class JobSpec(NamedTuple):
    """One job as the workload asks for it (a named tuple: one is made per arrival)."""

    id: int
    arrival: float  # hours
    shape: SliceShape
    work: float  # hours of useful work on a healthy slice
    band: int  # index into BANDS
    pattern: str = "allreduce"  # traffic pattern: "allreduce" (or nearest-neighbour) or "alltoall"
    min_cubes: int = 0  # elastic: the fewest cubes it trains on (0: rigid, its shape only)
    hero: str = ""  # the name of a hero job (``workload.hero``), else ""


#: Hero jobs' ids start here: never those of the workload's own jobs (numbered from 0).
HERO_ID_BASE = 1 << 40


@dataclass(frozen=True)
class HeroSpec:
    """One hero job of ``workload.hero``, in hours: a long-lived job asking for most of a pod."""

    name: str
    shape: SliceShape  # its preferred slice (the last dimension is the one an elastic job shrinks)
    min_cubes: int  # the fewest cubes it trains on (as many as ``shape`` has: rigid)
    arrival: float  # hours
    work: float  # hours of useful work at the preferred size
    band: int  # index into BANDS
    program_goodput: float  # an input: the share of peak the program achieves on healthy chips
    slices: int = 1  # multislice: slices of ``shape``, each in its own pod (tpusim.scheduler.gang)

    def job_spec(self, index: int) -> JobSpec:
        return JobSpec(HERO_ID_BASE + index, self.arrival, self.shape, self.work, self.band,
                       min_cubes=self.min_cubes, hero=self.name)


@dataclass(frozen=True)
class WorkloadParams:
    """The ``workload`` section, in hours, with its CSV files already parsed."""

    arrivals_per_hour: float  # over the whole machine
    mix: tuple[tuple[SliceShape, float], ...]  # (shape, weight)
    duration_dist: str  # "lognormal", "exponential" or "fixed"
    duration_mean: float  # hours
    duration_sigma: float  # lognormal only
    band_shares: tuple[float, float, float]  # in BANDS order (normalised when drawn)
    pattern_shares: tuple[float, float]  # in PATTERNS order
    checkpointing: Checkpointing  # what a checkpoint costs and how often jobs write one
    restart: float  # hours from (re)start to the first useful step
    trace: tuple[JobSpec, ...] | None = None  # replayed jobs instead of generated ones
    daily_rate_cv: float = 0.0  # day-to-day burstiness of the arrival rate (0: Poisson)
    heroes: tuple[HeroSpec, ...] = ()  # hero jobs, beside the generated or replayed ones


def _shape(row: csvrows.Row, column: str) -> SliceShape:
    try:
        return SliceShape.parse(row.text(column))
    except ValueError as exc:
        raise row.error(column, str(exc)) from None


def parse_mix(text: str) -> list[tuple[SliceShape, float]]:
    """(shape, weight) rows of a mix CSV with columns ``shape`` and ``percent`` (``chips`` and
    ``twisted`` may be given and are not read; ``#`` comments). ``ValueError`` naming the line
    and column of a bad value; the percents must be finite, >= 0 and not all 0."""
    weights: dict[SliceShape, float] = {}
    for row in csvrows.rows(text, ("shape", "percent"), ("chips", "twisted")):
        shape = _shape(row, "shape")
        weights[shape] = weights.get(shape, 0.0) + row.number("percent", low=0.0)
    if not weights:
        raise csvrows.CsvError("no rows: a mix needs at least one shape")
    if not sum(weights.values()) > 0:
        raise csvrows.CsvError("every percent is 0: no job could be drawn")
    return list(weights.items())


def parse_job_trace(lines: str | Iterable[str]) -> list[JobSpec]:
    """Jobs from CSV with columns ``arrival_hours, shape, duration_hours, priority`` and
    optionally ``traffic`` (``allreduce`` or ``alltoall``), sorted by arrival. ``ValueError``
    naming the line and column of a bad value: arrivals finite and >= 0, durations finite and
    > 0, a priority one of :data:`BANDS`."""
    jobs = []
    required = ("arrival_hours", "shape", "duration_hours", "priority")
    for i, row in enumerate(csvrows.rows(lines, required, ("traffic",))):
        pattern = row.choice("traffic", PATTERNS, default="allreduce")
        jobs.append(JobSpec(i, row.number("arrival_hours", low=0.0), _shape(row, "shape"),
                            row.number("duration_hours", above=0.0), BANDS.index(row.choice("priority", BANDS)),
                            pattern))
    jobs.sort(key=lambda j: (j.arrival, j.id))
    return [JobSpec(i, j.arrival, j.shape, j.work, j.band, j.pattern) for i, j in enumerate(jobs)]


def shape_problem(machine: MachineLayout, shape: SliceShape) -> str | None:
    """Why a job of ``shape`` can never run on this machine, or None if it can."""
    cube_shape = machine.cube.shape
    if shape.chips < machine.cube.chips:
        if block_level(cube_shape, shape.dims) is None:
            return f"{shape.label} fits in no aligned block of a {'x'.join(map(str, cube_shape))} cube"
        return None
    try:
        cubes = shape.cubes(cube_shape)
    except ValueError as exc:
        return str(exc)
    if cubes > machine.cubes_per_pod:
        return f"{shape.label} needs {cubes} cubes but a pod has {machine.cubes_per_pod}"
    return None


def generate_jobs(workload: WorkloadParams, horizon: float, seed: int, replication: int) -> Sequence[JobSpec]:
    """The replication's jobs: the replayed trace if there is one, else a generated stream
    (Poisson, or bursty from day to day: :func:`_arrival_times`)."""
    if workload.trace is not None:
        return [j for j in workload.trace if j.arrival < horizon]
    gen = generator(seed, replication, "workload")
    shapes = [s for s, _ in workload.mix]
    weights = np.array([w for _, w in workload.mix], dtype=float)
    arrivals, intensity = _arrival_times(workload, horizon, gen)
    n = len(arrivals)
    which = gen.choice(len(shapes), size=n, p=weights / weights.sum())
    if workload.duration_dist == "lognormal":
        sigma = workload.duration_sigma
        work = gen.lognormal(math.log(workload.duration_mean) - sigma**2 / 2, sigma, n)
    elif workload.duration_dist == "exponential":
        work = gen.exponential(workload.duration_mean, n)
    else:
        work = np.full(n, workload.duration_mean)
    shares = np.array(workload.band_shares, dtype=float)
    bands = gen.choice(3, size=n, p=shares / shares.sum())
    mix = np.array(workload.pattern_shares, dtype=float)
    patterns = gen.choice(len(PATTERNS), size=n, p=mix / mix.sum())  # drawn last: earlier draws keep their values
    return JobStream(arrivals, which, work, bands, patterns, tuple(shapes), intensity)


class JobStream(Sequence[JobSpec]):
    """A replication's generated jobs, kept as numpy columns and made into :class:`JobSpec`
    objects only as they are read (the simulation reads them in arrival order, once per
    policy): a 25-pod year of 1.2 million jobs holds about 40 MB of columns, not a list of
    objects five times that size. Job ``i`` is the ``i``-th arrival."""

    def __init__(self, arrivals, which, work, bands, patterns, shapes: tuple[SliceShape, ...],
                 intensity: float | None = None):
        self._columns = (arrivals, which, work, bands, patterns)
        self._shapes = shapes
        #: the expected number of arrivals given the day factors (None: a Poisson stream)
        self.intensity = intensity

    def collect(self, horizon: float, emit: Emit) -> None:
        """The workload's control variates (:func:`control_means` gives their exact means):
        arrivals, the expected arrivals given the day factors (bursty arrivals only) and the
        chip-hours of work offered."""
        arrivals, which, work = self._columns[:3]
        chips = np.array([s.chips for s in self._shapes], dtype=float)
        emit(CONTROL_ARRIVALS, None, float(len(arrivals)))
        if self.intensity is not None:
            emit(CONTROL_ARRIVAL_INTENSITY, None, self.intensity)
        emit(CONTROL_OFFERED_CHIP_HOURS, None, math.fsum((chips[which] * work).tolist()))

    def __len__(self) -> int:
        return len(self._columns[0])

    def _spec(self, i: int) -> JobSpec:
        arrivals, which, work, bands, patterns = self._columns
        return JobSpec(i, float(arrivals[i]), self._shapes[which[i]], float(work[i]), int(bands[i]),
                       PATTERNS[patterns[i]])

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._spec(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._spec(index)

    def __iter__(self) -> Iterator[JobSpec]:
        shapes, step = self._shapes, 4096  # columns read a block at a time, as Python numbers
        for start in range(0, len(self), step):
            block = [column[start:start + step].tolist() for column in self._columns]
            for i, (arrival, which, work, band, pattern) in enumerate(zip(*block), start):
                yield JobSpec(i, arrival, shapes[which], work, band, PATTERNS[pattern])


def control_means(workload: WorkloadParams, horizon: float) -> dict[str, float]:
    """The exact means of a generated workload's control variates (:meth:`JobStream.collect`)
    over ``horizon`` hours, by metric (a replayed job trace has none).

    Arrivals are Poisson at ``arrivals_per_hour`` (``lambda``), or given the day factors ``f_d``
    (gamma, mean 1) Poisson at ``lambda f_d`` over day ``d`` of ``len_d`` hours: the arrivals
    and the intensity ``lambda sum f_d len_d`` both have mean ``lambda x horizon``. Each job's
    shape and work are drawn independently of the arrivals and of each other, so the offered
    chip-hours (the sum of chips x work over the arrivals) have mean
    ``lambda x horizon x E[chips] x E[work]`` (Wald), ``E[chips]`` over the mix's weights and
    ``E[work]`` the duration's mean (the lognormal is parametrised by its mean)."""
    expected = workload.arrivals_per_hour * horizon
    weights = np.array([w for _, w in workload.mix], dtype=float)
    chips = np.array([s.chips for s, _ in workload.mix], dtype=float)
    mean_chips = float((weights * chips).sum() / weights.sum())
    out = {CONTROL_ARRIVALS: expected, CONTROL_OFFERED_CHIP_HOURS: expected * mean_chips * workload.duration_mean}
    if workload.daily_rate_cv > 0:
        out[CONTROL_ARRIVAL_INTENSITY] = expected
    return out


def _arrival_times(workload: WorkloadParams, horizon: float,
                   gen: np.random.Generator) -> tuple[np.ndarray, float | None]:
    """Sorted arrival times: a Poisson process, or with ``daily_rate_cv`` a Cox process whose
    rate is constant within a day and the mean times an independent gamma factor (mean 1, that
    coefficient of variation) from day to day; and for the Cox process the expected number of
    arrivals given the factors (None for Poisson)."""
    cv = workload.daily_rate_cv
    if cv == 0:
        n = int(gen.poisson(workload.arrivals_per_hour * horizon))
        return np.sort(gen.uniform(0.0, horizon, n)), None
    days = int(math.ceil(horizon / HOURS_PER_DAY))
    factors = gen.gamma(1.0 / cv**2, cv**2, days)
    starts = np.arange(days) * HOURS_PER_DAY
    lengths = np.minimum(24.0, horizon - starts)
    counts = gen.poisson(workload.arrivals_per_hour * lengths * factors)
    times = starts.repeat(counts) + gen.uniform(0.0, 1.0, int(counts.sum())) * lengths.repeat(counts)
    return np.sort(times), workload.arrivals_per_hour * math.fsum((lengths * factors).tolist())
