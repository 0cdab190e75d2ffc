"""Multislice hero jobs (tpusim.scheduler.gang): exact small timelines, a renewal formula for a
gang's goodput, build errors, and slices: 1 leaving a hero as it was, bit for bit."""

import copy
import math
import statistics

import pytest

from tpusim import build_model, run_scenario, scenario_from_dict
from tpusim.core.errors import ScenarioError
from tpusim.engine.replication import job_simulation
from tpusim.scheduler.job import DONE, PENDING, RUNNING
from tpusim.scheduler.workload import JobSpec
from tpusim.topology.shapes import SliceShape

OFF = {"daily_rate": 0, "repair": {"mean_hours": 1}}
RESTART, RECONFIGURE = 12 / 60, 3 / 60  # hours
T95 = {19: 2.093}  # Student's t, 0.975 quantile, by degrees of freedom


def scenario(hero=None, cube_grid=(3, 1, 1), pods=2, **over):
    data = {
        "name": "multislice", "seed": 11, "replications": 1, "horizon_days": 2,
        "slices": ["4x4x4"], "policies": ["reconfigurable"],
        "topology": {"pods": pods, "cube_grid": list(cube_grid)},
        "failures": {"host": OFF, "ici_link": OFF, "ocs": OFF, "initial_state": "all_up"},
        "workload": {"jobs_per_pod_day": 0, "restart_minutes": 12,
                     "checkpoint": {"interval_hours": 1.0, "write_minutes": 0, "snapshot_minutes": 0},
                     "hero": [{"name": "h", "shape": "4x4x8", "slices": 2, "work_days": 0.5, **(hero or {})}]},
        "pod_manager": {"reconfigure_minutes": 3},
        "scheduler": {"defrag_wait_hours": None},
    }
    for key, value in over.items():
        data[key] = value
    return scenario_from_dict(copy.deepcopy(data))


def gang_run(sc, trace, delays, until=None):
    sim = job_simulation(build_model(sc), "reconfigurable", trace, [], delays=delays)
    if until is not None:
        sim.env.run(until=until)
        return sim
    out = sim.run()
    return sim, out


# -- exact timelines ---------------------------------------------------------------------------

def test_a_failure_in_one_pod_stalls_both_slices_which_restart_together_on_a_spare():
    # pods of 3 cubes, each slice takes 2: the third cube of pod 0 is a free spare
    trace = [(2.5, "host", 0, True), (30.0, "host", 0, False)]  # a host of cube 0 (pod 0)
    sim = gang_run(scenario(), trace, [0.5, 0.0], until=2.75)
    a, b = sim.jobs
    assert a.gang is b.gang and {a.alloc.pod, b.alloc.pod} == {0, 1}  # one slice per pod
    assert a.stalled_at == b.stalled_at == 2.5  # the slice in pod 1 stopped with it
    sim, out = gang_run(scenario(), trace, [0.5, 0.0])
    a, b = sim.jobs
    setup = RECONFIGURE + RESTART  # first start: both program their circuits
    # at 2.5 progress was 2.25, the checkpoint 2.0; detected at 3.0; the hit slice swaps a cube
    # (reconfigure + restart), the other restarts in place (restart only) and waits for it
    resume = 3.0 + RECONFIGURE + RESTART
    assert a.finish == b.finish == pytest.approx(resume + 12.0 - 2.0)
    assert sim.pod_manager.swaps == 1 and a.interruptions == b.interruptions == 1
    chips = 128
    lost = chips * (0.25 + 0.5 + (resume - 3.0))  # work since the checkpoint, the stall, the setup (and wait)
    assert a.lost == pytest.approx(lost) and b.lost == pytest.approx(lost)  # the same for both slices
    assert a.recovery_setup == b.recovery_setup == pytest.approx(chips * (resume - 3.0))
    for j in (a, b):
        assert j.state == DONE and j.useful == pytest.approx(chips * 12.0)
        assert j.setup_held == pytest.approx(chips * setup)
        assert j.held == pytest.approx(j.useful + j.lost + j.setup_held + j.ckpt_stall)
    hero = out.heroes["h"]
    span = a.finish  # (it arrived at 0 and finished before the horizon: measured up to its finish)
    assert hero["hero_goodput"] == pytest.approx(2 * chips * 12.0 / (2 * chips * span))
    assert hero["hero_interruptions_per_day"] == pytest.approx(1 / (span / 24))  # one stop of the gang
    assert hero["hero_mean_cubes"] == pytest.approx(4.0)
    assert sum(hero[k] for k in hero if k.endswith("_fraction") or k == "hero_goodput") == pytest.approx(1.0)


