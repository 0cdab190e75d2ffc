"""The workload: jobs arriving at the machine, drawn once per replication (or read from CSV).

A job asks for a slice shape, belongs to a priority band (``production`` > ``batch`` >
``best_effort``), carries a duration of useful work, a checkpoint interval and, like every job
in the scenario, a restart cost. Generated workloads are a Poisson stream of arrivals at
``jobs_per_pod_day`` per pod, shapes drawn from a mix (by default the TPU v4 slice-size table
shipped with tpusim, ``tpusim/data/slice_mix.csv``), durations from a lognormal (or exponential,
or fixed) distribution, bands from configured shares. All draws come from the ``workload``
stream of the replication, so every policy sees the same jobs.

Checkpoint interval: fixed, or Young's ``sqrt(2 * C * MTBF)`` where ``C`` is the time to write
a checkpoint and ``MTBF`` is the mean time between failures of the parts the job's slice uses
(its hosts and ICI links, and on the reconfigurable machine its pod's OCSes). Writing a
checkpoint is taken to be asynchronous (it costs no step time); ``C`` only sets the interval.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from tpusim.rng import generator
from tpusim.topology.shapes import SliceShape

BANDS = ("production", "batch", "best_effort")  # index = band; lower index = higher priority
PATTERNS = ("allreduce", "alltoall")


@dataclass(frozen=True)
class JobSpec:
    id: int
    arrival: float  # hours
    shape: SliceShape
    work: float  # hours of useful work on a healthy slice
    band: int  # index into BANDS
    pattern: str = "allreduce"  # traffic pattern: "allreduce" (or nearest-neighbour) or "alltoall"


def read_mix(path: str | None) -> list[tuple[SliceShape, float]]:
    """(shape, weight) rows of a mix CSV with columns ``shape`` and ``percent`` (``#`` comments)."""
    if path is None:
        text = resources.files("tpusim").joinpath("data/slice_mix.csv").read_text()
    else:
        text = Path(path).read_text()
    rows = csv.DictReader(line for line in text.splitlines() if line.strip() and not line.startswith("#"))
    weights: dict[SliceShape, float] = {}
    for row in rows:
        shape = SliceShape.parse(row["shape"])
        weights[shape] = weights.get(shape, 0.0) + float(row["percent"])
    return list(weights.items())


def read_job_trace(path: str) -> list[JobSpec]:
    """Jobs from a CSV with columns ``arrival_hours, shape, duration_hours, priority`` and
    optionally ``traffic`` (``allreduce`` or ``alltoall``)."""
    jobs = []
    with open(path, newline="") as fh:
        reader = csv.DictReader(line for line in fh if line.strip() and not line.startswith("#"))
        for i, row in enumerate(reader):
            pattern = (row.get("traffic") or "allreduce").strip()
            if pattern not in PATTERNS:
                raise ValueError(f"traffic must be one of {PATTERNS}, got {pattern!r}")
            jobs.append(JobSpec(i, float(row["arrival_hours"]), SliceShape.parse(row["shape"]),
                                float(row["duration_hours"]), BANDS.index(row["priority"].strip()), pattern))
    jobs.sort(key=lambda j: (j.arrival, j.id))
    return [JobSpec(i, j.arrival, j.shape, j.work, j.band, j.pattern) for i, j in enumerate(jobs)]


def generate_jobs(workload, pods: int, horizon: float, seed: int, replication: int) -> list[JobSpec]:
    """The replication's jobs: the CSV trace if one is given, else a generated Poisson stream."""
    if workload.trace is not None:
        return [j for j in read_job_trace(workload.trace) if j.arrival < horizon]
    gen = generator(seed, replication, "workload")
    mix = read_mix(workload.mix)
    shapes = [s for s, _ in mix]
    weights = np.array([w for _, w in mix], dtype=float)
    rate = workload.jobs_per_pod_day * pods / 24.0  # per hour
    n = int(gen.poisson(rate * horizon))
    arrivals = np.sort(gen.uniform(0.0, horizon, n))
    which = gen.choice(len(shapes), size=n, p=weights / weights.sum())
    d = workload.duration
    if d.dist == "lognormal":
        sigma = d.shape
        work = gen.lognormal(math.log(d.mean_hours) - sigma**2 / 2, sigma, n)
    elif d.dist == "exponential":
        work = gen.exponential(d.mean_hours, n)
    else:
        work = np.full(n, d.mean_hours)
    shares = np.array([getattr(workload.priorities, b) for b in BANDS], dtype=float)
    bands = gen.choice(3, size=n, p=shares / shares.sum())
    mix = np.array([getattr(workload.traffic, p) for p in PATTERNS], dtype=float)
    patterns = gen.choice(len(PATTERNS), size=n, p=mix / mix.sum())  # drawn last: earlier draws keep their values
    return [JobSpec(i, float(arrivals[i]), shapes[which[i]], float(work[i]), int(bands[i]), PATTERNS[patterns[i]])
            for i in range(n)]


def young_interval(checkpoint_hours: float, mtbf_hours: float) -> float:
    """Young's optimal checkpoint interval sqrt(2 C M)."""
    return math.sqrt(2.0 * checkpoint_hours * mtbf_hours)
