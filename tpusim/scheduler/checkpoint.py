"""What a checkpoint costs, and the interval rules that trade that cost against failures.

A job writes a checkpoint each time its useful work reaches a multiple of its *interval* (hours
of useful work). Each write **stalls training** for its blocking part ``block``: the whole write
for a synchronous checkpoint, only the snapshot into host memory for an asynchronous one, whose
write then goes on in the background. A checkpoint is *durable* ``write`` hours after its write
starts (``block <= write``); a failure before then loses it, and the job falls back to the one
before. A job's timeline is therefore compute ``interval``, stall ``block``, compute, ... and
goodput against the interval has an interior optimum: short intervals pay many stalls, long
ones lose much work per failure.

Interval rules, from the blocking cost ``C = block`` and the mean time between the failures that
actually interrupt the job under its policy ``M`` (:meth:`tpusim.policies.Policy.interrupting_rate`):

- ``young``: ``sqrt(2 C M)`` (Young 1974, first order);
- ``daly``: ``sqrt(2 C M) (1 + sqrt(C / 2M) / 3 + (C / 2M) / 9) - C`` for ``C < 2M``, else ``M``
  (Daly 2006, higher order).

Either is raised to ``write`` where it would fall below it: an interval shorter than the write
would start a write before the last one is durable, which the scenario refuses for fixed
intervals (``workload.checkpoint.interval_hours``). With no interrupting failures (``M``
infinite) a job never checkpoints.

Planned stops (a migration, a drain, a preemption with notice) write a checkpoint on the spot at
no charged cost: they are rare beside the periodic writes, and the stall they would add sits in
the stop itself. Everything here is in hours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

RULES = ("fixed", "young", "daly")


def young_interval(block: float, mtbf: float) -> float:
    """Young's interval sqrt(2 C M)."""
    return math.sqrt(2.0 * block * mtbf)


def daly_interval(block: float, mtbf: float) -> float:
    """Daly's higher-order interval; ``mtbf`` when the cost reaches twice the MTBF."""
    if block >= 2.0 * mtbf:
        return mtbf
    x = block / (2.0 * mtbf)
    return math.sqrt(2.0 * block * mtbf) * (1.0 + math.sqrt(x) / 3.0 + x / 9.0) - block


@dataclass(frozen=True)
class Checkpointing:
    """The ``workload.checkpoint`` section, in hours."""

    rule: Literal["fixed", "young", "daly"]
    interval: float | None  # the fixed interval (hours of useful work); None under a rule
    write: float  # from the start of a write until the checkpoint is durable
    block: float  # training stalls this long per write (= write when synchronous)

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"unknown checkpoint rule {self.rule!r}")
        if (self.interval is None) != (self.rule != "fixed"):
            raise ValueError("a fixed rule needs an interval, and only it")
        if not 0.0 <= self.block <= self.write:
            raise ValueError(f"blocking part {self.block} must lie in [0, write = {self.write}]")
        if self.interval is not None and self.interval < self.write:
            raise ValueError(f"interval {self.interval} is shorter than the write {self.write}")

    def interval_for(self, mtbf: float) -> float:
        """The interval of a job whose interrupting failures come every ``mtbf`` hours on average."""
        if self.interval is not None:
            return self.interval
        if math.isinf(mtbf):
            return math.inf
        rule = young_interval if self.rule == "young" else daly_interval
        return max(self.write, rule(self.block, mtbf)) or math.inf  # (the build refuses a free write here)
