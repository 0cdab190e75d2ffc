"""The Python API that the CLI and notebooks share: run a scenario, get :class:`Results`.

``run_scenario(scenario) -> Results`` builds the model once and runs every replication through
the one executor (:mod:`tpusim.execution`): serially, in a local process pool or on a Dask
cluster, with the same numbers either way. Replication ``r`` draws only from streams keyed by
``(seed, r, name)``, and results are ordered by replication number.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tpusim.config.build import build_model
from tpusim.config.load import load_scenario
from tpusim.config.overrides import apply_overrides
from tpusim.config.schema import scenario_from_dict
from tpusim.config.schema import Scenario
from tpusim.execution import Progress, Task, execute
from tpusim.replication import ReplicationResult
from tpusim.results import Results


def run(scenario: "Scenario | str | Path | dict", overrides: list[str] | None = None, **options: Any) -> Results:
    """Run a scenario given as a YAML path, a mapping or a :class:`Scenario`.

    Parameters
    ----------
    scenario : Scenario, str, Path or dict
        What to simulate.
    overrides : list of str, optional
        Dotted-key overrides, as ``--set`` takes them (``["failures.host.daily_rate=0.01"]``).
    **options
        Passed to :func:`run_scenario` (``workers``, ``scheduler_address``, ``progress``,
        ``record_traces``).
    """
    if isinstance(scenario, (str, Path)):
        scenario = load_scenario(scenario, overrides)
    elif isinstance(scenario, dict):
        scenario = scenario_from_dict(apply_overrides(scenario, overrides))
    elif overrides:
        scenario = scenario.with_overrides(list(overrides))
    return run_scenario(scenario, **options)


def run_scenario(scenario: Scenario, *, workers: int = 1, scheduler_address: str | None = None,
                 progress: Progress | None = None, record_traces: bool = False) -> Results:
    """Simulate ``scenario.replications`` replications and collect the results
    (with ``record_traces``, each replication keeps its failure trace).

    If a replication raises (or the run is interrupted), the replications already finished are
    returned with ``error`` set, so that callers can still write what was measured.
    """
    start = time.perf_counter()
    model = build_model(scenario)
    tasks = [Task(model, r, record_traces) for r in range(model.replications)]
    done: dict[int, ReplicationResult] = {}
    error = None
    try:
        for index, result in execute(tasks, workers=workers, scheduler_address=scheduler_address,
                                     progress=progress):
            done[index] = result
    except (Exception, KeyboardInterrupt) as exc:  # keep what was measured; the caller reports
        if not done:
            raise
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
        error = f"{reason} (after {len(done)} of {len(tasks)} replications)"
    replications = [done[i] for i in sorted(done)]
    return Results(scenario, model, replications, time.perf_counter() - start, error)
