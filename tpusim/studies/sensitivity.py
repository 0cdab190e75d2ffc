"""Sensitivity: which assumptions decide the answer (DESIGN §8, issue 32 point 3).

``sensitivity(scenario)`` varies the scenario's declared assumptions (its ``assumptions:``
section, each over ``[low, high]``; or the factors given) with a global method from SALib -
Morris screening by default, Sobol indices on request - and reports, for each chosen output,
how much each assumption moves it, with the method's confidence intervals.

An *output* is one number per design point: the mean over the point's replications of one
policy's metric (``slice_availability`` of a shape, say), or of a **paired difference** of two
policies (the mean over replications of ``value(a) - value(b)`` of the same replication, so of
the same failure trace). By default: slice availability of the scenario's smallest and largest
shape under every policy, and the difference first OCS-wired policy minus first statically
wired policy (``reconfigurable - static``) for both shapes.

Invariants:

- **Common random numbers.** Every design point is the base scenario with only the factors'
  keys changed (``Scenario.with_overrides``, validated): the same seed, the same replication
  count and horizon. Replication ``r`` of every point therefore draws the same named streams;
  the differences between points are due to the factors, not to the luck of the draw.
- **One executor.** Every (point, replication) pair is one task run through the study's
  :class:`~tpusim.studies.base.Runner` (serial, local processes or Dask), so the numbers do not
  depend on how they were run.
- **SALib does the statistics.** The design comes from ``SALib.sample.morris`` /
  ``SALib.sample.sobol`` and the indices (with their bootstrap confidence intervals) from
  ``SALib.analyze.morris`` / ``SALib.analyze.sobol``; no index formula is written here. The
  analysis sees the design as sampled (:func:`design`), also where an integer-valued key was
  rounded before it was run (the value run is in :attr:`SensitivityResults.points`).
- **The same path for a known function.** :func:`design`, :func:`analyse` and :func:`screen`
  are what the study itself uses; a test runs :func:`screen` on functions with known indices.
- **Findings come from the numbers.** The sentence per output names the factor with the largest
  mu* (Morris) or total index ST (Sobol) with its 95 % interval, and says "cannot be told apart"
  when the top two intervals overlap.
- **A claim holds only where every interval says so.** With ``claim`` ("reconfigurable >
  static: slice_availability 12x16x16") the paired difference is judged at every distinct design
  point and at every corner of the box (2**k more runs, on the same random numbers), each with a
  Student-t interval at level 1 - alpha/m over the m points (Bonferroni: all hold together with
  probability >= 1 - alpha): "holds everywhere" only if every interval lies above 0, "fails at"
  the point whose interval lies furthest below 0 (its assumptions' values), else "cannot tell".
- **Where it flips, by bisection.** Where the claim holds at one point and fails at another that
  differs from it in one factor only (neighbours on a Morris trajectory, or corners one edge
  apart), the segment between them is bisected along that factor (``bisection_steps`` runs, each
  on the same random numbers), keeping the half whose ends still differ in the sign of the mean
  paired difference: the flip lies between the two values reported (at most ``MAX_FLIPS``
  segments, the narrowest first, each the narrowest between its two sides).
- The study writes no files: :class:`SensitivityResults` holds frames and a JSON-able mapping;
  the CLI and :mod:`tpusim.output` write them.

Layer: studies (it runs scenarios); reads results, never writes files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, ClassVar, Sequence

import numpy as np
import pandas as pd

from tpusim.config.build import build_model
from tpusim.config.load import ScenarioLike
from tpusim.config.schema import Scenario, assumption_value
from tpusim.core.metrics import SLICE_AVAILABILITY, metric
from tpusim.engine.execution import Progress, Task
from tpusim.policies.base import OCS_WIRING, STATIC_WIRING
from tpusim.studies.base import Runner, ScenarioStudy
from tpusim.topology.shapes import SliceShape

MORRIS, SOBOL = "morris", "sobol"
METHODS = (MORRIS, SOBOL)
#: Morris defaults: a few trajectories screen a handful of factors (each trajectory costs k+1
#: points; 10 keep the bootstrap intervals of mu* usable); 4 levels is the usual grid.
TRAJECTORIES, LEVELS = 10, 4
#: Sobol base samples (a power of two); the design has N x (k + 2) points: far more than Morris.
SOBOL_SAMPLES = 64
#: Bootstrap resamples behind SALib's confidence intervals.
RESAMPLES = 1000
#: Keys a design point may not change: every point runs the same replications of the same streams.
FIXED = ("seed", "replications")
#: An index this small is floating-point residue (a difference of equal sums), read as 0.
ZERO = 1e-12


# -- factors and outputs ------------------------------------------------------------------------
@dataclass(frozen=True)
class Factor:
    """One varied scenario key over ``[low, high]``; ``integer``: values are rounded before a run."""

    key: str
    low: float
    high: float
    integer: bool = False

    def value(self, x: float) -> float | int:
        """The value set on the scenario for design coordinate ``x``."""
        return int(round(x)) if self.integer else float(x)


@dataclass(frozen=True)
class Output:
    """One number per design point: ``policy``'s ``metric`` (at ``key``), or with ``minus`` the
    paired difference ``policy - minus`` (per replication, then averaged)."""

    policy: str
    metric: str
    key: str | None = None
    minus: str | None = None

    @property
    def label(self) -> str:
        who = f"{self.policy} - {self.minus}" if self.minus else self.policy
        return f"{who}: {self.metric}{' ' + self.key if self.key else ''}"

    @property
    def needs(self) -> list[tuple[str, str, str | None]]:
        """The (policy, metric, key) values this output reads from every replication."""
        return [(p, self.metric, self.key) for p in (self.policy, self.minus) if p is not None]


@dataclass(frozen=True)
class Claim:
    """A conclusion about a paired difference: ``better``'s ``metric`` (at ``key``) is above
    ``worse``'s, i.e. the mean of the per-replication differences ``better - worse`` is > 0."""

    better: str
    worse: str
    metric: str
    key: str | None = None
    text: str = ""  # as the user wrote it

    @property
    def output(self) -> Output:
        return Output(self.better, self.metric, self.key, self.worse)

    @classmethod
    def parse(cls, text: str) -> "Claim":
        """``"reconfigurable > static: slice_availability 4x4x4"`` (or ``<``, which swaps the
        two); ``ValueError`` saying the form otherwise."""
        import re

        form = re.fullmatch(r"\s*([A-Za-z_][\w]*)\s*([<>])\s*([A-Za-z_][\w]*)\s*:\s*([A-Za-z_]\w*)(?:[\s:]+(\S+))?\s*",
                            text)
        if form is None:
            raise ValueError(f"{text!r}: expected 'A > B: METRIC [KEY]' (e.g. 'reconfigurable > static: "
                             f"slice_availability 4x4x4')")
        a, op, b, name, key = form.groups()
        better, worse = (a, b) if op == ">" else (b, a)
        return cls(better, worse, name, key, " ".join(text.split()))


