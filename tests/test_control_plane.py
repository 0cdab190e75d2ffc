"""Unit tests of the control plane, one module at a time, with explicit collaborators:
the health state, the pool, the scheduler (with a fake Pod Manager) and the Pod Manager
(with fake callbacks). The end-to-end job tests are in test_jobs.py."""

from __future__ import annotations

import pytest
import simpy

from tpusim.scheduler.checkpoint import Checkpointing
from tpusim.failures.health import HOST, ICI_LINK, OCS, HealthState
from tpusim.policies import registry
from tpusim.policies.base import RoutingParams
from tpusim.scheduler.blocks import block_level
from tpusim.scheduler.job import PENDING, RUNNING, Job
from tpusim.scheduler.pod_manager import PodManager, PodManagerParams
from tpusim.scheduler.pool import CubePool
from tpusim.scheduler.scheduler import Scheduler, SchedulerParams
from tpusim.scheduler.workload import BANDS, JobSpec
from tpusim.topology.allocation import Allocation
from tpusim.topology.cube import CubeLayout
from tpusim.topology.machine import MachineLayout
from tpusim.topology.shapes import SliceShape

FREE_WRITES = Checkpointing("fixed", 1.0, 0.0, 0.0)  # instantly durable, no stall

MACHINE = MachineLayout(CubeLayout((4, 4, 4), 4), (2, 2, 1), 1)  # one pod of 4 cubes
CUBE = MACHINE.cube


def policy(name: str, max_faults: int = 4):
    return registry.get(name)(MACHINE, RoutingParams(max_faults))


def job(i: int, shape: str, band: str = "batch", arrival: float = 0.0, work: float = 1.0) -> Job:
    s = SliceShape.parse(shape)
    if s.chips < CUBE.chips:
        return Job(JobSpec(i, arrival, s, work, BANDS.index(band)), 0, None, block_level(CUBE.shape, s.dims), 1.0, FREE_WRITES)
    return Job(JobSpec(i, arrival, s, work, BANDS.index(band)), s.cubes(CUBE.shape), s.cube_dims(CUBE.shape), None, 1.0, FREE_WRITES)


# -- health state ------------------------------------------------------------------------------

def test_health_state_tells_listeners_only_real_transitions_and_integrates_downtime():
    health = HealthState(MACHINE)
    cube_events, ocs_events = [], []
    health.cube_listeners.append(lambda t, pod, cube, usable: cube_events.append((t, cube, usable)))
    health.ocs_listeners.append(lambda t, pod, up: ocs_events.append((t, up)))
    host = 1 * CUBE.hosts + 3  # a host of cube 1
    link = 1 * CUBE.links + 0  # an electrical link of cube 1
    assert health.set_down(HOST, host, 1.0)
    assert not health.set_down(HOST, host, 1.5)  # already down: no change, no news
    health.set_down(ICI_LINK, link, 2.0)  # cube 1 stays unusable: no news
    health.set_up(HOST, host, 3.0)
    health.set_up(ICI_LINK, link, 4.0)
    assert cube_events == [(1.0, 1, False), (4.0, 1, True)]
    health.set_down(OCS, 5, 5.0)
    health.set_down(OCS, 6, 5.5)
    health.set_up(OCS, 5, 6.0)
    health.set_up(OCS, 6, 7.0)
    assert ocs_events == [(5.0, False), (7.0, True)]
    # one host of 4 * 16 down for 2 h of 10 h
    assert health.component_availability(10.0)[HOST] == pytest.approx(1 - 2.0 / (4 * 16 * 10.0))
    assert health.cube_faults == [0] * 4 and health.ocs_down == [0]


# -- pool --------------------------------------------------------------------------------------

