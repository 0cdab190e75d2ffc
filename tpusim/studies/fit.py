"""Failure rates and repair laws fitted from an operator's own incident log (DESIGN §8, "Input
uncertainty"; issue 32, point 5).

An incident log has one row per incident of one unit: ``unit, class, down_hours, up_hours``
(hours from the log's start; ``up_hours`` empty: still open at the log's end), with an optional
``replication`` column. A failure trace as ``tpusim run --write-trace`` writes it
(``replication,time_hours,component,event``, :mod:`tpusim.failures.trace`) is read as an
incident log too: each unit's ``fail`` is paired with its next ``repair``. A log with several
replications is fitted one replication at a time (``replication``).

Per component class (:data:`~tpusim.topology.machine.COMPONENT_CLASSES`):

- **Rate.** ``k`` failures over the up-time of the whole population: exposure = population x
  log length - the unit-hours spent down inside the log. The daily rate is ``k / exposure`` in
  unit-days, which is tpusim's ``failures.<class>.daily_rate`` (the fraction of the population
  failing per day = the per-unit hazard per day while up). Its interval is the exact
  (Garwood, chi-square) Poisson interval of ``k`` divided by the exposure. A log lists only the
  units that failed, so the population is an input (given, or read from a scenario's topology):
  without it no rate exists.
- **Repair law.** Repair times ``up - down``, an incident still open at the log's end
  right-censored there, fitted by lifelines (exponential, lognormal, Weibull; maximum likelihood
  with censoring, no hand-written likelihood) and compared by AIC. lifelines' parameterisations
  are converted to tpusim's (:class:`~tpusim.config.schema.Repair`): the exponential's
  ``lambda_`` is a MEAN time (not a rate); the lognormal's ``mu_`` and ``sigma_`` are the mean and
  standard deviation of log-time, so ``mean_hours = exp(mu + sigma^2 / 2)`` and ``sigma`` is
  ``sigma_``; the Weibull's mean is ``lambda_ Gamma(1 + 1 / rho_)``. Every mean's interval is the
  delta method on ``log(mean)`` with the fitter's ``variance_matrix_`` (a Wald interval on the log
  scale, so it stays positive); the lognormal's sigma's likewise on ``log(sigma)``.
- **Written law.** The lowest-AIC law the scenario schema accepts (exponential or lognormal;
  ``fixed`` where every closed repair took the same time, where lifelines' laws degenerate); a
  Weibull is reported, never written, as the schema has no Weibull repair. A class with fewer
  than two closed repairs gets a rate and no law (and is left out of ``failures:``).
- **Weekly** (on request): failures per 168-hour week over that week's exposure, with exact
  Poisson intervals, in percent per day as ``failures.<class>.schedule`` reads a CSV.

Censoring and the log's edges: the log ends at ``log_end_hours`` (default: the largest time in
the log, said in the result). An incident whose ``down_hours`` is 0 was already open when the log
began (a trace's steady initial state writes these at t = 0): its start, and so its repair time,
are unknown; it counts as down time but neither as a failure nor as a repair time.

Coverage, measured (``tests/test_fit.py``, and 1000 seeds by hand): over synthetic censored
logs of about 300 failures with lognormal repairs (sigma 1), the rate's interval covers the truth
in 94.8 % of logs, the repair mean's (delta method) in 94.2 %, sigma's in 95.4 %.

Invariants: every failure counted lies in ``(0, log end]`` and every repair time is > 0;
exposure + down unit-hours = population x log length per class; a class with incidents and no
population is refused (``population``), and so is a population smaller than the units the log
names; the written section validates as a scenario's ``failures:`` (tested by merging it into
``scenarios/tpuv4_pod.yaml``). The study simulates nothing: it runs no replication through
its runner. It writes no files: the CLI and :mod:`tpusim.output` write what it returns.

Layer: studies (reads the config layer for a scenario's population).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np
import pandas as pd
import yaml
from scipy import special, stats

from tpusim.config.load import ScenarioLike, as_scenario
from tpusim.core import csvrows
from tpusim.core.units import HOURS_PER_DAY
from tpusim.studies.base import Overrides, Runner, Study
from tpusim.topology.machine import COMPONENT_CLASSES

#: The incident format's columns; ``replication`` is optional.
INCIDENT_COLUMNS = ("unit", "class", "down_hours", "up_hours")
#: The failure-trace format's columns (:func:`tpusim.failures.trace.format_trace`).
TRACE_COLUMNS = ("time_hours", "component", "event")
#: Repair laws fitted, and those a scenario's ``failures.<class>.repair.dist`` accepts.
LAWS = ("exponential", "lognormal", "weibull")
WRITABLE = ("exponential", "lognormal", "fixed")
WEEK_HOURS = 168.0
LEVEL = 0.95


class FitInputError(ValueError):
    """Bad input to a fit: ``key`` names what is wrong (the log's path, ``population``,
    ``log_end_hours``, ``replication``)."""

    def __init__(self, key: str, message: str):
        self.key, self.message = key, message
        super().__init__(f"{key}: {message}")


# --------------------------------------------------------------------------- the log


@dataclass(frozen=True)
class IncidentLog:
    """Incidents of one log (one replication of a trace): per incident its class, unit, down
    time and up time (NaN: open), all hours from the log's start; and the log's end."""

    source: str
    form: str  # "incidents" or "trace"
    classes: np.ndarray  # str per incident
    units: np.ndarray  # str per incident
    down: np.ndarray
    up: np.ndarray  # NaN where open at the log's end
    end_hours: float
    end_given: bool
    replication: int | None = None

    def __len__(self) -> int:
        return len(self.down)

    def of(self, cls: str) -> np.ndarray:
        return self.classes == cls

    @property
    def present(self) -> tuple[str, ...]:
        """The classes with at least one incident, in tpusim's order."""
        return tuple(c for c in COMPONENT_CLASSES if (self.classes == c).any())


