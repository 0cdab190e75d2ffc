"""Paired differences on common random numbers (DESIGN §4, "Comparisons are paired").

Policies replay one failure trace per replication, sweep points share their random streams, and
a study's variants (without a failure domain, without a campaign) are run on the same seed. Two
such series of per-replication values ``a_r`` and ``b_r`` are therefore paired by replication
``r``, and ``E[a - b]`` is estimated from the per-replication differences ``d_r = a_r - b_r``:
``mean(d) ± t(0.975, R-1) · s_d / sqrt(R)``. Where the two series move together (the same
outage hurts both), ``var(d) = var(a) + var(b) - 2 cov(a, b)`` is far smaller than the
``var(a) + var(b)`` of two independent runs, and so is the interval.

:class:`PairedDifference` also carries, for comparison, the half-width the same difference
would have had without the pairing: ``t(0.975, R-1) · sqrt((s_a² + s_b²) / R)`` (the same
quantile, so that the ratio of the two widths is the square root of the variance reduction and
nothing else), and the **variance reduction** pairing bought, ``(s_a² + s_b²) / s_d²`` (None when
every difference is the same: no ratio to give). The paired interval is narrower than the
unpaired one exactly when the reduction is above 1 (a positive covariance).

The verdict is read from the paired interval only: ``"a > b"`` when it lies above 0, ``"a < b"``
below, and ``"cannot tell"`` when it holds 0, or when there is no interval (one replication,
or the same difference in every replication: a zero-width interval would claim a certainty that
R replications cannot give). The caveats of :mod:`tpusim.core.stats` carry over: fewer than
:data:`~tpusim.core.stats.MIN_REPLICATIONS` replications mark the interval unreliable.

Layer: measurement, on :mod:`tpusim.core.stats`; it knows no model or output code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

from tpusim.core.stats import FRACTION, MIN_OUTAGES, MIN_REPLICATIONS, UNBOUNDED, Estimate, estimate, student_t_quantile

#: The three verdicts.
HIGHER, LOWER, CANNOT_TELL = "a > b", "a < b", "cannot tell"


@dataclass(frozen=True)
class PairedDifference:
    """The estimate of ``E[a - b]`` from per-replication differences, for one metric.

    ``a`` and ``b`` name what is compared (two policies, two sweep points, a run with and
    without a part); ``difference`` is the paired estimate (its ``ci95`` at ``level``, its
    ``note`` saying why there is no interval or why it may cover less); ``mean_a`` and
    ``mean_b`` are the means over the paired replications; ``unpaired_half_width`` is the
    half-width from independent runs of the same variances (None below 2 replications) and
    ``variance_reduction`` = (var a + var b) / var(a - b) (None when var(a - b) is 0)."""

    a: str
    b: str
    metric: str
    key: str | None
    mean_a: float
    mean_b: float
    difference: Estimate
    unpaired_half_width: float | None
    variance_reduction: float | None
    verdict: str  # HIGHER ("a > b"), LOWER ("a < b") or CANNOT_TELL
    level: float = 0.95

    @property
    def n(self) -> int:
        """Replications paired."""
        return self.difference.n

    @property
    def mean(self) -> float:
        return self.difference.mean

    @property
    def ci(self) -> tuple[float, float] | None:
        return self.difference.ci95

    @property
    def half_width(self) -> float | None:
        return self.difference.half_width

    @property
    def conclusion(self) -> str:
        """The verdict in words: ``"reconfigurable > static"``, or ``"cannot tell"``."""
        if self.verdict == HIGHER:
            return f"{self.a} > {self.b}"
        if self.verdict == LOWER:
            return f"{self.a} < {self.b}"
        return CANNOT_TELL

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (no NaN or infinity): what summary.json records."""
        return {"a": self.a, "b": self.b, "metric": self.metric, "key": self.key, "level": self.level,
                "mean_a": self.mean_a, "mean_b": self.mean_b, "replications": self.n,
                "difference": self.difference.as_dict(), "unpaired_half_width": self.unpaired_half_width,
                "variance_reduction": self.variance_reduction, "verdict": self.verdict,
                "conclusion": self.conclusion}

    def columns(self) -> dict[str, Any]:
        """The fields as the columns of a frame row (NaN where there is none)."""
        nan = float("nan")
        lo, hi = self.ci if self.ci is not None else (nan, nan)
        return {"mean_a": self.mean_a, "mean_b": self.mean_b, "difference": self.mean, "ci95_low": lo,
                "ci95_high": hi, "replications": self.n, "reliable": self.difference.reliable,
                "note": self.difference.note,
                "unpaired_half_width": nan if self.unpaired_half_width is None else self.unpaired_half_width,
                "variance_reduction": nan if self.variance_reduction is None else self.variance_reduction,
                "verdict": self.verdict}


