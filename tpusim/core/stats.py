"""Confidence intervals over independent replications, and for rare outages.

Each replication yields one number per metric (a time average over the horizon). Replications
are independent and identically distributed, so the 95 % interval is Student's
``mean ± t(0.975, R-1) · s / sqrt(R)``, clipped to the range the quantity can take ([0, 1] for
fractions, [0, inf) for counts and durations). There is no interval with one replication, nor
when every replication gave the same value: a zero-width interval would claim a certainty that
``R`` samples cannot give, so the estimate carries a note instead.

Availability built from a few long outages is skewed, and Student's interval then covers far
less than 95 % (measured: 71 % at 2 replications of 30 days, 87-89 % at 4-10 of 90 days for the
all-48-OCSes-up probability). :func:`outage_interval` treats the outages themselves as the
independent units: the unavailable time is a sum of outage durations, a weighted Poisson sum,
and Fay and Feuer's gamma interval for such sums (Statistics in Medicine 16, 1997) has at least
its nominal coverage even with few outages. Slice availability reports the union of both.

Coverage measured for the all-48-OCSes-up probability (``tests/test_intervals.py``): with at
least :data:`MIN_OUTAGES` outages the union covers 94-100 % whatever the design; with fewer it
may cover far less (50-90 %), and so may Student's interval from fewer than
:data:`MIN_REPLICATIONS` replications. Such intervals are still reported, marked
``reliable = False`` with a note saying why.
"""

from __future__ import annotations

import math
from tpusim.core.units import HOURS_PER_DAY
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence


def _scipy_stats():
    """scipy.stats, imported on first use (it alone takes about a second to import)."""
    from scipy import stats

    return stats


@lru_cache(maxsize=256)
def student_t_quantile(q: float, df: int) -> float:
    """Student's t quantile (scipy), remembered: a sweep's tables ask for the same few thousands
    of times, and each scipy call costs about 0.15 ms."""
    return float(_scipy_stats().t.ppf(q, df))


#: Fewer outages than this (over all replications): the availability interval is unreliable.
MIN_OUTAGES = 10
#: Fewer replications than this: Student's interval is unreliable.
MIN_REPLICATIONS = 5


@dataclass(frozen=True)
class Estimate:
    mean: float
    ci95: tuple[float, float] | None
    n: int
    note: str | None = None  # why there is no interval, or why it is not reliable
    reliable: bool = True  # False: its coverage may be well below 95 % (see the note)
    #: a control-variate estimate (tpusim.measure.controls): its variance-reduction factor; None: plain
    controlled: float | None = None

    @property
    def half_width(self) -> float | None:
        return None if self.ci95 is None else (self.ci95[1] - self.ci95[0]) / 2.0

    def as_dict(self) -> dict:
        out: dict = {"mean": self.mean, "ci95": list(self.ci95) if self.ci95 is not None else None}
        if not self.reliable:
            out["reliable"] = False
        if self.note is not None:
            out["note"] = self.note
        if self.controlled is not None:
            out["control_variates"] = {"variance_reduction": self.controlled}
        return out


FRACTION = (0.0, 1.0)
NON_NEGATIVE = (0.0, math.inf)
UNBOUNDED = (-math.inf, math.inf)


def estimate(values: Sequence[float], level: float = 0.95, bounds: tuple[float, float] = FRACTION) -> Estimate:
    n = len(values)
    mean = math.fsum(values) / n
    if n < 2:
        return Estimate(mean, None, n)
    if all(v == values[0] for v in values):
        return Estimate(mean, None, n, f"the same in all {n} replications: no interval")
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = student_t_quantile(0.5 + level / 2.0, n - 1) * sd / math.sqrt(n)
    lo, hi = max(bounds[0], mean - half), min(bounds[1], mean + half)
    if n < MIN_REPLICATIONS:
        return Estimate(mean, (lo, hi), n, f"only {n} replications (fewer than {MIN_REPLICATIONS}): "
                                           f"the interval may cover less than 95 %", reliable=False)
    return Estimate(mean, (lo, hi), n)


