"""Input uncertainty: how much of an interval comes from uncertain inputs, how much from simulation.

A scenario's fitted inputs (``assumptions:`` entries with an ``interval``, as ``tpusim fit``
writes them: a failure rate, a repair mean, with their 95 % confidence intervals) are estimates,
not facts. This study propagates their sampling uncertainty into every estimate (issue 32,
point 6; DESIGN §8 "Input uncertainty"):

- **Draws.** ``blocks`` parameter sets are drawn, each key independently, from the sampling
  distribution its interval implies: lognormal with median at the scenario's value and
  ``log(high / low) = 2 z sigma`` when ``low > 0`` (rates and means: positive, and their intervals
  are log-symmetric for the delta method on the log and nearly so for exact Poisson), else normal
  with ``high - low = 2 z sd`` (clipped at 0). Draws come from the named stream
  ``input_draws`` of (seed, block): the same seed, the same draws.
- **Runs.** Block ``b`` runs the scenario at its draw with ``replications`` replications and its
  own seed (derived from (seed, b)), so blocks are independent: the two-level (nested) design of
  the random-effects model ``y_br = mu + a_b + e_br`` with ``Var a = sigma_input^2`` (the
  inputs) and ``Var e = sigma_sim^2`` (the simulation).
- **Estimates** (balanced one-way ANOVA, method of moments): ``MS_within`` estimates
  ``sigma_sim^2``; ``(MS_between - MS_within) / R`` estimates ``sigma_input^2`` (0 if negative).
  The estimate of the mean over the input distribution is the grand mean with a Student-t
  interval on ``B - 1`` degrees of freedom from ``MS_between / (B R)`` (it holds both sources);
  the simulation-only half-width (as if the inputs were exact) uses ``MS_within / (B R)`` on
  ``B (R - 1)`` degrees of freedom; the input share is the part of the grand mean's variance
  ``sigma_input^2 / B + sigma_sim^2 / (B R)`` that comes from ``sigma_input^2 / B``.

Invariants: the study never simulates itself (its blocks go through the runner); a key with no
``interval`` is never drawn; every block's scenario validates (a draw is clipped into the
schema's bounds by the scenario's own validation, and a draw that fails validation stops the
study with the key and the value).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

import numpy as np
import pandas as pd

from tpusim.config.schema import Scenario, assumption_value
from tpusim.core.errors import Problem, ScenarioError
from tpusim.core.metrics import GOODPUT, SLICE_AVAILABILITY, SYSTEM_AVAILABILITY, USEFUL_AVAILABILITY
from tpusim.core.rng import generator
from tpusim.core.stats import student_t_quantile
from tpusim.engine.execution import Progress
from tpusim.measure.results import Results
from tpusim.studies.base import Runner, ScenarioStudy


def normal_quantile(level: float) -> float:
    """The two-sided standard normal quantile of ``level`` (1.96 for 0.95)."""
    from scipy import stats

    return float(stats.norm.ppf(0.5 + level / 2.0))


@dataclass(frozen=True)
class InputLaw:
    """The sampling distribution of one uncertain input, from its value and confidence interval."""

    key: str
    value: float
    low: float
    high: float
    level: float
    integer: bool = False

    @property
    def lognormal(self) -> bool:
        return self.low > 0 and self.value > 0

    @property
    def spread(self) -> float:
        """sigma of log(value) (lognormal) or sd of value (normal)."""
        z = normal_quantile(self.level)
        if self.lognormal:
            return math.log(self.high / self.low) / (2.0 * z)
        return (self.high - self.low) / (2.0 * z)

    def draw(self, gen: np.random.Generator) -> float:
        if self.lognormal:
            x = self.value * math.exp(self.spread * float(gen.standard_normal()))
        else:
            x = max(0.0, self.value + self.spread * float(gen.standard_normal()))
        return float(round(x)) if self.integer else x


def input_laws(scenario: Scenario, keys: Sequence[str] | None = None) -> list[InputLaw]:
    """The uncertain inputs of ``scenario``: its assumptions with an ``interval`` (or ``keys``,
    which must be such assumptions)."""
    data = scenario.model_dump(mode="json")
    uncertain = {k: a for k, a in scenario.assumptions.items() if a.interval is not None}
    if keys:
        bad = [k for k in keys if k not in uncertain]
        if bad:
            known = ", ".join(uncertain) or "none"
            raise ScenarioError([Problem("--input", f"{bad[0]}: not an assumption with an interval in this "
                                                    f"scenario (those: {known})")])
        uncertain = {k: uncertain[k] for k in keys}
    if not uncertain:
        raise ScenarioError([Problem("assumptions", "no assumption has an interval (a confidence level), so no "
                                                    "input is uncertain: tpusim fit writes such entries; or add "
                                                    "`interval: 0.95` to an entry whose range is an estimate's interval")])
    laws = []
    for key, a in uncertain.items():
        value = assumption_value(data, key)
        assert a.interval is not None
        laws.append(InputLaw(key, float(value), a.low, a.high, a.interval, isinstance(value, int)))
    return laws


@dataclass(frozen=True)
class Decomposition:
    """One output's mean over the input distribution, with where its uncertainty comes from."""

    mean: float
    half_width: float | None  # total (inputs and simulation), Student-t on B - 1 df
    sim_half_width: float | None  # simulation only (the inputs taken as exact)
    sigma_input: float  # sd of the output across input draws (method of moments, >= 0)
    sigma_sim: float  # sd of one replication given the inputs
    input_share: float | None  # share of the grand mean's variance due to the inputs

    def as_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "half_width": self.half_width, "sim_half_width": self.sim_half_width,
                "sigma_input": self.sigma_input, "sigma_sim": self.sigma_sim, "input_share": self.input_share}


