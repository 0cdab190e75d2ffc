"""Studies behind one protocol and a registry (DESIGN §7, issue 30): every study is registered,
reaches the executor only through the runner it is handed, and runs by its name."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

import tpusim
import tpusim.studies
from tpusim.studies import registry
from tpusim.studies.base import Runner, Study
from tpusim.studies.check import compare, make_baseline
from tpusim.studies.sensitivity import Factor

from conftest import REPO

TINY = REPO / "tests" / "golden" / "tiny.yaml"
TINY_JOBS = REPO / "tests" / "golden" / "tiny_jobs.yaml"


def study_modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages(tpusim.studies.__path__, "tpusim.studies.")]


def test_every_study_class_is_registered_under_its_own_name():
    found = []
    for name in study_modules():
        module = importlib.import_module(name)
        found += [cls for _, cls in inspect.getmembers(module, inspect.isclass)
                  if issubclass(cls, Study) and not inspect.isabstract(cls) and cls.__module__ == name]
    assert found, "no study found: the scan reads nothing"
    for cls in found:
        assert registry.get(cls.name) is cls, f"{cls.__qualname__} is not registered as {cls.name!r}"
        assert cls.summary and "\n" not in cls.summary
    assert sorted(c.name for c in found) == sorted(registry.names())  # and nothing else is


#: (module, name) pairs a study may not import: it runs replications through its runner only.
BYPASSES = {("tpusim.engine.execution", "execute"), ("tpusim.engine.execution", "run_task"),
            ("tpusim.engine.replication", "simulate"), ("tpusim.measure.runner", "run_scenario"),
            ("tpusim.api", "run_scenario"), ("tpusim.api", "run")}


def test_studies_reach_the_executor_only_through_their_runner():
    bad = []
    for name in study_modules():
        if name == "tpusim.studies.base":  # the runner itself
            continue
        path = Path(importlib.import_module(name).__file__)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                bad += [f"{name}:{node.lineno} imports {a.name} from {node.module}" for a in node.names
                        if (node.module, a.name) in BYPASSES]
    assert not bad, "\n".join(bad)


@dataclass(frozen=True)
class RecordingRunner(Runner):
    """A serial runner that notes every replication it runs."""

    seen: list = field(default_factory=list)

    def execute(self, tasks, **options):
        self.seen.extend(t.replication for t in tasks)
        return super().execute(tasks, **options)

    def run(self, scenario, **options):
        results = super().run(scenario, **options)
        self.seen.extend(r.replication for r in results.replications)
        return results


def _baseline() -> dict:
    runs = tpusim.run(TINY, replications=3)
    return make_baseline("tiny", runs.scenario.seed, runs.samples, runs.scenario.resolved())


DOMAIN = {"name": "rack", "of": "host", "units": 4, "daily_rate": 0.01,
          "repair": {"dist": "exponential", "mean_hours": 4}}
CAMPAIGN = {"name": "ici", "upgrades": "ici_stack", "start_day": 1, "wave_size": 2, "wave_hours": 6}

#: A small example of every registered study: (its parameters, what it runs on, overrides).
EXAMPLES = {
    "sweep": (lambda: {"vary": {"failures.host.daily_rate": [0.01, 0.02]}}, TINY, {"replications": 2}),
    "spares": (lambda: {"targets": (0.9,)}, TINY, {"replications": 2}),
    "attribution": (dict, TINY, {"replications": 2, "failures.domains": [DOMAIN]}),
    "campaign_cost": (dict, TINY, {"replications": 2, "maintenance": [CAMPAIGN]}),
    "localisation": (dict, TINY_JOBS, {"replications": 1}),
    "reproduce": (lambda: {"quick": True}, None, None),
    "check": (lambda: {"baseline": _baseline()}, TINY, {"seed": 1}),
    "fit": (lambda: {"population": {"host": 32}}, "unit,class,down_hours,up_hours\n1,host,2,5\n2,host,4,\n", None),
    "uncertainty": (lambda: {"blocks": 2, "replications": 2}, TINY, {"assumptions": {
        "failures.host.daily_rate": {"low": 0.015, "high": 0.025, "source": "a fit", "interval": 0.95}}}),
    "sensitivity": (lambda: {"factors": (Factor("failures.ocs.repair.mean_hours", 1, 24),), "trajectories": 2},
                    TINY, {"replications": 1, "horizon_days": 2}),
    "rare": (lambda: {"cycles": 200}, TINY, None),
}
#: studies that simulate nothing (a fit reads an incident log): they must not run a replication
SIMULATE_NOTHING = {"fit", "rare"}  # rare: the estimator runs its own Markov chain
SLOW = {"reproduce"}  # the quick form still runs four scenarios and a bisection


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in registry.names()])
def test_every_registered_study_runs_its_replications_through_its_runner(name):
    assert name in EXAMPLES, f"give the study {name!r} an example here"
    params, scenario, overrides = EXAMPLES[name]
    study = registry.create(name, **params())
    runner = RecordingRunner()
    result = study.run(study.prepare(scenario, overrides), runner)
    if name in SIMULATE_NOTHING:
        assert not runner.seen, f"{name} simulates nothing, yet ran replications"
    else:
        assert runner.seen, f"{name} ran no replication through its runner"
    assert result is not None


def test_a_study_by_name_is_the_study_by_its_function():
    """tpusim.study (what the CLI's study commands call) gives what the study's own function
    gives, on any runner; an unknown name says which there are."""
    plan = tpusim.plan_spares(TINY, (0.9, 0.99), overrides={"replications": 2})
    by_name = tpusim.study("spares", TINY, {"replications": 2}, targets=(0.9, 0.99), workers=2)
    pd.testing.assert_frame_equal(plan.frame, by_name.frame)
    baseline = _baseline()
    report = tpusim.study("check", TINY, ["seed=1"], baseline=baseline, alpha=0.05)
    assert report.as_dict() == compare(baseline, tpusim.run(TINY, ["seed=1"]).samples, 0.05).as_dict()
    with pytest.raises(KeyError, match="no study named 'nosuch'; registered: sweep, spares"):
        tpusim.study("nosuch", TINY)
