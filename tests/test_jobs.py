"""Jobs, the scheduler and the Pod Manager: exact small cases, invariants, and queueing theory."""

import copy
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tpusim import build_model, run_scenario, scenario_from_dict
from tpusim.engine.replication import job_simulation, simulate
from tpusim.scheduler.job import DONE
from tpusim.scheduler.scheduler import Scheduler
from tpusim.core.stats import UNBOUNDED, estimate
from tpusim.topology.shapes import SliceShape
from tpusim.scheduler.workload import BANDS, JobSpec

# free, instantly durable checkpoints: these timelines are about failures (checkpoint cost: test_checkpoint.py)
FREE_CHECKPOINTS = {"interval_hours": 1.0, "write_minutes": 0, "snapshot_minutes": 0}

OFF = {"daily_rate": 0, "repair": {"mean_hours": 1}}


def scenario(**over):
    data = copy.deepcopy({
        "name": "jobs", "seed": 1, "replications": 1, "horizon_days": 10,
        "slices": ["4x4x4"], "policies": ["static", "reconfigurable"],
        "topology": {"cube_grid": [3, 1, 1]},
        # OCS failures darken their circuits unless a test says otherwise (DESIGN §2)
        "failures": {"host": OFF, "ici_link": OFF, "ocs": OFF, "detection_minutes": 6, "ocs_control_plane_share": 0.0},
        "workload": {"restart_minutes": 12, "checkpoint": FREE_CHECKPOINTS},
        "pod_manager": {"reconfigure_minutes": 3},
        "scheduler": {"defrag_wait_hours": None},
    })
    for key, value in over.items():
        node = data
        *path, last = key.split(".")
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return scenario_from_dict(data)


def job(i, t, shape, work, band="batch"):
    return JobSpec(i, t, SliceShape.parse(shape), work, BANDS.index(band))


def run(sc, policy, specs, trace=()):
    sim = job_simulation(build_model(sc), policy, sorted(trace), specs)
    sim.run()
    return {j.id: j for j in sim.jobs}, sim


# -- exact small cases -------------------------------------------------------------------------

def test_no_failure_timeline_is_setup_plus_work():
    sc = scenario()
    jobs, sim = run(sc, "reconfigurable", [job(0, 1.0, "4x4x8", 5.0)])
    j = jobs[0]
    assert j.first_start == 1.0
    assert j.finish == pytest.approx(1.0 + 3 / 60 + 12 / 60 + 5.0)  # reconfigure + restart + work
    assert j.xconnects == 96 and j.held == pytest.approx(128 * (j.finish - 1.0))
    jobs, _ = run(sc, "static", [job(0, 1.0, "4x4x8", 5.0)])
    assert jobs[0].finish == pytest.approx(1.0 + 12 / 60 + 5.0) and jobs[0].xconnects == 0  # cables


def test_failure_with_a_free_spare_costs_detection_reconfiguration_restart_and_lost_work():
    sc = scenario()
    setup = 3 / 60 + 12 / 60
    t_fail = 2.7  # 2.7 - setup = 2.45 h of useful work done; last checkpoint at 2.0 h
    hosts = build_model(sc).machine.cube.hosts
    trace = [(t_fail, "host", 0 * hosts + 5, True), (t_fail + 48, "host", 0 * hosts + 5, False)]
    jobs, sim = run(sc, "reconfigurable", [job(0, 0.0, "4x4x8", 5.0)], trace)
    j = jobs[0]
    lost_work = (t_fail - setup) - 2.0
    detection = 6 / 60
    assert j.interruptions == 1 and sim.pod_manager.swaps == 1
    assert j.finish == pytest.approx(setup + 5.0 + detection + 3 / 60 + 12 / 60 + lost_work)
    # the swap reprograms only the xconnects touching the swapped cube (1x1x2 slice: x and y
    # rings of that cube close on itself, its z ring is shared with the other cube)
    assert j.xconnects == 96 + 16 + 16 + 32
    assert j.lost == pytest.approx(128 * (lost_work + detection + 3 / 60 + 12 / 60))
    assert j.alloc is None and j.state == DONE


