"""Control variates: every metric's estimate adjusted by quantities whose means are known (DESIGN §9).

A replication records, besides its metrics, **controls**: quantities of the machine (policy
None) whose expectations follow exactly from the model (:data:`~tpusim.core.metrics.CONTROL_METRICS`):

- per component class with drawn failures, the failure candidates before thinning and the
  repair hours drawn (:func:`tpusim.failures.injector.control_means` derives their means and
  says why they are exact whatever else takes units down; a replayed failure trace has none);
- with a generated workload, the arrivals, the expected arrivals given the day factors (bursty
  arrivals only) and the chip-hours of work offered (:func:`tpusim.scheduler.workload.control_means`;
  a replayed job trace has none).

A metric ``y`` is then estimated by the regression (multiple) control-variate estimator: with
``C`` the replications' ``q`` controls and ``mu`` their means, the least-squares fit
``y = b0 + beta'(C - mu) + e`` over the ``n`` replications gives the controlled mean ``b0``
(= ``mean(y) - beta'(mean(C) - mu)``), its variance ``s² [(X'X)^-1]_00`` with
``s² = RSS / (n - 1 - q)``, and a Student-t interval on ``n - 1 - q`` degrees of freedom. Under
joint normality of ``(y, C)`` the estimator is unbiased and the interval exact (Lavenberg &
Welch 1981; Nelson 1990); otherwise both hold as ``n`` grows. The **variance-reduction factor**
is the plain estimate's variance of the mean, ``s_y² / n``, over the controlled one's.

**Which controls** (decided without looking at ``y``, since choosing the controls that fit
``y`` best on the same replications makes the interval too narrow):

1. the candidates are the controls the run recorded with a known mean, in a fixed order by the
   metric's group. Job metrics: the workload's first (the offered chip-hours, then the day
   factors' intensity, or the arrivals for a Poisson stream), then per failure class its
   candidates and its repair hours (a failure interrupts a job whatever its repair time).
   Every other metric (availabilities): every class's repair hours (the hardware down time the
   trace holds, which an availability follows), then every class's candidates. Classes go in
   the order of their control's coefficient of variation over the replications, largest first
   (the rarest failures, such as an OCS's, vary the most): a property of the controls alone;
2. a candidate that is constant over the replications, or a linear combination of those kept
   before it, is dropped (it cannot be used);
3. the first ``q = min(available, (n - 2) // 5)`` are used: the Lavenberg-Welch loss factor
   ``(n - 2) / (n - 2 - q)`` (by which estimating beta inflates the variance) stays at or below
   1.25. With fewer than :data:`MIN_CONTROLLED` replications (``q = 0``) the plain estimate
   stands, with a note saying why. Batching within a replication (for few long replications)
   is not done: a replication's controls and metrics are one observation each.

Layer: measurement, on :mod:`tpusim.core.stats` and numpy; it knows no output code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from tpusim.core.metrics import (
    CONTROL_ARRIVAL_INTENSITY,
    CONTROL_ARRIVALS,
    CONTROL_FAILURE_CANDIDATES,
    CONTROL_OFFERED_CHIP_HOURS,
    CONTROL_REPAIR_HOURS,
)
from tpusim.core.stats import MIN_REPLICATIONS, UNBOUNDED, Estimate, estimate, student_t_quantile

#: Replications needed before any control is used: ``(n - 2) // 5 >= 1``.
MIN_CONTROLLED = 7
#: Residual sum of squares below this share of the total: an exact fit (no interval).
EXACT_FIT = 1e-12
#: At most one control per this many replications beyond 2 (loss factor <= 1.25).
REPLICATIONS_PER_CONTROL = 5


def max_controls(n: int) -> int:
    """How many controls ``n`` replications afford (the rule of the module docstring)."""
    return max(0, (n - 2) // REPLICATIONS_PER_CONTROL)


@dataclass(frozen=True)
class ControlledEstimate:
    """A metric's plain and controlled estimates.

    ``controlled`` is None where no control was applied (``note`` says why); ``controls`` names
    the controls used (``"control_repair_hours[host]"``), ``beta`` their fitted coefficients,
    ``r_squared`` the share of ``y``'s variance over the replications that they explain,
    ``variance_reduction`` the plain variance of the mean over the controlled one (above 1: the
    controls helped), ``df`` the degrees of freedom of the controlled interval (``n - 1 - q``)."""

    plain: Estimate
    controlled: Estimate | None
    controls: tuple[str, ...] = ()
    beta: tuple[float, ...] = ()
    r_squared: float | None = None
    variance_reduction: float | None = None
    df: int | None = None
    note: str | None = None

    @property
    def best(self) -> Estimate:
        """The controlled estimate where there is one, else the plain one."""
        return self.controlled if self.controlled is not None else self.plain

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (no NaN): what summary.json records."""
        out: dict[str, Any] = {"plain": self.plain.as_dict(),
                               "controlled": self.controlled.as_dict() if self.controlled is not None else None,
                               "controls": list(self.controls),
                               "variance_reduction": _finite(self.variance_reduction),
                               "r_squared": _finite(self.r_squared), "df": self.df}
        if self.note is not None:
            out["note"] = self.note
        return out


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def usable_columns(controls: np.ndarray, tol: float = 1e-10) -> list[int]:
    """Columns of ``controls`` (n x q) in order, leaving out each one that is constant or a
    linear combination of those kept before it (looks at the controls only, never at y)."""
    centred = controls - controls.mean(axis=0)
    kept: list[int] = []
    for j in range(centred.shape[1]):
        col = centred[:, j]
        scale = float(np.linalg.norm(col))
        if scale <= tol * max(1.0, float(np.abs(controls[:, j]).max(initial=0.0))):
            continue
        trial = centred[:, kept + [j]] / np.linalg.norm(centred[:, kept + [j]], axis=0)
        if np.linalg.matrix_rank(trial, tol=1e-8) == len(kept) + 1:
            kept.append(j)
    return kept