def factors_of(scenario: Scenario) -> list[Factor]:
    """The scenario's declared assumptions as factors (integer where the scenario's value is an
    integer); a range of one value (low == high) varies nothing and is left out."""
    data = scenario.model_dump(mode="json")
    return [Factor(key, a.low, a.high, _is_integer(assumption_value(data, key)))
            for key, a in scenario.assumptions.items() if a.low < a.high]


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _integer_key(scenario: Scenario, key: str) -> bool:
    """The scenario's value at ``key`` is an integer (so a factor there takes rounded values)."""
    try:
        return _is_integer(assumption_value(scenario.model_dump(mode="json"), key))
    except KeyError:
        return False


def check_factors(scenario: Scenario, factors: Sequence[Factor]) -> None:
    """``ValueError`` naming the key unless every factor names a numeric key of ``scenario``,
    has low < high, and both ends make a valid scenario."""
    from tpusim.core.errors import ScenarioError

    if not factors:
        raise ValueError("no factors: the scenario declares no assumptions (an assumptions: section) "
                         "and none was given (--vary KEY=LOW:HIGH)")
    data = scenario.model_dump(mode="json")
    seen = set()
    for f in factors:
        if f.key in seen:
            raise ValueError(f"{f.key}: given twice")
        seen.add(f.key)
        if f.key in FIXED:
            raise ValueError(f"{f.key}: is held fixed at every design point (common random numbers, one "
                             f"replication count); set it with --seed or --replications")
        try:
            value = assumption_value(data, f.key)
        except KeyError:
            raise ValueError(f"{f.key}: names no key of the scenario (a dotted path such as "
                             f"failures.ocs.repair.mean_hours)") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{f.key}: must name a number, but the scenario's value is {value!r}")
        if not (math.isfinite(f.low) and math.isfinite(f.high)) or not f.low < f.high:
            raise ValueError(f"{f.key}: low {f.low:g} must be below high {f.high:g}")
        for end in (f.low, f.high):
            try:
                scenario.with_overrides({f.key: f.value(end)})
            except ScenarioError as exc:
                raise ValueError(f"{f.key}={f.value(end)}: {exc.problems[0].message}") from None


def default_outputs(scenario: Scenario) -> list[Output]:
    """Slice availability of the smallest and largest shape under every policy, then the paired
    difference first OCS-wired policy - first statically wired policy for both shapes."""
    shapes = sorted(scenario.slices, key=lambda s: SliceShape.parse(s).chips)
    ends = list(dict.fromkeys([shapes[0], shapes[-1]]))
    policies = build_model(scenario).policies
    outs = [Output(p.name, SLICE_AVAILABILITY, shape) for shape in ends for p in policies]
    ocs = next((p.name for p in policies if p.wiring == OCS_WIRING), None)
    static = next((p.name for p in policies if p.wiring == STATIC_WIRING), None)
    if ocs and static:
        outs += [Output(ocs, SLICE_AVAILABILITY, shape, static) for shape in ends]
    return outs