#: The columns of :meth:`PairedDifference.columns`, in order.
PAIRED_COLUMNS = ("mean_a", "mean_b", "difference", "ci95_low", "ci95_high", "replications", "reliable", "note",
                  "unpaired_half_width", "variance_reduction", "verdict")


def _variance(values: Sequence[float], mean: float) -> float:
    return math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)


def difference_bounds(bounds: tuple[float, float]) -> tuple[float, float]:
    """The range a difference of two quantities in ``bounds`` can take ([-1, 1] for fractions)."""
    width = bounds[1] - bounds[0]
    return (-width, width) if math.isfinite(width) else UNBOUNDED


def paired(a: Mapping[int, float] | Sequence[float], b: Mapping[int, float] | Sequence[float], *,
           a_name: str = "a", b_name: str = "b", metric: str = "", key: str | None = None,
           level: float = 0.95, bounds: tuple[float, float] = FRACTION) -> PairedDifference:
    """The paired difference ``a - b`` of two series of per-replication values.

    ``a`` and ``b`` are mappings from replication number to value (or sequences, indexed by
    position); replications in only one of them, or NaN in either (the metric undefined there),
    are left out. ``bounds``: the range of each value (the difference is clipped to the range
    a difference can take). A difference within float rounding of 0 (1e-12 relative) counts as 0,
    so that two policies that agree in a replication are not told apart by rounding noise.
    Raises ``ValueError`` when no replication pairs."""
    am = dict(enumerate(a)) if not isinstance(a, Mapping) else a
    bm = dict(enumerate(b)) if not isinstance(b, Mapping) else b
    reps = [r for r in sorted(am) if r in bm and not math.isnan(am[r]) and not math.isnan(bm[r])]
    if not reps:
        raise ValueError(f"{metric or 'values'}{f' [{key}]' if key else ''}: no replication has a value of both "
                         f"{a_name} and {b_name}")
    xs, ys = [am[r] for r in reps], [bm[r] for r in reps]
    diffs = [0.0 if abs(x - y) <= 1e-12 * max(1.0, abs(x), abs(y)) else x - y for x, y in zip(xs, ys)]
    n = len(reps)
    est = estimate(diffs, level, difference_bounds(bounds))
    mean_a, mean_b = math.fsum(xs) / n, math.fsum(ys) / n
    if n < 2:
        est = Estimate(est.mean, None, n, "one replication: no interval")
    elif est.ci95 is None:  # every difference the same
        same = "equal in all" if est.mean == 0.0 else "the same difference in all"
        est = Estimate(est.mean, None, n, f"{same} {n} replications: no interval (not a certainty)")
    unpaired = reduction = None
    if n >= 2:
        var_a, var_b, var_d = _variance(xs, mean_a), _variance(ys, mean_b), _variance(diffs, est.mean)
        unpaired = student_t_quantile(0.5 + level / 2.0, n - 1) * math.sqrt((var_a + var_b) / n)
        reduction = (var_a + var_b) / var_d if var_d > 0.0 else None
    if est.ci95 is not None and est.ci95[0] > 0.0:
        verdict = HIGHER
    elif est.ci95 is not None and est.ci95[1] < 0.0:
        verdict = LOWER
    else:
        verdict = CANNOT_TELL
    return PairedDifference(a_name, b_name, metric, key, mean_a, mean_b, est, unpaired, reduction, verdict, level)


def with_outage_caveat(d: PairedDifference, outages: float) -> PairedDifference:
    """A slice availability difference behind fewer than
    :data:`~tpusim.core.stats.MIN_OUTAGES` outages of that slice (both sides together) is marked
    unreliable, as the availability estimates themselves are: the differences of a few long
    outages are skewed, and Student's interval may cover far less than 95 %."""
    if d.ci is None or not d.difference.reliable or outages >= MIN_OUTAGES:
        return d
    note = (f"only {outages:g} outage{'s' * (outages != 1)} of this slice on both sides (fewer than "
            f"{MIN_OUTAGES}): the interval may cover less than 95 %")
    return replace(d, difference=replace(d.difference, note=note, reliable=False))


__all__ = ["CANNOT_TELL", "HIGHER", "LOWER", "MIN_REPLICATIONS", "PAIRED_COLUMNS", "PairedDifference",
           "difference_bounds", "paired", "with_outage_caveat"]
