"""The Python API that the CLI and notebooks share: run a scenario, get :class:`Results`.

``run_scenario(scenario) -> Results`` builds the model once and runs every replication through
the one executor (:mod:`tpusim.execution`): serially, in a local process pool or on a Dask
cluster, with the same numbers either way. Replication ``r`` draws only from streams keyed by
``(seed, r, name)``, and results are ordered by replication number. A ``rows`` sink takes the
per-job rows, in replication and policy order, as the run goes (the CLI streams ``jobs.parquet``).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Callable

from tpusim.config.build import build_model
from tpusim.config.load import ScenarioLike, as_scenario
from tpusim.config.overrides import override_strings
from tpusim.execution import Progress, Task, execute
from tpusim.replication import ReplicationResult
from tpusim.results import Results


RUN_OPTIONS = ("workers", "scheduler_address", "progress", "record_traces")


def run(scenario: ScenarioLike, overrides: "list[str] | dict[str, Any] | None" = None,
        **options: Any) -> Results:
    """Run a scenario given as a YAML path, a bundled scenario's name, a mapping or a :class:`Scenario`.

    Parameters
    ----------
    scenario : Scenario, str, Path or dict
        What to simulate (``"tpuv4_pod"`` names a bundled scenario; see ``tpusim scenarios``).
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
    return run_scenario(as_scenario(scenario, texts), **run_options)


def run_scenario(scenario: ScenarioLike, *, workers: int = 1, scheduler_address: str | None = None,
                 progress: Progress | None = None, record_traces: bool = False,
                 rows: "Callable[[ReplicationResult], None] | None" = None) -> Results:
    """Simulate ``scenario.replications`` replications and collect the results
    (with ``record_traces``, each replication keeps its failure trace).

    With a workload and ``rows``, the per-job rows are handed to ``rows`` as the run goes, in
    replication order and, within a replication, in policy order: each call gets a result that
    holds the rows of one policy (the other fields are the replication's, or the part's that
    simulated that policy's jobs). Rows are handed over as soon as every earlier one has been,
    and dropped (``Results.rows_streamed``): a run holds only the rows that came back early,
    never the whole run's (the CLI writes ``jobs.parquet`` this way). Where a replication runs
    in parts (one per policy, on several workers), each part's rows go as that part comes back.

    ``scenario`` takes every form :func:`run` takes (without overrides).

    If a replication raises (or the run is interrupted), the replications already finished are
    returned with ``error`` set, so that callers can still write what was measured (and their
    rows are handed over, in order, those after the gap last).
    """
    start = time.perf_counter()
    scenario = as_scenario(scenario)
    model = build_model(scenario)
    tasks = [Task(model, r, record_traces) for r in range(model.replications)]
    done: dict[int, ReplicationResult] = {}
    streamed = rows is not None and model.workload is not None
    order = _RowsInOrder(rows, model.policy_names) if streamed else None  # type: ignore[arg-type]
    error = None
    try:
        for index, result in execute(tasks, workers=workers, scheduler_address=scheduler_address,
                                     progress=progress, receive=order.receive if order else None):
            done[index] = result
    except (Exception, KeyboardInterrupt) as exc:  # keep what was measured; the caller reports
        if not done:
            raise
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
        error = f"{reason} (after {len(done)} of {len(tasks)} replications)"
        if order is not None:
            order.after_failure(set(done))
    replications = [done[i] for i in sorted(done)]
    return Results(scenario, model, replications, time.perf_counter() - start, error, rows_streamed=streamed)


class _RowsInOrder:
    """Hands per-job rows to a sink one (replication, policy) at a time, in that order, as
    results and parts of results come back from the executor; holds only the rows that came
    back before an earlier replication's or policy's."""

    def __init__(self, sink: "Callable[[ReplicationResult], None]", policies: tuple[str, ...]):
        self.sink = sink
        self.position = {name: k for k, name in enumerate(policies)}
        self.early: dict[tuple[int, int], ReplicationResult] = {}  # (replication, policy position) -> its rows
        self.next = (0, 0)

    def receive(self, replication: int, result: ReplicationResult) -> ReplicationResult:
        """Take ``result``'s rows (a whole replication's or a part's); the result without them."""
        assert result.job_rows is not None, "a result with a workload keeps its per-job rows"
        for policy, columns in result.job_rows.items():
            self.early[(replication, self.position[policy])] = replace(result, job_rows={policy: columns})
        while self.next in self.early:
            self.sink(self.early.pop(self.next))
            r, k = self.next
            self.next = (r, k + 1) if k + 1 < len(self.position) else (r + 1, 0)
        return result.without_rows()

    def after_failure(self, finished: set[int]) -> None:
        """The rows of the finished replications that wait behind one that never finished."""
        for key in sorted(self.early):
            if key[0] in finished:
                self.sink(self.early.pop(key))
