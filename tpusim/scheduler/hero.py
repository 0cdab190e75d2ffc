"""What a hero job gets: its goodput, where the rest of its time went, and its size over time.

A hero job (``workload.hero``, :class:`~tpusim.scheduler.workload.HeroSpec`) is one long-lived
job that asks for most of a pod; it may be elastic (:func:`~tpusim.scheduler.job.elastic_sizes`),
or multislice (:mod:`tpusim.scheduler.gang`: its figures are the gang's, its preferred slice
being all its slices).
Its figures are fractions of the chip-time of its *preferred* slice from its arrival ``a`` to
the horizon ``T``, or to its finish if it finishes first: ``total = chips(preferred) x (T - a)``. With the job's own accounting
(:mod:`tpusim.scheduler.job`, all chip-hours):

- ``hero_goodput = useful / total``: the share of that time spent making progress (an elastic
  job on k of its P cubes makes progress at k/P of the preferred speed, on k/P of the chips);
- its decomposition, summing to 1 exactly: ``useful``; ``hardware`` (work lost since the last
  checkpoint and the stalls until the Pod Manager reacted: ``lost`` less the setups after
  failures); ``restarts`` (setups after failures, first start, restarts after preemption:
  ``recovery_setup + setup_held - resize_held``); ``resizes`` (setups of planned growth);
  ``checkpoints`` (stalls writing them); ``slowdown`` (FT routing); ``preemption`` (work lost
  when preempted); ``shrunk`` (the chip-time of the cubes it did not hold while running
  smaller than preferred); ``waiting`` (queued, holding nothing: the rest);
- ``hero_time_at_preferred``: share of ``T - a`` it held its preferred slice;
  ``hero_mean_cubes``: cubes held, time-averaged over ``T - a`` (0 while it waits);
  ``hero_interruptions_per_day`` (hardware interruptions) and ``hero_resizes_per_day`` (starts
  at another size than its last run);
- the ML-goodput products (Google Cloud's "ML Productivity Goodput"): *scheduling goodput* =
  chip-time held / total (the resources it asked for that it had); *runtime goodput* = useful /
  held (the share of held time that made progress); *program goodput* is an **input**
  (``workload.hero[].program_goodput``: the share of the chips' peak the program achieves,
  e.g. its model FLOPs utilisation; tpusim does not model it); ``hero_ml_goodput`` is their
  product. Scheduling x runtime = ``hero_goodput``.
"""

from __future__ import annotations

from typing import Sequence

from tpusim.core.metrics import (
    HERO_CHECKPOINT_FRACTION,
    HERO_GOODPUT,
    HERO_HARDWARE_FRACTION,
    HERO_INTERRUPTIONS_PER_DAY,
    HERO_MEAN_CUBES,
    HERO_ML_GOODPUT,
    HERO_PREEMPTION_FRACTION,
    HERO_PROGRAM_GOODPUT,
    HERO_RESIZE_FRACTION,
    HERO_RESIZES_PER_DAY,
    HERO_RESTART_FRACTION,
    HERO_RUNTIME_GOODPUT,
    HERO_SCHEDULING_GOODPUT,
    HERO_SHRUNK_FRACTION,
    HERO_SLOWDOWN_FRACTION,
    HERO_TIME_AT_PREFERRED,
    HERO_WAITING_FRACTION,
)
from tpusim.core.units import days
from tpusim.policies.base import Policy
from tpusim.scheduler.job import elastic_sizes
from tpusim.scheduler.workload import HeroSpec
from tpusim.topology.machine import MachineLayout

#: The decomposition of a hero job's preferred chip-time, in the order tables print it.
HERO_PARTS = (HERO_GOODPUT, HERO_HARDWARE_FRACTION, HERO_RESTART_FRACTION, HERO_RESIZE_FRACTION,
              HERO_CHECKPOINT_FRACTION, HERO_SLOWDOWN_FRACTION, HERO_PREEMPTION_FRACTION,
              HERO_SHRUNK_FRACTION, HERO_WAITING_FRACTION)


def hero_metrics(job, T: float, program_goodput: float, chips_per_cube: int) -> dict[str, float]:
    """A hero job's figures at horizon ``T`` (its accounting settled to ``T``), by metric name,
    on cubes of ``chips_per_cube`` chips."""
    end = T if job.finish is None else min(T, job.finish)  # (a hero that finished no longer waits)
    span = end - job.arrival
    nan = float("nan")
    if span <= 0:
        return {name: nan for name in (*HERO_PARTS, HERO_TIME_AT_PREFERRED, HERO_MEAN_CUBES,
                                        HERO_INTERRUPTIONS_PER_DAY, HERO_RESIZES_PER_DAY, HERO_SCHEDULING_GOODPUT,
                                        HERO_RUNTIME_GOODPUT, HERO_PROGRAM_GOODPUT, HERO_ML_GOODPUT)}
    total = job.work_chips * span
    held, useful = job.held, job.useful
    parts = {
        HERO_GOODPUT: useful,
        HERO_HARDWARE_FRACTION: job.lost - job.recovery_setup,
        HERO_RESTART_FRACTION: job.recovery_setup + job.setup_held - job.resize_held,
        HERO_RESIZE_FRACTION: job.resize_held,
        HERO_CHECKPOINT_FRACTION: job.ckpt_stall,
        HERO_SLOWDOWN_FRACTION: job.slow_lost,
        HERO_PREEMPTION_FRACTION: job.preempt_lost,
        HERO_SHRUNK_FRACTION: job.short,
        HERO_WAITING_FRACTION: total - held - job.short,
    }
    # (a part computed as a difference may come out a rounding error below 0: shown as 0; a real
    # negative part stays, so that the sum shows it)
    out = {name: 0.0 if -1e-9 < value / total < 0.0 else value / total for name, value in parts.items()}
    runtime = useful / held if held > 0 else nan
    out.update({
        HERO_TIME_AT_PREFERRED: job.at_full / span,
        HERO_MEAN_CUBES: held / chips_per_cube / span,
        HERO_INTERRUPTIONS_PER_DAY: job.interruptions / days(span),
        HERO_RESIZES_PER_DAY: job.resizes / days(span),
        HERO_SCHEDULING_GOODPUT: held / total,
        HERO_RUNTIME_GOODPUT: runtime,
        HERO_PROGRAM_GOODPUT: program_goodput,
        HERO_ML_GOODPUT: held / total * runtime * program_goodput if held > 0 else 0.0,
    })
    return out


def never_placed(heroes: Sequence[HeroSpec], machine: MachineLayout, policies: Sequence[Policy]) -> list[tuple[str, str]]:
    """(hero name, policy name) for each hero job that a policy can never place at any of its
    sizes (the static pod: no box of any of them fits the grid): its goodput there is 0 by
    construction, which ``tpusim validate`` says before a run is spent on it."""
    out = []
    for h in heroes:
        sizes = elastic_sizes(h.shape.cube_dims(machine.cube.shape), h.min_cubes)
        out += [(h.name, p.name) for p in policies if not any(p.grid_fits(d) for d in sizes)]
    return out
