"""Execution: one way to run replications, serially, in local processes or on a Dask cluster.

A *task* is one replication of one built model: ``(model, replication, record_trace)``. Runs and
sweeps both hand their tasks to :func:`execute`, which yields ``(task index, result)`` as tasks
finish; callers order the results by replication. A replication draws only from streams keyed
by ``(seed, replication, name)``, so every executor gives the same bytes (DESIGN §6):
serial, a local process pool (``workers > 1``), or a Dask cluster (``scheduler_address``;
``distributed``, the engine the design names for runs beyond one machine).

Each task carries its model, so a worker never reads a scenario file or a CSV. On Dask the
models are scattered once to the cluster and every task refers to its model by future.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Callable, Iterator

from tpusim.model import Model
from tpusim.replication import ReplicationResult, simulate

Progress = Callable[[int, int], None]  # (tasks done, total)


@dataclass(frozen=True)
class Task:
    model: Model
    replication: int
    record_trace: bool = False


def run_task(task: Task) -> ReplicationResult:
    return simulate(task.model, task.replication, task.record_trace)


def _run_on(model: Model, replication: int, record_trace: bool) -> ReplicationResult:
    return simulate(model, replication, record_trace)


def execute(tasks: list[Task], *, workers: int = 1, scheduler_address: str | None = None,
            progress: Progress | None = None) -> Iterator[tuple[int, ReplicationResult]]:
    """Run ``tasks``; yield ``(index into tasks, result)`` as each finishes.

    ``scheduler_address`` (``tcp://HOST:PORT``) runs them on that Dask cluster; else
    ``workers > 1`` runs them in a local process pool; else serially in this process.
    An exception in a task propagates when its result is reached; results yielded before
    it are the caller's to keep.
    """
    total = len(tasks)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total)

    if scheduler_address is not None:
        from distributed import Client
        from distributed import as_completed as dask_completed

        with Client(scheduler_address) as client:
            models: dict[int, object] = {}
            for task in tasks:  # each distinct model travels to the cluster once
                if id(task.model) not in models:
                    models[id(task.model)] = client.scatter(task.model, broadcast=True)
            futures = {client.submit(_run_on, models[id(t.model)], t.replication, t.record_trace, pure=False): i
                       for i, t in enumerate(tasks)}
            for future in dask_completed(futures):
                result = future.result()
                tick()
                yield futures[future], result
    elif workers > 1 and total > 1:
        with ProcessPoolExecutor(max_workers=min(workers, total)) as pool:
            pending = {pool.submit(run_task, task): i for i, task in enumerate(tasks)}
            try:
                for future in as_completed(pending):
                    result = future.result()
                    tick()
                    yield pending[future], result
            finally:  # stopped early (an error, Ctrl-C): drop the tasks not yet started
                for future in pending:
                    future.cancel()
    else:
        for i, task in enumerate(tasks):
            result = run_task(task)
            tick()
            yield i, result