def test_pool_holdings_keep_free_partial_and_band_bits_consistent():
    known = HealthState(MACHINE)
    pool = CubePool(MACHINE, policy("reconfigurable"), known)
    big, small = job(0, "4x4x8", "production"), job(1, "2x2x1", "best_effort")
    a = pool.find(big)
    assert a == Allocation(0, [0, 1], CUBE.full_mask)
    pool.take(big, a)
    big.alloc = a
    b = pool.find(small)
    pool.take(small, b)
    small.alloc = b
    assert b.cubes == [2] and pool.holdings.free[0] == {3} and pool.holdings.partial == {2}
    assert pool.held_bits(0) == 0b0111 and pool.holdings.band_bits[0] == [0b0011, 0, 0b0100]
    assert [j.id for j in pool.holders(2)] == [1]
    # a second sub-cube job packs into the partly used cube, not a free one
    c = pool.find(job(2, "2x2x1"))
    assert c.cubes == [2] and not c.mask & b.mask
    pool.give_back(big, a)
    assert pool.holdings.free[0] == {0, 1, 3} and pool.holdings.band_bits[0][0] == 0


def test_pool_usability_follows_the_policy_rule():
    for name, usable_with_link_down in (("reconfigurable", False), ("reconfigurable_ft", True)):
        known = HealthState(MACHINE)
        pool = CubePool(MACHINE, policy(name), known)
        known.set_down(ICI_LINK, 2 * CUBE.links + 7, 1.0)
        assert pool.health.cube_usable(2) is usable_with_link_down
        assert pool.link_faults(2) == 1
        known.set_down(HOST, 2 * CUBE.hosts, 1.0)
        assert not pool.health.cube_usable(2)
    known = HealthState(MACHINE)
    pool = CubePool(MACHINE, policy("reconfigurable"), known)
    known.set_down(OCS, 0, 1.0)
    assert not pool.health.pod_usable(0) and pool.find(job(0, "4x4x4")) is None
    assert CubePool(MACHINE, policy("static"), known).health.pod_usable(0)  # no OCS in a static pod


def test_pool_jobs_using_a_part_follow_the_true_topology():
    pool = CubePool(MACHINE, policy("reconfigurable"), HealthState(MACHINE))
    whole, sub = job(0, "4x4x4"), job(1, "2x2x1")
    for j in (whole, sub):
        j.alloc = pool.find(j)
        pool.take(j, j.alloc)
    assert whole.alloc.cubes != sub.alloc.cubes
    assert pool.jobs_using(OCS, 3) == [whole]  # an OCS carries whole-cube slices only
    port_link = whole.alloc.cubes[0] * CUBE.links + CUBE.electrical_count  # an optical port
    assert pool.jobs_using(ICI_LINK, port_link) == [whole]
    sub_cube = sub.alloc.cubes[0]
    assert sub.alloc.mask & CUBE.host_masks[0] and not sub.alloc.mask & CUBE.host_masks[-1]
    assert pool.jobs_using(HOST, sub_cube * CUBE.hosts) == [sub]  # a host under the block
    assert pool.jobs_using(HOST, sub_cube * CUBE.hosts + CUBE.hosts - 1) == []  # one beside it


# -- scheduler with a fake Pod Manager ---------------------------------------------------------

class FakeStarter:
    """Starts every job it is asked to (taking its allocation), records every call."""

    def __init__(self, pool: CubePool):
        self.pool = pool
        self.calls: list[tuple] = []

    def start(self, job, alloc, t, migration=False):
        self.calls.append(("migrate" if migration else "start", job.id, tuple(alloc.cubes), t))
        self.pool.take(job, alloc)
        job.alloc, job.state = alloc, RUNNING
        return True

    def stop(self, job, t, planned):
        self.calls.append(("stop", job.id, planned, t))
        self.pool.give_back(job, job.alloc)
        job.alloc, job.state = None, PENDING


def scheduler_with(policy_name: str = "reconfigurable", **params):
    pool = CubePool(MACHINE, policy(policy_name), HealthState(MACHINE))
    passes = []
    s = Scheduler(SchedulerParams(defrag_wait=None, **params), pool, pool.policy, FakeStarter(pool),
                  lambda: passes.append(1))
    return s, pool, passes


def test_scheduler_places_by_band_then_arrival_and_skips_what_does_not_fit():
    s, pool, passes = scheduler_with(preemption=False)
    jobs = [job(0, "4x4x8", "best_effort", 0.0), job(1, "4x4x8", "batch", 1.0),
            job(2, "8x8x4", "production", 2.0), job(3, "4x4x4", "batch", 3.0)]
    for j in jobs:
        s.enqueue(j, j.arrival)
    assert len(passes) == 4 and s.length == 4  # every enqueue asks for a pass
    s.run_pass(3.0)
    started = [c[1] for c in s.starter.calls]
    assert started == [2]  # production first; then nothing else fits the full pod
    assert s.length == 3


