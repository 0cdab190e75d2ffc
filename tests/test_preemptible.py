"""Spare cubes held per pod, preemptible work on them, and the cost model (issue 13, item 4).

The timeline test is exact: a production job's swap with best-effort work sitting on the pod's
only spare must happen at the same instant, and the job finish at the same time, as in a run
where the spare is idle. The cost metrics are checked against sums written here from their
definitions.
"""

from __future__ import annotations

import copy

import pytest

from tpusim.scheduler.checkpoint import Checkpointing
from tpusim import build_model, scenario_from_dict
from tpusim.failures.health import HealthState
from tpusim.policies import registry
from tpusim.policies.base import RoutingParams
from tpusim.engine.replication import job_simulation, simulate
from tpusim.scheduler.blocks import block_level
from tpusim.scheduler.job import Job
from tpusim.scheduler.pool import CubePool
from tpusim.scheduler.workload import BANDS, JobSpec
from tpusim.topology.cube import CubeLayout
from tpusim.topology.machine import MachineLayout
from tpusim.topology.shapes import SliceShape

# free, instantly durable checkpoints: these timelines are about failures (checkpoint cost: test_checkpoint.py)
FREE_CHECKPOINTS = {"interval_hours": 1.0, "write_minutes": 0, "snapshot_minutes": 0}

FREE_WRITES = Checkpointing("fixed", 1.0, 0.0, 0.0)  # instantly durable, no stall

OFF = {"daily_rate": 0, "repair": {"mean_hours": 1}}
HOSTS_PER_CUBE = 16


def scenario(**over):
    data = copy.deepcopy({
        "name": "spares", "seed": 1, "replications": 1, "horizon_days": 5, "slices": ["4x4x4"],
        "policies": ["reconfigurable"], "topology": {"cube_grid": [3, 1, 1]},
        "failures": {"host": OFF, "ici_link": OFF, "ocs": OFF, "initial_state": "all_up", "detection_minutes": 6},
        "workload": {"restart_minutes": 12, "checkpoint": FREE_CHECKPOINTS},
        "pod_manager": {"reconfigure_minutes": 3},
        "scheduler": {"defrag_wait_hours": None},
    })
    for key, value in over.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return scenario_from_dict(data)


def spec(i: int, shape: str, band: str, arrival: float, work: float) -> JobSpec:
    return JobSpec(i, arrival, SliceShape.parse(shape), work, BANDS.index(band))


def run(sc, specs, trace):
    sim = job_simulation(build_model(sc), "reconfigurable", trace, specs)
    sim.run()
    return sim


# -- the timeline -----------------------------------------------------------------------------

@pytest.mark.parametrize("preemption", [True, False])
def test_preemptible_work_on_the_spare_never_delays_a_production_swap(preemption):
    production = spec(0, "4x4x8", "production", 0.0, 10.0)  # cubes 0 and 1
    best_effort = spec(1, "4x4x4", "best_effort", 0.5, 20.0)  # the only other cube: the spare
    trace = [(3.0, "host", 0, True), (60.0, "host", 0, False)]  # a host of cube 0
    over = dict(pod_manager={"spare_cubes": 1, "preemptible_spares": True},
                scheduler={"preemption": preemption})
    alone = run(scenario(**over), [production], trace)
    shared = run(scenario(**over), [production, best_effort], trace)
    a, b = alone.jobs[0], shared.jobs[0]
    detected = 3.0 + 6 / 60
    # the swap happens at the detection in both runs and the job ends at the same instant: it
    # computed from 0.25 h (3 min of cross-connects, 12 min of restart), so its checkpoint at 2 h
    # of work survives the failure at 3.0 and 8 h are left
    assert a.finish == b.finish == pytest.approx(detected + 3 / 60 + 12 / 60 + 8.0)
    assert alone.pod_manager.swaps == shared.pod_manager.swaps == 1
    # the swap wires the spare into the z ring (2 x 16 circuits) and, alone, closes its x and y
    # wraparounds (2 x 16); shared, the best-effort torus on the spare left those set
    assert a.xconnects == 96 + 64 and b.xconnects == 96 + 32
    evicted = shared.jobs[1]
    assert shared.pod_manager.evictions == 1 and evicted.evicted == 1 and evicted.preempted == 0
    # killed at the swap (3.1): it computed from 0.75 h, so the 0.35 h since its checkpoint at
    # 2 h of work is gone, with both setups: it held that much more than its 20 h of work
    assert evicted.held == pytest.approx(64 * (20.0 + 0.35 + 2 * 0.25))
    assert evicted.state == "done" and evicted.finish > b.finish  # it came back once a cube was free


def test_without_preemptible_spares_the_busy_spare_delays_the_swap():
    production = spec(0, "4x4x8", "production", 0.0, 10.0)
    best_effort = spec(1, "4x4x4", "best_effort", 0.5, 20.0)
    trace = [(3.0, "host", 0, True), (60.0, "host", 0, False)]
    over = dict(scheduler={"preemption": False})  # no spare held, no eviction, no preemption
    alone = run(scenario(**over), [production], trace)
    shared = run(scenario(**over), [production, best_effort], trace)
    assert shared.jobs[0].finish > alone.jobs[0].finish + 10  # waited for the best-effort job
    assert shared.pod_manager.swaps == 0 and shared.pod_manager.evictions == 0


