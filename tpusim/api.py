"""The Python API that the CLI and notebooks share: run a scenario, get :class:`Results`.

``run_scenario(scenario) -> Results`` builds the model once and runs every replication through
the one executor (:mod:`tpusim.execution`): serially, in a local process pool or on a Dask
cluster, with the same numbers either way. Replication ``r`` draws only from streams keyed by
``(seed, r, name)``, and results are ordered by replication number. A ``rows`` sink takes each
replication's per-job rows, in that order, as the run goes (the CLI streams ``jobs.parquet``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from tpusim.config.build import build_model
from tpusim.config.load import load_scenario
from tpusim.config.overrides import apply_overrides, override_strings
from tpusim.config.schema import scenario_from_dict
from tpusim.config.schema import Scenario
from tpusim.execution import Progress, Task, execute
from tpusim.replication import ReplicationResult
from tpusim.results import Results


RUN_OPTIONS = ("workers", "scheduler_address", "progress", "record_traces")


def run(scenario: "Scenario | str | Path | dict", overrides: "list[str] | dict[str, Any] | None" = None,
        **options: Any) -> Results:
    """Run a scenario given as a YAML path, a mapping or a :class:`Scenario`.

    Parameters
    ----------
    scenario : Scenario, str, Path or dict
        What to simulate.
    overrides : list of str or dict, optional
        Dotted-key overrides, as ``--set`` takes them (``["failures.host.daily_rate=0.01"]``)
        or as a mapping (``{"failures.host.daily_rate": 0.01}``).
    **options
        ``workers``, ``scheduler_address``, ``progress`` and ``record_traces`` go to
        :func:`run_scenario`; any other keyword sets that top-level scenario key
        (``tpusim.run("scenarios/tpuv4_pod.yaml", replications=5, horizon_days=90)``). Numpy
        numbers are accepted wherever a number is.

    Returns
    -------
    Results
        Every replication and the estimates computed from them.

    Examples
    --------
    >>> results = tpusim.run("scenarios/tpuv4_pod.yaml", replications=4)  # doctest: +SKIP
    >>> results.metrics_frame().query("metric == 'system_availability'")  # doctest: +SKIP
    """
    texts: list[str] = override_strings(overrides) if isinstance(overrides, dict) else list(overrides or [])
    keys = {k: v for k, v in options.items() if k not in RUN_OPTIONS}
    texts += override_strings(keys)
    run_options = {k: v for k, v in options.items() if k in RUN_OPTIONS}
    if isinstance(scenario, (str, Path)):
        scenario = load_scenario(scenario, texts)
    elif isinstance(scenario, dict):
        scenario = scenario_from_dict(apply_overrides(scenario, texts))
    elif texts:
        scenario = scenario.with_overrides(texts)
    return run_scenario(scenario, **run_options)


def run_scenario(scenario: Scenario, *, workers: int = 1, scheduler_address: str | None = None,
                 progress: Progress | None = None, record_traces: bool = False,
                 rows: "Callable[[ReplicationResult], None] | None" = None) -> Results:
    """Simulate ``scenario.replications`` replications and collect the results
    (with ``record_traces``, each replication keeps its failure trace).

    With a workload and ``rows``, each replication's result is handed to ``rows`` in
    replication order, as soon as it and every earlier one have finished, and its per-job rows
    are then dropped (``Results.rows_streamed``): a run of many replications holds the rows of
    those that finished out of order, not of the whole run (the CLI writes ``jobs.parquet``
    this way).

    If a replication raises (or the run is interrupted), the replications already finished are
    returned with ``error`` set, so that callers can still write what was measured.
    """
    start = time.perf_counter()
    model = build_model(scenario)
    tasks = [Task(model, r, record_traces) for r in range(model.replications)]
    done: dict[int, ReplicationResult] = {}
    streamed = rows is not None and model.workload is not None
    handed = 0  # replications 0 .. handed - 1 have gone to ``rows``

    def hand_over(i: int) -> None:
        rows(done[i])  # type: ignore[misc]
        done[i] = done[i].without_rows()

    error = None
    try:
        for index, result in execute(tasks, workers=workers, scheduler_address=scheduler_address,
                                     progress=progress):
            done[index] = result
            while streamed and handed in done:  # in replication order
                hand_over(handed)
                handed += 1
    except (Exception, KeyboardInterrupt) as exc:  # keep what was measured; the caller reports
        if not done:
            raise
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
        error = f"{reason} (after {len(done)} of {len(tasks)} replications)"
    for i in sorted(done) if streamed else ():  # after a failure: those finished after the gap
        if i >= handed:
            hand_over(i)
    replications = [done[i] for i in sorted(done)]
    return Results(scenario, model, replications, time.perf_counter() - start, error, rows_streamed=streamed)