@pytest.mark.parametrize("wrap", [False, True])
def test_static_requeues_until_a_whole_box_is_healthy(wrap):
    sc = scenario(**{"topology.static_wrap": wrap})
    hosts = build_model(sc).machine.cube.hosts
    trace = [(2.0, "host", 1 * hosts, True), (10.0, "host", 1 * hosts, False)]
    jobs, sim = run(sc, "static", [job(0, 0.0, "4x4x8", 5.0)], trace)
    j = jobs[0]
    assert j.interruptions == 1
    saved = math.floor(2.0 - 12 / 60)  # the last checkpoint before the failure
    if not wrap:
        # 4x4x8 on a 3x1x1 mesh of cubes: boxes {0,1} and {1,2} both need cube 1: requeued until
        # the repair at 10 h
        assert j.finish == pytest.approx(10.0 + 12 / 60 + 5.0 - saved)
    else:
        # on a ring of 3 cubes the box {2,0} straddles the wraparound cable: restart there at
        # detection (6 min)
        assert j.finish == pytest.approx(2.0 + 6 / 60 + 12 / 60 + 5.0 - saved)


def test_static_jobs_see_only_the_cables_their_box_uses():
    """DESIGN §1: a static cable is one part joining two cubes; a slice uses the cables between
    its cubes and no others. On a ring of 3 cubes a 2-cube job sits on cubes {0, 1}: it uses the
    cable from cube 0's +x port to cube 1's -x port, whose failures are those of the +x end."""
    sc = scenario()
    machine = build_model(sc).machine
    cube = machine.cube
    port = lambda c, sign: c * cube.links + cube.electrical_count + cube.port_index(0, sign, 0)  # noqa: E731
    saved = math.floor(2.0 - 12 / 60)
    cases = {
        "its cable": (port(0, +1), 2.0 + 6 / 60 + 12 / 60 + 5.0 - saved),  # restarted on another box at detection
        "a cable it does not use (1 -> 2)": (port(1, +1), 12 / 60 + 5.0),
        "the -x end of its cable (no static part)": (port(1, -1), 12 / 60 + 5.0),
        "the wraparound cable 2 -> 0": (port(2, +1), 12 / 60 + 5.0),
    }
    for what, (unit, finish) in cases.items():
        trace = [(2.0, "ici_link", unit, True), (10.0, "ici_link", unit, False)]
        jobs, sim = run(sc, "static", [job(0, 0.0, "4x4x8", 5.0)], trace)
        assert jobs[0].alloc is None and jobs[0].finish == pytest.approx(finish), what
        assert jobs[0].interruptions == (what == "its cable"), what
        assert sim.pod_manager.preflight_failures == 0, what
    # the reconfigurable pod's fibres: the -x port of cube 1 is one its slice uses
    jobs, _ = run(sc, "reconfigurable", [job(0, 0.0, "4x4x8", 5.0)],
                  [(2.0, "ici_link", port(1, -1), True), (10.0, "ici_link", port(1, -1), False)])
    assert jobs[0].interruptions == 1
    # a known-down cable keeps new static slices off the boxes that would use it
    jobs, sim = run(sc, "static", [job(0, 1.0, "4x4x8", 5.0)],
                    [(0.0, "ici_link", port(0, +1), True), (50.0, "ici_link", port(0, +1), False)])
    assert jobs[0].interruptions == 0 and jobs[0].finish == pytest.approx(1.0 + 12 / 60 + 5.0)
    assert sim.pod_manager.preflight_failures == 0  # placed straight on a box with working cables


def test_ocs_control_plane_failure_freezes_wiring_but_keeps_slices_running():
    """DESIGN §2: share 1 = every OCS failure is a control-plane one. A running slice keeps its
    lit circuits; a new slice cannot be wired until the repair. Share 0: the circuits go dark and
    the running slice stops until the repair (every OCS of the pod carries it)."""
    trace = [(2.0, "ocs", 3, True), (20.0, "ocs", 3, False)]
    specs = [job(0, 0.0, "4x4x8", 5.0), job(1, 3.0, "4x4x4", 1.0)]
    jobs, sim = run(scenario(**{"failures.ocs_control_plane_share": 1.0}), "reconfigurable", specs, trace)
    assert jobs[0].interruptions == 0 and jobs[0].finish == pytest.approx(3 / 60 + 12 / 60 + 5.0)
    assert jobs[1].first_start == pytest.approx(20.0)  # waits for the repair to be wired
    jobs, sim = run(scenario(**{"failures.ocs_control_plane_share": 0.0}), "reconfigurable", specs, trace)
    assert jobs[0].interruptions == 1 and jobs[0].finish > 20.0
    assert jobs[1].first_start == pytest.approx(20.0)