def outputs_for(scenario: Scenario, metrics: Sequence[tuple[str, str | None]],
                differences: Sequence[tuple[str, str]]) -> list[Output]:
    """The outputs for chosen ``metrics`` ((name, key or None)) and ``differences`` ((a, b)):
    every policy's metric, then each difference of it. No metrics: slice availability (the
    smallest and largest shape); no differences: the default one. ``ValueError`` naming the
    bad name."""
    if not metrics and not differences:
        return default_outputs(scenario)
    names = list(scenario.policies)
    for a, b in differences:
        for p in (a, b):
            if p not in names:
                raise ValueError(f"{a}-{b}: {p!r} is not a policy of the scenario ({', '.join(names)})")
        if a == b:
            raise ValueError(f"{a}-{b}: a policy minus itself is zero")
    shapes = sorted(scenario.slices, key=lambda s: SliceShape.parse(s).chips)
    keyed: list[tuple[str, str | None]] = []
    for name, key in metrics or [(SLICE_AVAILABILITY, None)]:
        try:
            m = metric(name)
        except KeyError as exc:
            raise ValueError(str(exc.args[0])) from None
        if m.breakdown == "shape":
            if key is None:
                keyed += [(name, s) for s in dict.fromkeys([shapes[0], shapes[-1]])]
            elif key in scenario.slices:
                keyed.append((name, key))
            else:
                raise ValueError(f"{name}:{key}: {key!r} is not a slice of the scenario ({', '.join(scenario.slices)})")
        elif m.breakdown is None:
            if key is not None:
                raise ValueError(f"{name}:{key}: {name} has no breakdown key")
            keyed.append((name, None))
        elif key is None:
            raise ValueError(f"{name}: give its key as {name}:KEY (it is broken down by {m.breakdown})")
        else:
            keyed.append((name, key))
    if not differences:
        differences = [(o.policy, o.minus) for o in default_outputs(scenario) if o.minus is not None][:1]
    outs = [Output(p, name, key) for name, key in keyed for p in names]
    outs += [Output(a, name, key, b) for name, key in keyed for a, b in differences]
    return outs


# -- the design and its analysis (SALib) --------------------------------------------------------
def problem_of(factors: Sequence[Factor]) -> dict:
    """SALib's problem: names and bounds."""
    return {"num_vars": len(factors), "names": [f.key for f in factors],
            "bounds": [[f.low, f.high] for f in factors]}


def design(factors: Sequence[Factor], method: str = MORRIS, *, trajectories: int = TRAJECTORIES,
           levels: int = LEVELS, samples: int = SOBOL_SAMPLES, seed: int = 0) -> np.ndarray:
    """The design points (one row per point, one column per factor) as SALib samples them: Morris
    trajectories (``trajectories`` x (k + 1) points on a ``levels`` grid) or Saltelli's scheme for
    Sobol first and total indices (``samples`` x (k + 2) points; ``samples`` a power of two)."""
    problem = problem_of(factors)
    if method == MORRIS:
        from SALib.sample import morris as morris_sample

        return morris_sample.sample(problem, trajectories, num_levels=levels, seed=seed)
    if method == SOBOL:
        from SALib.sample import sobol as sobol_sample

        return sobol_sample.sample(problem, samples, calc_second_order=False, seed=seed)
    raise ValueError(f"method: must be one of {', '.join(METHODS)}, got {method!r}")


def analyse(factors: Sequence[Factor], X: np.ndarray, Y: np.ndarray, method: str = MORRIS, *,
            levels: int = LEVELS, seed: int = 0) -> pd.DataFrame:
    """The indices of output ``Y`` (one value per row of ``X``) by SALib, one row per factor,
    ranked (largest mu* or ST first): for Morris ``mu_star``, ``mu_star_conf`` (half-width of its
    95 % bootstrap interval), ``mu`` and ``sigma``; for Sobol ``S1``, ``S1_conf``, ``ST``,
    ``ST_conf``. Each row also has ``index`` (the ranking quantity), ``low`` and ``high`` (its
    95 % interval) and ``rank``."""
    problem = problem_of(factors)
    Y = np.asarray(Y, dtype=float)
    if method == MORRIS:
        from SALib.analyze import morris as morris_analyze

        got = morris_analyze.analyze(problem, np.asarray(X, dtype=float), Y, num_resamples=RESAMPLES,
                                     conf_level=0.95, num_levels=levels, seed=seed)
        frame = pd.DataFrame({"factor": problem["names"], "mu_star": got["mu_star"],
                              "mu_star_conf": got["mu_star_conf"], "mu": got["mu"], "sigma": got["sigma"]})
        frame["index"], conf = frame.mu_star, frame.mu_star_conf
    elif method == SOBOL:
        from SALib.analyze import sobol as sobol_analyze

        got = sobol_analyze.analyze(problem, Y, calc_second_order=False, num_resamples=RESAMPLES,
                                    conf_level=0.95, seed=seed)
        frame = pd.DataFrame({"factor": problem["names"], "S1": got["S1"], "S1_conf": got["S1_conf"],
                              "ST": got["ST"], "ST_conf": got["ST_conf"]})
        frame["index"], conf = frame.ST, frame.ST_conf
    else:
        raise ValueError(f"method: must be one of {', '.join(METHODS)}, got {method!r}")
    frame["low"], frame["high"] = frame["index"] - conf, frame["index"] + conf
    if method == MORRIS:  # mu* is a mean of absolute values: its interval stops at 0 (DESIGN §4)
        frame["low"] = frame["low"].clip(lower=0.0)
    frame = frame.sort_values("index", ascending=False, kind="stable").reset_index(drop=True)
    frame["rank"] = range(1, len(frame) + 1)
    return frame


