"""OCS cross-connect state and xconnect accounting (DESIGN §1, issue 31 point 8): an xconnect is
a circuit a placement changes against what the switches hold; circuits stay set after a job.

Exact small cases counted by hand from the geometry: on 4x4x4 cubes every face has 16 ports,
so one face join (a cube's +d face to a cube's -d face) is 16 circuits, one through each OCS
(d, p), and a k-cube torus uses 3 x 16 x k = 48k."""

from __future__ import annotations

import pytest
import simpy

from tpusim import build_model, scenario_from_dict
from tpusim.engine.replication import job_simulation, simulate
from tpusim.failures.health import HOST, OCS, HealthState
from tpusim.policies import registry
from tpusim.policies.base import RoutingParams
from tpusim.scheduler.blocks import block_level
from tpusim.scheduler.checkpoint import Checkpointing
from tpusim.scheduler.circuits import CircuitState
from tpusim.scheduler.job import RUNNING, Job
from tpusim.scheduler.pod_manager import PodManager, PodManagerParams
from tpusim.scheduler.pool import CubePool
from tpusim.scheduler.workload import BANDS, JobSpec, generate_jobs
from tpusim.topology.allocation import Allocation
from tpusim.topology.cube import CubeLayout
from tpusim.topology.graph import SliceCircuits, reconfigurable_wiring
from tpusim.topology.machine import MachineLayout
from tpusim.topology.shapes import SliceShape

MACHINE = MachineLayout(CubeLayout((4, 4, 4), 4), (2, 2, 1), 2)  # two pods of 4 cubes
CUBE = MACHINE.cube
FULL = (1 << CUBE.chips) - 1
FACE = 16  # ports per face of a 4x4x4 cube: circuits per face join
RECONFIGURE, RESTART = 0.05, 0.2


def ocs(pod: int, d: int, p: int) -> int:
    return pod * MACHINE.ocs_per_pod + MACHINE.ocs_index(d, p)


def held(state: CircuitState, pod: int = 0) -> set[tuple[int, int, int]]:
    """Every circuit set in ``pod``, as (global OCS, plus cube, minus cube)."""
    out = set()
    for local in range(MACHINE.ocs_per_pod):
        u = pod * MACHINE.ocs_per_pod + local
        for a in range(pod * 4, pod * 4 + 4):
            b = state.circuit(u, a)
            if b is not None:
                out.add((u, a, b))
    return out


def by_hand(pod: int, joins: list[tuple[int, int, int]]) -> set[tuple[int, int, int]]:
    """The circuits of face joins (d, plus cube, minus cube): one per face position p."""
    return {(ocs(pod, d, p), a, b) for d, a, b in joins for p in range(FACE)}


# -- the state ---------------------------------------------------------------------------------

@pytest.mark.parametrize("cube_dims, joins", [
    # 1x1x2 on cubes 4, 5 (pod 1): x and y faces wrap onto their own cube, z joins 4 -> 5 -> 4
    ((1, 1, 2), [(0, 4, 4), (1, 4, 4), (2, 4, 5), (0, 5, 5), (1, 5, 5), (2, 5, 4)]),
    # 2x1x1: x joins 4 -> 5 and wraps 5 -> 4; y and z wrap onto each cube
    ((2, 1, 1), [(0, 4, 5), (1, 4, 4), (2, 4, 4), (0, 5, 4), (1, 5, 5), (2, 5, 5)]),
])
def test_a_two_cube_slice_on_empty_switches_programs_exactly_its_circuits(cube_dims, joins):
    policy = registry.get("reconfigurable")(MACHINE, RoutingParams())
    state = CircuitState(MACHINE)
    assert held(state, 1) == set() and state.circuits == 0  # the machine starts with no circuit set
    needed = policy.slice_circuits(Allocation(1, [4, 5], FULL), cube_dims)
    assert sorted(needed.faces()) == sorted(joins) == sorted(state.changes(needed))
    assert state.count(needed) == 2 * 48 == 6 * FACE
    assert state.program(needed) == 96 and state.circuits == 96
    assert held(state, 1) == by_hand(1, joins) and held(state, 0) == set()
    # the chip graph's optical connections are the same circuits
    wiring = reconfigurable_wiring(CUBE, [4, 5], cube_dims)
    assert {(ocs(1, c.d, c.p), c.plus_cube, c.minus_cube) for c in wiring.connections} == by_hand(1, joins)
    # setting them again changes nothing
    assert state.changes(needed) == [] and state.program(needed) == 0 and state.circuits == 96


