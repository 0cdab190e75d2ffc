"""Running a scenario: ``run_scenario(scenario) -> Results``.

It builds the model once and runs every replication through the one executor
(:mod:`tpusim.engine.execution`): serially, in a local process pool or on a Dask cluster, with
the same numbers either way. Replication ``r`` draws only from streams keyed by
``(seed, r, name)``, and results are ordered by replication number. A ``rows`` sink takes the
per-job rows, in replication and policy order, as the run goes (the CLI streams
``jobs.parquet``). Studies and the facade (:func:`tpusim.run`) both run scenarios through here.

Layer: measurement (it makes :class:`~tpusim.measure.results.Results`), above config and the
engine.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable

from tpusim.config.build import build_model
from tpusim.config.load import ScenarioLike, as_scenario
from tpusim.engine.execution import Progress, Task, execute
from tpusim.engine.replication import ReplicationResult
from tpusim.measure.results import Results
from tpusim.measure.sequential import Stopping, plan


def run_scenario(scenario: ScenarioLike, *, workers: int = 1, scheduler_address: str | None = None,
                 progress: Progress | None = None, record_traces: bool = False,
                 rows: "Callable[[ReplicationResult], None] | None" = None,
                 stopping: "Stopping | None" = None) -> Results:
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

    With ``stopping`` (:mod:`tpusim.measure.sequential`), the replications run in blocks until
    every target's interval meets it or the maximum is reached: replications ``0 .. n-1``, the
    same ones a fixed run of ``n`` gives, and ``Results.stopping`` records the rule, the
    targets and whether each was met. ``progress`` then counts against the current outlook.
    """
    start = time.perf_counter()
    scenario = as_scenario(scenario)
    model = build_model(scenario)
    rule = plan(stopping, model, workers) if stopping is not None else None
    target: int | None = rule.first() if rule is not None else model.replications
    done: dict[int, ReplicationResult] = {}
    streamed = rows is not None and model.workload is not None
    order = _RowsInOrder(rows, model.policy_names) if streamed else None  # type: ignore[arg-type]
    error = None
    try:
        while target is not None:  # one block; a fixed run is one block of every replication
            first = len(done)
            tasks = [Task(model, r, record_traces) for r in range(first, target)]
            shown = target if rule is None else rule.outlook(first, target)
            moved = (lambda d, t, first=first, shown=shown: progress(first + d, shown)) if progress else None
            received = (lambda i, res, first=first: order.receive(first + i, res)) if order else None
            for index, result in execute(tasks, workers=workers, scheduler_address=scheduler_address,
                                         progress=moved, receive=received):
                done[first + index] = result
                if rule is not None:
                    rule.add(first + index, result.samples)
            target = rule.next(len(done)) if rule is not None else None
    except BaseException as exc:  # keep what was measured; the caller reports
        if not done or isinstance(exc, (SystemExit, GeneratorExit)):
            raise
        # anything that is not an Exception stopped the run from outside: Ctrl-C, or a caller's
        # own interrupt (the CLI's SIGINT handler raises one that click does not swallow)
        reason = "interrupted" if not isinstance(exc, Exception) else f"{type(exc).__name__}: {exc}"
        of = f"{target}" if rule is None else f"at least {target}"
        error = f"{reason} (after {len(done)} of {of} replications)"
        if order is not None:
            order.after_failure(set(done))
    replications = [done[i] for i in sorted(done)]
    return Results(scenario, model, replications, time.perf_counter() - start, error, rows_streamed=streamed,
                   stopping=rule.record(len(replications), error) if rule is not None else None)


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
        assert result.jobs is not None, "a result with a workload keeps its per-job rows"
        for policy, output in result.jobs.items():
            self.early[(replication, self.position[policy])] = replace(result, jobs={policy: output})
        while self.next in self.early:
            self.sink(self.early.pop(self.next))
            r, k = self.next
            self.next = (r, k + 1) if k + 1 < len(self.position) else (r + 1, 0)
        return result.without_jobs()

    def after_failure(self, finished: set[int]) -> None:
        """The rows of the finished replications that wait behind one that never finished."""
        for key in sorted(self.early):
            if key[0] in finished:
                self.sink(self.early.pop(key))