def controlled(values: Sequence[float], controls: Sequence[Sequence[float]] | np.ndarray,
               means: Sequence[float], level: float = 0.95, bounds: tuple[float, float] = UNBOUNDED,
               names: Sequence[str] | None = None, max_q: int | None = None) -> ControlledEstimate:
    """The regression control-variate estimate of ``E[y]`` from ``values`` (``y``, one per
    replication) and ``controls`` (one row of ``q`` controls per replication, with known
    ``means``), at ``level``, clipped to ``bounds``.

    Replications where ``y`` or a control is NaN are left out. Controls are taken in the given
    order: those constant or collinear with earlier ones are dropped, then at most ``max_q``
    (default :func:`max_controls` of the replications left) are used. Returns the plain
    estimate as well, and the controlled one only where at least one control was used and
    ``n - 1 - q >= 2``."""
    y = np.asarray(values, dtype=float)
    c = np.asarray(controls, dtype=float).reshape(len(y), -1)
    mu = np.asarray(means, dtype=float)
    labels = list(names) if names is not None else [f"c{j}" for j in range(c.shape[1])]
    ok = ~np.isnan(y) & ~np.isnan(c).any(axis=1)
    y, c = y[ok], c[ok]
    n = len(y)
    if n == 0:
        raise ValueError("no replication has a value")
    plain = estimate(y.tolist(), level, bounds)
    limit = max_controls(n) if max_q is None else max_q
    cols = usable_columns(c)[:limit]
    q = len(cols)
    if q == 0:
        why = (f"{n} replications: control variates need at least {MIN_CONTROLLED}" if limit == 0
               else "no quantity with a known mean was recorded (replayed traces)" if c.shape[1] == 0
               else "no control varies over the replications")
        return ControlledEstimate(plain, None, note=why)
    df = n - 1 - q
    if df < 2:
        return ControlledEstimate(plain, None, note=f"{n} replications and {q} controls leave {df} degrees of freedom")
    x = np.column_stack([np.ones(n), c[:, cols] - mu[cols]])
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ coef
    rss = float(resid @ resid)
    tss = float(((y - y.mean()) ** 2).sum())
    used = tuple(labels[j] for j in cols)
    beta = tuple(float(b) for b in coef[1:])
    mean = float(coef[0])
    if tss <= EXACT_FIT * n * max(1.0, float(y.mean()) ** 2):  # the same up to rounding everywhere
        return ControlledEstimate(plain, None, used, beta, note=plain.note or "y is the same in every replication")
    r2 = 1.0 - rss / tss
    if rss <= EXACT_FIT * tss:  # y an exact linear function of the controls in this sample:
        # a zero-width interval would claim a certainty that n replications cannot give
        est = Estimate(mean, None, n, f"the controls explain y exactly in all {n} replications (R² = 1): "
                                      f"no interval (not a certainty)")
        return ControlledEstimate(plain, est, used, beta, r2, None, df)
    s2 = rss / df
    var_mean = s2 * float(np.linalg.inv(x.T @ x)[0, 0])
    reduction = (tss / (n - 1) / n) / var_mean
    half = student_t_quantile(0.5 + level / 2.0, df) * math.sqrt(var_mean)
    lo, hi = max(bounds[0], mean - half), min(bounds[1], mean + half)
    if n < MIN_REPLICATIONS:  # cannot happen with the default rule; kept for an explicit max_q
        est = Estimate(mean, (lo, hi), n, f"only {n} replications: the interval may cover less than 95 %",
                       reliable=False)
    else:
        est = Estimate(mean, (lo, hi), n)
    return ControlledEstimate(plain, est, used, beta, r2, reduction, df)


