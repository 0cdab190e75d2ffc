"""Rare slice outages: importance sampling where a plain run sees none (DESIGN §9, issue 33).

A plain run that never sees a slice down prints "none seen: outages rarer than X per day are
not excluded". This study estimates such an unavailability instead, per whole-cube slice shape
of the scenario, with :func:`tpusim.measure.importance.estimate_unavailability` (regenerative
cycles from the all-up state, balanced failure biasing inside them; bounded relative error),
beside the binomial closed form of the reconfigurable rule. It simulates no replication: the
estimator runs its own Markov chain, so the study never reaches the runner.

**Where it applies** (the estimator's model, :mod:`tpusim.measure.importance`): the
``reconfigurable`` rule (any ``k`` usable cubes of a pod, every OCS of the pod up), independent
units failing at constant rates, each repaired on its own. Refused, with the reason: replayed
traces, rate schedules, correlated failure domains, planned maintenance, a build-out, gray
faults that healthd turns into failures, mesh sub-pod slices (``topology.sub_pod_slices: mesh``);
a shape smaller than a cube or larger than a pod is skipped with a note. Warned: repairs that
are not exponential (the estimate is the exponential chain's with the same means; for
independent units the k-of-n outage probability depends only on the units' availabilities, so
it is the same long-run answer, which the closed form beside it confirms), a scenario that
compares no ``reconfigurable`` policy (the estimate is that rule's all the same; fault-tolerant
routing keeps cubes with dead links usable and is a different chain), and a machine whose
all-up state is not dominant (below :data:`ALL_UP_WARNING`: the weights become heavy-tailed and
the interval may be too narrow).

The study is :class:`RareStudy` (``rare`` in :mod:`tpusim.studies.registry`); the facade's
:func:`rare_outage` and the CLI's ``tpusim rare`` run it.

Layer: studies; reads the built model, runs the estimator of :mod:`tpusim.measure`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

import pandas as pd

from tpusim.config.build import build_model, closed_forms_only
from tpusim.config.load import ScenarioLike
from tpusim.config.schema import Scenario
from tpusim.engine.model import Model
from tpusim.measure.importance import CapacityChain, estimate_unavailability, refusals
from tpusim.policies.reconfigurable import ReconfigurablePolicy
from tpusim.studies.base import Runner, ScenarioStudy
from tpusim.topology.shapes import SliceShape

#: below this probability of the all-up state the study warns that the interval may be too narrow
ALL_UP_WARNING = 0.8


@dataclass
class RareOutages:
    """Importance-sampling estimates per slice shape, the closed form beside each, and every
    warning and skipped shape with its reason."""

    scenario: str
    frame: pd.DataFrame  # shape, cubes, unavailability, half_width, relative_half_width, closed_form, ...
    warnings: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [self.frame.to_string(index=False)] if len(self.frame) else []
        lines += [f"warning: {w}" for w in self.warnings] + [f"skipped: {s}" for s in self.skipped]
        return "\n".join(lines)


def _warnings(model: Model, chain: CapacityChain) -> list[str]:
    out = []
    laws = sorted({f"{name} {model.failures.of(name).repair.dist}" for name in ("host", "ici_link", "ocs", "ocs_port")
                   if model.failures.of(name).mean_rate > 0
                   and getattr(model.failures.of(name).repair, "dist", "mixture") != "exponential"})
    if laws:
        out.append(f"repairs not exponential ({', '.join(laws)}): estimated as exponential with the same means; "
                   "for independent units the k-of-n outage's long-run probability depends only on each unit's "
                   "availability (MTBF/(MTBF+MTTR)), so the answer is the same (the closed form beside it holds "
                   "for any repair law)")
    if not any(type(p) is ReconfigurablePolicy for p in model.policies):
        out.append(f"the estimate is the {ReconfigurablePolicy.name} rule's (any k usable cubes of a pod, all its OCSes up); "
                   f"this scenario compares {', '.join(model.policy_names)}")
    all_up = chain.all_up_probability()
    if all_up < ALL_UP_WARNING:
        out.append(f"the all-up state holds only {all_up:.0%} of the time: cycles wander, the likelihood "
                   "ratios become heavy-tailed and the interval may be too narrow (compare with the closed form)")
    return out


@dataclass(frozen=True)
class RareStudy(ScenarioStudy[RareOutages]):
    """Unavailability of each whole-cube slice shape by importance sampling (the module's
    docstring). ``slices``: shapes such as ``"16x16x12"`` (default: the scenario's);
    ``cycles``: biased regenerative cycles per shape (as many plain ones estimate the cycle
    length); ``bias``: the failures' total probability in biased states (0: plain regenerative cycles); ``seed``: default the
    scenario's."""

    name: ClassVar[str] = "rare"
    summary: ClassVar[str] = ("unavailability of slices too rarely down to observe, by importance sampling "
                              "(regenerative, balanced failure biasing), beside the binomial closed form")

    slices: tuple[str, ...] | None = None
    cycles: int = 20000
    bias: float = 0.5
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.cycles < 2:
            raise ValueError(f"cycles: must be at least 2, got {self.cycles}")
        if not 0.0 <= self.bias < 1.0:
            raise ValueError(f"bias: must be at least 0 (0: no biasing) and below 1, got {self.bias}")
        for text in self.slices or ():
            SliceShape.parse(text)  # ValueError naming the shape

    @staticmethod
    def check(scenario: Scenario) -> tuple[Model, CapacityChain]:
        """The scenario's model and chain, or ValueError with the reasons the estimator does
        not apply (what :meth:`run` refuses, without estimating: ``tpusim run --estimator
        importance`` checks this before it simulates)."""
        with closed_forms_only():
            model = build_model(scenario)
        why = refusals(model)
        if why:
            raise ValueError(f"{scenario.name}: importance sampling does not apply: " + "; ".join(why))
        chain = CapacityChain.of(model.machine, model.failures)
        if not chain.classes:
            raise ValueError(f"{scenario.name}: nothing can fail (every rate is 0)")
        return model, chain

    def run(self, scenario: Scenario, runner: Runner) -> RareOutages:
        model, chain = self.check(scenario)
        shapes = [SliceShape.parse(s) for s in self.slices] if self.slices is not None else list(model.shapes)
        seed = model.seed if self.seed is None else self.seed
        cube = model.machine.cube
        rows, skipped = [], []
        for i, shape in enumerate(shapes):
            try:
                cube_dims = shape.cube_dims(cube.shape)
            except ValueError:
                skipped.append(f"{shape.label}: smaller than a cube or not whole cubes (the chain counts whole cubes)")
                continue
            k = cube_dims[0] * cube_dims[1] * cube_dims[2]
            if k > chain.cubes:
                skipped.append(f"{shape.label}: {k} cubes do not fit a pod of {chain.cubes}")
                continue
            r = estimate_unavailability(chain, k, cycles=self.cycles, bias=self.bias, seed=(seed, i))
            rows.append({"shape": shape.label, "cubes": k, "unavailability": r.unavailability,
                         "half_width": r.half_width, "relative_half_width": r.relative_half_width,
                         "closed_form": chain.binomial_unavailability(k), "cycles": r.cycles,
                         "hit_fraction": r.hit_fraction, "cycle_hours": r.cycle_hours,
                         "cpu_seconds": r.cpu_seconds, "all_up": r.all_up})
        return RareOutages(scenario.name, pd.DataFrame(rows), _warnings(model, chain), skipped)


def rare_outage(scenario: ScenarioLike, slices: Sequence[str] | None = None, *, cycles: int = 20000,
                bias: float = 0.5, seed: int | None = None, overrides: Any = None) -> RareOutages:
    """Unavailability of each whole-cube slice of ``scenario`` (or of ``slices``) by importance
    sampling, beside the binomial closed form (:class:`RareStudy`)."""
    study = RareStudy(tuple(slices) if slices is not None else None, cycles, bias, seed)
    return study.on(scenario, overrides)
