"""Localisation studies: run a scenario, hand each policy's job records to the localisers, and
score their blames against the ground truth the simulator knows.

:func:`localise` (the study :class:`LocalisationStudy`, ``localisation`` in the registry) runs
every replication through its runner with run records (:mod:`tpusim.scheduler.runs`) and the
failure trace kept, then applies :func:`tpusim.studies.localisation.methods.deepview` and
:func:`tpusim.studies.localisation.methods.naive` to each policy's runs. The localisers see the runs only; the
score (:func:`tpusim.studies.localisation.methods.score`) sees the gray episodes and the hard failures.

:class:`Localisation` holds the tidy rows (``blames``, ``episodes``) and :meth:`Localisation.summary`
their estimates: precision pooled over replications with an exact (Clopper-Pearson) interval
per kind of part; recall per failure class over the gray episodes that failed at least one job,
with the same interval; time to blame and the jobs it took, mean with a Student-t interval over
the episodes found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, ClassVar

import numpy as np
import pandas as pd

from tpusim.config.build import build_model
from tpusim.config.load import ScenarioLike
from tpusim.config.schema import Scenario
from tpusim.studies.localisation.methods import METHODS, LocaliserParams, deepview, hard_faults, naive, score
from tpusim.engine.model import Model
from tpusim.engine.execution import Progress, Task
from tpusim.engine.replication import ReplicationResult
from tpusim.scheduler.runs import part_name
from tpusim.core.stats import NON_NEGATIVE, estimate, proportion_interval
from tpusim.studies.base import Runner, ScenarioStudy

_LOCALISERS = {"deepview": deepview, "naive": naive}


@dataclass
class Localisation:
    model: Model
    params: LocaliserParams
    blames: pd.DataFrame  # replication, policy, method, time, part, kind, parts_blamed, correct
    episodes: pd.DataFrame  # replication, policy, method, class, unit, start, end, planted, jobs_failed, found, ...
    runs: dict = field(default_factory=dict, repr=False)  # (replication, policy) -> run columns

    def summary(self) -> pd.DataFrame:
        """One row per policy, method and scope (``blames: <kind>``, ``all blames``, ``recall:
        <class>``): ``count`` (blames or episodes), ``value`` (precision or recall), its 95 %
        interval, and for recall the mean hours and failed jobs to blame (with intervals)."""
        rows = []
        for (policy, method), b in self.blames.groupby(["policy", "method"], sort=False) if len(self.blames) else ():
            for scope, part in [("all blames", b)] + [(f"blames: {k}", g) for k, g in b.groupby("kind")]:
                n, good = len(part), int(part.correct.sum())
                lo, hi = proportion_interval(good, n) if n else (np.nan, np.nan)
                rows.append({"policy": policy, "method": method, "scope": scope, "count": n,
                             "value": good / n if n else np.nan, "ci95_low": lo, "ci95_high": hi})
        eps = self.episodes[self.episodes.jobs_failed > 0] if len(self.episodes) else self.episodes
        for (policy, method, cls), e in eps.groupby(["policy", "method", "class"], sort=False) if len(eps) else ():
            n, found = len(e), int(e.found.sum())
            lo, hi = proportion_interval(found, n)
            row = {"policy": policy, "method": method, "scope": f"recall: {cls}", "count": n,
                   "value": found / n, "ci95_low": lo, "ci95_high": hi}
            for name in ("hours_to_blame", "jobs_to_blame"):
                values = e[name].dropna().tolist()
                est = estimate(values, bounds=NON_NEGATIVE) if values else None
                row[name] = est.mean if est else np.nan
                row[f"{name}_ci95"] = est.ci95 if est and est.ci95 else None
            rows.append(row)
        return pd.DataFrame(rows)


def localise(scenario: "ScenarioLike", params: LocaliserParams | None = None,
             progress: Callable[[float, int], None] | None = None, keep_runs: bool = False,
             overrides: "list[str] | dict | None" = None, workers: int = 1,
             scheduler_address: str | None = None) -> Localisation:
    """Run ``scenario`` (it needs a workload) and localise its faults from each policy's job
    records with every method. The replications run through the one executor (``workers``
    local processes, or the Dask cluster at ``scheduler_address``; the same rows either way,
    in replication order); ``progress(done, total)`` as they go."""
    study = LocalisationStudy(params or LocaliserParams(), progress, keep_runs)
    return study.on(scenario, overrides, workers=workers, scheduler_address=scheduler_address)


@dataclass(frozen=True)
class LocalisationStudy(ScenarioStudy[Localisation]):
    """:func:`localise`: every method's blames from job records, scored against the faults."""

    name: ClassVar[str] = "localisation"
    summary: ClassVar[str] = ("gray faults localised from job records (Deepview, naive), scored against the "
                              "faults injected")

    params: LocaliserParams = LocaliserParams()
    progress: Progress | None = None  # of the replications
    keep_runs: bool = False  # keep every replication's and policy's run records in the result

    def run(self, scenario: Scenario, runner: Runner) -> Localisation:
        model = build_model(scenario)
        if model.workload is None:
            raise ValueError("localisation reads job records: the scenario needs a workload")
        tasks = [Task(model, r, record_trace=True, record_runs=True) for r in range(model.replications)]
        by_replication: dict[int, tuple[list, list]] = {}
        kept = {}
        for r, result in runner.execute(tasks, progress=self.progress):
            assert result.jobs is not None and result.trace is not None
            runs: dict[str, dict] = {}
            for policy, output in result.jobs.items():
                assert output.runs is not None, "a localisation records runs"
                runs[policy] = output.runs
            by_replication[r] = self._scored(model, result, runs, result.trace)
            if self.keep_runs:
                kept.update({(r, policy): policy_runs for policy, policy_runs in runs.items()})
        order = sorted(by_replication)  # rows in replication order, whichever finished first
        blames = [row for r in order for row in by_replication[r][0]]
        episodes = [row for r in order for row in by_replication[r][1]]
        return Localisation(model, self.params, pd.DataFrame(blames), pd.DataFrame(episodes),
                            {key: kept[key] for key in sorted(kept)})

    def _scored(self, model: Model, result: ReplicationResult, runs_by_policy: dict[str, dict],
                trace: list[tuple[float, str, int, bool]]) -> tuple[list[dict], list[dict]]:
        """One replication's blame rows and episode rows, for every policy and method, from its
        run records and failure trace."""
        blame_rows: list[dict] = []
        episode_rows: list[dict] = []
        faults = hard_faults(trace, model.horizon)
        for policy, runs in runs_by_policy.items():
            kills = result.jobs[policy].gray_kills if result.jobs is not None else ()
            for method in METHODS:
                blames = _LOCALISERS[method](runs, model.machine, model.horizon, self.params)
                b, e = score(blames, model.machine, result.gray, faults, kills, self.params)
                tag = {"replication": result.replication, "policy": policy, "method": method}
                blame_rows += [{**tag, **row, "part": part_name(model.machine, row["part"])} for row in b]
                episode_rows += [{**tag, **row} for row in e]
        return blame_rows, episode_rows