def screen(factors: Sequence[Factor], evaluate: Callable[[np.ndarray], np.ndarray], method: str = MORRIS,
           **options: Any) -> pd.DataFrame:
    """:func:`design`, ``evaluate`` (design -> one value per row), then :func:`analyse`: the
    study's own path, for any function (a test checks it against known indices)."""
    levels, seed = options.get("levels", LEVELS), options.get("seed", 0)
    X = design(factors, method, **options)
    return analyse(factors, X, np.asarray(evaluate(X), dtype=float), method, levels=levels, seed=seed)


def finding(output: str, indices: pd.DataFrame, method: str, scale: float = 1.0, unit: str = "") -> str:
    """The one sentence an output's indices support: the factor that moves it most, its index and
    95 % interval; "cannot be told apart" when the top two intervals overlap; nothing moves it
    when every index is zero."""
    what = "mu*" if method == MORRIS else "ST"
    if indices.empty or indices["index"].isna().all():
        return f"{output}: no index (the output is undefined at some design point)"
    s = scale if method == MORRIS else 1.0
    u = unit if method == MORRIS else ""

    def g(v: float) -> str:
        return "0" if abs(v) < ZERO else f"{v:.3g}"

    def num(row) -> str:
        return f"{what} = {g(s * row['index'])}{u}, 95 % CI [{g(s * row['low'])}, {g(s * row['high'])}]"

    top = indices.iloc[0]
    if not top["index"] > ZERO:
        return f"no assumption moves {output} in these runs (every {what} is 0)"
    if len(indices) > 1:
        second = indices.iloc[1]
        if second["high"] >= top["low"] and second["index"] > ZERO:
            return (f"{top.factor} and {second.factor} move {output} most ({num(top)}; {num(second)}); "
                    f"their intervals overlap, so they cannot be told apart")
    return f"{top.factor} moves {output} most ({num(top)})"


def paired_mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    """The mean over replications of ``a[r] - b[r]`` (the same replication: the same trace),
    replications where either is undefined (NaN) left out; NaN if none is left. A stand-in for
    ``Results.compare`` once that exists."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    d = d[~np.isnan(d)]
    return float(d.mean()) if len(d) else math.nan


def _mean(values: np.ndarray) -> float:
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    return float(v.mean()) if len(v) else math.nan


# -- robustness of a claim (DESIGN §8) ------------------------------------------------------------------
#: The most factors whose box corners a claim is checked at (2**k corners, each a full run).
MAX_CORNER_FACTORS = 10
#: The most segments where a claim flips that are refined by bisection (the widest first).
MAX_FLIPS = 3
HOLDS, FAILS, CANNOT_TELL = "holds", "fails", "cannot tell"


def check_claim(scenario: Scenario, claim: Claim) -> None:
    """``ValueError`` unless the claim names two different policies of the scenario and a metric
    (with its key where it has a breakdown) the scenario reports."""
    out = outputs_for(scenario, [(claim.metric, claim.key)], [(claim.better, claim.worse)])
    if not any(o.minus for o in out) or (metric(claim.metric).breakdown is not None and claim.key is None):
        raise ValueError(f"{claim.text}: name the metric's key (e.g. {claim.metric} {scenario.slices[0]})")


def corners(factors: Sequence[Factor]) -> np.ndarray:
    """Every corner of the factors' box (2**k rows), the first factor varying slowest."""
    import itertools

    return np.array([[f.high if hi else f.low for f, hi in zip(factors, bits)]
                     for bits in itertools.product((False, True), repeat=len(factors))], dtype=float)


def claim_verdicts(differences: np.ndarray, alpha: float = 0.05) -> pd.DataFrame:
    """Per design point (a row of per-replication differences ``better - worse``; NaN where
    undefined): the mean, its simultaneous interval (Student t at level 1 - alpha / points:
    Bonferroni over every point, so all of them hold together with probability >= 1 - alpha)
    and the verdict: holds (interval above 0), fails (below 0) or cannot tell. Where every
    replication gives the same difference there is no interval: a difference of 0 there cannot
    tell, any other is judged by its sign (noted)."""
    from tpusim.core.stats import UNBOUNDED, estimate

    m = len(differences)
    level = 1.0 - alpha / max(m, 1)
    rows = []
    for d in differences:
        d = d[~np.isnan(d)]
        if len(d) == 0:
            rows.append({"mean": math.nan, "low": math.nan, "high": math.nan, "verdict": CANNOT_TELL,
                         "note": "undefined in every replication"})
            continue
        est = estimate([float(v) for v in d], level=level, bounds=UNBOUNDED)
        if est.ci95 is None:
            verdict = CANNOT_TELL if est.mean == 0 or len(d) < 2 else HOLDS if est.mean > 0 else FAILS
            rows.append({"mean": est.mean, "low": math.nan, "high": math.nan, "verdict": verdict,
                         "note": est.note or "one replication: no interval"})
            continue
        low, high = est.ci95
        verdict = HOLDS if low > 0 else FAILS if high < 0 else CANNOT_TELL
        rows.append({"mean": est.mean, "low": low, "high": high, "verdict": verdict, "note": est.note or ""})
    frame = pd.DataFrame(rows, columns=["mean", "low", "high", "verdict", "note"])
    frame["level"] = level
    return frame