def read_log(text: str, source: str = "incidents", *, log_end_hours: float | None = None,
             replication: int | None = None) -> IncidentLog:
    """An :class:`IncidentLog` from CSV ``text`` in the incident or the trace format (told apart
    by the header). Raises :class:`FitInputError` naming ``source`` and the line and column of
    the first bad row, or ``log_end_hours`` / ``replication``."""
    header = _header(text)
    form = "trace" if {"component", "event"} <= set(header) else "incidents"
    try:
        rows = _trace_rows(text) if form == "trace" else _incident_rows(text)
    except csvrows.CsvError as exc:
        raise FitInputError(source, str(exc)) from None
    reps = sorted({r[0] for r in rows if r[0] is not None})
    if replication is not None:
        if replication not in reps:
            raise FitInputError("replication", f"the log holds no replication {replication}"
                                + (f" (it holds {_listed(reps)})" if reps else " (it has no replication column)"))
        rows = [r for r in rows if r[0] == replication]
    elif len(reps) > 1:
        raise FitInputError("replication", f"the log holds {len(reps)} replications ({_listed(reps)}); "
                                           f"choose one to fit")
    else:
        replication = reps[0] if reps else None
    if not rows:
        raise FitInputError(source, "no incidents: a log needs at least one row")
    down = np.array([r[3] for r in rows], dtype=float)
    up = np.array([np.nan if r[4] is None else r[4] for r in rows], dtype=float)
    latest = float(np.nanmax(np.concatenate([down, up])))
    if log_end_hours is not None:
        if not (math.isfinite(log_end_hours) and log_end_hours > 0):
            raise FitInputError("log_end_hours", f"must be a finite number > 0, got {log_end_hours:g}")
        if log_end_hours < latest:
            raise FitInputError("log_end_hours", f"{log_end_hours:g} is before the log's last time, {latest:g} h")
        end = float(log_end_hours)
    else:
        end = latest
    if not end > 0:
        raise FitInputError(source, "every time is 0: the log covers no time (give log_end_hours)")
    log = IncidentLog(source, form, np.array([r[1] for r in rows], dtype=object),
                      np.array([r[2] for r in rows], dtype=object), down, up, end, log_end_hours is not None,
                      replication)
    _check_overlaps(log, [r[5] for r in rows])
    return log


def _header(text: str) -> tuple[str, ...]:
    for line in text.removeprefix("\ufeff").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return tuple(v.strip() for v in line.split(","))
    return ()


def _listed(values: Sequence[int]) -> str:
    return ", ".join(map(str, values[:8])) + (" ..." if len(values) > 8 else "")


Row = tuple  # (replication, class, unit, down, up or None, line)


def _incident_rows(text: str) -> list[Row]:
    out = []
    for row in csvrows.rows(text, INCIDENT_COLUMNS, ("replication",)):
        rep = row.integer("replication") if row.text("replication", "") else None
        cls = row.choice("class", COMPONENT_CLASSES)
        unit = row.text("unit")
        down = row.number("down_hours", low=0.0)
        up = None
        if row.text("up_hours", ""):
            up = row.number("up_hours", low=0.0)
            if not up > down:
                raise row.error("up_hours", f"must be after down_hours ({row.text('down_hours')}): a repair "
                                            f"ends after it starts, got {row.text('up_hours')}")
        out.append((rep, cls, unit, down, up, row.line))
    return out