def test_detection_delay_per_class_and_drawn():
    sc = scenario(**{"failures.ocs.detection_minutes": 30})
    trace = [(2.7, "ocs", 3, True), (50.0, "ocs", 3, False)]
    jobs, sim = run(sc, "reconfigurable", [job(0, 0.0, "4x4x8", 5.0)], trace)
    assert sim.detections == 1 and sim.detection_hours == pytest.approx(0.5)
    # the job stalls from the failure to its detection (30 min for an OCS); after the repair it
    # restarts on the same cubes, whose circuits are still set: the restart alone, no reconfiguration
    assert jobs[0].lost == pytest.approx(128 * ((2.7 - 0.25 - 2.0) + 0.5 + 0.2))
    assert jobs[0].xconnects == 96 and sim.pod_manager.xconnects_by["restart"] == 0
    drawn = scenario(**{"failures.detection_dist": "exponential"})
    from tpusim.failures.detection import detection_delays

    trace = [(float(i), "host", i, True) for i in range(1, 2001)]
    delays = detection_delays(build_model(drawn).failures, trace, drawn.seed, 0)
    assert delays == detection_delays(build_model(drawn).failures, trace, drawn.seed, 0)  # reproducible from the seed
    mean = sum(delays) / len(delays)
    assert abs(mean - 0.1) < 3 * 0.1 / len(delays) ** 0.5  # exponential, mean 6 min: within 3 sigma


def test_failure_before_start_is_caught_by_preflight():
    sc = scenario(**{"failures.detection_minutes": 600})
    hosts = build_model(sc).machine.cube.hosts
    trace = [(0.5, "host", 0 * hosts, True), (100.0, "host", 0 * hosts, False)]
    jobs, sim = run(sc, "reconfigurable", [job(0, 1.0, "4x4x4", 1.0)], trace)
    assert sim.pod_manager.preflight_failures == 1
    assert jobs[0].first_start == 1.0 and jobs[0].interruptions == 0
    assert 0 not in jobs[0].alloc.cubes if jobs[0].alloc else True


def test_preemption_respects_bands():
    sc = scenario(**{"topology.cube_grid": [2, 1, 1]})
    # production never preempts production
    jobs, sim = run(sc, "reconfigurable", [job(0, 0.0, "4x4x8", 5.0, "production"),
                                           job(1, 1.0, "4x4x4", 1.0, "production")])
    assert jobs[0].preempted == 0 and jobs[1].first_start == pytest.approx(jobs[0].finish)
    # batch preempts best-effort, which comes back afterwards
    jobs, sim = run(sc, "reconfigurable", [job(0, 0.0, "4x4x8", 5.0, "best_effort"),
                                           job(1, 1.0, "4x4x4", 1.0, "batch")])
    assert jobs[0].preempted == 1 and jobs[1].first_start == 1.0
    assert jobs[0].state == DONE and jobs[0].finish > jobs[1].finish
    # with a notice the victim checkpoints: it loses nothing but its restart
    assert jobs[0].finish == pytest.approx(jobs[1].finish + 3 / 60 + 12 / 60 + (5.0 - (1.0 - 15 / 60)))
    # batch never preempts batch; best-effort never preempts
    for victim, preemptor in (("batch", "batch"), ("batch", "best_effort"), ("best_effort", "best_effort")):
        jobs, _ = run(sc, "static", [job(0, 0.0, "4x4x8", 5.0, victim), job(1, 1.0, "4x4x4", 1.0, preemptor)])
        assert jobs[0].preempted == 0, (victim, preemptor)


def test_preemption_picks_lowest_priority_then_fewest_victims():
    sc = scenario(**{"topology.cube_grid": [4, 1, 1]})
    specs = [job(0, 0.0, "4x4x4", 9.0, "batch"), job(1, 0.0, "4x4x4", 9.0, "best_effort"),
             job(2, 0.0, "4x4x8", 9.0, "best_effort"), job(3, 1.0, "4x4x8", 1.0, "production")]
    jobs, sim = run(sc, "reconfigurable", specs)
    assert [jobs[i].preempted for i in range(3)] == [0, 0, 1]  # one best-effort job, not two


