"""Spare cubes: how many a pod must hold for a slice of the rest to be there when it is wanted.

A pod of ``N`` cubes that promises ``k`` of them to one slice holds ``N - k`` spares. For a
target availability (the share of time the promised slice can be placed), three answers per
policy, side by side:

NaN spares means unreachable: not even one cube meets the target (on an OCS machine, all of a
pod's switches must be up for any whole-cube slice, which bounds every promise).

- **searched**: the largest ``k`` whose simulated ``capacity_fraction`` (time with at least
  ``k`` cubes placeable as one slice) reaches the target, as
  :meth:`~tpusim.measure.results.Results.capacity_at_confidence` reads it; spares = ``N - k``. The
  range comes from the fractions' 95 % CIs (their upper ends give the fewest spares, their
  lower ends the most).
- **closed form**, where the policy has one (:meth:`~tpusim.policies.Policy.capacity_closed_form`):
  the same search over the binomial form (all OCSes of a pod up x P(Binomial(N, q) >= k)); exact
  for the reconfigurable rule under steady failures, none for fault-tolerant routing (its fault
  budget couples the classes) or a rate schedule.
- **Mist rule** (Mist ran a fleet on preemptible capacity by over-provisioning against the worst
  termination burst): spares = ceil(``safety`` x the most cube *terminations* seen in one pod
  within the replacement lead time). A cube terminates when the policy's rule stops calling it
  usable for a slice of whole cubes (:meth:`~tpusim.policies.Policy.cube_usable`: any host or
  ICI link down; under fault-tolerant routing a host only, links being routed around); failures
  at t = 0 are the initial state, not terminations. The lead time of a cube is its repair, so by
  default it is the mean time a terminated cube stayed unusable in the same trace (periods still
  open at the horizon left out). Each replication is one history of ``horizon`` hours, as an
  operator's records would be: the rule is computed per replication and reported as a mean with
  a Student-t interval, and the largest.

The searched and closed-form answers target time-availability; Mist's rule targets bursts and
has no target in it, which is the point of showing them together.

The study is :class:`SparesStudy` (``spares`` in :mod:`tpusim.studies.registry`); its run goes
through the runner it is handed, with every replication's trace kept.

Layer: studies (it runs scenarios); reads results, traces and policies, writes no files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import numpy as np
import pandas as pd

from tpusim.config.load import ScenarioLike
from tpusim.config.schema import Scenario
from tpusim.failures.health import HealthState
from tpusim.failures.ocs_modes import OcsModes
from tpusim.engine.execution import Progress
from tpusim.engine.model import Model
from tpusim.policies.base import Policy
from tpusim.measure.results import Results
from tpusim.core.stats import NON_NEGATIVE, estimate
from tpusim.studies.base import Runner, ScenarioStudy
from tpusim.topology.machine import COMPONENT_CLASSES

#: Mist's safety factor over the worst burst.
MIST_SAFETY = 3.0


@dataclass(frozen=True)
class Terminations:
    """One policy's cube terminations in one trace: per pod, the times cubes became unusable
    (t > 0, ascending), and the lengths of the unusable periods that ended before the horizon."""

    times: list[np.ndarray]
    durations: np.ndarray


def cube_terminations(model: Model, trace: Sequence[tuple[float, str, int, bool]],
                      policies: Sequence[Policy], replication: int = 0) -> dict[str, Terminations]:
    """Replay ``trace`` (time-ordered ``(t, class, unit, down)``, of replication number
    ``replication``) into a fresh health state and record, for each policy, when cubes stop and
    start being usable under its rule. The replayed health is the simulation's: each OCS failure
    takes the mode the simulation gave it (the replication's ``ocs_mode`` stream, drawn in trace
    order, as a replayed trace does; every one was taken as dark before). An OCS failure is
    pod-wide and terminates no cube: the pod-level rule (every OCS up) bounds every slice."""
    machine = model.machine
    health = HealthState(machine, OcsModes(model.failures.ocs_control_share, model.seed, replication))
    n, pods = machine.cubes_per_pod, machine.pods
    out = {}
    for policy in policies:
        usable = [True] * machine.cubes
        since = [0.0] * machine.cubes
        times: list[list[float]] = [[] for _ in range(pods)]
        durations: list[float] = []

        def listen(t, pod, local, hosts, electrical, ports, policy=policy, usable=usable, since=since,
                   times=times, durations=durations):
            cube = pod * n + local
            now = policy.cube_usable(hosts, electrical, ports)
            if now == usable[cube]:
                return
            usable[cube] = now
            if now:
                if since[cube] > 0.0:  # a termination's period (not the initial state's)
                    durations.append(t - since[cube])
            else:
                since[cube] = t
                if t > 0.0:
                    times[pod].append(t)

        health.fault_listeners.append(listen)
        out[policy.name] = (times, durations)
    for t, cls, unit, down in trace:
        k = COMPONENT_CLASSES.index(cls)
        if down:
            health.set_down(k, unit, t)
        else:
            health.set_up(k, unit, t)
    return {name: Terminations([np.asarray(ts) for ts in times], np.asarray(durations))
            for name, (times, durations) in out.items()}


def max_burst(times: np.ndarray, window: float) -> int:
    """The most of ``times`` (ascending) inside any interval ``[t, t + window)``."""
    if len(times) == 0:
        return 0
    ends = np.searchsorted(times, times + window, side="left")
    return int((ends - np.arange(len(times))).max())


def _spares(cubes_per_pod: int, cubes: int | None) -> float:
    """Spares for a promise of ``cubes`` (the largest meeting the target); NaN where none is
    known or where not even one cube meets it (no number of spares reaches the target: the pod's
    OCS layer, say, is down more often than the target allows)."""
    return float("nan") if not cubes else float(cubes_per_pod - cubes)


@dataclass
class SparePlan:
    """Spares per policy and target, three ways (see the module's docstring)."""

    results: Results
    targets: tuple[float, ...]
    lead_hours: dict[str, float]  # per policy: the lead time the Mist rule used
    safety: float
    frame: pd.DataFrame  # policy, target, cubes_per_pod, spares, spares_low, spares_high, closed_form, mist...
    bursts: pd.DataFrame  # replication, policy, pod, terminations, max_burst, lead_hours

    def __str__(self) -> str:
        return self.frame.to_string(index=False)


def plan_spares(scenario: "ScenarioLike | Results", targets: Sequence[float] = (0.95, 0.99, 0.999), *,
                lead_hours: float | None = None, safety: float = MIST_SAFETY, overrides: "list[str] | dict[str, Any] | None" = None,
                **options: Any) -> SparePlan:
    """Spare cubes each policy of ``scenario`` needs per pod for each target availability of the
    largest slice it promises, searched from the simulation, from the closed form and by Mist's
    rule. ``scenario`` may be results already run with ``record_traces=True``; ``options`` are
    ``workers``, ``scheduler_address`` and ``progress`` (as :func:`~tpusim.api.run_scenario`
    takes them)."""
    study = SparesStudy(tuple(targets), lead_hours, safety, options.pop("progress", None))
    if isinstance(scenario, Results):
        return study.plan(scenario)
    return study.on(scenario, overrides, **options)


@dataclass(frozen=True)
class SparesStudy(ScenarioStudy[SparePlan]):
    """Spare cubes per policy and target, three ways (the module's docstring); the parameters
    as :func:`plan_spares` takes them."""

    name: ClassVar[str] = "spares"
    summary: ClassVar[str] = ("spare cubes per pod for a target availability: searched, closed form and "
                              "Mist's burst rule")

    targets: tuple[float, ...] = (0.95, 0.99, 0.999)
    lead_hours: float | None = None
    safety: float = MIST_SAFETY
    progress: Progress | None = None

    def __post_init__(self) -> None:
        for target in self.targets:
            if not 0.0 < target < 1.0:
                raise ValueError(f"targets: each must lie strictly between 0 and 1, got {target}")
        if self.safety <= 0:
            raise ValueError(f"safety: must be > 0, got {self.safety}")
        if self.lead_hours is not None and self.lead_hours <= 0:
            raise ValueError(f"lead_hours: must be > 0, got {self.lead_hours}")

    def run(self, scenario: Scenario, runner: Runner) -> SparePlan:
        return self.plan(runner.run(scenario, record_traces=True, progress=self.progress))

    def plan(self, results: Results) -> SparePlan:
        """The plan from results run with ``record_traces=True``."""
        model = results.model
        if not results.replications or results.replications[0].trace is None:
            raise ValueError("plan_spares needs results run with record_traces=True")
        per_rep = [cube_terminations(model, r.trace or [], model.policies, r.replication)
                   for r in results.replications]
        lead = {policy: self._lead(policy, per_rep) for policy in model.policy_names}
        bursts = pd.DataFrame([row for policy in model.policy_names
                               for row in _burst_rows(results, per_rep, policy, lead[policy])])
        rows = [row for policy in model.policy_names for row in self._rows(results, policy, bursts, lead[policy])]
        return SparePlan(results, self.targets, lead, self.safety, pd.DataFrame(rows), bursts)

    def _lead(self, policy: str, per_rep: list[dict[str, Terminations]]) -> float:
        """The lead time of Mist's rule: as given, else the mean time a terminated cube stayed
        unusable in the trace (NaN if none did)."""
        if self.lead_hours is not None:
            return self.lead_hours
        durations = np.concatenate([t[policy].durations for t in per_rep])
        return float(durations.mean()) if len(durations) else float("nan")

    def _rows(self, results: Results, policy: str, bursts: pd.DataFrame, lead: float) -> list[dict]:
        """The plan's rows of ``policy``: one per target."""
        n = results.model.machine.cubes_per_pod
        worst = bursts[bursts.policy == policy].groupby("replication").max_burst.max()
        mist = [math.ceil(self.safety * b) for b in worst]
        mist_est = estimate(mist, bounds=NON_NEGATIVE)
        rows = []
        for target in self.targets:
            cap = results.capacity_at_confidence(policy, target)
            rows.append({
                "policy": policy, "target": target, "cubes_per_pod": n,
                "spares": _spares(n, cap.cubes), "spares_low": _spares(n, cap.cubes_high),
                "spares_high": _spares(n, cap.cubes_low), "closed_form": _spares(n, cap.closed_form_cubes),
                "has_closed_form": cap.closed_form_cubes is not None,
                "mist": mist_est.mean,
                "mist_ci95_low": mist_est.ci95[0] if mist_est.ci95 else None,
                "mist_ci95_high": mist_est.ci95[1] if mist_est.ci95 else None,
                "mist_largest": max(mist) if mist else None,
                "lead_hours": lead,
            })
        return rows


def _burst_rows(results: Results, per_rep: list[dict[str, Terminations]], policy: str, lead: float) -> list[dict]:
    """One row per replication and pod of ``policy``: its terminations and their worst burst
    within the lead time."""
    rows = []
    for r, terms in zip(results.replications, per_rep):
        for pod, times in enumerate(terms[policy].times):
            burst = max_burst(times, lead) if not math.isnan(lead) else 0
            rows.append({"replication": r.replication, "policy": policy, "pod": pod,
                         "terminations": len(times), "max_burst": burst, "lead_hours": lead})
    return rows