def _trace_rows(text: str) -> list[Row]:
    """Incidents from a failure trace: each ``fail`` paired with the unit's next ``repair``."""
    out: list[Row] = []
    open_: dict[tuple, int] = {}  # (replication, class, unit) -> index in out
    for row in csvrows.rows(text, TRACE_COLUMNS, ("replication",)):
        rep = row.integer("replication") if row.text("replication", "") else None
        t = row.number("time_hours", low=0.0)
        cls, sep, unit_text = row.text("component").partition(":")
        if not sep or cls not in COMPONENT_CLASSES:
            raise row.error("component", f"must be <class>:<unit> with a class of {', '.join(COMPONENT_CLASSES)} "
                                         f"(e.g. host:17), got {row.text('component')!r}")
        unit = str(row.integer("component", text=unit_text))
        down = row.choice("event", ("fail", "repair")) == "fail"
        key = (rep, cls, unit)
        if down:
            if key in open_:
                raise row.error("event", f"fail of {cls}:{unit}, which is already down")
            open_[key] = len(out)
            out.append((rep, cls, unit, t, None, row.line))
        else:
            if key not in open_:
                raise row.error("event", f"repair of {cls}:{unit}, which is not down")
            i = open_.pop(key)
            if not t > out[i][3]:
                raise row.error("time_hours", f"repair of {cls}:{unit} at {t!r} is not after its failure at {out[i][3]!r}")
            out[i] = out[i][:4] + (t,) + out[i][5:]
    return out


def _check_overlaps(log: IncidentLog, lines: list[int]) -> None:
    """A unit is down at most once at a time: its incidents may not overlap."""
    order = np.lexsort((log.down, log.units.astype(str), log.classes.astype(str)))
    up = np.where(np.isnan(log.up), np.inf, log.up)
    for a, b in zip(order[:-1], order[1:]):
        if log.classes[a] == log.classes[b] and log.units[a] == log.units[b] and log.down[b] < up[a]:
            raise FitInputError(log.source, f"line {lines[b]}: {log.classes[b]} unit {log.units[b]} fails at "
                                            f"{log.down[b]:g} h while still down since {log.down[a]:g} h "
                                            f"(line {lines[a]})")


# --------------------------------------------------------------------------- populations


def scenario_population(scenario: ScenarioLike, overrides: Overrides = None) -> dict[str, int]:
    """Units per class of a scenario's machine (its topology, built)."""
    from tpusim.config.build import build_model

    machine = build_model(as_scenario(scenario, overrides)).machine
    return {cls: machine.population(cls) for cls in COMPONENT_CLASSES}


def check_population(log: IncidentLog, population: Mapping[str, int]) -> None:
    """Every class in the log has a population, at least as large as the units the log names
    (a trace's unit numbers must also lie below it)."""
    for cls, size in population.items():
        if cls not in COMPONENT_CLASSES:
            raise FitInputError("population", f"unknown class {cls!r} (the classes are {', '.join(COMPONENT_CLASSES)})")
        if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size <= 0:
            raise FitInputError("population", f"{cls}={size!r}: must be a whole number > 0")
    for cls in log.present:
        n = population.get(cls)
        if n is None:
            raise FitInputError("population", f"the log has {int(log.of(cls).sum())} {cls} incidents but no "
                                              f"{cls} population: a log lists only the units that failed, and a "
                                              f"rate needs them all (give it, or a scenario to read it from)")
        units = set(log.units[log.of(cls)])
        if n < len(units):
            raise FitInputError("population", f"{cls}={n} is fewer than the {len(units)} {cls} units the log names")
        if log.form == "trace":
            top = max(int(u) for u in units)
            if top >= n:
                raise FitInputError("population", f"{cls}={n}, but the trace names {cls} unit {top}")


# --------------------------------------------------------------------------- estimates


@dataclass(frozen=True)
class RateFit:
    """A per-unit daily rate and its exact Poisson interval."""

    failures: int
    exposure_unit_days: float
    daily_rate: float
    low: float
    high: float