def test_killed_victims_lose_work_since_their_checkpoint():
    sc = scenario(**{"topology.cube_grid": [2, 1, 1], "scheduler.preemption_notice": False})
    jobs, _ = run(sc, "reconfigurable", [job(0, 0.0, "4x4x8", 5.0, "best_effort"),
                                         job(1, 1.5, "4x4x4", 1.0, "production")])
    done_by_preemption = 1.5 - 15 / 60  # 1.25 h of work; checkpoint at 1.0
    assert jobs[0].finish == pytest.approx(jobs[1].finish + 15 / 60 + 5.0 - 1.0)
    assert jobs[0].lost == 0  # preemption is not a hardware loss
    assert jobs[0].held - jobs[0].useful == pytest.approx(128 * (2 * 15 / 60 + done_by_preemption - 1.0))


# -- invariants ----------------------------------------------------------------------------------

class Checker:
    """Checks the invariants after every event of a job simulation."""

    def __init__(self, sim):
        self.sim = sim
        self.detection = max(sim.replay.delays, default=0.0)  # the longest detection delay of the run
        self.failed_at = {}
        sim.true.component_listeners.append(self._true_change)
        step = sim.env.step

        def checked_step():
            step()
            self.check()

        sim.env.step = checked_step

    def _true_change(self, t, k, unit, down):
        if down:
            self.failed_at[(k, unit)] = t
        else:
            self.failed_at.pop((k, unit), None)

    def check(self):
        sim, pool, t = self.sim, self.sim.pool, self.sim.env.now
        # no chip in two running slices: holders' masks are disjoint and make up `used`
        for cube in range(len(pool.holdings.used)):
            union = 0
            for j in pool.holders(cube):
                assert not union & j.alloc.mask, "two slices share a chip"
                union |= j.alloc.mask
            assert union == pool.holdings.used[cube]
        # every running slice's circuits are set: no placement breaks a held slice's circuit
        circuits = sim.pod_manager.circuits
        for j in sim.jobs:
            if j.state == "running" and j.cubes:
                assert not circuits.changes(sim.policy.slice_circuits(j.alloc, j.cube_dims)), "a slice lost a circuit"
        # no job runs on a failed part after its detection delay
        for (k, unit), since in self.failed_at.items():
            if k == 2 and not sim.true.dark[unit]:
                continue  # a control-plane OCS failure leaves its circuits lit (DESIGN §2)
            if t > since + self.detection + 1e-9:
                for j in pool.jobs_using(k, unit):
                    # only fault-tolerant routing may run a slice over a failed link or OCS,
                    # and then only degraded and within its fault budget
                    assert sim.policy.routes_around_faults(j) and k != 0 and j.cubes and j.rate < 1.0, \
                        f"a job runs on {k, unit} failed at {since}"
                    detected = [f for f in sim.pod_manager._true_faults(j.alloc, cube_dims=j.cube_dims)
                                if self.failed_at[f] + self.detection < t - 1e-9]
                    assert len(detected) <= sim.policy.routing.max_faults
        for j in sim.jobs:  # held so far includes the current run, charged when it ends
            held = j.held + (j.chips * (t - j.seg_start) if j.state == "running" else 0.0)
            assert held >= j.useful - 1e-6
            if j.state == "running":  # storage never ahead of memory, nor either of the work done
                assert j.last_storage_checkpoint(t) <= j.last_checkpoint(t) + 1e-9 <= j.progress_at(t) + 2e-9


