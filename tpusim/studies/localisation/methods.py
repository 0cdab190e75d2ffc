"""Blaming parts from job records alone: Deepview's sparse regression, a naive count, and a score.

**Deepview** (Azure, NSDI'18) localises gray faults by treating each job's fate as evidence
about every component it used. Adapted from paths to job runs (:mod:`tpusim.scheduler.runs`):
part ``i`` stays healthy through an hour with probability ``h_i``; a run that uses parts ``P_r``
for ``T_r`` hours survives with probability ``prod h_i^T_r``, so

    log P(run r survives) = sum over i in P_r of  T_r log h_i,      log h_i <= 0.

A run's interruption count ``N_r`` (0 or 1) is an unbiased estimate of ``-log P`` (a run at risk
for ``T_r`` hours with hazard ``L_r`` has ``E[N_r - L_r T_r] = 0``: the counting-process
martingale, valid although an interruption ends the run). So regress ``N_r`` on the design
``X[r, i] = T_r [i in P_r]`` (plus ``T_r`` itself, the background hazard every run shares) with
non-negative coefficients ``-log h_i``: scikit-learn's Lasso with ``positive=True``, sparse,
penalty ``lasso_ratio`` x the smallest penalty that zeroes every coefficient.

A part the Lasso keeps (``-log h_i > 0``) is then tested: is its failure rate higher than the
average of the runs that did not use it? (the one-sided conditional binomial test of
:func:`tpusim.core.stats.excess_rate_p_value`, exposures in run-hours). It is blamed if the p-value is
below ``alpha / m``, ``m`` the parts with any exposure in the window (Bonferroni over every part
that could have been tested, so selection by the Lasso cannot raise the error rate: in a window
with no faulty part, some part is blamed with probability at most ``alpha``).

The **naive** baseline blames every part with at least ``naive_threshold`` failed runs in the
window (what a dashboard of failures per component shows).

Both slide a window of ``window_hours`` in steps of ``step_hours``; a window sees the runs that
*ended* in it (a job's fate is known when its run ends).

**Scoring** (:func:`score`) against the simulator's ground truth: a part's *new* blame (blamed in
a window and not in the one before) is correct if a component it stands for
(:func:`~tpusim.scheduler.runs.parts_holding`) had a fault - gray or hard - overlapping the
window. A gray episode is *found* when a part holding it is blamed in a window ending between the
episode's start and one window after its end; its time to blame runs from its start, and the
jobs it took are the jobs its glitches failed by then.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Iterable, NamedTuple, Sequence

import numpy as np

from tpusim.scheduler.runs import part_count, part_kind, parts_holding
from tpusim.core.stats import excess_rate_p_value
from tpusim.topology.machine import COMPONENT_CLASSES, MachineLayout

METHODS = ("deepview", "naive")


@dataclass(frozen=True)
class LocaliserParams:
    window_hours: float = 24.0
    step_hours: float = 2.0
    alpha: float = 0.01  # per window: chance of blaming some part when none is faulty (at most)
    lasso_ratio: float = 0.05  # Lasso penalty as a share of the penalty that keeps nothing
    naive_threshold: int = 3  # failed runs in a window that make the naive baseline blame a part

    def __post_init__(self) -> None:
        if not (self.window_hours > 0 and self.step_hours > 0):
            raise ValueError("window_hours and step_hours must be > 0")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if not 0 < self.lasso_ratio < 1:
            raise ValueError(f"lasso_ratio must be in (0, 1), got {self.lasso_ratio}")
        if self.naive_threshold < 1:
            raise ValueError(f"naive_threshold must be >= 1, got {self.naive_threshold}")


class Blame(NamedTuple):
    time: float  # end of the window
    part: int  # the lowest-numbered part blamed
    evidence: float  # deepview: the p-value; naive: failed runs in the window
    members: tuple[int, ...] = ()  # deepview: every part the window's runs cannot tell apart from it


def windows(horizon: float, params: LocaliserParams) -> np.ndarray:
    """Ends of the windows: every step from the first full window to the horizon."""
    first = min(params.window_hours, horizon)
    return np.arange(first, horizon + 1e-9, params.step_hours)


def _window(runs: dict, order: np.ndarray, ends: np.ndarray, t: float, width: float):
    """The runs (indices) that ended in (t - width, t]."""
    lo, hi = np.searchsorted(ends, [t - width, t], side="right")
    return order[lo:hi]


def _design(runs: dict, rows: np.ndarray, parts: int):
    """Sparse design (rows x parts): run-hours per part used; and each run's hours."""
    from scipy import sparse

    indptr, indices = runs["indptr"], runs["parts"]
    hours = runs["end"][rows] - runs["start"][rows]
    lengths = indptr[rows + 1] - indptr[rows]
    cols = np.concatenate([indices[indptr[r]:indptr[r + 1]] for r in rows]) if len(rows) else np.empty(0, np.int64)
    ptr = np.concatenate([[0], np.cumsum(lengths)])
    X = sparse.csr_matrix((np.repeat(hours, lengths), cols, ptr), shape=(len(rows), parts))
    return X, hours