def poisson_rate(failures: int, exposure: float, level: float = LEVEL) -> RateFit:
    """``failures`` over ``exposure`` (unit-days), with the exact (Garwood) interval: the
    chi-square quantiles of ``2k`` and ``2k + 2`` degrees of freedom, halved, over the exposure."""
    alpha = 1.0 - level
    low = stats.chi2.ppf(alpha / 2, 2 * failures) / 2 if failures > 0 else 0.0
    high = stats.chi2.ppf(1 - alpha / 2, 2 * failures + 2) / 2
    return RateFit(int(failures), float(exposure), failures / exposure, float(low / exposure), float(high / exposure))


@dataclass(frozen=True)
class RepairLaw:
    """One fitted repair law in tpusim's terms: ``mean_hours`` with its interval (delta method
    on log(mean)), the lognormal's ``sigma`` with its interval, lifelines' own parameters, AIC."""

    dist: str
    mean_hours: float
    mean_low: float
    mean_high: float
    aic: float
    log_likelihood: float
    params: dict[str, float]  # lifelines' names (lambda_ of the exponential: a mean time)
    sigma: float | None = None
    sigma_low: float | None = None
    sigma_high: float | None = None

    @property
    def writable(self) -> bool:
        return self.dist in WRITABLE


def _wald_log(value: float, var_log: float, level: float) -> tuple[float, float]:
    z = stats.norm.ppf(0.5 + level / 2)
    half = z * math.sqrt(max(var_log, 0.0))
    return value * math.exp(-half), value * math.exp(half)


def fit_repairs(durations: np.ndarray, observed: np.ndarray, level: float = LEVEL,
                laws: Sequence[str] = LAWS) -> tuple[dict[str, RepairLaw], dict[str, str]]:
    """Each law of ``laws`` fitted to repair ``durations`` (hours, > 0; ``observed`` False:
    right-censored), by lifelines; and, per law that could not be fitted, why."""
    import warnings

    from lifelines.exceptions import ConvergenceWarning, StatisticalWarning

    fitted: dict[str, RepairLaw] = {}
    failed: dict[str, str] = {}
    for dist in laws:
        try:
            with warnings.catch_warnings():
                # lifelines warns where the variance matrix is not estimable: not a fit to report
                warnings.simplefilter("error", StatisticalWarning)
                warnings.simplefilter("error", ConvergenceWarning)
                law = _fit_law(dist, durations, observed, level)
        except Exception as exc:  # lifelines' convergence errors, and its warnings made errors
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            failed[dist] = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
            continue
        if not (all(math.isfinite(x) and x > 0 for x in (law.mean_hours, law.mean_low, law.mean_high))
                and law.mean_low < law.mean_high):
            failed[dist] = "the fit did not converge (its mean's interval is not a finite, positive range)"
            continue
        fitted[dist] = law
    return fitted, failed


def _fit_law(dist: str, durations: np.ndarray, observed: np.ndarray, level: float) -> RepairLaw:
    """One law fitted by lifelines, in tpusim's terms."""
    from lifelines import ExponentialFitter, LogNormalFitter, WeibullFitter

    if dist == "exponential":
        f: Any = ExponentialFitter().fit(durations, observed)
        mean = float(f.lambda_)  # lifelines: a mean time, not a rate
        var_log = float(f.variance_matrix_.loc["lambda_", "lambda_"]) / mean**2
        law = RepairLaw(dist, mean, *_wald_log(mean, var_log, level), float(f.AIC_),
                        float(f.log_likelihood_), {"lambda_": mean})
    elif dist == "lognormal":
        f = LogNormalFitter().fit(durations, observed)
        mu, sigma = float(f.mu_), float(f.sigma_)
        v = f.variance_matrix_
        mean = math.exp(mu + sigma**2 / 2)
        # log(mean) = mu + sigma^2 / 2: gradient (1, sigma)
        var_log = (float(v.loc["mu_", "mu_"]) + 2 * sigma * float(v.loc["mu_", "sigma_"])
                   + sigma**2 * float(v.loc["sigma_", "sigma_"]))
        s_low, s_high = _wald_log(sigma, float(v.loc["sigma_", "sigma_"]) / sigma**2, level)
        law = RepairLaw(dist, mean, *_wald_log(mean, var_log, level), float(f.AIC_),
                        float(f.log_likelihood_), {"mu_": mu, "sigma_": sigma}, sigma, s_low, s_high)
    elif dist == "weibull":
        f = WeibullFitter().fit(durations, observed)
        lam, rho = float(f.lambda_), float(f.rho_)
        v = f.variance_matrix_
        mean = lam * math.gamma(1 + 1 / rho)
        # log(mean) = log(lambda) + log Gamma(1 + 1/rho): gradient (1/lambda, -psi(1 + 1/rho) / rho^2)
        g = np.array([1 / lam, -float(special.digamma(1 + 1 / rho)) / rho**2])
        cov = v.loc[["lambda_", "rho_"], ["lambda_", "rho_"]].to_numpy(dtype=float)
        law = RepairLaw(dist, mean, *_wald_log(mean, float(g @ cov @ g), level), float(f.AIC_),
                        float(f.log_likelihood_), {"lambda_": lam, "rho_": rho})
    else:
        raise ValueError(f"unknown repair law {dist!r}")
    return law