@st.composite
def job_scenarios(draw):
    rates = draw(st.sampled_from([0.0, 0.01, 0.05]))
    return scenario_from_dict({
        "name": "inv", "seed": draw(st.integers(0, 10**6)), "replications": 1,
        "horizon_days": draw(st.sampled_from([2.0, 5.0])),
        "slices": ["4x4x4"], "policies": ["static", "reconfigurable", "reconfigurable_ft"],
        "topology": {"cube_grid": list(draw(st.sampled_from([(2, 2, 1), (2, 2, 2), (3, 2, 1)]))),
                     "pods": draw(st.integers(1, 2))},
        "failures": {"host": {"daily_rate": rates, "repair": {"mean_hours": 10}},
                     "ici_link": {"daily_rate": rates / 10, "repair": {"mean_hours": 20}},
                     "ocs": {"daily_rate": rates, "repair": {"mean_hours": 5}},
                     "detection_minutes": draw(st.sampled_from([0, 5, 60]))},
        "workload": {"jobs_per_pod_day": draw(st.sampled_from([20, 80])),
                     "duration": {"mean_hours": draw(st.sampled_from([0.5, 3.0]))},
                     "checkpoint": {"interval_hours": draw(st.sampled_from([0.5, "young"])),
                                    "store": draw(st.sampled_from(["storage", "memory"])),
                                    "storage_every": draw(st.sampled_from([1, 3])),
                                    "storage_restore_minutes": draw(st.sampled_from([0, 4])),
                                    "memory_restore_minutes": 0.5},
                     "restart_minutes": draw(st.sampled_from([0, 5]))},
        "scheduler": {"preemption": draw(st.booleans()), "preemption_notice": draw(st.booleans()),
                      "defrag_wait_hours": draw(st.sampled_from([None, 0.5]))},
        "pod_manager": {"swap_spares": draw(st.booleans()), "spare_cubes": draw(st.sampled_from([0, 0, 1, 2])),
                        "preemptible_spares": draw(st.booleans()),
                        "ft_routing": {"max_faults": draw(st.integers(0, 4))}},
    })


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(job_scenarios())
def test_invariants_hold_on_random_scenarios(sc):
    from tpusim.scheduler.workload import generate_jobs

    model = build_model(sc)
    trace = simulate(model, 0, record_trace=True).trace
    specs = generate_jobs(model.workload, model.horizon, model.seed, 0)
    for policy in sc.policies:
        sim = job_simulation(model, policy, trace, specs)
        Checker(sim)
        outcome = sim.run()
        m = outcome.metrics
        states = [j.state for j in sim.jobs]
        # conservation: every arrived job is rejected, done, running or waiting
        assert m["jobs_arrived"] == len(states)
        assert states.count("done") + states.count("running") + states.count("pending") + states.count("rejected") == len(states)
        assert m["jobs_waiting_at_end"] == states.count("pending")
        for j in sim.jobs:
            assert j.useful <= j.held + 1e-6
        if not math.isnan(m["goodput"]):
            assert 0 <= m["goodput"] <= 1 + 1e-9 and 0 <= m["utilization"] <= 1 + 1e-9  # float rounding


def test_without_failures_nothing_is_interrupted_and_goodput_is_work_over_setup_plus_work():
    sc = scenario(**{"topology.cube_grid": [4, 4, 4], "horizon_days": 5, "scheduler.preemption": False,
                     "workload.jobs_per_pod_day": 100})
    r = simulate(build_model(sc), 0)
    for policy in sc.policies:
        assert r.value(policy, "jobs_interrupted") == 0 and r.value(policy, "lost_chip_hours") == 0
        rows = r.jobs[policy].rows
        done = rows["state"] == "done"
        assert done.sum() > 100
        # each job started once: held = chips * (setup + work)
        setup = 12 / 60 + np.where(rows["xconnects"][done] > 0, 3 / 60, 0.0)
        chips, work = rows["chips"][done], rows["work_hours"][done]
        assert rows["held_chip_hours"][done] == pytest.approx(chips * (setup + work))
        assert rows["useful_chip_hours"][done] == pytest.approx(chips * work)


# -- queueing theory ---------------------------------------------------------------------------