def test_without_a_spare_both_slices_go_back_to_the_queue_and_restart_after_the_repair():
    # pods of 2 cubes: no spare; the host is repaired at 5.0 and the gang starts again then
    trace = [(2.5, "host", 0, True), (5.0, "host", 0, False)]
    sim = gang_run(scenario(cube_grid=(2, 1, 1)), trace, [0.5, 0.0], until=4.0)
    a, b = sim.jobs
    assert a.state == b.state == PENDING and a.alloc is None and b.alloc is None  # pod 1 let go too
    assert sim.pool.holdings.free_count(1) == 2 and sim.scheduler.length == 1  # only the leader queues
    sim, out = gang_run(scenario(cube_grid=(2, 1, 1)), trace, [0.5, 0.0])
    a, b = sim.jobs
    resume = 5.0 + RESTART  # the same cubes in the same slots: no circuit to program
    assert a.finish == b.finish == pytest.approx(resume + 12.0 - 2.0)
    chips = 128
    for j in (a, b):
        assert j.lost == pytest.approx(chips * (0.25 + 0.5 + RESTART))
        assert j.interruptions == 1 and j.waited == pytest.approx(2.0)
        assert j.held == pytest.approx(chips * (2.5 + 0.5 + (a.finish - 5.0)))
    assert sim.pod_manager.swaps == 0


def test_a_gang_starts_only_in_distinct_pods_and_waits_for_them_all():
    # pod 0 could hold both slices (4 cubes), but pod 1 has one usable cube until 4.0
    down = [4 * 16, 5 * 16, 6 * 16]  # a host of each of its first three cubes
    trace = [(0.0, "host", u, True) for u in down] + [(4.0, "host", 5 * 16, False)]
    sim, _ = gang_run(scenario(cube_grid=(4, 1, 1)), trace, [0.0] * 4)
    a, b = sim.jobs
    assert a.first_start == b.first_start == 4.0
    assert a.finish == b.finish == pytest.approx(4.0 + RECONFIGURE + RESTART + 12.0)
    assert a.waited == b.waited == pytest.approx(4.0)


def test_the_slower_setup_sets_when_both_resume_and_the_wait_is_the_earlier_ones_setup():
    # a failure in pod 1 this time: the slice there swaps, the one in pod 0 waits for it
    trace = [(6.25, "host", 3 * 16 + 5, True)]
    sim, _ = gang_run(scenario(), trace, [0.25])
    a, b = sim.jobs
    assert a.compute_start == b.compute_start == pytest.approx(6.5 + RECONFIGURE + RESTART)
    # progress 6.0 at the failure (compute began at 0.25): nothing since the checkpoint is lost
    assert a.lost == b.lost == pytest.approx(128 * (0.25 + RECONFIGURE + RESTART))  # the stall, the setup
    assert {a.alloc, b.alloc} == {None} and sim.pod_manager.swaps == 1
    assert a.finish == b.finish == pytest.approx(6.5 + RECONFIGURE + RESTART + 6.0)


