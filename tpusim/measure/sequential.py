"""Runs that stop when the answer is good enough (DESIGN §9, issue 33).

A user asks for a precision instead of a number of replications: a relative half-width
(``precision``: half-width / |mean| <= 0.1) or an absolute one (``half_width``, in the
metric's own unit: fractions as fractions, 0.0005 = 0.05 percentage points), for named metrics
(``slice_availability:12x16x16=0.05``; a metric without a key means every key) or, as one
bare value, for the :func:`default metrics <default_metrics>`, under every policy. The run
goes in blocks through the one executor and stops at the first check where every chosen
interval meets its target, or at the maximum.

**The rule** is Chow and Robbins' sequential fixed-width procedure (Y. S. Chow and H. Robbins,
"On the asymptotic theory of fixed-width sequential confidence intervals for the mean", Annals
of Mathematical Statistics 36, 1965; with the Student quantile in place of the normal one as in
Nadas, 1969, and Law and Kelton's "sequential procedure", Simulation Modeling and Analysis,
§9.4): run a first stage of ``minimum`` replications, then stop at the first check ``n`` at
which every chosen 95 % interval *as tpusim reports it* (:class:`~tpusim.core.metrics.Estimates`:
Student's interval, and for slice availability its union with the outage interval; the tables,
summary.json and frames print the same one) lies within the target of its mean:
``max(mean - low, high - mean) <= h`` (``h = precision * |mean|`` for a relative target). The
farther end counts, so an interval clipped at a bound or skewed (the outage interval) never
stops a run sooner than its wider side allows. Checks come after blocks of replications, not
after each one; stopping later than the rule allows only adds replications.

**What it guarantees, and when.** For independent replications with finite variance, the
interval at the stopping time covers the mean with probability tending to 95 % as ``h``
shrinks, and the number of replications tends to ``(z sigma / h)^2``, what a run that knew
sigma would have chosen (Chow and Robbins' theorems 1 and 2). It is asymptotic: a naive
"stop when narrow enough" from very few replications under-covers, because a sample that
happens to have a small spread stops too soon. Hence the first stage (:data:`MINIMUM`
replications or the scenario's, whichever is larger) and the rule that an interval tpusim marks
unreliable - fewer than 10 outages for an availability, fewer than 5 replications -, or one it
does not give at all (no outage seen, the same value in every replication), never counts as
precise enough. Where a target names no key (the bare value, or a metric for all its keys), a
key with no interval because nothing was seen (a slice shape with no outage) is recorded as not
judged, with its note, and does not hold the run; a target naming the key holds it to the
maximum. Measured on normal streams (``tests/test_sequential.py``, 1000 seeds each),
the stopped interval covers 93.1 % where the rule stops at ~26 replications and 94.3-94.4 %
at ~100 (absolute and relative targets): a little under 95 %, as the theory's finite-``n``
corrections predict. A two-stage Stein rule (exact for ``mean ± h`` under normality) was tried
on the same streams: the interval tpusim prints then covered 93.9-94.9 %, for 30-47 % more
replications, so the sequential rule was kept. Availability built from rare outages is not normal; where outages are
rare the outage interval (wider, at least nominal coverage with 10 outages) is the one judged.
A relative target on a metric near zero may never be met: the maximum stops the run then, and
the record says which targets were not met. The intervals are marginal, one per metric: no
simultaneous coverage over several targets is claimed.

Layer: measurement, beside the runner that calls it; it reads samples and estimates only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping, Sequence

from tpusim.core.metrics import (
    GOODPUT,
    LOST_CHIP_HOURS,
    SLICE_AVAILABILITY,
    SLICE_OUTAGE_LONGEST_HOURS,
    SLICE_OUTAGE_SQ_HOURS,
    SLICE_OUTAGES,
    SYSTEM_AVAILABILITY,
    USEFUL_AVAILABILITY,
    Estimates,
    Sample,
    metric,
)
from tpusim.core.stats import Estimate

#: The most replications a run may have (the scenario's own limit, ``tpusim.config.build.LIMITS``).
LIMIT = 100_000

#: The first stage: at least this many replications (or the scenario's, if more) before any check.
MINIMUM = 10
#: Without ``max_replications``, the maximum is this many times the first stage.
MAXIMUM_FACTOR = 10
#: Blocks after the first stage add at most this share of the replications done (and at least one
#: per worker), so a run stops at most about 10 % after the rule first holds.
BLOCK_SHARE = 0.1

RULE = ("Chow and Robbins (1965) sequential fixed-width rule: after a first stage of `minimum` replications, stop "
        "at the first check (after each block) where every target's 95 % interval as reported lies within the "
        "target of its mean (max(mean - low, high - mean) <= h; h = precision x |mean| for a relative target); an "
        "interval marked unreliable, or none, never meets a target (one without an interval because nothing was seen, "
        "from a target without a key, is not judged); asymptotic 95 % coverage as h shrinks")

KINDS = ("relative", "absolute")
_OPTION = {"relative": "--precision", "absolute": "--half-width"}
#: Breakdowns a target may name a key of (sizes and cube counts vary with the run).
_KEYED = ("shape", "class")


@dataclass(frozen=True)
class Spec:
    """One requested target: ``metric`` None means the default set; ``key`` None every key."""

    kind: str  # "relative" or "absolute"
    value: float
    metric: str | None = None
    key: str | None = None

    def text(self) -> str:
        name = "" if self.metric is None else f"{self.metric}{':' + self.key if self.key else ''}="
        return f"{_OPTION[self.kind]} {name}{self.value:g}"


@dataclass(frozen=True)
class Goal:
    """One interval that must meet a target: ``(policy, metric, key)`` of the estimates."""

    policy: str | None
    metric: str
    key: str | None
    kind: str
    value: float
    wild: bool = False  # from a target without a key (dropped if the run never measures it)

    @property
    def group(self) -> tuple[str | None, str, str | None]:
        return (self.policy, self.metric, self.key)


@dataclass(frozen=True)
class Verdict:
    goal: Goal
    estimate: Estimate | None
    reach: float | None  # max(mean - low, high - mean): None without an interval
    met: bool
    note: str | None = None  # why not met, where it is not the width
    blocking: bool = True  # False: a target without a key whose interval does not exist (nothing seen)

    @property
    def allowed(self) -> float | None:
        """The half-width the target allows now (relative: precision x |mean|)."""
        if self.goal.kind == "absolute":
            return self.goal.value
        if self.estimate is None or self.estimate.mean == 0.0:
            return None
        return self.goal.value * abs(self.estimate.mean)

    def as_dict(self) -> dict[str, Any]:
        est = self.estimate
        out: dict[str, Any] = {"policy": self.goal.policy, "metric": self.goal.metric, "key": self.goal.key,
                               "kind": self.goal.kind, "target": self.goal.value, "met": self.met,
                               "judged": self.blocking,
                               "mean": est.mean if est is not None else None, "half_width": self.reach,
                               "relative_half_width": (self.reach / abs(est.mean)
                                                       if self.reach is not None and est is not None and est.mean
                                                       else None)}
        if self.note is not None:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class Stopping:
    """What a sequential run asks for: targets, the first stage, the maximum and the block."""

    specs: tuple[Spec, ...]
    minimum: int | None = None  # None: max(MINIMUM, the scenario's replications)
    maximum: int | None = None  # None: MAXIMUM_FACTOR x the minimum
    block: int | None = None  # None: max(workers, BLOCK_SHARE x replications done)

    def bounds(self, replications: int) -> tuple[int, int]:
        """(minimum, maximum) for a scenario of ``replications``; ``ValueError`` naming the option
        when the maximum is below the minimum."""
        low = self.minimum if self.minimum is not None else max(MINIMUM, replications)
        high = self.maximum if self.maximum is not None else min(MAXIMUM_FACTOR * low, max(low, LIMIT))
        if high > LIMIT:
            raise ValueError(f"--max-replications {high}: more than {LIMIT:,}")
        if high < low:
            raise ValueError(f"--max-replications {high}: below the first stage of {low} replications "
                             f"(max({MINIMUM}, the scenario's replications)); give at least {low}")
        return low, high


def parse(kind: str, given: "float | str | Sequence[float | str] | Mapping[str, float] | None") -> list[Spec]:
    """Targets of one kind from what the CLI or the facade was given: a number (the default set),
    ``"metric[:key]=value"`` texts, a list of either, or a mapping ``{"metric[:key]": value}``.
    ``ValueError`` names the option and the text for a value that is not a positive number."""
    if given is None:
        return []
    option = _OPTION[kind]
    items: list[tuple[str | None, Any]]
    if isinstance(given, Mapping):
        items = [(str(k), v) for k, v in given.items()]
    elif isinstance(given, (str, int, float)) and not isinstance(given, bool):
        items = [_split(given)]
    else:
        try:
            items = [_split(g) for g in given]  # type: ignore[union-attr]
        except TypeError:
            raise ValueError(f"{option}: expected a number, METRIC[:KEY]=VALUE or a list of them, got {given!r}") from None
    out = []
    for name, value in items:
        where = f"{option} {name + '=' if name else ''}{value}"
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: not a number") from None
        if isinstance(value, bool) or not math.isfinite(number) or number <= 0:
            raise ValueError(f"{where}: must be a number > 0")
        if kind == "relative" and number >= 1:  # a half-width as large as the mean says nothing
            raise ValueError(f"{where}: a relative half-width must be below 1 (0.1 = 10 % of the mean)")
        metric_name, key = (None, None)
        if name:
            metric_name, _, rest = name.partition(":")
            key = rest or None
        out.append(Spec(kind, number, metric_name or None, key))
    return out


def _split(given: Any) -> tuple[str | None, Any]:
    if isinstance(given, str) and "=" in given:
        name, _, value = given.partition("=")
        return name.strip(), value.strip()
    if isinstance(given, str):
        return None, given.strip()
    return None, given


def default_metrics(model: Any) -> list[tuple[str | None, str, str | None]]:
    """What a bare value applies to: under every policy, slice availability per shape the
    policy can place at all, system and useful availability and, with a workload, goodput and
    lost chip-hours (the metrics the paired comparisons read)."""
    cube = model.machine.cube.shape
    out: list[tuple[str | None, str, str | None]] = []
    for policy in model.policy_names:
        p = model.policy(policy)
        out += [(policy, SLICE_AVAILABILITY, s.label) for s in model.shapes if p.grid_fits(s.cube_dims(cube))]
        out += [(policy, SYSTEM_AVAILABILITY, None), (policy, USEFUL_AVAILABILITY, None)]
        if model.workload is not None:
            out += [(policy, GOODPUT, None), (policy, LOST_CHIP_HOURS, None)]
    return out


def goals(specs: Iterable[Spec], model: Any) -> list[Goal]:
    """Every interval that must meet a target, for ``model``. A target for a metric and key
    replaces, for that interval and kind, one for the metric alone, which replaces the bare
    value's. ``ValueError`` (naming the option) for an unknown metric or key."""
    chosen: dict[tuple[tuple[str | None, str, str | None], str], tuple[int, float]] = {}  # -> (rank, value)
    shapes = [s.label for s in model.shapes]
    from tpusim.topology.machine import COMPONENT_CLASSES

    for spec in specs:
        if spec.metric is None:
            groups, rank = default_metrics(model), 0
        else:
            try:
                m = metric(spec.metric)
            except KeyError:
                raise ValueError(f"{spec.text()}: no metric named {spec.metric!r} (see tpusim.core.metrics)") from None
            if m.internal:
                raise ValueError(f"{spec.text()}: {spec.metric} is an ingredient of another estimate, not a target")
            if m.breakdown is not None and m.breakdown not in _KEYED:
                raise ValueError(f"{spec.text()}: {spec.metric} is broken down by {m.breakdown}, which a target "
                                 f"cannot name; choose a metric by shape, by class or without a breakdown")
            if m.breakdown is None and spec.key is not None:
                raise ValueError(f"{spec.text()}: {spec.metric} has no breakdown, so no key")
            if m.group == "jobs" and model.workload is None:
                raise ValueError(f"{spec.text()}: {spec.metric} is measured only with a workload, and this "
                                 f"scenario has none")
            keys: list[str | None] = [None]
            if m.breakdown == "shape":
                keys = list(shapes)
            elif m.breakdown == "class":
                keys = list(COMPONENT_CLASSES)
            if spec.key is not None:
                if spec.key not in keys:
                    raise ValueError(f"{spec.text()}: no {m.breakdown} {spec.key!r} in this run "
                                     f"(it has {', '.join(str(k) for k in keys)})")
                keys = [spec.key]
            policies: list[str | None] = [None] if m.group == "components" else list(model.policy_names)
            groups = [(p, m.name, k) for p in policies for k in keys
                      if spec.key is not None or m.breakdown != "shape" or _placeable(model, p, k)]
            rank = 2 if spec.key is not None else 1
        for group in groups:
            held = chosen.get((group, spec.kind))
            if held is None or rank >= held[0]:
                chosen[(group, spec.kind)] = (rank, spec.value if held is None or rank > held[0]
                                              else min(spec.value, held[1]))
    return [Goal(*group, kind, value, rank < 2) for (group, kind), (rank, value) in chosen.items()]


