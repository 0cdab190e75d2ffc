"""The built model: a frozen, picklable, hours-only description of what to simulate.

:func:`tpusim.config.build_model` turns a validated scenario into a :class:`Model`: every CSV
parsed once, every cross-key check done, every time in hours, every policy a
:class:`~tpusim.policies.Policy` object. A replication receives the model and hands each
component only its own section (the failure injector :class:`~tpusim.failures.FailureParams`,
the scheduler :class:`~tpusim.scheduler.scheduler.SchedulerParams`, and so on). The model
carries no file paths: a worker process or a Dask worker gets data, not names of files.

Invariant: nothing in a model changes after it is built; two builds of the same scenario are
equal.
"""

from __future__ import annotations

from dataclasses import dataclass

from tpusim.failures.maintenance import Campaign
from tpusim.failures.params import FailureParams
from tpusim.policies.base import Policy
from tpusim.scheduler.costs import CostParams
from tpusim.scheduler.pod_manager import PodManagerParams
from tpusim.scheduler.scheduler import SchedulerParams
from tpusim.scheduler.workload import WorkloadParams
from tpusim.topology.machine import MachineLayout
from tpusim.topology.shapes import Dims, SliceShape


@dataclass(frozen=True)
class Model:
    name: str
    seed: int
    replications: int
    horizon: float  # hours
    machine: MachineLayout
    shapes: tuple[SliceShape, ...]  # the slice shapes whose availability is measured
    policies: tuple[Policy, ...]  # compared on the same trace, in the scenario's order
    failures: FailureParams
    workload: WorkloadParams | None  # None: capacity only, no jobs
    scheduler: SchedulerParams
    pod_manager: PodManagerParams
    timeseries_width: float | None = None  # hours per time-series bucket; None: no series
    capacity_confidence: float = 0.95  # the level of capacity_at_confidence
    maintenance: tuple[Campaign, ...] = ()  # planned maintenance campaigns and rollouts
    cost: CostParams | None = None  # prices for the cost model; None: no cost metrics

    @property
    def policy_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.policies)

    def policy(self, name: str) -> Policy:
        for p in self.policies:
            if p.name == name:
                return p
        raise KeyError(f"this model compares no policy named {name!r} (it has {', '.join(self.policy_names)})")

    @property
    def shapes_in_cubes(self) -> list[Dims]:
        """Every measured shape as a cube shape (the capacity trackers' unit)."""
        return [shape.cube_dims(self.machine.cube.shape) for shape in self.shapes]