def test_a_gang_preempts_lower_bands_in_the_pods_free_cubes_do_not_cover():
    # pods of 2 cubes; batch jobs of one 4x4x8 slice (the whole pod) arrive at 0; the gang at 1.0
    from tpusim.scheduler.workload import BANDS, JobSpec
    from tpusim.topology.shapes import SliceShape

    def run(batch_jobs):
        specs = [JobSpec(i, 0.0, SliceShape.parse("4x4x8"), 5.0, BANDS.index("batch")) for i in range(batch_jobs)]
        sim = job_simulation(build_model(scenario({"arrival_hours": 1.0}, cube_grid=(2, 1, 1))), "reconfigurable",
                             [], specs, delays=[])
        sim.run()
        gang = [j for j in sim.jobs if j.gang is not None]
        return sim, gang, [j for j in sim.jobs if j.gang is None]

    sim, gang, batch = run(2)  # both pods full: a victim in each
    assert [j.first_start for j in gang] == [1.0, 1.0] and {j.alloc for j in gang} == {None}
    assert [j.preempted for j in batch] == [1, 1] and sim.scheduler.preemptions == 2
    # with notice the victims checkpoint at 1.0; they wait for the gang (12 h of work) to finish
    assert all(j.first_start == 0.0 and j.state == DONE and j.finish > gang[0].finish for j in batch)
    sim, gang, batch = run(1)  # one pod free: one victim only
    assert [j.first_start for j in gang] == [1.0, 1.0] and sim.scheduler.preemptions == 1
    assert batch[0].preempted == 1


# -- a renewal check ---------------------------------------------------------------------------

def renewal_scenario(slices, shape="4x4x8", reps=20):
    return scenario(
        {"shape": shape, "slices": slices, "work_days": None}, cube_grid=(2, 2, 2),
        replications=reps, horizon_days=40, seed=20260101,
        failures={"host": {"daily_rate": 0.04, "repair": {"dist": "fixed", "mean_hours": 3}},
                  "ici_link": OFF, "ocs": OFF, "initial_state": "all_up", "detection_minutes": 10})


def hero_goodputs(results):
    return [s.value for r in results.replications for s in r.samples
            if s.metric == "hero_goodput" and s.key == "h"]


def interval(values):
    n = len(values)
    half = T95[n - 1] * statistics.stdev(values) / math.sqrt(n)
    return statistics.fmean(values) - half, statistics.fmean(values) + half


def test_a_gangs_goodput_follows_the_renewal_formula_and_is_below_one_slices():
    sc = renewal_scenario(2)
    model = build_model(sc)
    hosts = model.machine.cube.hosts
    lam = 2 * 2 * hosts * 0.04 / 24  # interruptions per hour: every host of both slices' 2 cubes
    tau, d, s = 1.0, 10 / 60, RECONFIGURE + RESTART  # a swap every time: spares never run out
    # one cycle: setup s then compute, until a failure X ~ Exp(lam) from the setup's start; the
    # work of whole checkpoint intervals since compute began counts; the restart begins d later
    q = math.exp(-lam * tau)
    formula = math.exp(-lam * s) * tau * q / (1 - q) / (1 / lam + d)
    gang = hero_goodputs(run_scenario(sc))
    low, high = interval(gang)
    assert low <= formula <= high
    single = hero_goodputs(run_scenario(renewal_scenario(1)))  # one slice of half the size, same traces
    low, high = interval([x - y for x, y in zip(single, gang)])
    assert low > 0


# -- build errors and slices: 1 ----------------------------------------------------------------

def test_more_slices_than_pods_is_a_build_error_naming_the_key():
    with pytest.raises(ScenarioError, match=r"workload\.hero\[0\]\.slices"):
        build_model(scenario({"slices": 3}))


def test_elastic_multislice_is_refused():
    with pytest.raises(ScenarioError, match=r"workload\.hero\[0\]\.slices.*min_cubes"):
        build_model(scenario({"shape": "4x4x8", "min_cubes": 1}))


def test_a_multislice_job_is_production():
    with pytest.raises(ScenarioError, match=r"workload\.hero\[0\]\.slices.*production"):
        build_model(scenario({"priority": "batch"}))