def test_a_circuit_takes_its_ports_from_the_circuits_that_held_them():
    state = CircuitState(MACHINE)
    state.program(SliceCircuits([0, 1], ((2, 0, 1), (2, 1, 0))))  # a 1x1x2 slice's z joins
    # a one-cube torus on cube 0 needs 0 -> 0 in z: it breaks 0 -> 1 (0's +z ports) and 1 -> 0
    # (0's -z ports); cube 1's -z and +z ports are then free
    assert state.program(SliceCircuits([0], ((2, 0, 0),))) == FACE and state.circuits == FACE
    assert held(state) == by_hand(0, [(2, 0, 0)])
    with pytest.raises(ValueError):
        state.circuit(ocs(1, 2, 0), 0)  # cube 0 has no port on pod 1's OCSes


# -- the Pod Manager ---------------------------------------------------------------------------

def pod_manager(name: str = "reconfigurable"):
    env = simpy.Environment()
    true, known = HealthState(MACHINE), HealthState(MACHINE)
    pool = CubePool(MACHINE, registry.get(name)(MACHINE, RoutingParams()), known)
    log: dict[str, list] = {"requeued": []}
    pm = PodManager(PodManagerParams(reconfigure=RECONFIGURE), pool.policy, pool, true, env, RESTART,
                    requeue=lambda j, t: log["requeued"].append((j.id, t)),
                    detect=lambda k, u, t: known.set_down(k, u, t), request_pass=lambda: None)
    return pm, pool, true, known, env, log


def job(i: int, shape: str, work: float = 1.0) -> Job:
    s = SliceShape.parse(shape)
    spec, writes = JobSpec(i, 0.0, s, work, BANDS.index("batch")), Checkpointing("fixed", 1.0, 0.0, 0.0)
    if s.chips < CUBE.chips:
        return Job(spec, 0, None, block_level(CUBE.shape, s.dims), 1.0, writes)
    return Job(spec, s.cubes(CUBE.shape), s.cube_dims(CUBE.shape), None, 1.0, writes)