def proportion_interval(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson (exact) interval for a binomial proportion (scipy's ``binomtest``)."""
    ci = _scipy_stats().binomtest(successes, trials).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


def excess_rate_p_value(events: int, exposure: float, other_events: int, other_exposure: float) -> float:
    """One-sided p-value that a group with ``events`` in ``exposure`` (unit-hours) has a higher
    event rate than the rest (``other_events`` in ``other_exposure``): the conditional binomial
    test - given all events, each falls in the group with probability exposure / total under
    equal rates. 1.0 when the group has no event or either exposure is 0."""
    if events <= 0 or exposure <= 0 or other_exposure <= 0:
        return 1.0
    share = exposure / (exposure + other_exposure)
    return float(_scipy_stats().binom.sf(events - 1, events + other_events, share))


def outage_interval(total: float, sum_sq: float, longest: float, level: float = 0.95) -> tuple[float, float]:
    """Interval for the expected total outage time, given the observed total, the sum of the
    squared outage durations and the longest one (Fay & Feuer's gamma interval for a weighted
    sum of Poisson counts, the weights being the durations). ``total`` must be > 0."""
    alpha = 1.0 - level
    lower = sum_sq / (2.0 * total) * chi2_quantile(alpha / 2.0, 2.0 * total**2 / sum_sq)
    v, y = sum_sq + longest**2, total + longest
    upper = v / (2.0 * y) * chi2_quantile(1.0 - alpha / 2.0, 2.0 * y**2 / v)
    return lower, upper


def chi2_quantile(q: float, df: float) -> float:
    """The chi-square quantile: ``2 * P^-1(df / 2, q)``, the inverse of the regularized lower
    incomplete gamma function (``scipy.special.gammaincinv``). This is what ``scipy.stats.chi2.ppf``
    computes after checking its arguments (equal bit for bit: 20,000 random cases), at 3 us a
    call instead of 160 us: a sweep's table asks for it at every slice of every point."""
    from scipy.special import gammaincinv

    return float(2.0 * gammaincinv(df / 2.0, q))


def availability_estimate(values: Sequence[float], horizon: float, outages: float, sum_sq: float,
                          longest: float, level: float = 0.95) -> Estimate:
    """Slice availability over replications of ``horizon`` hours: the wider of Student's
    interval and the outage (Fay-Feuer) interval; with no outage at all, no interval and a note
    saying what was observed."""
    n = len(values)
    mean = math.fsum(values) / n
    exposure = n * horizon
    down = math.fsum((1.0 - v) * horizon for v in values)
    if outages == 0:  # decided by the count: 1 - a carries rounding noise
        return Estimate(mean, None, n, f"no outage observed in {n} x {horizon / HOURS_PER_DAY:g} days; outages rarer "
                                       f"than {3 / (exposure / HOURS_PER_DAY):.2g} per day are not excluded (95 %)")
    t = estimate(values, level)
    if down > 0.0 and sum_sq > 0.0:
        low, high = outage_interval(down, sum_sq, longest, level)
        lo, hi = max(0.0, 1.0 - high / exposure), min(1.0, 1.0 - low / exposure)
        if t.ci95 is not None:
            lo, hi = min(lo, t.ci95[0]), max(hi, t.ci95[1])
    elif t.ci95 is not None:  # outages of no duration (a failure repaired at the same instant)
        lo, hi = t.ci95
    else:
        return t
    if outages < MIN_OUTAGES:
        return Estimate(mean, (lo, hi), n, f"only {outages:g} outage{'s' * (outages != 1)} in {n} x {horizon / HOURS_PER_DAY:g} "
                                           f"days (fewer than "
                                           f"{MIN_OUTAGES}): the interval may cover less than 95 %", reliable=False)
    return Estimate(mean, (lo, hi), n)