@dataclass(frozen=True)
class Curve:
    """A survival curve of repair times: ``hours`` and ``survival`` (with its band, if any)."""

    hours: np.ndarray
    survival: np.ndarray
    low: np.ndarray | None = None
    high: np.ndarray | None = None


@dataclass(frozen=True)
class ClassFit:
    """The fit of one component class."""

    cls: str
    population: int
    incidents: int
    open_at_start: int  # down when the log began: down time only
    open_at_end: int  # right-censored repairs
    down_unit_hours: float
    rate: RateFit
    laws: dict[str, RepairLaw]
    not_fitted: dict[str, str]  # law -> why
    best: str | None  # lowest AIC of all
    written: str | None  # lowest AIC the schema accepts
    repair_times: int  # observed (closed) repair times
    kaplan_meier: Curve | None
    curves: dict[str, Curve] = field(default_factory=dict)


def fit_class(log: IncidentLog, cls: str, population: int, level: float = LEVEL,
              laws: Sequence[str] = LAWS) -> ClassFit:
    """The rate and repair laws of ``cls`` from ``log`` (see the module's docstring)."""
    mask = log.of(cls)
    down, up = log.down[mask], log.up[mask]
    end = log.end_hours
    closes = np.where(np.isnan(up), end, up)
    down_hours = float((closes - down).sum())
    in_log = down > 0.0  # failures inside the log; at 0: already down when it began
    failures = int(in_log.sum())
    exposure = (population * end - down_hours) / HOURS_PER_DAY
    rate = poisson_rate(failures, exposure, level)
    durations = (closes - down)[in_log]
    observed = ~np.isnan(up[in_log])
    keep = durations > 0  # an incident opened at the log's very end says nothing of its repair
    durations, observed = durations[keep], observed[keep]
    fitted: dict[str, RepairLaw] = {}
    failed: dict[str, str] = {}
    km = None
    curves: dict[str, Curve] = {}
    closed = durations[observed]
    if len(closed) >= 2 and np.ptp(closed) <= 1e-9 * closed.mean() and (durations[~observed] <= closed[0]).all():
        # every repair took the same time (a fixed law; lifelines' laws degenerate there)
        value = float(closed.mean())
        fitted = {"fixed": RepairLaw("fixed", value, value, value, float("nan"), float("nan"), {"hours": value})}
        failed = {d: "every closed repair took the same time: a fixed repair law" for d in laws}
        km, curves = _curves(durations, observed, level, fitted)
    elif len(closed) >= 2:
        fitted, failed = fit_repairs(durations, observed, level, laws)
        km, curves = _curves(durations, observed, level, fitted)
    else:
        failed = {d: f"{int(observed.sum())} closed repair time(s): too few to fit" for d in laws}
    best = min(fitted, key=lambda d: (fitted[d].aic if math.isfinite(fitted[d].aic) else -math.inf)) if fitted else None
    writable = [d for d in fitted if d in WRITABLE]
    written = min(writable, key=lambda d: (fitted[d].aic if math.isfinite(fitted[d].aic) else -math.inf)) if writable else None
    return ClassFit(cls, population, int(mask.sum()), int((~in_log).sum()), int((~observed).sum()), down_hours,
                    rate, fitted, failed, best, written, int(observed.sum()), km, curves)


def _curves(durations: np.ndarray, observed: np.ndarray, level: float,
            laws: Mapping[str, RepairLaw]) -> tuple[Curve, dict[str, Curve]]:
    """The Kaplan-Meier curve of the repair times (lifelines) and each fitted law's survival."""
    from lifelines import KaplanMeierFitter

    km = KaplanMeierFitter(alpha=1 - level).fit(durations, observed)
    sf = km.survival_function_.iloc[:, 0]
    ci = km.confidence_interval_
    curve = Curve(sf.index.to_numpy(dtype=float), sf.to_numpy(dtype=float),
                  ci.iloc[:, 0].to_numpy(dtype=float), ci.iloc[:, 1].to_numpy(dtype=float))
    lo, hi = max(durations.min() / 2, 1e-3), durations.max() * 2
    grid = np.geomspace(lo, hi, 200)
    curves = {}
    for dist, law in laws.items():
        if dist == "fixed":
            s = (grid < law.mean_hours).astype(float)
        elif dist == "exponential":
            s = np.exp(-grid / law.params["lambda_"])
        elif dist == "lognormal":
            s = stats.norm.sf((np.log(grid) - law.params["mu_"]) / law.params["sigma_"])
        else:
            s = np.exp(-(grid / law.params["lambda_"]) ** law.params["rho_"])
        curves[dist] = Curve(grid, s)
    return curve, curves