def claim_sentence(claim: Claim, frame: pd.DataFrame, keys: Sequence[str], scale: float = 1.0,
                   unit: str = "") -> str:
    """The claim's verdict over the box: "holds everywhere" (every point, corners included),
    "fails at" the point where it fails most clearly (its assumptions' values, and how many
    others fail), or "cannot tell" (how many points are undecided)."""
    n = len(frame)
    fails = frame[frame.verdict == FAILS]
    undecided = frame[frame.verdict == CANNOT_TELL]

    def where(row) -> str:
        return ", ".join(f"{k} = {row[k]:g}" for k in keys)

    def interval(row) -> str:
        if math.isnan(row["low"]):
            return f"{scale * row['mean']:.3g}{unit} ({row['note']})"
        return f"{scale * row['mean']:.3g}{unit} [{scale * row['low']:.3g}, {scale * row['high']:.3g}]"

    level = f"{100 * (1 - (1 - frame.level.iloc[0]) * n):.3g} % simultaneous intervals over {n} points" if n else ""
    counts = f"holds at {int((frame.verdict == HOLDS).sum())}, fails at {len(fails)}, cannot tell at {len(undecided)}"
    if n and len(fails) == 0 and len(undecided) == 0:
        worst = frame.iloc[int(np.argmin(frame["low"].fillna(frame["mean"]).to_numpy()))]
        return (f"'{claim.text}' holds everywhere in the box: at all {n} design points, corners included "
                f"({level}); closest to flipping at {where(worst)}: {interval(worst)}")
    if len(fails):
        worst = fails.iloc[int(np.argmin(fails["high"].fillna(fails["mean"]).to_numpy()))]
        return (f"'{claim.text}' fails at {where(worst)}: difference {interval(worst)} ({level}: {counts})")
    if not len(undecided):
        return f"'{claim.text}': no point to judge it at"
    worst = undecided.iloc[int(np.argmin(undecided["mean"].to_numpy()))]
    return (f"'{claim.text}': cannot tell: the interval spans 0 at {len(undecided)} of {n} points ({level}: "
            f"{counts}); nearest to failing at {where(worst)}: {interval(worst)}")


# -- the result -----------------------------------------------------------------------------------
@dataclass(repr=False)
class SensitivityResults:
    """A sensitivity study: the factors, the design (``X`` as sampled, ``points`` as run), every
    replication's value of what the outputs read, each output's value per point, and per output
    the indices (:func:`analyse`) and the finding sentence."""

    scenario: Scenario  # the base scenario (its seed, replications and horizon at every point)
    method: str
    factors: list[Factor]
    outputs: list[Output]
    X: np.ndarray  # the design as sampled
    points: list[dict[str, float | int]]  # the values set at each point
    seeds: list[int]  # each point's root seed (all the scenario's: common random numbers)
    values: pd.DataFrame  # point, replication, policy, metric, key, value
    Y: np.ndarray  # points x outputs
    indices: dict[str, pd.DataFrame]  # output label -> analyse() frame
    settings: dict[str, Any] = field(default_factory=dict)  # trajectories, levels, samples
    claim: Claim | None = None
    #: with a claim: one row per point it was judged at (the design's and the box's corners):
    #: the factors' values, corner, mean, low, high (simultaneous interval), verdict, note
    claim_points: pd.DataFrame | None = None
    #: with a claim that holds somewhere and fails somewhere: per bisected segment (at most
    #: ``MAX_FLIPS``, the narrowest first), the factor,
    #: the others' values, and the bracket (value where the mean difference is still > 0, value
    #: where it is < 0, with those means) after the bisection steps
    flips: pd.DataFrame | None = None

    def claim_finding(self) -> str | None:
        """The claim's verdict over the box (:func:`claim_sentence`), or None without a claim."""
        if self.claim is None or self.claim_points is None:
            return None
        m = metric(self.claim.metric)
        unit = " pp" if m.unit == "fraction" else f" {m.unit}"
        sentence = claim_sentence(self.claim, self.claim_points, [f.key for f in self.factors], m.scale, unit)
        if self.flips is not None and len(self.flips):
            parts = []
            for row in self.flips.to_dict(orient="records"):
                others = ", ".join(f"{k} = {v:g}" for k, v in row["others"].items())
                parts.append(f"{row['factor']} between {row['holds_at']:g} (mean {m.scale * row['mean_holds']:+.3g}{unit}) "
                             f"and {row['fails_at']:g} ({m.scale * row['mean_fails']:+.3g}{unit})"
                             + (f" with {others}" if others else ""))
            sentence += "; by bisection, the mean difference changes sign along " + "; along ".join(parts)
        return sentence

    def __repr__(self) -> str:
        return (f"SensitivityResults({self.method}: {len(self.factors)} factors, {len(self.points)} points x "
                f"{self.scenario.replications} replications x {self.scenario.horizon_days:g} days, "
                f"{len(self.outputs)} outputs)")

    def findings(self) -> dict[str, str]:
        """Output label -> the sentence its indices support (:func:`finding`)."""
        out = {}
        for o in self.outputs:
            m = metric(o.metric)
            unit = " pp" if m.unit == "fraction" else f" {m.unit}"
            out[o.label] = finding(o.label, self.indices[o.label], self.method, m.scale, unit)
        return out

    def design_frame(self) -> pd.DataFrame:
        """One row per design point: the factors' values as run, then every output's value."""
        frame = pd.DataFrame(self.points)
        frame.insert(0, "point", range(len(self.points)))
        frame.insert(1, "seed", self.seeds)
        for j, o in enumerate(self.outputs):
            frame[o.label] = self.Y[:, j]
        return frame

    def indices_frame(self) -> pd.DataFrame:
        """Every output's indices, one row per output and factor, ranked within each output."""
        frames = [f.assign(output=label) for label, f in self.indices.items()]
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        return frame[["output", *[c for c in frame.columns if c != "output"]]] if len(frame) else frame

    def to_dict(self) -> dict[str, Any]:
        """What sensitivity.json holds: the settings, factors, outputs, indices and findings."""
        def clean(v: Any) -> Any:
            return None if isinstance(v, float) and not math.isfinite(v) else v

        findings = self.findings()
        return {
            "scenario": self.scenario.name, "seed": self.scenario.seed, "method": self.method,
            "replications": self.scenario.replications, "horizon_days": self.scenario.horizon_days,
            "points": len(self.points), **self.settings,
            **({"claim": {"text": self.claim.text, "better": self.claim.better, "worse": self.claim.worse,
                          "metric": self.claim.metric, "key": self.claim.key, "finding": self.claim_finding(),
                          "points": [{k: clean(v) for k, v in row.items()}
                                     for row in self.claim_points.to_dict(orient="records")],
                          "flips": [{k: clean(v) for k, v in row.items()}
                                    for row in (self.flips.to_dict(orient="records") if self.flips is not None else [])]}}
               if self.claim is not None and self.claim_points is not None else {}),
            "factors": [{"key": f.key, "low": f.low, "high": f.high, "integer": f.integer} for f in self.factors],
            "outputs": [{"label": o.label, "policy": o.policy, "minus": o.minus, "metric": o.metric, "key": o.key,
                         "indices": [{k: clean(v) for k, v in row.items()}
                                     for row in self.indices[o.label].to_dict(orient="records")],
                         "finding": findings[o.label]} for o in self.outputs],
        }

    def plot(self) -> dict:
        """A tornado figure per output, keyed by its label (:func:`tpusim.output.plots.tornado_figure`)."""
        from tpusim.output.plots import Figures, tornado_figure

        figures = Figures()
        for o in self.outputs:
            m = metric(o.metric)
            figures[o.label] = tornado_figure(self.indices[o.label], o.label, self.method, m.scale,
                                              "pp" if m.unit == "fraction" else m.unit)
        return figures


