"""Confidence intervals over independent replications.

Each replication yields one number per metric (a time average over the horizon). Replications
are independent and identically distributed, so the 95 % interval is Student's
``mean ± t(0.975, R-1) · s / sqrt(R)``. With one replication there is no interval (``None``).
Intervals are clipped to the range the quantity can take: [0, 1] for fractions (the default),
[0, inf) for counts and durations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from scipy import stats


@dataclass(frozen=True)
class Estimate:
    mean: float
    ci95: tuple[float, float] | None
    n: int

    @property
    def half_width(self) -> float | None:
        return None if self.ci95 is None else (self.ci95[1] - self.ci95[0]) / 2.0

    def as_dict(self) -> dict:
        return {"mean": self.mean, "ci95": list(self.ci95) if self.ci95 is not None else None}


FRACTION = (0.0, 1.0)
NON_NEGATIVE = (0.0, math.inf)
UNBOUNDED = (-math.inf, math.inf)


def estimate(values: Sequence[float], level: float = 0.95, bounds: tuple[float, float] = FRACTION) -> Estimate:
    n = len(values)
    mean = math.fsum(values) / n
    if n < 2:
        return Estimate(mean, None, n)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf(0.5 + level / 2.0, n - 1)) * sd / math.sqrt(n)
    lo, hi = max(bounds[0], mean - half), min(bounds[1], mean + half)
    return Estimate(mean, (lo, hi), n)