def test_scheduler_preempts_strictly_lower_bands_lowest_first():
    s, pool, _ = scheduler_with()
    low, mid = job(0, "4x4x4", "best_effort"), job(1, "4x4x4", "batch")
    fill = job(2, "4x4x8", "production")
    for j in (low, mid, fill):
        s.enqueue(j, 0.0)
    s.run_pass(0.0)
    assert {c[1] for c in s.starter.calls if c[0] == "start"} == {0, 1, 2}
    s.enqueue(job(3, "4x4x4", "production", 1.0), 1.0)
    s.run_pass(1.0)
    stops = [c for c in s.starter.calls if c[0] == "stop"]
    assert [c[1] for c in stops] == [0] and stops[0][2] is True  # the best-effort job, with notice
    assert s.preemptions == 1 and low.preempted == 1 and low.state == PENDING
    # production never preempts production: a second production job waits
    s.enqueue(job(4, "4x4x8", "production", 2.0), 2.0)
    s.run_pass(2.0)
    assert not [c for c in s.starter.calls if c[0] == "stop" and c[1] in (2, 3)]


# -- Pod Manager with fake callbacks -----------------------------------------------------------

def pod_manager_with(policy_name: str):
    env = simpy.Environment()
    true, known = HealthState(MACHINE), HealthState(MACHINE)
    pool = CubePool(MACHINE, policy(policy_name), known)
    log = {"requeued": [], "detected": [], "passes": 0}

    def request_pass():
        log["passes"] += 1

    pm = PodManager(PodManagerParams(reconfigure=0.05, swap_spares=True), pool.policy, pool, true, env, 0.2,
                    requeue=lambda j, t: log["requeued"].append((j.id, t)),
                    detect=lambda k, u, t: (log["detected"].append((k, u, t)), known.set_down(k, u, t)),
                    request_pass=request_pass)
    return pm, pool, true, known, env, log


@pytest.mark.parametrize("name, xconnects, setup", [("reconfigurable", 96, 0.25), ("static", 0, 0.2)])
def test_pod_manager_start_programs_the_policy_xconnects_and_completes(name, xconnects, setup):
    pm, pool, _, _, env, log = pod_manager_with(name)
    j = job(0, "4x4x8", work=2.0)
    assert pm.start(j, pool.find(j), 0.0)
    assert j.xconnects == xconnects and pm.xconnects == xconnects and j.compute_start == pytest.approx(setup)
    env.run()
    assert j.state == "done" and j.finish == pytest.approx(setup + 2.0) and log["passes"] == 1


def test_pod_manager_preflight_detects_true_faults_and_refuses():
    pm, pool, true, known, _, log = pod_manager_with("reconfigurable")
    j = job(0, "4x4x4")
    alloc = pool.find(j)
    unit = alloc.cubes[0] * CUBE.hosts + 2
    true.set_down(HOST, unit, 0.0)  # not known yet
    assert not pm.start(j, alloc, 0.5)
    assert log["detected"] == [(HOST, unit, 0.5)] and pm.preflight_failures == 1
    assert known.down[HOST][unit] and pool.holdings.used == [0] * MACHINE.cubes  # nothing held