def busy_hero_scenario(slices_written: bool):
    heroes = [{"name": "rigid", "shape": "4x4x8", "arrival_hours": 1.0},
              {"name": "elastic", "shape": "4x4x8", "min_cubes": 1, "priority": "batch", "arrival_hours": 3.0}]
    if slices_written:
        for h in heroes:
            h["slices"] = 1
    return scenario_from_dict({
        "name": "heroes", "seed": 77, "replications": 2, "horizon_days": 4,
        "policies": ["static", "reconfigurable", "reconfigurable_ft"], "slices": ["4x4x4", "4x4x8"],
        "topology": {"pods": 2, "cube_grid": [2, 2, 2]},
        "failures": {"host": {"daily_rate": 0.02, "repair": {"dist": "lognormal", "mean_hours": 6}},
                     "ocs": {"daily_rate": 0.02, "repair": {"dist": "fixed", "mean_hours": 12}},
                     "detection_dist": "exponential"},
        "workload": {"jobs_per_pod_day": 60, "duration": {"dist": "lognormal", "mean_hours": 2.0},
                     "checkpoint": {"interval_hours": "young", "write_minutes": 3}, "hero": heroes},
        "pod_manager": {"ft_routing": {"max_faults": 3}},
    })


def test_slices_one_is_todays_hero_bit_for_bit():
    plain, written = (run_scenario(busy_hero_scenario(w)) for w in (False, True))
    rows = [[(s.policy, s.metric, s.key, s.value) for r in res.replications for s in r.samples]
            for res in (plain, written)]
    assert rows[0] == rows[1]
    assert any(m.startswith("hero_") for _, m, _, _ in rows[0])


# -- every control-plane path keeps a gang's slices on one timeline ------------------------------

GOLDEN = __import__("pathlib").Path(__file__).parent / "golden"
GANG = {"name": "gang", "shape": "4x4x8", "slices": 2, "arrival_hours": 2.0}
ALL = ["static", "static_ft", "reconfigurable", "reconfigurable_ft"]


@pytest.mark.parametrize("name, overrides, path", [
    (GOLDEN / "tiny_jobs.yaml", {"policies": ALL, "workload.checkpoint.mode": "synchronous"}, "recover"),
    (GOLDEN / "tiny_jobs.yaml", {"policies": ALL, "workload.checkpoint.store": "memory",
                                 "workload.checkpoint.storage_every": 3,
                                 "workload.checkpoint.storage_restore_minutes": 2,
                                 "workload.checkpoint.memory_restore_minutes": 0.2,
                                 "failures.host.daily_rate": 0.2,
                                 # one-cube slices: a rack takes a host's RAM and its replica's
                                 "workload.hero": [{**GANG, "shape": "4x4x4"}],
                                 "failures.domains": [{"name": "rack", "of": "host", "units": 16, "daily_rate": 0.1,
                                                       "repair": {"dist": "fixed", "mean_hours": 1}}]},
     "_common_checkpoint"),
    ("maintenance", {"replications": 1, "horizon_days": 40, "topology.pods": 2}, "drain"),
    ("gray_failures", {"replications": 1, "horizon_days": 5, "topology.pods": 2,
                       "failures.host.gray.daily_rate": 0.01}, "crash"),
])
def test_a_gangs_slices_keep_one_timeline_and_its_figures_add_up(monkeypatch, name, overrides, path):
    """Under every policy, with preemption, defragmentation, swaps, FT reroutes, the in-memory
    store, drains and gray faults about it, a gang's slices end with equal accounting."""
    from tpusim import load_scenario
    from tpusim.scheduler import simulation
    from tpusim.scheduler.gang import Gang

    calls = []
    method = getattr(Gang, path)

    def counted(self, *args, **kwargs):
        if path != "_common_checkpoint" or len({m.from_memory for m in self.members}) == 2:
            calls.append(path)  # (the in-memory store: some slice must restore from storage, the others too)
        return method(self, *args, **kwargs)

    monkeypatch.setattr(Gang, path, counted)

    seen = []

    def checked(job, T, program_goodput, chips_per_cube):
        figures = hero_metrics(job, T, program_goodput, chips_per_cube)
        if getattr(job, "members", None):
            a, b = job.members
            assert a.state == b.state and a.progress == b.progress and a.compute_start == b.compute_start
            for field in ("held", "lost", "useful", "setup_held", "ckpt_stall", "slow_lost", "interruptions"):
                assert getattr(a, field) == pytest.approx(getattr(b, field), rel=1e-9, abs=1e-6), field
            for m in job.members:
                parts = m.useful + m.lost + m.slow_lost + m.ckpt_stall + m.setup_held + m.preempt_lost
                assert parts == pytest.approx(m.held, rel=1e-9, abs=1e-6)
            if a.alloc is not None:
                assert a.alloc.pod != b.alloc.pod
            parts = [figures[k] for k in figures if k.endswith("_fraction") or k == "hero_goodput"]
            assert sum(parts) == pytest.approx(1.0)
            seen.append(job.interruptions)
        return figures

    hero_metrics = simulation.hero_metrics
    monkeypatch.setattr(simulation, "hero_metrics", checked)
    sc = load_scenario(name).with_overrides({"workload.hero": [GANG], **overrides})
    run_scenario(sc, workers=1)
    assert seen and sum(seen) > 0 and calls  # gangs ran, were interrupted, and took the path