def _indistinguishable(X) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """Merge the parts whose columns are identical (used by exactly the same runs, such as the
    cubes of a slice that restarts in place): the runs cannot tell them apart, so they are
    fitted, tested and blamed as one. Returns one representative column per group (the lowest
    part) and each group's parts."""
    by_runs: dict[bytes, list[int]] = {}
    for col in np.flatnonzero(np.diff(X.indptr)):
        by_runs.setdefault(X.indices[X.indptr[col]:X.indptr[col + 1]].tobytes(), []).append(int(col))
    groups = sorted(tuple(g) for g in by_runs.values())
    return np.array([g[0] for g in groups], dtype=np.int64), groups


def deepview(runs: dict, machine: MachineLayout, horizon: float, params: LocaliserParams) -> list[Blame]:
    """Deepview's blames in every window (see the module's docstring)."""
    from scipy import sparse
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Lasso

    parts = part_count(machine)
    order = np.argsort(runs["end"], kind="stable")
    ends = runs["end"][order]
    out: list[Blame] = []
    for t in windows(horizon, params):
        rows = _window(runs, order, ends, t, params.window_hours)
        y = runs["interrupted"][rows].astype(np.float64)
        if len(rows) < 2 or y.sum() == 0:
            continue
        X, hours = _design(runs, rows, parts)
        used, groups = _indistinguishable(X.tocsc())
        Xu = X[:, used].tocsc()
        design = sparse.hstack([Xu, sparse.csc_matrix(hours[:, None])], format="csc")
        n = len(rows)
        reach = np.asarray(design.T @ (y - y.mean())).ravel() / n  # the penalty that keeps nothing
        top = float(reach.max())
        if top <= 0:
            continue
        model = Lasso(alpha=params.lasso_ratio * top, positive=True, fit_intercept=True, max_iter=20000)
        with warnings.catch_warnings():  # a fit stopped short still ranks the parts; the test decides
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(design, y)
        coef = model.coef_[:-1]
        kept = np.flatnonzero(coef > 0)
        explained = np.zeros(n, dtype=bool)  # runs a blamed part accounts for
        for j in kept[np.argsort(-coef[kept], kind="stable")]:
            users = Xu.indices[Xu.indptr[j]:Xu.indptr[j + 1]]
            users = users[~explained[users]]
            rest = ~explained
            rest[users] = False
            p = excess_rate_p_value(int(y[users].sum()), float(hours[users].sum()), int(y[rest].sum()),
                                    float(hours[rest].sum()))
            if p < params.alpha / len(used):
                out.append(Blame(float(t), int(used[j]), p, groups[j]))
                explained[users] = True
    return out