def test_pod_manager_recovery_swaps_a_spare_or_requeues():
    pm, pool, true, known, env, log = pod_manager_with("reconfigurable")
    j = job(0, "4x4x8", work=5.0)
    pm.start(j, pool.find(j), 0.0)
    broken = j.alloc.cubes[1]
    unit = broken * CUBE.hosts
    true.set_down(HOST, unit, 1.0)
    known.set_down(HOST, unit, 1.0)
    j.settle_rate(1.0)
    j.stalled_at = 1.0
    pm.recover(j, 1.1)
    assert pm.swaps == 1 and broken not in j.alloc.cubes and j.interruptions == 1
    assert j.xconnects == 96 + 64  # the swapped cube's rings: x, y and both z connections
    # with no spare left (every other cube held or broken) the job goes back to the queue
    pm2, pool2, true2, known2, _, log2 = pod_manager_with("reconfigurable")
    big = job(1, "8x8x4", work=5.0)
    pm2.start(big, pool2.find(big), 0.0)
    unit2 = big.alloc.cubes[0] * CUBE.hosts
    true2.set_down(HOST, unit2, 1.0)
    known2.set_down(HOST, unit2, 1.0)
    big.settle_rate(1.0)
    big.stalled_at = 1.0
    pm2.recover(big, 1.1)
    assert log2["requeued"] == [(1, 1.1)] and big.alloc is None and pm2.swaps == 0


# -- defragmentation -------------------------------------------------------------------------

def _fill(s, pool, specs):
    """Run job ``i`` (``shape``, ``band``) on cube ``i`` from t = 0 (one job per cube)."""
    jobs = []
    for i, shape, band in specs:
        j = job(i, shape, band)
        mask = pool.fit.blocks[j.level][0] if not j.cubes else CUBE.full_mask
        s.starter.start(j, Allocation(0, [i], mask), 0.0)
        jobs.append(j)
    s.starter.calls.clear()
    return jobs


def test_defragmentation_migrates_strictly_lower_bands_to_a_planned_place():
    s, pool, _ = scheduler_with(preemption=False)
    s.defrag_wait = 1.0
    small = _fill(s, pool, [(0, "2x2x1", "best_effort"), (1, "2x2x1", "best_effort"), (2, "2x2x1", "best_effort")])
    assert [len(pool.holders(c)) for c in range(4)] == [1, 1, 1, 0]  # one small job per cube, one free
    waiting = job(3, "4x4x8", "batch", arrival=0.0)
    s.enqueue(waiting, 0.0)
    s.run_pass(0.5)  # not waited long enough: no defragmentation yet
    assert waiting.state == PENDING
    s.run_pass(2.0)
    kinds = [c[0] for c in s.starter.calls]
    assert kinds == ["stop", "migrate", "start"], s.starter.calls
    moved = next(j for j in small if j.migrated)
    assert moved.preempted == 0 and s.migrations == 1 and s.preemptions == 0
    assert waiting.state == RUNNING and not set(waiting.alloc.cubes) & set(moved.alloc.cubes)


def test_defragmentation_never_moves_the_requesters_own_band():
    s, pool, _ = scheduler_with(preemption=False)
    s.defrag_wait = 1.0
    _fill(s, pool, [(0, "2x2x1", "batch"), (1, "2x2x1", "batch"), (2, "2x2x1", "batch")])
    waiting = job(3, "4x4x8", "batch", arrival=0.0)
    s.enqueue(waiting, 0.0)
    s.run_pass(2.0)
    assert waiting.state == PENDING and not [c for c in s.starter.calls if c[0] == "stop"]
    assert s.migrations == 0 and s.preemptions == 0


def test_movers_that_cannot_be_re_placed_stay_where_they_are():
    s, pool, _ = scheduler_with(preemption=False)
    s.defrag_wait = 1.0
    held = _fill(s, pool, [(0, "4x4x4", "best_effort"), (1, "4x4x4", "best_effort"), (2, "4x4x4", "batch")])
    counters = (pool.stamps.epoch, pool.stamps.version, list(pool.stamps.taken_by_band))
    holdings = [[j.id for j in pool.holders(c)] for c in range(4)]
    waiting = job(3, "4x4x8", "production", arrival=0.0)
    s.enqueue(waiting, 0.0)
    s.run_pass(2.0)
    # a best-effort cube could make room, but its job has nowhere else to go: nobody moves
    assert waiting.state == PENDING and all(j.state == RUNNING for j in held)
    assert not [c for c in s.starter.calls if c[0] in ("stop", "migrate")]
    assert [[j.id for j in pool.holders(c)] for c in range(4)] == holdings == [[0], [1], [2], []]
    # the failed plan left no trace but the enqueue's own count
    assert (pool.stamps.epoch, pool.stamps.version, pool.stamps.taken_by_band) == counters