# -- the gang's placement memos skip only searches that would fail ------------------------------

def test_the_gang_placement_memos_skip_only_searches_that_would_find_nothing():
    from tpusim import load_scenario
    from tpusim.engine.replication import simulate
    from tpusim.scheduler.scheduler import BEST_EFFORT, Scheduler
    from tpusim.scheduler.workload import generate_jobs

    skipped = []

    class GangOracle(Scheduler):
        def _place_gang(self, job, t):
            pool, stamps = self.pool, self.pool.stamps
            key = ("gang", job.slices, *self.infeasible_key(job))
            if self._infeasible.get(key) == stamps.whole_epoch:
                assert job.gang.find(pool) is None, "a memo skipped a gang placement on free cubes"
                skipped.append("free")
                if (self.preemption and job.band < BEST_EFFORT
                        and self._no_victims.get(key) == (stamps.whole_epoch, stamps.movable_since(job.band))):
                    used = {a.pod for a in job.gang.free_places(pool)}
                    self.reuse_offers = False
                    try:
                        offers = [p for p in range(pool.pods)
                                  if p not in used and self._search(job, job.band + 1, pods=[p]) is not None]
                    finally:
                        del self.reuse_offers
                    assert len(used) + len(offers) < job.slices, "a memo skipped a gang preemption"
                    skipped.append("victims")
            return super()._place_gang(job, t)

    heroes = [{**GANG, "arrival_hours": h} for h in (0.5,)] + [
        {"name": "gang3", "shape": "4x4x4", "slices": 3, "arrival_hours": 5.0, "work_days": 1}]
    for pods, grid in ((3, [2, 2, 1]), (3, [2, 2, 2])):
        sc = load_scenario(GOLDEN / "tiny_jobs.yaml").with_overrides(
            {"policies": ALL, "topology.pods": pods, "topology.cube_grid": grid, "workload.hero": heroes,
             "workload.jobs_per_pod_day": 90, "horizon_days": 4, "slices": ["4x4x4", "4x4x8"]})
        model = build_model(sc)
        trace = simulate(model, 0, record_trace=True).trace
        specs = generate_jobs(model.workload, model.horizon, model.seed, 0)
        for policy in sc.policies:
            sim = job_simulation(model, policy, trace, specs, scheduler_class=GangOracle)
            sim.run()
    assert "free" in skipped and "victims" in skipped


def test_a_waiting_gang_does_not_block_single_slices_of_its_shape():
    # pods of 2 cubes: P holds pod 0 for 20 h; the gang (2 x 4x4x8) arrives at 0.25 h and waits;
    # O, one 4x4x8 slice arriving at 0.5 h, starts at once in pod 1 (no head-of-line reservation)
    sc = scenario(cube_grid=(2, 1, 1), hero={"arrival_hours": 0.25})
    shape = SliceShape.parse("4x4x8")
    sim = job_simulation(build_model(sc), "reconfigurable", [],
                         [JobSpec(0, 0.0, shape, 20.0, 0), JobSpec(1, 0.5, shape, 2.0, 0)])
    sim.run()
    other = next(j for j in sim.jobs if j.id == 1)
    assert other.first_start == pytest.approx(0.5) and other.waited == 0.0
    assert sim.heroes[0].first_start is not None and sim.heroes[0].first_start >= 20.0