# -- the study --------------------------------------------------------------------------------------
def sensitivity(scenario: ScenarioLike, factors: "Sequence[Factor] | dict[str, tuple[float, float]] | None" = None,
                *, method: str = MORRIS, outputs: Sequence[Output] | None = None,
                trajectories: int = TRAJECTORIES, levels: int = LEVELS, samples: int = SOBOL_SAMPLES,
                workers: int = 1, scheduler_address: str | None = None, progress: Progress | None = None,
                overrides: "list[str] | dict[str, Any] | None" = None, claim: "Claim | str | None" = None,
                alpha: float = 0.05, bisection_steps: int = 4) -> SensitivityResults:
    """Global sensitivity of ``scenario``'s outputs to its assumptions (the module's docstring).

    Parameters
    ----------
    scenario : Scenario, str, Path or dict
        Any form :func:`tpusim.run` takes; ``overrides`` (``{"replications": 4, "horizon_days":
        180}``) are applied first. Its seed, replications and horizon hold at every point.
    factors : dict or list of Factor, optional
        ``{"failures.ocs.repair.mean_hours": (1, 24)}``; default: the scenario's ``assumptions:``.
    method : "morris" or "sobol"
        Morris screening (``trajectories`` x (k + 1) points on a ``levels`` grid) or Sobol first
        and total indices (``samples`` x (k + 2) points: many more).
    outputs : list of Output, optional
        Default: :func:`default_outputs`.
    workers, scheduler_address, progress
        As for :func:`tpusim.sweep`; ``progress(replications done, in all)``.
    claim, alpha : optional
        A conclusion about a paired difference (``"reconfigurable > static: slice_availability
        12x16x16"``) judged at every design point and every corner of the box with simultaneous
        intervals (family-wise ``alpha``, Bonferroni): :meth:`SensitivityResults.claim_finding`.
    bisection_steps : int
        Where the claim holds at one point and fails at a neighbour (one factor apart), that many
        runs bisect the segment (:attr:`SensitivityResults.flips`); 0: none.

    Examples
    --------
    >>> found = tpusim.sensitivity("tpuv4_pod", overrides={"replications": 4})  # doctest: +SKIP
    >>> found.findings()  # doctest: +SKIP
    """
    if isinstance(factors, dict):
        factors = [Factor(k, float(lo), float(hi)) for k, (lo, hi) in factors.items()]
    study = SensitivityStudy(tuple(factors) if factors is not None else None, method,
                             tuple(outputs) if outputs is not None else None,
                             trajectories, levels, samples, progress,
                             Claim.parse(claim) if isinstance(claim, str) else claim, alpha, bisection_steps)
    return study.on(scenario, overrides, workers=workers, scheduler_address=scheduler_address)