def test_without_preemptible_spares_best_effort_work_stays_off_them():
    production = spec(0, "4x4x8", "production", 0.0, 10.0)
    best_effort = spec(1, "4x4x4", "best_effort", 0.5, 2.0)
    sim = run(scenario(pod_manager={"spare_cubes": 1, "preemptible_spares": False}), [production, best_effort], [])
    be = sim.jobs[1]
    assert be.first_start == pytest.approx(sim.jobs[0].finish)  # it waited for the production job's cubes


# -- the pool's cap -----------------------------------------------------------------------------

MACHINE = MachineLayout(CubeLayout((4, 4, 4), 4), (2, 2, 1), 1)  # one pod of 4 cubes


def job(i: int, shape: str, band: str) -> Job:
    s = SliceShape.parse(shape)
    cube = MACHINE.cube
    if s.chips < cube.chips:
        return Job(JobSpec(i, 0.0, s, 1.0, BANDS.index(band)), 0, None, block_level(cube.shape, s.dims), 1.0, FREE_WRITES)
    return Job(JobSpec(i, 0.0, s, 1.0, BANDS.index(band)), s.cubes(cube.shape), s.cube_dims(cube.shape), None, 1.0, FREE_WRITES)


@pytest.mark.parametrize("preemptible", [True, False])
def test_the_cap_keeps_spares_free_of_capped_bands(preemptible):
    known = HealthState(MACHINE)
    policy = registry.get("reconfigurable")(MACHINE, RoutingParams(4))
    pool = CubePool(MACHINE, policy, known, spare_cubes=1, preemptible_spares=preemptible)
    assert pool.find(job(0, "8x8x4", "production")) is None  # 4 cubes: one would be the spare
    assert (pool.find(job(1, "8x8x4", "best_effort")) is not None) == preemptible
    three = job(2, "4x4x12", "batch")
    alloc = pool.find(three)
    assert alloc is not None and len(alloc.cubes) == 3
    pool.take(three, alloc)
    assert pool.cap.allowance(0) == 0
    assert pool.find(job(3, "4x4x4", "production")) is None
    assert pool.find(job(4, "2x2x4", "production")) is None  # a sub-cube slice on the spare neither
    assert (pool.find(job(5, "2x2x4", "best_effort")) is not None) == preemptible
    # a known failure of a held cube leaves the allowance; a failure of the spare takes it away
    known.set_down(0, alloc.cubes[0] * HOSTS_PER_CUBE, 1.0)
    assert pool.cap.allowance(0) == 0
    free = ({0, 1, 2, 3} - set(alloc.cubes)).pop()
    known.set_down(0, free * HOSTS_PER_CUBE, 1.0)
    assert pool.cap.allowance(0) == -1
    # the static pod swaps no spares and keeps none
    static = CubePool(MACHINE, registry.get("static")(MACHINE, RoutingParams(4)), HealthState(MACHINE), spare_cubes=1)
    assert static.cap.spare_cubes == 0 and static.find(job(6, "8x8x4", "production")) is not None


# -- the cost model -----------------------------------------------------------------------------

def test_cost_metrics_follow_their_definitions():
    prices = {"chip_hour": 1.0, "reserved_price": 3.0, "preemptible_price": 0.9}
    sc = scenario(horizon_days=20, cost=prices, pod_manager={"spare_cubes": 1, "preemptible_spares": True},
                  failures={"host": {"daily_rate": 0.02, "repair": {"mean_hours": 8}}, "ici_link": OFF, "ocs": OFF,
                            "initial_state": "all_up"},
                  workload={"jobs_per_pod_day": 20, "restart_minutes": 12, "checkpoint": FREE_CHECKPOINTS})
    r = simulate(build_model(sc), 0)
    rows = r.jobs["reconfigurable"].rows
    done = rows["state"] != "rejected"
    useful = rows["useful_chip_hours"][done]
    be = useful[rows["band"][done] == 2].sum()
    total = useful.sum()
    assert be > 0 and total > be
    value = lambda name: r.value("reconfigurable", name)  # noqa: E731
    assert value("preemptible_chip_hours") == pytest.approx(be)
    assert value("revenue_per_day") == pytest.approx(((total - be) * 3.0 + be * 0.9) / 20)
    assert value("preemptible_revenue_per_day") == pytest.approx(be * 0.9 / 20)
    chips = 3 * 64
    assert value("margin_per_day") == pytest.approx(value("revenue_per_day") - chips * 24 * 1.0)
    assert value("goodput_per_cost") == pytest.approx(total / (chips * 20 * 24 * 1.0))


def test_bad_spare_and_cost_settings_name_their_key():
    from tpusim.core.errors import ScenarioError

    with pytest.raises(ScenarioError, match="pod_manager.spare_cubes"):
        build_model(scenario(pod_manager={"spare_cubes": 3}))
    with pytest.raises(ScenarioError, match="cost"):
        data = scenario().model_dump(mode="json")
        data.pop("workload")
        data["cost"] = {"chip_hour": 1, "reserved_price": 2, "preemptible_price": 1}
        build_model(scenario_from_dict(data))