def start(pm, j, cubes: list[int], t: float) -> None:
    if t > pm.env.now:
        pm.env.run(until=t)
    assert pm.start(j, Allocation(cubes[0] // 4, list(cubes), FULL), t)


def test_a_restart_in_place_or_on_the_same_cubes_programs_nothing_and_pays_no_reconfiguration():
    pm, pool, true, known, env, log = pod_manager()
    a = job(0, "4x4x8", work=2.0)
    start(pm, a, [0, 1], 0.0)
    assert a.xconnects == 96 and a.compute_start == pytest.approx(RECONFIGURE + RESTART)
    pm.crash(a, 1.0)  # a gray fault: restarts in place, its circuits still set
    assert a.alloc.cubes == [0, 1] and a.interruptions == 1
    assert a.xconnects == 96 and a.compute_start == pytest.approx(1.0 + RESTART)
    env.run()
    assert a.state == "done" and pm.circuits.circuits == 96  # kept after the job ends
    # the same slice re-placed on the same cubes, in the same slots: nothing to program
    b = job(1, "4x4x8")
    start(pm, b, [0, 1], 10.0)
    assert b.xconnects == 0 and b.compute_start == pytest.approx(10.0 + RESTART)
    env.run()
    # the same cubes in the other slot order: the same circuits
    c = job(2, "4x4x8")
    start(pm, c, [1, 0], 20.0)
    assert c.xconnects == 0  # a 1x1x2 torus: 0 -> 1 -> 0 either way round
    env.run()
    d = job(3, "8x4x4")  # 2x1x1 on cubes 0, 1: the x faces join each other, y and z wrap
    start(pm, d, [0, 1], 30.0)
    assert d.xconnects == 4 * FACE  # x: 0 -> 1, 1 -> 0 and z: 0 -> 0, 1 -> 1 change; the y wraps are set
    assert pm.xconnects_by == {"first": 96 + 0 + 0 + 64, "swap": 0, "migration": 0, "restart": 0, "resize": 0}
    assert pm.circuits_used == 4 * 96


def test_a_one_cube_torus_on_a_cube_whose_wraparounds_are_set_programs_nothing():
    pm, pool, true, known, env, log = pod_manager()
    a = job(0, "4x4x4")
    start(pm, a, [2], 0.0)
    assert a.xconnects == 48
    env.run()
    b = job(1, "4x4x4")
    start(pm, b, [2], 5.0)
    assert b.xconnects == 0 and b.compute_start == pytest.approx(5.0 + RESTART)
    env.run()
    # a 1x1x2 slice over cubes 2 and 3 keeps cube 2's x and y wraparounds: it programs the z
    # joins (2 x 16) and cube 3's x and y wraps (2 x 16)
    c = job(2, "4x4x8")
    start(pm, c, [2, 3], 10.0)
    assert c.xconnects == 4 * FACE
    env.run()
    # then a one-cube torus on cube 3 needs only its z wraparound back
    d = job(3, "4x4x4")
    start(pm, d, [3], 20.0)
    assert d.xconnects == FACE
    assert pm.circuits.circuits == 48 + 48 - 2 * FACE + FACE  # 3 -> 3 broke 2 -> 3 and 3 -> 2


def test_a_spare_swap_changes_only_the_circuits_touching_the_swapped_cube():
    pm, pool, true, known, env, log = pod_manager()
    j = job(0, "4x4x12", work=5.0)  # 1x1x3: cubes 0, 1, 2 in z; cube 3 is the spare
    start(pm, j, [0, 1, 2], 0.0)
    assert j.xconnects == 3 * 48
    before = held(pm.circuits)
    unit = 1 * CUBE.hosts  # a host of cube 1, the middle slot
    true.set_down(HOST, unit, 1.0)
    known.set_down(HOST, unit, 1.0)
    j.settle_rate(1.0)
    j.stalled_at = 1.0
    pm.recover(j, 1.1)
    assert j.alloc.cubes == [0, 3, 2] and pm.swaps == 1
    # cube 3's x and y wraps (2 x 16), 0 -> 3 and 3 -> 2 in z (2 x 16); the rest stays
    assert j.xconnects == 3 * 48 + 4 * FACE and pm.xconnects_by["swap"] == 4 * FACE
    assert j.compute_start == pytest.approx(1.1 + RECONFIGURE + RESTART)
    after = held(pm.circuits)
    made = by_hand(0, [(0, 3, 3), (1, 3, 3), (2, 0, 3), (2, 3, 2)])
    broken = by_hand(0, [(2, 0, 1), (2, 1, 2)])  # cube 1's z joins lost their ports
    assert after - before == made and before - after == broken
    assert after >= by_hand(0, [(0, 1, 1), (1, 1, 1)])  # cube 1 out of the slice keeps its x, y wraps


def test_preflight_checks_an_ocs_control_plane_only_where_the_start_changes_circuits():
    pm, pool, true, known, env, log = pod_manager()
    a = job(0, "4x4x4")
    start(pm, a, [0], 0.0)
    env.run()
    true.set_down(OCS, ocs(0, 2, 5), 2.0, dark=False)  # a z switch of pod 0: its circuits stay lit
    b = job(1, "4x4x4")
    start(pm, b, [0], 3.0)  # cube 0's circuits are set: nothing goes through the switch's control plane
    assert b.xconnects == 0 and pm.preflight_failures == 0
    env.run()
    c = job(2, "4x4x4")
    env.run(until=5.0)
    assert not pm.start(c, Allocation(0, [1], FULL), 5.0)  # cube 1 needs new z circuits through it
    assert pm.preflight_failures == 1 and c.xconnects == 0 and pm.circuits.circuits == 48


def test_static_and_sub_cube_slices_use_no_circuits():
    pm, pool, true, known, env, log = pod_manager("static")
    j = job(0, "4x4x8")
    start(pm, j, [0, 1], 0.0)
    assert j.xconnects == 0 and pm.circuits_used == 0 and j.compute_start == pytest.approx(RESTART)
    pm, pool, true, known, env, log = pod_manager()
    s = job(1, "4x4x2")
    assert pm.start(s, pool.find(s), 0.0)
    assert s.xconnects == 0 and s.compute_start == pytest.approx(RESTART) and pm.circuits.circuits == 0


# -- in a whole simulation ---------------------------------------------------------------------

def test_held_slices_keep_their_circuits_and_every_count_is_a_change(monkeypatch):
    """Invariants over a busy run with failures, swaps, preemptions and restarts: after every
    placement each running slice's circuits are all set, and the xconnects counted are exactly
    the circuits the state changed."""
    sc = scenario_from_dict({
        "name": "busy", "seed": 5, "replications": 1, "horizon_days": 6,
        "slices": ["4x4x4"], "policies": ["reconfigurable"], "topology": {"cube_grid": [2, 2, 2]},
        "failures": {"host": {"daily_rate": 0.01, "repair": {"mean_hours": 6}},
                     "ici_link": {"daily_rate": 0.001, "repair": {"mean_hours": 6}},
                     "ocs": {"daily_rate": 0.002, "repair": {"mean_hours": 6}}},
        "workload": {"jobs_per_pod_day": 60, "duration": {"mean_hours": 2.0}, "restart_minutes": 12,
                     "checkpoint": {"interval_hours": 1.0, "write_minutes": 0, "snapshot_minutes": 0}},
        "pod_manager": {"spare_cubes": 1, "reconfigure_minutes": 3},
    })
    model = build_model(sc)
    trace = simulate(model, 0, record_trace=True).trace
    sim = job_simulation(model, "reconfigurable", trace, generate_jobs(model.workload, model.horizon, model.seed, 0))
    pm = sim.pod_manager
    begin, kinds = PodManager._begin, []

    def checked(self, job, t, needed, rate=1.0, kind="restart"):
        xconnects, changing = self.xconnects, self.circuits.changes(needed)
        begin(self, job, t, needed, rate, kind)
        assert self.xconnects - xconnects == FACE * len(changing)
        # reconfiguration time (3 min) only where a circuit changes; the restart (12 min) always
        assert job.compute_start - t == pytest.approx((3 / 60 if changing else 0.0) + 12 / 60)
        for other in sim.jobs:
            if other.state == RUNNING and other.cubes:
                assert self.circuits.changes(self.policy.slice_circuits(other.alloc, other.cube_dims)) == []
        kinds.append((kind, FACE * len(changing)))

    monkeypatch.setattr(PodManager, "_begin", checked)
    sim.run()
    assert len(kinds) > 50 and {"first", "restart"} <= {k for k, _ in kinds}
    assert pm.xconnects == sum(n for _, n in kinds) == sum(pm.xconnects_by.values()) > 0
    assert pm.xconnects_by["first"] < pm.circuits_used  # some first placements found circuits set


def test_reconfiguration_time_follows_the_circuits_changed():
    """pod_manager.reconfigure_seconds_per_circuit: a start pays reconfigure_minutes plus that much
    per circuit it changes. A 2-cube slice programs 96 circuits at its first start; after a host
    failure the swap changes 64 (the swapped cube's x and y rings and its 32 z circuits)."""
    from test_jobs import job, run, scenario

    per = 2.0  # seconds per circuit
    sc = scenario(**{"pod_manager.reconfigure_seconds_per_circuit": per})
    setup = 3 / 60 + 12 / 60
    jobs, _ = run(sc, "reconfigurable", [job(0, 1.0, "4x4x8", 5.0)])
    assert jobs[0].xconnects == 96
    assert jobs[0].finish == pytest.approx(1.0 + setup + 96 * per / 3600 + 5.0)
    t_fail = 2.7
    trace = [(t_fail, "host", 5, True), (t_fail + 48, "host", 5, False)]
    jobs, sim = run(sc, "reconfigurable", [job(0, 0.0, "4x4x8", 5.0)], trace)
    j = jobs[0]
    assert sim.pod_manager.swaps == 1 and j.xconnects == 96 + 64
    saved = float(int(t_fail - (setup + 96 * per / 3600)))  # whole hours of work checkpointed (1 h interval)
    swap_setup = setup + 64 * per / 3600  # detection (6 min) first, then the swap's own setup
    assert j.finish == pytest.approx(t_fail + 6 / 60 + swap_setup + (5.0 - saved))
