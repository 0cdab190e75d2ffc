"""One replication: a SimPy run of the failure trace, observed by every policy at once.

The failure injector drives a single :class:`~tpusim.failures.HealthState`; every policy's
availability tracker subscribes to it. One replication therefore draws one failure trace and
every policy sees exactly that trace (common random numbers, DESIGN §1): differences between
policies are due to the policy alone. The trace depends only on (seed, replication), never on
which policies are listed.

With a workload, the same run records its trace, the replication draws its jobs once, and each
policy then runs its own :class:`~tpusim.jobsim.JobSimulation` replaying both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import simpy

from tpusim.availability import make_tracker
from tpusim.failures.health import HealthState
from tpusim.failures.injector import FailureInjector
from tpusim.failures.trace import TraceRecorder, TraceReplayer, read_trace_csv, trace_for
from tpusim.jobsim import JobSimulation, detection_delays
from tpusim.scenario import Scenario
from tpusim.topology.machine import COMPONENT_CLASSES
from tpusim.workload import generate_jobs


@dataclass
class ReplicationResult:
    replication: int
    slice_availability: dict[str, list[float]]  # policy -> per shape, scenario order
    system_availability: dict[str, float]  # policy -> fraction of chip-time on healthy hardware
    component_availability: dict[str, float | None]  # class -> time-averaged fraction up
    failures: dict[str, int]
    repairs: dict[str, int]
    initially_down: dict[str, int]
    events: int
    trace: list[tuple[float, str, int, bool]] | None = field(default=None, repr=False)
    jobs: dict | None = field(default=None, repr=False)  # policy -> JobOutcome, with a workload
    series: dict | None = field(default=None, repr=False)  # policy -> per shape, per bucket


def simulate(scenario: Scenario, replication: int, record_trace: bool = False) -> ReplicationResult:
    """Run replication number ``replication`` of ``scenario`` and measure every policy."""
    machine = scenario.machine
    cube_shape = scenario.topology.cube_shape
    shapes_in_cubes = [shape.cube_dims(cube_shape) for shape in scenario.shapes]

    env = simpy.Environment()
    health = HealthState(machine)
    with_jobs = scenario.workload is not None
    recorder = TraceRecorder(health) if record_trace or with_jobs else None
    max_faults = scenario.pod_manager.ft_routing.max_faults
    width = scenario.timeseries_days * 24.0 if scenario.timeseries_days else None
    trackers = {p: make_tracker(p, machine, shapes_in_cubes, health, max_faults, width is not None)
                for p in scenario.policies}
    if scenario.failures.trace is not None:
        traces = read_trace_csv(scenario.failures.trace, machine)
        injector = TraceReplayer(env, health, trace_for(traces, replication))
    else:
        injector = FailureInjector(env, health, scenario.failures, scenario.seed, replication)

    horizon = scenario.horizon_hours
    env.run(until=horizon)

    outcomes = {p: tracker.finish(horizon, health, width) for p, tracker in trackers.items()}
    jobs = None
    if with_jobs:
        specs = generate_jobs(scenario.workload, machine.pods, horizon, scenario.seed, replication)
        delays = detection_delays(scenario, recorder.events, replication)
        jobs = {p: JobSimulation(scenario, p, recorder.events, specs, delays).run() for p in scenario.policies}
    return ReplicationResult(
        replication=replication,
        slice_availability={p: o.slice_availability for p, o in outcomes.items()},
        system_availability={p: o.system_availability for p, o in outcomes.items()},
        component_availability=dict(zip(COMPONENT_CLASSES, health.component_availability(horizon))),
        failures=dict(zip(COMPONENT_CLASSES, injector.failures)),
        repairs=dict(zip(COMPONENT_CLASSES, injector.repairs)),
        initially_down=dict(zip(COMPONENT_CLASSES, injector.initially_down)),
        events=injector.events,
        trace=recorder.events if record_trace else None,
        jobs=jobs,
        series={p: o.series for p, o in outcomes.items()} if width is not None else None,
    )