def order_controls(means: dict[tuple[str, str | None], float], spread: dict[tuple[str, str | None], float],
                   job_metric: bool) -> list[tuple[str, str | None]]:
    """The candidate controls of a metric in the rule's order (module docstring), from the
    known ``means`` and the ``spread`` (standard deviation over the replications) of the
    controls a run recorded, by ``(metric, key)``: nothing about the metric but its kind."""
    out: list[tuple[str, str | None]] = []
    if job_metric:
        out += [k for k in ((CONTROL_OFFERED_CHIP_HOURS, None), (CONTROL_ARRIVAL_INTENSITY, None)) if k in means]
        if (CONTROL_ARRIVAL_INTENSITY, None) not in means and (CONTROL_ARRIVALS, None) in means:
            out.append((CONTROL_ARRIVALS, None))

    def variation(k: tuple[str, str | None]) -> float:
        return spread.get(k, 0.0) / means[k] if means[k] > 0 else 0.0

    classes = sorted((key for name, key in means if name == CONTROL_REPAIR_HOURS),
                     key=lambda key: -variation((CONTROL_REPAIR_HOURS, key)))
    first, second = ((CONTROL_FAILURE_CANDIDATES, CONTROL_REPAIR_HOURS) if job_metric
                     else (CONTROL_REPAIR_HOURS, CONTROL_FAILURE_CANDIDATES))
    if job_metric:
        out += [(name, key) for key in classes for name in (first, second) if (name, key) in means]
    else:
        out += [(name, key) for name in (first, second) for key in classes if (name, key) in means]
    return out


def model_control_means(model: Any) -> dict[tuple[str, str | None], float]:
    """The exact means of the controls a replication of ``model`` (a
    :class:`~tpusim.engine.model.Model`) records, by ``(metric, key)``: none for a replayed
    failure trace or job trace."""
    from tpusim.failures.injector import control_means as failure_means
    from tpusim.scheduler.workload import control_means as workload_means
    from tpusim.topology.machine import COMPONENT_CLASSES

    out: dict[tuple[str, str | None], float] = {}
    if model.failures.traces is None:
        population = [model.machine.population(c) for c in COMPONENT_CLASSES]
        out.update(failure_means(model.failures, population, model.horizon))
    if model.workload is not None and model.workload.trace is None:
        out.update({(name, None): m for name, m in workload_means(model.workload, model.horizon).items()})
    return out


def label(name: str, key: str | None) -> str:
    """A control's name as reported: ``control_repair_hours[host]``."""
    return f"{name}[{key}]" if key is not None else name


__all__ = ["MIN_CONTROLLED", "ControlledEstimate", "controlled", "label", "max_controls", "model_control_means", "order_controls",
           "usable_columns"]