def _placeable(model: Any, policy: str | None, shape: str | None) -> bool:
    """Can ``policy`` place ``shape`` at all (a shape it never can has availability 0, no estimate)?"""
    s = next(s for s in model.shapes if s.label == shape)
    return bool(model.policy(policy).grid_fits(s.cube_dims(model.machine.cube.shape)))


def reach(est: Estimate | None) -> float | None:
    """The half-width a target is judged on: from the mean to the farther end of the interval."""
    if est is None or est.ci95 is None:
        return None
    return max(est.mean - est.ci95[0], est.ci95[1] - est.mean)


def judge(goal: Goal, est: Estimate | None) -> Verdict:
    """Does ``est`` (the interval tpusim reports) meet ``goal``?"""
    width = reach(est)
    if est is None:
        return Verdict(goal, None, None, False, "not measured in any replication")
    if width is None:
        return Verdict(goal, est, None, False, est.note or "no interval")
    if not est.reliable:
        return Verdict(goal, est, width, False, f"interval marked unreliable: {est.note}")
    allowed = goal.value if goal.kind == "absolute" else goal.value * abs(est.mean)
    if allowed == 0.0:
        return Verdict(goal, est, width, False, "mean 0: a relative half-width cannot be met")
    return Verdict(goal, est, width, width <= allowed)


