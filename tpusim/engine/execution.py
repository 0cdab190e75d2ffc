"""Execution: one way to run replications, serially, in local processes or on a Dask cluster.

A *task* is one replication of one built model: ``(model, replication, record_trace,
samples_only)``; a task that wants only the samples (a sweep's) gets its result slimmed where it
ran (:meth:`~tpusim.engine.replication.ReplicationResult.only_samples`), so that per-job rows never
cross the wire to be dropped. Runs and
sweeps both hand their tasks to :func:`execute`, which yields ``(task index, result)`` as tasks
finish; callers order the results by replication. A replication draws only from streams keyed
by ``(seed, replication, name)``, so every executor gives the same bytes (DESIGN §6):
serial, a local process pool (``workers > 1``), or a Dask cluster (``scheduler_address``;
``distributed``, the engine the design names for runs beyond one machine).

Tasks travel in *blocks* of consecutive replications of one model, large at first and shrinking
to single replications at the end (guided self-scheduling, :func:`plan_blocks`), so that a
single scenario with many replications spreads over every worker, the per-task overhead is paid
once per block, and no worker is left alone with a large block at the end. Each distinct model
travels to each worker once: through the process pool's initializer, or scattered (broadcast,
in one call) to the Dask cluster; a block names its model by index. A worker never reads a
scenario file or a CSV.
"""

from __future__ import annotations

import math
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Callable, Iterator

from tpusim.engine.model import Model
from tpusim.engine.replication import ReplicationResult, merge_parts, simulate

Progress = Callable[[float, int], None]  # (tasks done, total); done may be fractional, as tasks go


@dataclass(frozen=True)
class Task:
    model: Model
    replication: int
    record_trace: bool = False
    samples_only: bool = False  # send back only what a sweep keeps (no per-job rows, no trace)
    policies: tuple[str, ...] | None = None  # a part of a replication: these policies' jobs only
    record_runs: bool = False  # keep every job run's parts and fate (a localisation study's evidence)


def _simulate(model: Model, replication: int, record_trace: bool, samples_only: bool,
              policies: tuple[str, ...] | None = None,
              progress: Callable[[float], None] | None = None, record_runs: bool = False) -> ReplicationResult:
    result = simulate(model, replication, record_trace, record_runs=record_runs, policies=policies, progress=progress)
    return result.only_samples() if samples_only else result


def run_task(task: Task, progress: Callable[[float], None] | None = None) -> ReplicationResult:
    return _simulate(task.model, task.replication, task.record_trace, task.samples_only, task.policies, progress,
                     task.record_runs)


def split_by_policy(tasks: list[Task], workers: int) -> tuple[list[Task], list[int]]:
    """Where there are fewer than two tasks per worker, each replication with jobs under several
    policies becomes one part per policy (the policies' job simulations are independent given
    the replication's trace, which every part draws again: a pod-year's costs ~1 % of one
    policy's jobs), so that a run of one or a few replications still spreads over the workers.
    Returns the parts and, for each, the index of its task."""
    if workers < 2 or len(tasks) >= 2 * workers:
        return tasks, list(range(len(tasks)))
    parts, owner = [], []
    for i, task in enumerate(tasks):
        names = task.model.policy_names
        if task.model.workload is None or len(names) < 2 or task.policies is not None:
            parts.append(task)
            owner.append(i)
            continue
        for k, name in enumerate(names):  # the trace comes back with the first part only
            parts.append(Task(task.model, task.replication, task.record_trace and k == 0, task.samples_only, (name,),
                              task.record_runs))
            owner.append(i)
    return parts, owner


Run = tuple[int, bool, bool, "tuple[str, ...] | None", None, bool]  # (replication, record_trace, samples_only,
#                                                                   policies, no progress, record_runs)
Block = tuple[int, tuple[Run, ...]]  # (model index, runs)

_WORKER_MODELS: list[Model] = []  # a pool worker's copy of every distinct model, sent once


def _install(models: list[Model]) -> None:
    global _WORKER_MODELS
    _WORKER_MODELS = models


def _run_block(block: Block, models: list[Model] | None = None) -> list[ReplicationResult]:
    return _run_block_on((models if models is not None else _WORKER_MODELS)[block[0]], block[1])


def _run_block_on(model: Model, runs: tuple[Run, ...]) -> list[ReplicationResult]:
    return [_simulate(model, *run) for run in runs]


def plan_blocks(tasks: list[Task], workers: int, block_size: int | None = None) -> tuple[list[Model], list[tuple[Block, list[int]]]]:
    """The distinct models, and the blocks with the task indices each holds: consecutive tasks of
    one model, at most ``block_size`` each. By default the sizes are *guided*: each block takes
    a ``1 / (4 * workers)`` share of the tasks not yet planned, so blocks are large at first
    (few hand-outs) and shrink to single replications at the end (the last worker to finish
    waits at most about one replication; Polychronopoulos and Kuck's guided self-scheduling)."""
    models: list[Model] = []
    index: dict[int, int] = {}
    for task in tasks:
        if id(task.model) not in index:
            index[id(task.model)] = len(models)
            models.append(task.model)
    share = 4 * max(1, workers)
    blocks: list[tuple[Block, list[int]]] = []
    current: list[int] = []
    size = 0
    for i, task in enumerate(tasks):
        if current and (len(current) == size or tasks[current[0]].model is not task.model):
            blocks.append(_block(tasks, current, index))
            current = []
        if not current:
            size = block_size or max(1, math.ceil((len(tasks) - i) / share))
        current.append(i)
    if current:
        blocks.append(_block(tasks, current, index))
    return models, blocks