def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits in an M/M/c queue with offered load a = lambda/mu."""
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


@pytest.mark.slow
def test_one_cube_jobs_without_failures_form_an_mm_c_queue():
    """c = 8 cubes, exponential work of mean 1 h, load 0.8: Erlang C for the wait, and Little."""
    c, mu, rho = 8, 1.0, 0.8
    lam = rho * c * mu  # per hour
    sc = scenario(**{
        "topology.cube_grid": [2, 2, 2], "replications": 12, "horizon_days": 100,
        "policies": ["reconfigurable"], "scheduler.preemption": False,
        "workload.jobs_per_pod_day": lam * 24, "workload.mix": None, "workload.restart_minutes": 0,
        "workload.duration": {"dist": "exponential", "mean_hours": 1 / mu},
        "workload.priorities": {"production": 0, "batch": 1, "best_effort": 0},
        "pod_manager.reconfigure_minutes": 0,
    })
    sc = scenario_from_dict({**sc.model_dump(), "workload": {**sc.workload.model_dump(), "mix": _one_cube_mix()}})
    results = run_scenario(sc)
    p_wait = erlang_c(c, lam / mu)
    mean_wait = p_wait / (c * mu - lam)
    tail_t = 0.5
    p_tail = p_wait * math.exp(-(c * mu - lam) * tail_t)
    level = 1 - 0.05 / 3  # three checks, Bonferroni
    waits, tails, little = [], [], []
    for r in results.replications:
        w = r.jobs["reconfigurable"].rows["wait_hours"]
        w = w[~np.isnan(w)]  # the jobs that started
        waits.append(w.mean())
        tails.append((w > tail_t).mean())
        m = {name: r.value("reconfigurable", name) for name in
             ("mean_queue_length", "jobs_arrived", "mean_time_in_queue_hours")}
        T = sc.horizon_days * 24
        little.append(m["mean_queue_length"] - m["jobs_arrived"] / T * m["mean_time_in_queue_hours"])
    for name, values, truth in (("mean wait", waits, mean_wait), ("P(W > 0.5 h)", tails, p_tail)):
        est = estimate(values, level=level, bounds=UNBOUNDED)
        assert est.ci95[0] <= truth <= est.ci95[1], f"{name}: simulated {est} vs Erlang C {truth}"
    # Little's law L = lambda W holds on every sample path (the queue's own bookkeeping)
    assert max(abs(x) for x in little) < 1e-6
    # and the time-average queue length agrees with lambda * E[Wq] of the theory
    lq = estimate([r.value("reconfigurable", "mean_queue_length") for r in results.replications],
                  level=level, bounds=UNBOUNDED)
    assert lq.ci95[0] <= lam * mean_wait <= lq.ci95[1], f"Lq {lq} vs {lam * mean_wait}"


def _one_cube_mix():
    import tempfile

    fh = tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False)
    fh.write("shape,percent\n4x4x4,100\n")
    fh.close()
    return fh.name


def test_defragmentation_never_touches_production_and_moves_are_migrations():
    """Default workload, defragmentation on: production jobs are never preempted or moved (no
    band above them exists, and defragmentation moves strictly lower bands only); the split of
    xconnects per job adds up to the total. With preemption on, whatever defragmentation could
    clear (strictly lower bands) preemption clears first, so moves happen with preemption off."""
    from conftest import SCENARIOS
    from tpusim import load_scenario

    for preemption in (True, False):
        sc = load_scenario(SCENARIOS / "tpuv4_pod_jobs.yaml", ["replications=1", "horizon_days=20",
                                                               "policies=[static, reconfigurable]",
                                                               f"scheduler.preemption={str(preemption).lower()}"])
        results = run_scenario(sc)
        jobs = results.jobs_frame()
        production = jobs[jobs.band == "production"]
        assert len(production) > 200
        assert production.preemptions.sum() == 0 and production.migrations.sum() == 0
    assert results.job_metric("static", "migrations").mean > 0  # defragmentation at work
    assert results.job_metric("static", "preemptions").mean == 0  # and no mover was preempted
    for policy in sc.policies:
        total = results.job_metric(policy, "xconnects_per_job").mean
        parts = sum(results.job_metric(policy, f"xconnects_per_job_{k}").mean
                    for k in ("first", "swap", "migration", "restart"))
        assert parts == pytest.approx(total)


def test_bursty_arrivals_are_a_gamma_mixed_poisson_process_day_to_day():
    """workload.daily_rate_cv = c: each day's count is Poisson with a gamma(mean 1, cv c) factor on
    the mean m, so E = m and Var = m + (c m)^2 (negative binomial). 4000 days, fixed seed; the
    sample variance's relative standard error is about sqrt((kurtosis - 1) / n) = sqrt(8 / 4000)
    = 0.045 for c = 1, so 3 standard errors allow 0.14."""
    import numpy as np

    from tpusim.scheduler.workload import generate_jobs

    m, c, days = 20.0, 1.0, 4000  # the test scenario is one pod
    model = build_model(scenario(**{"workload.jobs_per_pod_day": m, "workload.daily_rate_cv": c}))
    jobs = generate_jobs(model.workload, 24.0 * days, 11, 0)
    counts = np.bincount([int(j.arrival // 24) for j in jobs], minlength=days)
    assert abs(counts.mean() - m) < 3 * (counts.var() / days) ** 0.5
    assert abs(counts.var() / (m + (c * m) ** 2) - 1) < 0.14
    poisson = generate_jobs(build_model(scenario(**{"workload.jobs_per_pod_day": m})).workload, 24.0 * days, 11, 0)
    flat = np.bincount([int(j.arrival // 24) for j in poisson], minlength=days)
    assert abs(flat.var() / m - 1) < 0.14  # c = 0: Poisson, index of dispersion 1


# -- the scheduler's memos skip only searches that would fail -----------------------------------

class OracleScheduler(Scheduler):
    """The scheduler with every skipped search re-run by the straightforward search: a memo
    (shape infeasible since the pool's epoch, no victims since its stamp, fruitless
    defragmentation, pods that offered nothing since they last changed) may only skip a search
    whose result would have been "nothing"."""

    skipped = 0

    def _place(self, job, t):
        pool = self.pool
        if self._infeasible.get(self.infeasible_key(job)) == (pool.stamps.whole_epoch if job.cubes else pool.stamps.epoch):
            assert pool.find(job) is None, "a memo skipped a placement that fits"
            OracleScheduler.skipped += 1
        placed = super()._place(job, t)
        if (placed is None and self.preemption and self.defrag_wait is not None and job.cubes
                and t - job.arrival >= self.defrag_wait):  # defragmentation skipped: it could not act
            choice = self._search(job, job.band + 1, smaller_than=job.chips)
            assert choice is None or self._plan_moves(*choice) is None, "skipped a defragmentation that moves"
            OracleScheduler.skipped += 1
        return placed

    def _preempt_for(self, job, t):
        if self._no_victims.get((job.band, job.spec.shape.dims)) == self.pool.stamps.movable_since(job.band):
            assert self._search(job, job.band + 1) is None, "a memo skipped a preemption"
            OracleScheduler.skipped += 1
        return super()._preempt_for(job, t)

    def _choose(self, job, min_band, smaller_than=None):
        """The per-pod memo, and the offers a pod made while it has not changed since, give what
        the search over every pod, asking the policy afresh in each, gives."""
        found = super()._choose(job, min_band, smaller_than)
        self.reuse_offers = False
        try:
            straight = self._search(job, min_band, smaller_than)
        finally:
            del self.reuse_offers  # back to the class's setting
        assert (found is None) == (straight is None), "the per-pod memo skipped a pod with a place"
        if found is not None:
            assert found[0] == straight[0] and [v.id for v in found[1]] == [v.id for v in straight[1]]
            OracleScheduler.skipped += 1
        return found

    def _defrag_for(self, job, t):
        last = self._no_defrag.get((job.band, job.spec.shape.dims))
        if last is not None and last[0] == self.pool.stamps.movable_since():
            choice = self._search(job, job.band + 1, smaller_than=job.chips)
            assert choice is None or self._plan_moves(*choice) is None, "a memo skipped a defragmentation"
            OracleScheduler.skipped += 1
        return super()._defrag_for(job, t)


def _run_with_oracle(sc):
    from tpusim.scheduler.workload import generate_jobs

    model = build_model(sc)
    trace = simulate(model, 0, record_trace=True).trace
    specs = generate_jobs(model.workload, model.horizon, model.seed, 0)
    for policy in sc.policies:
        sim = job_simulation(model, policy, trace, specs, scheduler_class=OracleScheduler)
        assert type(sim.scheduler) is OracleScheduler
        sim.run()


@pytest.mark.slow
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(job_scenarios())
def test_memoised_searches_agree_with_the_straightforward_search(sc):
    _run_with_oracle(sc)


@pytest.mark.parametrize("spares, pods", [({}, 1), pytest.param({}, 3, marks=pytest.mark.slow), ({"spare_cubes": 2, "preemptible_spares": True}, 1),
                                          ({"spare_cubes": 1, "preemptible_spares": False}, 1)])
def test_the_oracle_is_exercised_on_a_busy_pod(spares, pods):
    sc = scenario_from_dict({
        "name": "busy", "seed": 3, "replications": 1, "horizon_days": 4, "slices": ["4x4x4"],
        "policies": ["static", "reconfigurable", "reconfigurable_ft"],
        "topology": {"cube_grid": [2, 2, 2], "pods": pods},
        "failures": {"host": {"daily_rate": 0.05, "repair": {"mean_hours": 10}}},
        "workload": {"jobs_per_pod_day": 150, "duration": {"mean_hours": 2.0}},
        "scheduler": {"defrag_wait_hours": 0.5},
        "pod_manager": spares,
    })
    OracleScheduler.skipped = 0
    _run_with_oracle(sc)
    assert OracleScheduler.skipped > 100  # the memos did skip searches, and each one was checked