@dataclass
class Sequential:
    """The stopping rule of one run: it takes each replication's samples as they come and,
    after a block, says how many replications to have next (None: stop)."""

    goals: list[Goal]
    horizon: float | None
    minimum: int
    maximum: int
    block: int | None = None
    workers: int = 1
    checks: list[int] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    reason: str = "running"
    _kept: dict[int, list[Sample]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        wanted: set[tuple[str | None, str, str | None]] = set()
        for g in self.goals:
            wanted.add(g.group)
            if g.metric == SLICE_AVAILABILITY:  # the outage interval's ingredients
                wanted |= {(g.policy, name, g.key) for name in (SLICE_OUTAGES, SLICE_OUTAGE_SQ_HOURS,
                                                                  SLICE_OUTAGE_LONGEST_HOURS)}
        self._wanted = wanted

    def add(self, replication: int, samples: Iterable[Sample]) -> None:
        """Keep the samples of one replication that the targets read."""
        self._kept[replication] = [s for s in samples if (s.policy, s.metric, s.key) in self._wanted]

    def estimates(self) -> Estimates:
        """The targets' estimates from the replications added, in replication order: computed by
        :class:`Estimates` as every output computes them."""
        return Estimates((s for r in sorted(self._kept) for s in self._kept[r]), self.horizon)

    def judge(self) -> list[Verdict]:
        """Every goal's verdict. A goal from a target without a key (the bare value, or a metric
        for all its keys) whose estimate has no interval because nothing varied (no outage seen,
        the same value in every replication) is not judged and does not hold the run: a rare
        outage is for importance sampling, not for a run to wait on; it still says so. One
        named with its key holds the run until it has a reliable interval or the maximum."""
        est = self.estimates()
        if not self.checks[1:]:  # the first stage: targets without a key drop what the run never measures
            self.goals = [g for g in self.goals if not (g.wild and est.get(*g.group) is None)] or self.goals
        out = []
        for g in self.goals:
            v = judge(g, est.get(*g.group))
            if g.wild and v.estimate is not None and v.reach is None:
                v = replace(v, blocking=False)
            out.append(v)
        return out

    def met(self) -> bool:
        """Every judged target met (and at least one judged)."""
        judged = [v for v in self.verdicts if v.blocking]
        return bool(judged) and all(v.met for v in judged)

    def first(self) -> int:
        return self.minimum

    def next(self, done: int) -> int | None:
        """After ``done`` replications (the first ``done``): the count to reach next, or None to stop."""
        self.checks.append(done)
        self.verdicts = self.judge()
        if self.met():
            self.reason = "met"
            return None
        if done >= self.maximum:
            self.reason = "maximum"
            return None
        step = max(1, self.workers)
        block = self.block if self.block is not None else max(step, math.ceil(BLOCK_SHARE * done))
        target = done + block
        needed = self.predicted(done)
        if needed is not None and needed < target:
            target = max(done + step, needed)
        return min(self.maximum, target)

    def predicted(self, done: int) -> int | None:
        """The replications the unmet targets need, from ``width ∝ 1/sqrt(n)``; None where a
        target has no interval or allows none."""
        worst = done
        for v in self.verdicts:
            if v.met or not v.blocking:
                continue
            allowed = v.allowed
            if v.reach is None or not allowed or not v.estimate or not v.estimate.reliable:
                return None
            worst = max(worst, math.ceil(done * (v.reach / allowed) ** 2))
        return worst

    def outlook(self, done: int, upcoming: int) -> int:
        """What a progress bar shows as the total: the predicted replications (at most the
        maximum, at least the end of the block under way)."""
        needed = self.predicted(done) if self.verdicts else None
        return max(upcoming, min(self.maximum, needed if needed is not None else self.maximum))

    def record(self, replications: int, error: str | None = None) -> dict[str, Any]:
        """summary.json's ``stopping`` block."""
        reason = "error" if error is not None else self.reason
        return {"rule": RULE, "level": 0.95, "minimum": self.minimum, "maximum": self.maximum,
                "block": self.block if self.block is not None else f"max(workers, {BLOCK_SHARE:g} x replications done)",
                "replications": replications, "checks": list(self.checks),
                "stopped": {"met": "every target met" if all(v.blocking for v in self.verdicts) else
                            "every judged target met (those without an interval, nothing seen, are not judged: "
                            "see their notes)", "maximum": "maximum reached before every target was met",
                            "error": "the run stopped part-way", "running": "not checked"}[reason],
                "met": self.met() and error is None,
                "targets": [v.as_dict() for v in self.verdicts]}


def plan(stopping: Stopping, model: Any, workers: int = 1) -> Sequential:
    """The rule for ``model``; ``ValueError`` (naming the option) for bad targets or bounds."""
    if not stopping.specs:
        raise ValueError("--precision or --half-width: give at least one target")
    if model.failures.traces is not None:
        raise ValueError(f"{stopping.specs[0].text()}: this scenario replays a failure trace, whose replications "
                         f"are fixed; run it with --replications instead")
    chosen = goals(stopping.specs, model)
    if not chosen:
        raise ValueError(f"{stopping.specs[0].text()}: no metric of this run to apply it to")
    low, high = stopping.bounds(model.replications)
    if stopping.block is not None and stopping.block < 1:
        raise ValueError(f"block {stopping.block}: must be at least 1")
    return Sequential(chosen, model.horizon, low, high, stopping.block, workers)


def stopping_from(precision: Any = None, half_width: Any = None, max_replications: int | None = None,
                  min_replications: int | None = None, block: int | None = None) -> Stopping | None:
    """A :class:`Stopping` from the facade's or the CLI's options; None when no target is given
    (and then ``max_replications`` alone is an error)."""
    specs = parse("relative", precision) + parse("absolute", half_width)
    if not specs:
        if max_replications is not None or min_replications is not None:
            raise ValueError("--max-replications: only with --precision or --half-width")
        return None
    for option, value in (("--max-replications", max_replications), ("min_replications", min_replications)):
        if value is not None and (isinstance(value, bool) or int(value) != value or value < 1):
            raise ValueError(f"{option} {value}: must be a whole number >= 1")
    return Stopping(tuple(specs), None if min_replications is None else int(min_replications),
                    None if max_replications is None else int(max_replications), block)
