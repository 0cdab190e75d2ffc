"""Closed forms for capacity availability, to validate the simulator against.

Every unit alternates between up periods, exponential with mean ``MTBF = 24 / daily_rate``
hours, and repairs of mean ``MTTR``; units are independent. The long-run fraction of time a unit
is up is therefore ``a = MTBF / (MTBF + MTTR)`` for any repair distribution (an alternating
renewal process), and at a random instant the units are independent with these probabilities.

- A cube is usable when its ``H`` hosts and ``L`` links are up: ``q = a_host^H · a_link^L``.
- ``reconfigurable``: a ``k``-cube slice is placeable when at least ``k`` of the pod's ``N`` cubes
  are usable and all ``O`` OCSes are up: ``P = a_ocs^O · P(Binomial(N, q) >= k)``;
  with several pods, ``1 - (1 - P)^pods``.
- ``static``: a *fixed* box of ``k`` cubes is up with probability ``q^k`` (with hosts only,
  ``a^(16k)``). The static pod may use any free box, so its simulated availability lies above
  this product; the two meet for the whole-pod slice.
- ``system_availability`` (chip level) has no simple form once a chip's host and links overlap;
  :func:`host_availability` gives the per-class form the simulator's component availability is
  tested against.
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy import stats

from tpusim.scenario import Scenario


def unit_availability(daily_rate: float, mean_repair_hours: float) -> float:
    """MTBF / (MTBF + MTTR) for a unit failing at ``daily_rate`` per day; 1 if it never fails."""
    if daily_rate == 0:
        return 1.0
    mtbf = 24.0 / daily_rate
    return mtbf / (mtbf + mean_repair_hours)


def class_availability(scenario: Scenario, component_class: str) -> float:
    """MTBF/(MTBF+MTTR) of the class; with a rate schedule, at the schedule's mean rate (an
    approximation: availability is not linear in the rate, and the results say so)."""
    cfg = getattr(scenario.failures, component_class)
    rate = cfg.daily_rate
    if cfg.schedule is not None:
        from tpusim.failures.schedule import Schedule, read_schedule

        rate = Schedule(read_schedule(cfg.schedule), cfg.schedule.period_hours).mean_daily()
    return unit_availability(rate, cfg.repair.mean_hours)


def host_availability(scenario: Scenario) -> float:
    return class_availability(scenario, "host")


@dataclass(frozen=True)
class ClosedForm:
    shape: str
    chips: int
    cubes: int
    reconfigurable: float  # exact
    static_fixed_box: float  # availability of one fixed box (a lower bound for static)


def cube_availability(scenario: Scenario) -> float:
    machine = scenario.machine
    return class_availability(scenario, "host") ** machine.cube.hosts * class_availability(
        scenario, "ici_link"
    ) ** machine.cube.links


def closed_forms(scenario: Scenario) -> list[ClosedForm]:
    machine = scenario.machine
    q = cube_availability(scenario)
    ocs_all_up = class_availability(scenario, "ocs") ** machine.ocs_per_pod
    out = []
    for shape in scenario.shapes:
        k = shape.cubes(scenario.topology.cube_shape)
        per_pod = ocs_all_up * float(stats.binom.sf(k - 1, machine.cubes_per_pod, q))
        out.append(ClosedForm(
            shape=shape.label,
            chips=shape.chips,
            cubes=k,
            reconfigurable=1.0 - (1.0 - per_pod) ** machine.pods,
            static_fixed_box=q**k,
        ))
    return out
