"""The Python API that the CLI and notebooks share.

``run_scenario(scenario) -> Results`` runs every replication, serially or in a local process
pool, and is reproducible from the seed either way: replication ``r`` draws only from streams
keyed by ``(seed, r, name)``, and results are ordered by replication number.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from typing import Callable

from tpusim.engine import ReplicationResult, simulate
from tpusim.results import Results
from tpusim.scenario import Scenario

Progress = Callable[[int, int], None]  # (replications done, total)


def run(scenario: "Scenario | str | dict", overrides: list[str] | None = None, **options) -> Results:
    """Notebook entry point: a scenario given as a YAML path, a mapping or a
    :class:`~tpusim.scenario.Scenario`, with optional dotted-key overrides
    (``["failures.host.daily_rate=0.01"]``); ``options`` go to :func:`run_scenario`."""
    from pathlib import Path

    from tpusim.scenario import apply_overrides, load_scenario, scenario_from_dict

    if isinstance(scenario, (str, Path)):
        scenario = load_scenario(scenario, overrides)
    elif isinstance(scenario, dict):
        scenario = scenario_from_dict(apply_overrides(scenario, overrides))
    elif overrides:
        scenario = scenario_from_dict(apply_overrides(scenario.model_dump(), overrides))
    return run_scenario(scenario, **options)


def run_scenario(scenario: Scenario, *, workers: int = 1, progress: Progress | None = None,
                 record_traces: bool = False) -> Results:
    """Simulate ``scenario.replications`` replications and collect the results
    (with ``record_traces``, each replication keeps its failure trace).

    If a replication raises, the replications already finished are returned with ``error``
    set, so that callers can still write what was measured.
    """
    start = time.perf_counter()
    total = scenario.replications
    done: list[ReplicationResult] = []
    error = None
    try:
        if workers <= 1:
            for r in range(total):
                done.append(simulate(scenario, r, record_traces))
                if progress:
                    progress(len(done), total)
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for result in pool.map(simulate, [scenario] * total, range(total), [record_traces] * total):
                    done.append(result)
                    if progress:
                        progress(len(done), total)
    except (Exception, KeyboardInterrupt) as exc:  # keep what was measured; the caller reports
        if not done:
            raise
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
        error = f"{reason} (after {len(done)} of {total} replications)"
    return Results(scenario, done, time.perf_counter() - start, error)