def decompose(values: np.ndarray, level: float = 0.95) -> Decomposition:
    """Random-effects decomposition of ``values[b, r]`` (block b, replication r), balanced."""
    y = np.asarray(values, dtype=float)
    b, r = y.shape
    means = y.mean(axis=1)
    grand = float(means.mean())
    ms_between = r * float(((means - grand) ** 2).sum()) / (b - 1) if b > 1 else math.nan
    ms_within = float(((y - means[:, None]) ** 2).sum()) / (b * (r - 1)) if r > 1 else math.nan
    var_input = max(0.0, (ms_between - ms_within) / r) if r > 1 and b > 1 else math.nan
    half = student_t_quantile(0.5 + level / 2, b - 1) * math.sqrt(ms_between / (b * r)) if b > 1 else None
    sim = student_t_quantile(0.5 + level / 2, b * (r - 1)) * math.sqrt(ms_within / (b * r)) if r > 1 else None
    var_mean = var_input / b + ms_within / (b * r) if r > 1 and b > 1 else math.nan
    share = var_input / b / var_mean if var_mean and not math.isnan(var_mean) else None
    return Decomposition(grand, half, sim, math.sqrt(var_input) if not math.isnan(var_input) else math.nan,
                         math.sqrt(ms_within) if not math.isnan(ms_within) else math.nan, share)


@dataclass
class InputUncertainty:
    """What :class:`InputUncertaintyStudy` found: the draws and, per output, its decomposition."""

    scenario: Scenario
    laws: list[InputLaw]
    draws: list[dict[str, float]]
    replications: int
    frame: pd.DataFrame = field(repr=False)

    @property
    def blocks(self) -> int:
        return len(self.draws)


def _outputs(results: Results) -> list[tuple[str, str, str | None]]:
    out: list[tuple[str, str, str | None]] = []
    for policy in results.model.policy_names:
        out += [(policy, SLICE_AVAILABILITY, s.label) for s in results.model.shapes]
        out += [(policy, SYSTEM_AVAILABILITY, None), (policy, USEFUL_AVAILABILITY, None)]
        if results.has_jobs:
            out.append((policy, GOODPUT, None))
    return out


def block_seed(seed: int, block: int) -> int:
    """Block ``block``'s own root seed (independent blocks: the nested design)."""
    return int(np.random.SeedSequence(seed, spawn_key=(block,)).generate_state(2, np.uint64)[0] >> np.uint64(1))


@dataclass(frozen=True)
class InputUncertaintyStudy(ScenarioStudy[InputUncertainty]):
    """``blocks`` input draws x ``replications`` replications; see the module docstring."""

    name: ClassVar[str] = "uncertainty"
    summary: ClassVar[str] = ("how much of each interval comes from uncertain (fitted) inputs and how much "
                              "from simulation: nested draws of the inputs, random-effects decomposition")
    blocks: int = 8
    replications: int = 4
    keys: tuple[str, ...] | None = None
    level: float = 0.95
    progress: Progress | None = None

    def run(self, scenario: Scenario, runner: Runner) -> InputUncertainty:
        progress = self.progress
        if self.blocks < 2 or self.replications < 2:
            raise ScenarioError([Problem("--blocks" if self.blocks < 2 else "--replications",
                                         "needs at least 2 (a variance within and between blocks)")])
        laws = input_laws(scenario, self.keys)
        draws, results = [], []
        for b in range(self.blocks):
            gen = generator(scenario.seed, b, "input_draws")
            draw = {law.key: law.draw(gen) for law in laws}
            try:
                sc = scenario.with_overrides({**draw, "replications": self.replications,
                                              "seed": block_seed(scenario.seed, b)})
            except ScenarioError as exc:
                raise ScenarioError([Problem(f"block {b}", f"the draw {draw} is not a valid scenario: "
                                                           f"{'; '.join(exc.lines())}")]) from None
            draws.append(draw)
            results.append(runner.run(sc))
            if progress is not None:
                progress(b + 1, self.blocks)
        rows = []
        for policy, metric, key in _outputs(results[0]):
            try:
                values = np.array([[r.value(policy, metric, key) for r in res.replications] for res in results])
            except KeyError:  # not measured (no job finished, say)
                continue
            if np.isnan(values).any():
                continue
            d = decompose(values, self.level)
            rows.append({"policy": policy, "metric": metric, "key": key, **d.as_dict()})
        return InputUncertainty(scenario, laws, draws, self.replications, pd.DataFrame(rows))


def input_uncertainty(scenario: Any, overrides: "list[str] | dict[str, Any] | None" = None, *, blocks: int = 8,
                      replications: int = 4, keys: Sequence[str] | None = None, workers: int = 1,
                      scheduler_address: str | None = None) -> InputUncertainty:
    """Propagate the scenario's fitted inputs (assumptions with an ``interval``) into every
    estimate: ``blocks`` draws of the inputs x ``replications`` replications each, and per output
    the mean over the input distribution with its interval, the simulation-only half-width and
    the share of the variance due to the inputs (``.frame``). See the module docstring.

    >>> u = tpusim.input_uncertainty("my_fitted_pod.yaml", blocks=10, workers=2)  # doctest: +SKIP
    """
    study = InputUncertaintyStudy(blocks, replications, tuple(keys) if keys else None)
    return study.on(scenario, overrides, workers=workers, scheduler_address=scheduler_address)