def weekly_rates(log: IncidentLog, population: Mapping[str, int], level: float = LEVEL) -> pd.DataFrame:
    """Per 168-hour week of the log (the last one may be shorter): per class present, failures,
    exposure (unit-days) and the rate in percent per day with its exact Poisson interval; the
    columns ``<class>_pct_per_day`` are what ``failures.<class>.schedule`` reads."""
    end = log.end_hours
    starts = np.arange(0.0, end, WEEK_HOURS)
    stops = np.minimum(starts + WEEK_HOURS, end)
    frame = pd.DataFrame({"week": np.arange(len(starts)), "start_hours": starts, "hours": stops - starts})
    for cls in log.present:
        mask = log.of(cls)
        down = log.down[mask]
        closes = np.where(np.isnan(log.up[mask]), end, log.up[mask])
        overlap = np.clip(np.minimum(closes[:, None], stops[None, :]) - np.maximum(down[:, None], starts[None, :]),
                          0.0, None).sum(axis=0)
        week = np.minimum((down // WEEK_HOURS).astype(int), len(starts) - 1)
        counts = np.bincount(week[down > 0.0], minlength=len(starts))
        exposure = (population[cls] * (stops - starts) - overlap) / HOURS_PER_DAY
        fits = [poisson_rate(int(k), float(e), level) for k, e in zip(counts, exposure)]
        frame[f"{cls}_failures"] = counts
        frame[f"{cls}_exposure_unit_days"] = exposure
        frame[f"{cls}_pct_per_day"] = [100 * f.daily_rate for f in fits]
        frame[f"{cls}_pct_per_day_low"] = [100 * f.low for f in fits]
        frame[f"{cls}_pct_per_day_high"] = [100 * f.high for f in fits]
    return frame


# --------------------------------------------------------------------------- the result


def _g(x: float, digits: int = 4) -> float:
    """``x`` to ``digits`` significant digits (for the YAML a person reads and pastes)."""
    return float(f"{x:.{digits}g}")


@dataclass
class FitResults:
    """Per class the fitted rate and repair laws of one incident log, and what to paste into a
    scenario (:meth:`failures_section`, :meth:`assumptions`, :meth:`yaml_text`)."""

    log: IncidentLog
    classes: dict[str, ClassFit]
    population_source: dict[str, str]  # class -> "given" or the scenario it was read from
    level: float = LEVEL
    weekly: pd.DataFrame | None = None

    @property
    def end_note(self) -> str:
        days = self.log.end_hours / HOURS_PER_DAY
        how = "given" if self.log.end_given else "the largest time in the log; set the log's end if it ran longer"
        return f"log end {self.log.end_hours:g} h = {days:.4g} d ({how})"

    def _name(self) -> str:
        return Path(self.log.source).name

    def failures_section(self, schedule_csv: str | None = None) -> dict[str, Any]:
        """``failures:`` entries of every class with a writable repair law (a class without one
        is left out: the schema needs a repair law). ``schedule_csv``: the weekly rates' CSV,
        given as each class's ``schedule`` (a path relative to the scenario file)."""
        out: dict[str, Any] = {}
        for cls, fit in self.classes.items():
            if fit.written is None:
                continue
            law = fit.laws[fit.written]
            repair: dict[str, Any] = {"dist": law.dist, "mean_hours": _g(law.mean_hours)}
            if law.sigma is not None:
                repair["sigma"] = _g(law.sigma)
            entry: dict[str, Any] = {"daily_rate": _g(fit.rate.daily_rate), "repair": repair}
            if schedule_csv is not None and self.weekly is not None:
                entry["schedule"] = {"csv": schedule_csv, "column": f"{cls}_pct_per_day", "unit": "percent",
                                     "period_hours": WEEK_HOURS}
            out[cls] = entry
        return out

    def assumptions(self) -> dict[str, dict[str, Any]]:
        """The fitted 95 % ranges as a scenario's ``assumptions:`` entries."""
        out: dict[str, dict[str, Any]] = {}
        pct = f"{100 * self.level:g} %"
        for cls, fit in self.classes.items():
            r = fit.rate
            out[f"failures.{cls}.daily_rate"] = {
                "low": _g(r.low), "high": _g(r.high), "interval": self.level,
                "source": f"fit of {self._name()}: {r.failures} failures over {fit.population} units x "
                          f"{self.log.end_hours / HOURS_PER_DAY:.4g} d, exact Poisson {pct}"}
            if fit.written is None:
                continue
            law = fit.laws[fit.written]
            said = (f"fit of {self._name()}: {law.dist} (lowest AIC the schema takes) of {fit.repair_times} repairs, "
                    f"{fit.open_at_end} open (right-censored)")
            out[f"failures.{cls}.repair.mean_hours"] = {
                "low": _g(law.mean_low), "high": _g(law.mean_high), "interval": self.level,
                "source": f"{said}; delta method on log(mean), {pct}"}
            if law.sigma is not None and law.sigma_low is not None and law.sigma_high is not None:
                out[f"failures.{cls}.repair.sigma"] = {
                    "low": _g(law.sigma_low), "high": _g(law.sigma_high), "interval": self.level,
                    "source": f"{said}; Wald on log(sigma), {pct}"}
        return out

    def yaml_text(self, schedule_csv: str | None = None) -> str:
        """The ``failures:`` and ``assumptions:`` sections as YAML, with comments saying where
        they come from, ready to paste into a scenario."""
        lines = [f"# tpusim fit of {self.log.source}" + (f", replication {self.log.replication}"
                                                         if self.log.replication is not None else ""),
                 f"# {self.end_note}; open incidents right-censored there",
                 "# population: " + ", ".join(f"{c}={f.population} ({self.population_source.get(c, 'given')})"
                                              for c, f in self.classes.items())]
        for cls, fit in self.classes.items():
            if fit.written is None:
                lines.append(f"# {cls}: no repair law fitted ({fit.repair_times} closed repairs), so not in "
                             f"failures: below; its rate is under assumptions:")
            elif fit.best != fit.written:
                lines.append(f"# {cls}: {fit.best} fits best by AIC but a scenario takes no {fit.best} repair; "
                             f"written: {fit.written}")
        if schedule_csv is not None and self.weekly is not None:
            lines.append(f"# schedule: copy {schedule_csv} next to the scenario file (paths are relative to it)")
        body = yaml.safe_dump({"failures": self.failures_section(schedule_csv)}, sort_keys=False,
                              default_flow_style=None, width=1000)
        assumptions = yaml.safe_dump({"assumptions": self.assumptions()}, sort_keys=False,
                                     default_flow_style=None, width=1000)
        return "\n".join(lines) + "\n" + body + assumptions

    def frame(self) -> pd.DataFrame:
        """One row per class and repair law fitted (a class with none: one row without a law)."""
        rows = []
        for cls, fit in self.classes.items():
            base = {"class": cls, "population": fit.population, "failures": fit.rate.failures,
                    "exposure_unit_days": fit.rate.exposure_unit_days, "daily_rate": fit.rate.daily_rate,
                    "daily_rate_low": fit.rate.low, "daily_rate_high": fit.rate.high,
                    "repair_times": fit.repair_times, "open_at_end": fit.open_at_end, "open_at_start": fit.open_at_start}
            if not fit.laws:
                rows.append({**base, "dist": None})
            for dist, law in fit.laws.items():
                rows.append({**base, "dist": dist, "aic": law.aic, "mean_hours": law.mean_hours,
                             "mean_low": law.mean_low, "mean_high": law.mean_high, "sigma": law.sigma,
                             "best": dist == fit.best, "written": dist == fit.written})
        return pd.DataFrame(rows)

    def as_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready (fit.json)."""
        def law_dict(law: RepairLaw) -> dict[str, Any]:
            return {"dist": law.dist, "mean_hours": law.mean_hours, "mean_hours_ci95": [law.mean_low, law.mean_high],
                    "sigma": law.sigma, "sigma_ci95": None if law.sigma is None else [law.sigma_low, law.sigma_high],
                    "aic": law.aic, "log_likelihood": law.log_likelihood, "lifelines_params": law.params,
                    "writable": law.writable}

        classes = {}
        for cls, fit in self.classes.items():
            classes[cls] = {
                "population": fit.population, "population_source": self.population_source.get(cls, "given"),
                "incidents": fit.incidents, "failures": fit.rate.failures, "open_at_start": fit.open_at_start,
                "open_at_end": fit.open_at_end, "down_unit_hours": fit.down_unit_hours,
                "exposure_unit_days": fit.rate.exposure_unit_days,
                "daily_rate": fit.rate.daily_rate, "daily_rate_ci95": [fit.rate.low, fit.rate.high],
                "rate_interval": "exact Poisson (chi-square) interval of the count over the exposure",
                "repair_times": fit.repair_times,
                "laws": {d: law_dict(law) for d, law in fit.laws.items()}, "not_fitted": fit.not_fitted,
                "best_aic": fit.best, "written": fit.written,
                "mean_interval": "delta method on log(mean) with lifelines' variance_matrix_ (Wald, log scale)",
            }
        return _finite({"log": {"source": self.log.source, "format": self.log.form, "replication": self.log.replication,
                        "incidents": len(self.log), "end_hours": self.log.end_hours, "end_given": self.log.end_given,
                        "end_note": self.end_note},
                "level": self.level, "classes": classes,
                "failures": self.failures_section(), "assumptions": self.assumptions(),
                "weekly": None if self.weekly is None else self.weekly.to_dict(orient="records")})


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float (a fixed law's AIC) as None, for strict JSON."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


# --------------------------------------------------------------------------- the study


@dataclass(frozen=True)
class FitStudy(Study[IncidentLog, FitResults]):
    """:func:`tpusim.fit`: rates and repair laws per class from an incident log (the module's
    docstring). What it runs on is the log (CSV text, a path, or an :class:`IncidentLog`); the
    population per class is given (``population``) or read from the machine of the scenario
    ``population_from``, a given one winning. Fitted: every class in the log, and every class
    given a population explicitly (a class the log never names has then 0 failures; one that
    only a scenario names is left out, as the log may not track it)."""

    name: ClassVar[str] = "fit"
    summary: ClassVar[str] = "failure rates and repair laws per class from an incident log, with intervals"

    population: Mapping[str, int] | None = None
    population_from: Any = None  # a scenario (any form tpusim.run takes) whose machine gives them
    log_end_hours: float | None = None
    replication: int | None = None
    weekly: bool = False
    level: float = LEVEL

    def __post_init__(self) -> None:
        if not 0.0 < self.level < 1.0:
            raise ValueError(f"level: must lie strictly between 0 and 1, got {self.level}")

    def prepare(self, scenario: Any, overrides: Overrides = None) -> IncidentLog:
        """The log, read and checked (``scenario``: the log as CSV text, a path or an
        :class:`IncidentLog`). A log has no keys to override: give ``scenario`` (the study's
        field, for the population) with its overrides applied."""
        if overrides:
            raise ValueError("overrides: a fit reads an incident log, which has no keys to override; apply "
                             "them to the scenario that gives the population")
        if isinstance(scenario, IncidentLog):
            return scenario
        if isinstance(scenario, Path) or (isinstance(scenario, str) and "\n" not in scenario):
            path = Path(scenario)
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise FitInputError(str(path), f"cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
            return read_log(text, str(path), log_end_hours=self.log_end_hours, replication=self.replication)
        if isinstance(scenario, str):
            return read_log(scenario, "incidents", log_end_hours=self.log_end_hours, replication=self.replication)
        raise TypeError(f"fit reads an incident log (CSV text, a path or an IncidentLog), got {type(scenario).__name__}")

    def populations(self, log: IncidentLog) -> tuple[dict[str, int], dict[str, str]]:
        """The population of each class, and where each came from."""
        population: dict[str, int] = {}
        source: dict[str, str] = {}
        if self.population_from is not None:
            population = scenario_population(self.population_from)
            label = getattr(self.population_from, "name", None) or str(self.population_from)
            source = {c: f"from scenario {label}" for c in population}
        for cls, n in (self.population or {}).items():
            population[cls] = n
            source[cls] = "given"
        check_population(log, population)
        return population, source

    def run(self, subject: IncidentLog, runner: Runner) -> FitResults:
        """Fit every class present in the log, and every class given a population (the runner
        is not used: a fit simulates nothing)."""
        population, source = self.populations(subject)
        given = set(self.population or {})
        classes = [c for c in COMPONENT_CLASSES if c in subject.present or c in given]
        fits = {cls: fit_class(subject, cls, population[cls], self.level) for cls in classes}
        weekly = weekly_rates(subject, population, self.level) if self.weekly else None
        return FitResults(subject, fits, {c: source[c] for c in classes}, self.level, weekly)

