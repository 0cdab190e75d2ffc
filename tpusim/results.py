"""Results of a scenario run: per-replication measurements and their summaries.

:class:`Results` is what :func:`tpusim.run_scenario` returns. It keeps every replication's
numbers and derives from them, on demand, the DESIGN §5 ``summary.json`` mapping, tidy pandas
frames for notebooks, and confidence intervals (:mod:`tpusim.stats`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from tpusim import __version__
from tpusim.analytic import class_availability
from tpusim.engine import ReplicationResult
from tpusim.scenario import Scenario, static_grid_fits
from tpusim.stats import Estimate, estimate
from tpusim.topology.machine import COMPONENT_CLASSES


@dataclass
class Results:
    scenario: Scenario
    replications: list[ReplicationResult]
    wall_seconds: float
    error: str | None = None  # set when a run failed part-way; the replications done are kept

    # -- estimates -------------------------------------------------------------------------
    def slice_availability(self, policy: str) -> list[tuple[str, int, int, Estimate]]:
        """(shape, cubes, chips, estimate) per slice shape, in scenario order."""
        cube_shape = self.scenario.topology.cube_shape
        return [
            (shape.label, shape.cubes(cube_shape), shape.chips,
             estimate([r.slice_availability[policy][i] for r in self.replications]))
            for i, shape in enumerate(self.scenario.shapes)
        ]

    def system_availability(self, policy: str) -> Estimate:
        return estimate([r.system_availability[policy] for r in self.replications])

    def component_availability(self, component_class: str) -> Estimate | None:
        values = [r.component_availability[component_class] for r in self.replications]
        return None if values[0] is None else estimate(values)  # None: class has no units

    @property
    def events(self) -> int:
        return sum(r.events for r in self.replications)

    def static_unplaceable(self) -> list[str]:
        """Shapes that no box of the static cube grid can hold, whatever the health state."""
        return [s.label for s in self.scenario.shapes if not static_grid_fits(self.scenario, s)]

    # -- summary.json ----------------------------------------------------------------------
    def summary(self) -> dict:
        s = self.scenario
        policies = {}
        for policy in s.policies:
            policies[policy] = {
                "slice_availability": [
                    {"shape": shape, "cubes": cubes, "chips": chips, **est.as_dict()}
                    for shape, cubes, chips, est in self.slice_availability(policy)
                ],
                "system_availability": self.system_availability(policy).as_dict(),
                "jobs": None,  # no workload simulated
            }
        components = {}
        for cls in COMPONENT_CLASSES:
            est = self.component_availability(cls)
            components[cls] = {
                **(est.as_dict() if est else {"mean": None, "ci95": None}),
                "closed_form": class_availability(s, cls),
                "failures": sum(r.failures[cls] for r in self.replications),
                "repairs": sum(r.repairs[cls] for r in self.replications),
            }
        out = {
            "tpusim_version": __version__,
            "scenario": s.resolved(),
            "seed": s.seed,
            "replications": len(self.replications),
            "horizon_days": s.horizon_days,
            "wall_seconds": self.wall_seconds,
            "events": self.events,
            "policies": policies,
            "components": components,
        }
        if self.error is not None:
            out["error"] = self.error
        return out

    # -- frames ----------------------------------------------------------------------------
    def availability_frame(self) -> pd.DataFrame:
        """One row per policy and slice shape: mean availability and its 95 % CI."""
        rows = []
        for policy in self.scenario.policies:
            for shape, cubes, chips, est in self.slice_availability(policy):
                lo, hi = est.ci95 if est.ci95 else (None, None)
                rows.append({"policy": policy, "shape": shape, "cubes": cubes, "chips": chips,
                             "mean": est.mean, "ci95_low": lo, "ci95_high": hi,
                             "replications": est.n})
        return pd.DataFrame(rows)

    def to_frame(self) -> pd.DataFrame:
        """Tidy per-replication frame: replication, policy, metric, shape, value."""
        rows = []
        for r in self.replications:
            for policy in self.scenario.policies:
                for shape, value in zip(self.scenario.slices, r.slice_availability[policy]):
                    rows.append((r.replication, policy, "slice_availability", shape, value))
                rows.append((r.replication, policy, "system_availability", None, r.system_availability[policy]))
        return pd.DataFrame(rows, columns=["replication", "policy", "metric", "shape", "value"])