@dataclass(frozen=True)
class SensitivityStudy(ScenarioStudy[SensitivityResults]):
    """Global sensitivity over the assumptions' ranges (:func:`sensitivity` says what each field does)."""

    name: ClassVar[str] = "sensitivity"
    summary: ClassVar[str] = ("which assumptions move each metric and paired policy difference most "
                              "(Morris or Sobol, SALib, on common random numbers)")

    factors: tuple[Factor, ...] | None = None
    method: str = MORRIS
    outputs: tuple[Output, ...] | None = None
    trajectories: int = TRAJECTORIES
    levels: int = LEVELS
    samples: int = SOBOL_SAMPLES
    progress: Progress | None = None
    claim: Claim | None = None  # judged at every design point and every corner of the box
    alpha: float = 0.05  # the claim's family-wise error over all those points
    bisection_steps: int = 4  # runs per segment where the claim flips (0: no refinement)

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha: must lie strictly between 0 and 1, got {self.alpha}")
        if self.method not in METHODS:
            raise ValueError(f"method: must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.trajectories < 2:
            raise ValueError(f"trajectories: at least 2 (a bootstrap interval needs more than one), got {self.trajectories}")
        if self.levels < 2 or self.levels % 2:
            raise ValueError(f"levels: an even number >= 2, got {self.levels}")
        if self.samples < 2 or self.samples & (self.samples - 1):
            raise ValueError(f"samples: a power of two (Sobol sequences), got {self.samples}")

    def run(self, scenario: Scenario, runner: Runner) -> SensitivityResults:
        factors = list(self.factors) if self.factors is not None else factors_of(scenario)
        factors = [replace(f, integer=True) if _integer_key(scenario, f.key) else f for f in factors]
        check_factors(scenario, factors)
        outputs = list(self.outputs) if self.outputs is not None else default_outputs(scenario)
        if self.claim is not None:
            check_claim(scenario, self.claim)
            if len(factors) > MAX_CORNER_FACTORS:
                raise ValueError(f"{self.claim.text}: the box of {len(factors)} factors has 2**{len(factors)} "
                                 f"corners; a claim is judged over at most {MAX_CORNER_FACTORS} factors")
        seed = scenario.seed % 2**32
        X = design(factors, self.method, trajectories=self.trajectories, levels=self.levels,
                   samples=self.samples, seed=seed)
        points = [{f.key: f.value(x) for f, x in zip(factors, row)} for row in X]
        extra = self._corners(factors, points) if self.claim is not None else []
        # the same seed at every point: common random numbers
        scenarios = [scenario.with_overrides(p) for p in points + extra]
        values = self._simulate(scenarios, outputs + ([self.claim.output] if self.claim else []), runner)
        Y = self._outputs(values[values.point < len(points)], outputs, len(points), scenario.replications)
        judged = self._judge(values, factors, points + extra, len(points), scenario.replications)
        flips = self._bisect(scenario, factors, judged, runner) if judged is not None else None
        indices = {o.label: (analyse(factors, X, Y[:, j], self.method, levels=self.levels, seed=seed)
                             if not np.isnan(Y[:, j]).any() else _undefined(factors))
                   for j, o in enumerate(outputs)}
        settings = ({"trajectories": self.trajectories, "levels": self.levels} if self.method == MORRIS
                    else {"samples": self.samples})
        return SensitivityResults(scenario, self.method, factors, outputs, X, points,
                                  [s.seed for s in scenarios[:len(points)]], values[values.point < len(points)]
                                  .reset_index(drop=True), Y, indices, settings, self.claim, judged, flips)

    @staticmethod
    def _corners(factors: Sequence[Factor], points: list[dict[str, float | int]]) -> list[dict[str, float | int]]:
        """The corners of the box that are not design points already."""
        have = {tuple(p.values()) for p in points}
        out = []
        for row in corners(factors):
            p = {f.key: f.value(x) for f, x in zip(factors, row)}
            if tuple(p.values()) not in have:
                have.add(tuple(p.values()))
                out.append(p)
        return out

    def _judge(self, values: pd.DataFrame, factors: Sequence[Factor], points: list[dict[str, float | int]],
               design: int, reps: int) -> pd.DataFrame | None:
        """The claim at every point (:func:`claim_verdicts`), beside the point's values."""
        if self.claim is None:
            return None
        c = self.claim
        def per_rep(policy: str) -> np.ndarray:
            return _per_replication(values, policy, c.metric, c.key, len(points), reps)
        # a point a Morris trajectory visits twice is judged once (the same runs: the same seed)
        first = sorted({tuple(p.values()): i for i, p in reversed(list(enumerate(points)))}.values())
        verdicts = claim_verdicts((per_rep(c.better) - per_rep(c.worse))[first], self.alpha)
        frame = pd.DataFrame([points[i] for i in first])
        ends = {f.key: (f.value(f.low), f.value(f.high)) for f in factors}
        frame.insert(0, "point", first)
        frame["corner"] = [i >= design or all(v in ends[k] for k, v in points[i].items()) for i in first]
        return pd.concat([frame, verdicts], axis=1)

    def _bisect(self, scenario: Scenario, factors: Sequence[Factor], judged: pd.DataFrame,
                runner: Runner) -> pd.DataFrame | None:
        """Bisect every segment (the widest ``MAX_FLIPS``) between a point where the claim holds
        and one where it fails that differ in one factor only (the module's docstring)."""
        if self.bisection_steps <= 0 or self.claim is None:
            return None
        keys = [f.key for f in factors]
        rows = judged.to_dict(orient="records")
        holds = [r for r in rows if r["verdict"] == HOLDS]
        fails = [r for r in rows if r["verdict"] == FAILS]
        segments: dict[tuple[str, tuple], tuple[float, dict, dict]] = {}
        for h in holds:
            for f in fails:
                differ = [k for k in keys if h[k] != f[k]]
                if len(differ) == 1:
                    k = differ[0]
                    others = tuple((o, h[o]) for o in keys if o != k)
                    width = abs(h[k] - f[k])
                    if (k, others) not in segments or width < segments[(k, others)][0]:
                        segments[(k, others)] = (width, h, f)
        if not segments:
            return pd.DataFrame(columns=["factor", "others", "holds_at", "fails_at", "mean_holds", "mean_fails", "steps"])
        chosen = sorted(segments.items(), key=lambda item: item[1][0])[:MAX_FLIPS]
        factor_of = {f.key: f for f in factors}
        out = []
        c = self.claim
        for (k, others), (_, h, f) in chosen:
            lo, hi = h[k], f[k]  # the claim's mean difference is > 0 at lo, < 0 at hi
            mean_lo, mean_hi = h["mean"], f["mean"]
            for _ in range(self.bisection_steps):
                mid = factor_of[k].value((lo + hi) / 2)
                if mid in (lo, hi):
                    break  # an integer factor's bracket cannot narrow further
                sc = scenario.with_overrides({**dict(others), k: mid})
                values = self._simulate([sc], [c.output], runner, progress=False)
                diff = (_per_replication(values, c.better, c.metric, c.key, 1, sc.replications)
                        - _per_replication(values, c.worse, c.metric, c.key, 1, sc.replications))[0]
                mean = _mean(diff)
                if mean > 0:
                    lo, mean_lo = mid, mean
                else:
                    hi, mean_hi = mid, mean
            out.append({"factor": k, "others": dict(others), "holds_at": lo, "fails_at": hi,
                        "mean_holds": mean_lo, "mean_fails": mean_hi, "steps": self.bisection_steps})
        return pd.DataFrame(out)

    def _simulate(self, scenarios: list[Scenario], outputs: list[Output], runner: Runner,
                  progress: bool = True) -> pd.DataFrame:
        """Every (point, replication) as one task through ``runner``; the values the outputs read
        (``progress``: report to the study's progress callback; the bisection's runs do not)."""
        needed = list(dict.fromkeys(n for o in outputs for n in o.needs))
        tasks, owner = [], []
        for i, sc in enumerate(scenarios):
            model = build_model(sc)
            for r in range(sc.replications):
                tasks.append(Task(model, r, samples_only=True))
                owner.append(i)
        rows = []
        for t, result in runner.execute(tasks, progress=self.progress if progress else None):
            got = {(s.policy, s.metric, s.key): s.value for s in result.samples}
            for policy, name, key in needed:
                rows.append({"point": owner[t], "replication": result.replication, "policy": policy,
                             "metric": name, "key": key, "value": got.get((policy, name, key), math.nan)})
        frame = pd.DataFrame(rows, columns=["point", "replication", "policy", "metric", "key", "value"])
        return frame.sort_values(["point", "replication"], kind="stable").reset_index(drop=True)

    @staticmethod
    def _outputs(values: pd.DataFrame, outputs: list[Output], n: int, reps: int) -> np.ndarray:
        """Each output's value at each point: a mean over replications, or a paired difference."""
        def per_rep(policy: str, name: str, key: str | None) -> np.ndarray:
            return _per_replication(values, policy, name, key, n, reps)

        Y = np.full((n, len(outputs)), math.nan)
        for j, o in enumerate(outputs):
            a = per_rep(o.policy, o.metric, o.key)
            if o.minus is None:
                Y[:, j] = [_mean(a[i]) for i in range(n)]
            else:
                b = per_rep(o.minus, o.metric, o.key)
                Y[:, j] = [paired_mean_difference(a[i], b[i]) for i in range(n)]
        return Y


def _per_replication(values: pd.DataFrame, policy: str, name: str, key: str | None, n: int, reps: int) -> np.ndarray:
    """points x replications: ``policy``'s ``name`` at ``key`` in every replication of every point."""
    rows = values[(values.policy == policy) & (values.metric == name)
                  & (values.key.isna() if key is None else values.key == key)]
    grid = np.full((n, reps), math.nan)
    grid[rows.point.to_numpy(), rows.replication.to_numpy()] = rows.value.to_numpy()
    return grid


def _undefined(factors: Sequence[Factor]) -> pd.DataFrame:
    return pd.DataFrame({"factor": [f.key for f in factors], "index": math.nan, "low": math.nan,
                         "high": math.nan, "rank": range(1, len(factors) + 1)})
