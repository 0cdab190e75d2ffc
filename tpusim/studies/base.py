"""The ``Study`` protocol: what every study is, and how it runs its replications (DESIGN §7).

A study runs scenarios and interprets them. Every study is a :class:`Study`:

- ``name``, its key in :mod:`tpusim.studies.registry`, and ``summary``, one line saying what it
  answers;
- its parameters are the instance's fields (each study is a frozen dataclass:
  ``SweepStudy(vary={...})``);
- :meth:`Study.prepare` turns what the study is given into what it runs on: for a
  :class:`ScenarioStudy` (every study but ``reproduce``) the validated scenario, read by
  :func:`tpusim.config.load.as_scenario` in any form :func:`tpusim.run` takes, with dotted-key
  overrides applied first;
- :meth:`Study.run` runs every replication through the :class:`Runner` it is handed and returns
  the study's own result object (``SweepResults``, ``SparePlan``, ``Localisation``, ...).

:meth:`Study.on` does both: ``SparesStudy(targets=(0.99,)).on("tpuv4_pod", workers=2)``; the
facade runs a study by its name (:func:`tpusim.api.study`).

Invariants: a study reaches the executor only through its runner - it never simulates a
replication itself, nor calls :func:`~tpusim.engine.execution.execute` or
:func:`~tpusim.measure.runner.run_scenario` directly (``tests/test_studies.py`` reads every
study module's imports and runs every registered study through a recording runner); so a
study's result does not depend on the runner's workers or cluster (the executor's guarantee,
DESIGN §6). A study object is immutable.

Layer: studies, above measurement and output, below the facade and the CLI.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Iterator, Mapping, TypeVar, Union

from tpusim.config.load import ScenarioLike, as_scenario
from tpusim.config.schema import Scenario
from tpusim.engine.execution import Task, execute
from tpusim.engine.replication import ReplicationResult
from tpusim.measure.results import Results
from tpusim.measure.runner import run_scenario

#: Dotted-key overrides, as ``--set`` takes them (``["seed=3"]``) or as a mapping (``{"seed": 3}``).
Overrides = Union[list[str], Mapping[str, Any], None]


@dataclass(frozen=True)
class Runner:
    """How a study runs its replications: the one executor of :mod:`tpusim.engine`, serially
    (``workers=1``), in a local process pool, or on the Dask cluster at ``scheduler_address``."""

    workers: int = 1
    scheduler_address: str | None = None

    def execute(self, tasks: list[Task], **options: Any) -> Iterator[tuple[int, ReplicationResult]]:
        """:func:`~tpusim.engine.execution.execute` of ``tasks`` here (``options``: ``progress``,
        ``receive``)."""
        return execute(tasks, workers=self.workers, scheduler_address=self.scheduler_address, **options)

    def run(self, scenario: Scenario, **options: Any) -> Results:
        """:func:`~tpusim.measure.runner.run_scenario` of ``scenario`` here (``options``:
        ``progress``, ``record_traces``)."""
        return run_scenario(scenario, workers=self.workers, scheduler_address=self.scheduler_address, **options)


S = TypeVar("S")  # what a study runs on: a Scenario (reproduce: the published scenarios, by name)
R = TypeVar("R")  # what it returns


class Study(ABC, Generic[S, R]):
    """One study: its ``name`` and ``summary``, its parameters (the instance's fields), what
    it runs on (:meth:`prepare`) and how (:meth:`run`)."""

    name: ClassVar[str]
    summary: ClassVar[str]

    def on(self, scenario: Any = None, overrides: Overrides = None, *, workers: int = 1,
           scheduler_address: str | None = None) -> R:
        """Run this study on ``scenario`` (``overrides`` applied first), its replications on
        ``workers`` local processes or the Dask cluster at ``scheduler_address``."""
        return self.run(self.prepare(scenario, overrides), Runner(workers, scheduler_address))

    @abstractmethod
    def prepare(self, scenario: Any, overrides: Overrides = None) -> S:
        """What the study runs on, from what it was given (checked before anything runs)."""

    @abstractmethod
    def run(self, subject: S, runner: Runner) -> R:
        """Run the study on ``subject``, every replication through ``runner``."""


class ScenarioStudy(Study[Scenario, R]):
    """A study of one scenario."""

    def prepare(self, scenario: ScenarioLike, overrides: Overrides = None) -> Scenario:
        """The scenario in any form :func:`tpusim.run` takes, validated, ``overrides`` applied."""
        return as_scenario(scenario, overrides)