def naive(runs: dict, machine: MachineLayout, horizon: float, params: LocaliserParams) -> list[Blame]:
    """Blame every part with at least ``naive_threshold`` failed runs in the window."""
    parts = part_count(machine)
    failed = np.flatnonzero(runs["interrupted"])
    order = failed[np.argsort(runs["end"][failed], kind="stable")]
    ends = runs["end"][order]
    indptr, indices = runs["indptr"], runs["parts"]
    out: list[Blame] = []
    for t in windows(horizon, params):
        rows = _window(runs, order, ends, t, params.window_hours)
        if len(rows) < params.naive_threshold:
            continue
        used = np.concatenate([indices[indptr[r]:indptr[r + 1]] for r in rows])
        counts = np.bincount(used, minlength=parts)
        for part in np.flatnonzero(counts >= params.naive_threshold):
            out.append(Blame(float(t), int(part), float(counts[part])))
    return out


# -- scoring ------------------------------------------------------------------------------------
class Fault(NamedTuple):
    k: int
    unit: int
    start: float
    end: float
    gray: bool


def hard_faults(trace: Iterable[tuple[float, str, int, bool]], horizon: float) -> list[Fault]:
    """The down intervals of a failure trace, as faults."""
    opened: dict[tuple[int, int], float] = {}
    out = []
    for t, cls, unit, down in trace:
        key = (COMPONENT_CLASSES.index(cls), unit)
        if down:
            opened[key] = t
        elif key in opened:
            out.append(Fault(key[0], unit, opened.pop(key), t, False))
    out += [Fault(k, u, t, horizon, False) for (k, u), t in opened.items()]
    return out


def new_blames(blames: Sequence[Blame], step: float) -> list[Blame]:
    """The blames of a part (by its lowest member) that was not blamed in the window before."""
    seen: dict[int, float] = {}
    out = []
    for b in sorted(blames, key=lambda b: b.time):
        last = seen.get(b.part)
        if last is None or b.time - last > step * 1.5:
            out.append(b)
        seen[b.part] = b.time
    return out


def score(blames: Sequence[Blame], machine: MachineLayout, episodes, faults: Sequence[Fault],
          kills: Sequence[tuple[float, int, int, int]], params: LocaliserParams) -> tuple[list[dict], list[dict]]:
    """Score one replication's blames: rows per new blame (``time``, ``part``, ``kind``,
    ``parts_blamed`` - how many parts the records could not tell apart -, ``correct``: one of
    them had a fault) and per gray episode (``class``, ``unit``, ``start``, ``end``, ``planted``,
    ``jobs_failed``, ``found``, ``hours_to_blame``, ``jobs_to_blame``)."""
    W = params.window_hours
    by_part: dict[int, list[tuple[float, float]]] = {}
    for f in list(faults) + [Fault(e.k, e.unit, e.start, e.end, True) for e in episodes]:
        for part in parts_holding(machine, f.k, f.unit):
            by_part.setdefault(part, []).append((f.start, f.end))
    blame_rows = []
    for b in new_blames(blames, params.step_hours):
        members = b.members or (b.part,)
        correct = any(s <= b.time and e >= b.time - W for m in members for s, e in by_part.get(m, ()))
        blame_rows.append({"time": b.time, "part": b.part, "kind": part_kind(machine, b.part),
                           "parts_blamed": len(members), "correct": correct})
    times_by_part: dict[int, list[float]] = {}
    for b in blames:
        for m in b.members or (b.part,):
            times_by_part.setdefault(m, []).append(b.time)
    kill_times: dict[tuple[int, int], list[float]] = {}
    for t, k, unit, _job in kills:
        kill_times.setdefault((k, unit), []).append(t)
    episode_rows = []
    for e in episodes:
        mine = sorted(kill_times.get((e.k, e.unit), []))
        first = min((t for part in parts_holding(machine, e.k, e.unit) for t in times_by_part.get(part, ())
                     if e.start <= t <= e.end + W), default=None)
        episode_rows.append({
            "class": COMPONENT_CLASSES[e.k], "unit": e.unit, "start": e.start, "end": e.end,
            "planted": e.planted, "jobs_failed": len(mine), "found": first is not None,
            "hours_to_blame": math.nan if first is None else first - e.start,
            "jobs_to_blame": math.nan if first is None else sum(1 for t in mine if t <= first),
        })
    return blame_rows, episode_rows