def _block(tasks: list[Task], members: list[int], index: dict[int, int]) -> tuple[Block, list[int]]:
    model = index[id(tasks[members[0]].model)]
    return (model, tuple((tasks[i].replication, tasks[i].record_trace, tasks[i].samples_only, tasks[i].policies, None,
                          tasks[i].record_runs)
                         for i in members)), members


def execute(tasks: list[Task], *, workers: int = 1, scheduler_address: str | None = None,
            progress: Progress | None = None, block_size: int | None = None,
            receive: Callable[[int, ReplicationResult], ReplicationResult] | None = None
            ) -> Iterator[tuple[int, ReplicationResult]]:
    """Run ``tasks``; yield ``(index into tasks, result)`` as each task finishes.

    ``scheduler_address`` (``tcp://HOST:PORT``) runs them on that Dask cluster; else
    ``workers > 1`` runs them in a local process pool; else serially in this process. With
    fewer than two tasks per worker, replications with jobs run as one part per policy
    (:func:`split_by_policy`), merged before they are yielded. ``progress(done, total)`` counts
    tasks, with fractions for tasks under way: the parts of a split task that are in, or, run
    here, how far the running task's job simulations have gone. ``receive(task index, result)``
    sees every task's result, or every part's, as it comes back (before parts are merged, so
    that a caller may write a part's rows out and drop them); what it returns is kept instead.
    An exception in a task propagates when its block's result is reached; results yielded
    before it are the caller's to keep.
    """
    parts = _Parts(tasks, progress, receive)
    if scheduler_address is not None:
        yield from _on_dask(parts, scheduler_address, block_size)
    elif workers > 1 and len(split := parts.split(workers)) > 1:
        yield from _in_pool(parts, split, workers, block_size)
    else:
        parts.split(1)  # one part per task
        for i, task in enumerate(tasks):
            under_way = (lambda f, i=i: progress(i + f, len(tasks))) if progress else None
            yield from parts.finished([i], [run_task(task, under_way)])


class _Parts:
    """The parts that :func:`execute` runs for its tasks, and the tasks they complete: each
    part's result goes to ``receive`` as it comes back, a split task's parts are merged once
    all are in, and ``progress`` hears of every part."""

    def __init__(self, tasks: list[Task], progress: Progress | None,
                 receive: Callable[[int, ReplicationResult], ReplicationResult] | None):
        self.tasks, self.progress, self.receive = tasks, progress, receive
        self.done = 0
        self.owner: list[int] = []  # part -> its task
        self.needed: dict[int, int] = {}  # task -> its number of parts
        self.waiting: dict[int, dict[int, ReplicationResult]] = {}  # task -> its parts in, by part index

    def split(self, workers: int) -> list[Task]:
        """The parts to run on ``workers`` workers (:func:`split_by_policy`)."""
        parts, self.owner = split_by_policy(self.tasks, workers)
        self.needed.clear()
        for i in self.owner:
            self.needed[i] = self.needed.get(i, 0) + 1
        return parts

    def finished(self, members: list[int], results: list[ReplicationResult]) -> Iterator[tuple[int, ReplicationResult]]:
        """``(task index, result)`` of each task that the parts ``members`` complete."""
        for part, result in zip(members, results):
            i = self.owner[part]
            if self.receive is not None:
                result = self.receive(i, result)
            complete = True
            if self.needed[i] > 1:
                got = self.waiting.setdefault(i, {})
                got[part] = result
                complete = len(got) == self.needed[i]
                if complete:
                    result = merge_parts([got[k] for k in sorted(got)])
                    del self.waiting[i]
            self.done += complete
            if self.progress:  # the tasks done and the parts in of those under way
                under_way = sum(len(g) / self.needed[j] for j, g in self.waiting.items())
                self.progress(self.done + under_way, len(self.tasks))
            if complete:
                yield i, result


def _on_dask(parts: _Parts, scheduler_address: str, block_size: int | None) -> Iterator[tuple[int, ReplicationResult]]:
    """The parts run on the Dask cluster at ``scheduler_address``, in blocks over its threads."""
    from distributed import Client
    from distributed import as_completed as dask_completed

    with Client(scheduler_address) as client:
        n = sum(client.nthreads().values()) or 1
        models, blocks = plan_blocks(parts.split(n), n, block_size)
        # every model to every worker, in one round trip; random keys (hashing a model to name
        # it would tokenize it, which cost more than sending it)
        scattered = client.scatter(models, broadcast=True, hash=False)
        futures = {client.submit(_run_block_on, scattered[b[0]], b[1], pure=False): members
                   for b, members in blocks}
        for future in dask_completed(futures):
            yield from parts.finished(futures[future], future.result())


def _in_pool(parts: _Parts, split: list[Task], workers: int,
             block_size: int | None) -> Iterator[tuple[int, ReplicationResult]]:
    """The parts ``split`` run in a local pool of ``workers`` processes, in blocks."""
    models, blocks = plan_blocks(split, workers, block_size)
    with ProcessPoolExecutor(max_workers=min(workers, len(blocks)), initializer=_install,
                             initargs=(models,)) as pool:
        pending = {pool.submit(_run_block, b): members for b, members in blocks}
        try:
            for future in as_completed(pending):
                yield from parts.finished(pending[future], future.result())
        finally:  # stopped early (an error, Ctrl-C): drop the blocks not yet started
            for future in pending:
                future.cancel()
