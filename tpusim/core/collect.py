"""Result hooks: every component of a replication reports what it measured itself.

A component of a replication (a policy's availability tracker, the failure injector, the
campaign driver, the gray injector, a policy's job outcome) is a :class:`Collector`: once the
run has reached its horizon, ``collect(horizon, emit)`` emits each sample it measured through
``emit(metric, key, value)`` and returns its own typed record of what is not a metric (waves,
gray episodes, per-job rows, ...). The replication only lists its components in order and loops
over them (desmod's result hooks, typed): a new feature adds a sample where its component
emits and a field to its component's record, never a branch in the replication.

:class:`SampleLog` stamps what a component emits with the replication and the policy it was
collected for, in the order the components are collected.

Invariants: ``collect`` is called once, after the run, and draws no random number (so when and
whether it is called never moves a stream); a component emits its samples in a fixed order (the
order of the samples is part of the bit-for-bit contract).
"""

from __future__ import annotations

from typing import Callable, Protocol, TypeVar

from tpusim.core.metrics import Sample

R_co = TypeVar("R_co", covariant=True)

#: ``emit(metric, key, value)``: one sample of the component being collected
Emit = Callable[[str, "str | None", float], None]


class Collector(Protocol[R_co]):
    def collect(self, horizon: float, emit: Emit) -> R_co:
        """Emit every sample measured over ``[0, horizon]``; return the component's record."""
        ...


class SampleLog:
    """The samples of one replication (or part of one), in the order they were collected."""

    def __init__(self, replication: int):
        self.replication = replication
        self.samples: list[Sample] = []

    def collect(self, policy: str | None, component: Collector[R_co], horizon: float) -> R_co:
        """``component``'s record, its samples appended as ``policy``'s (None: the machine's)."""
        replication, append = self.replication, self.samples.append

        def emit(metric: str, key: str | None, value: float) -> None:
            append(Sample(replication, policy, metric, key, value))

        return component.collect(horizon, emit)
