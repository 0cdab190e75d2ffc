"""Gray failures and their localisation (issue 13, items 1-2).

Closed forms here are written from the model's definition, not from tpusim's code: a unit
alternates between not gray (exponential, mean 1 / rate) and gray (exponential of mean D, cut
short by a detection with probability p after an exponential delay of mean Dd), so its episodes
start at 1 / (1 / rate + E[length]) per hour with E[length] = (1 - p) D + p D Dd / (D + Dd), and a
share p D / (D + Dd) of them are noticed.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from scipy import stats

from tpusim import build_model, scenario_from_dict
from tpusim.studies.localisation.methods import LocaliserParams, deepview, naive
from tpusim.studies.localisation.study import localise
from tpusim.engine.replication import job_simulation, simulate
from tpusim.failures.health import HOST
from tpusim.scheduler.runs import part_count, parts_holding
from tpusim.scheduler.workload import BANDS, JobSpec
from tpusim.core.stats import excess_rate_p_value, proportion_interval
from tpusim.topology.shapes import SliceShape

# free, instantly durable checkpoints: these timelines are about failures (checkpoint cost: test_checkpoint.py)
FREE_CHECKPOINTS = {"interval_hours": 1.0, "write_minutes": 0, "snapshot_minutes": 0}

OFF = {"daily_rate": 0, "repair": {"mean_hours": 1}}


def scenario(**over):
    data = copy.deepcopy({
        "name": "gray", "seed": 13, "replications": 1, "horizon_days": 10, "slices": ["4x4x4"],
        "policies": ["static", "reconfigurable"],
        "failures": {"host": OFF, "ici_link": OFF, "ocs": OFF, "initial_state": "all_up"},
    })
    data.update(over)
    return scenario_from_dict(data)


# -- the job's timeline under a glitch --------------------------------------------------------

def test_a_glitch_fails_the_job_on_the_part_which_restarts_in_place_from_its_checkpoint():
    sc = scenario(workload={"restart_minutes": 12, "checkpoint": FREE_CHECKPOINTS},
                  pod_manager={"reconfigure_minutes": 3}, scheduler={"defrag_wait_hours": None},
                  topology={"cube_grid": [3, 1, 1]})
    model = build_model(sc)
    spec = JobSpec(0, 0.0, SliceShape.parse("4x4x4"), 5.0, BANDS.index("batch"))
    link = 0  # an electrical link of cube 0, where the job lands
    sim = job_simulation(model, "reconfigurable", [], [spec], glitches=[(1.0, 1, 2 * 240), (2.5, 1, link)],
                         record_runs=True)
    sim.run()
    job = sim.jobs[0]
    assert job.alloc is None and job.state == "done"
    restart = 12 / 60
    # at 2.5 it had done 2.25 h of work; its checkpoint at 2.0 survives; it restarts in place
    # (no new cross-connects: restart only) and does the last 3 h
    assert job.finish == pytest.approx(2.5 + restart + 3.0)
    assert job.interruptions == 1
    assert job.lost == pytest.approx(64 * (0.25 + restart))
    assert sim.gray_lost == pytest.approx(64 * (0.25 + restart))
    assert sim.gray_kills == [(2.5, 1, link, 0)]  # the glitch on a link of cube 2 hit nothing
    runs = sim.pod_manager.runs.columns()
    assert runs["interrupted"].tolist() == [True, False]
    assert runs["start"].tolist() == pytest.approx([0.0, 2.5]) and runs["end"].tolist() == pytest.approx([2.5, job.finish])
    cube_part = model.machine.population("host") + 0
    assert runs["parts"].tolist().count(cube_part) == 2  # both runs on cube 0 (in place)


def test_a_gray_part_is_invisible_to_capacity_but_a_noticed_one_becomes_a_failure():
    gray = {"daily_rate": 0.05, "job_failures_per_hour": 1.0, "mean_hours": 48, "detection_probability": 1.0,
            "detection_hours": 1e-9}
    sc = scenario(failures={"host": {**OFF, "gray": {**gray, "detection_probability": 0.0}}, "ici_link": OFF,
                            "ocs": OFF, "initial_state": "all_up"})
    r = simulate(build_model(sc), 0)
    assert r.gray and all(not e.detected for e in r.gray)
    assert r.value("reconfigurable", "slice_availability", "4x4x4") == 1.0  # gray parts are not down
    sc = scenario(failures={"host": {"daily_rate": 0, "repair": {"mean_hours": 2}, "gray": gray}, "ici_link": OFF,
                            "ocs": OFF, "initial_state": "all_up"})
    r = simulate(build_model(sc), 0, record_trace=True)
    noticed = [e for e in r.gray if e.detected]
    downs = {(t, u) for t, c, u, d in r.trace if d}
    assert len(downs) == r.counts.failures[HOST]
    # every failure is a noticed episode's end; a noticed episode is no new failure only when
    # its unit is still down from the one before, or it ends after the horizon
    assert downs <= {(e.end, e.unit) for e in noticed} and len(downs) >= 0.98 * len(noticed)


@pytest.mark.parametrize("p", [0.0, 0.4])
def test_gray_episodes_start_and_are_noticed_at_the_alternating_renewal_rates(p):
    rate_day, D, Dd, days = 0.05, 30.0, 20.0, 2000
    gray = {"daily_rate": rate_day, "job_failures_per_hour": 0.1, "mean_hours": D, "detection_probability": p,
            "detection_hours": Dd}
    sc = scenario(horizon_days=days, topology={"cube_grid": [2, 1, 1]},
                  failures={"host": {**OFF, "gray": gray}, "ici_link": OFF, "ocs": OFF, "initial_state": "all_up"})
    r = simulate(build_model(sc), 0)
    hosts = 32
    length = (1 - p) * D + p * D * Dd / (D + Dd)
    expected = hosts * days * 24 / (24 / rate_day + length)
    n = len(r.gray)
    lo, hi = stats.poisson.ppf([0.0005, 0.9995], expected)  # 99.9 %; renewal counts vary less than Poisson
    assert lo <= n <= hi, (n, expected)
    noticed = sum(e.detected for e in r.gray)
    share = p * D / (D + Dd)
    assert stats.binomtest(noticed, n, share).pvalue > 0.001 if p else noticed == 0
    glitches = sum(len(e.glitches) for e in r.gray)
    exposure = sum(e.end - e.start for e in r.gray)
    assert stats.poisson.sf(glitches - 1, 0.1 * exposure) > 0.0005 and stats.poisson.cdf(glitches, 0.1 * exposure) > 0.0005


def test_gray_faults_leave_the_hard_failure_trace_alone():
    base = {"host": {"daily_rate": 0.01, "repair": {"mean_hours": 6}}, "ici_link": OFF, "ocs": OFF}
    gray = {"daily_rate": 0.01, "job_failures_per_hour": 0.5, "mean_hours": 24}  # never noticed
    a = simulate(build_model(scenario(failures=base)), 0, record_trace=True)
    b = simulate(build_model(scenario(failures={**base, "host": {**base["host"], "gray": gray}})), 0, record_trace=True)
    assert a.trace == b.trace and b.gray


def test_planted_and_replayed_gray_are_validated_with_key_paths():
    from tpusim.core.errors import ScenarioError

    with pytest.raises(ScenarioError) as err:
        scenario(failures={"planted_gray": [{"of": "ici_link", "unit": 10**6, "start_day": 20, "days": 1,
                                             "job_failures_per_hour": 1}]})
    text = str(err.value)
    assert "failures.planted_gray[0].unit" in text and "failures.planted_gray[0].start_day" in text


# -- the localiser's test and its error rate --------------------------------------------------

def test_the_excess_rate_test_rejects_equal_rates_at_its_significance():
    gen = np.random.default_rng(7)
    trials, alpha, rejected = 4000, 0.05, 0
    for _ in range(trials):
        a, b = gen.poisson(40.0), gen.poisson(160.0)  # equal rates: exposures 1 and 4
        rejected += excess_rate_p_value(int(a), 1.0, int(b), 4.0) < alpha
    lo, hi = proportion_interval(rejected, trials)
    # a discrete test never exceeds its size; with about 200 events it comes close to it
    assert lo <= alpha and hi >= 0.03, (rejected / trials, lo, hi)


def null_runs(gen, n, parts, hours_per_window, t0):
    """Runs whose failures do not depend on the parts they use (no faulty part)."""
    start = t0 + gen.random(n) * hours_per_window * 0.9
    length = gen.exponential(1.0, n)
    end = np.minimum(start + length, t0 + hours_per_window - 1e-6)
    used = [gen.choice(parts, size=gen.integers(1, 6), replace=False) for _ in range(n)]
    failed = gen.random(n) < 1 - np.exp(-0.2 * (end - start))
    return start, end, failed, used


def test_with_no_faulty_part_the_localiser_blames_in_at_most_alpha_of_windows():
    build = build_model(scenario(topology={"cube_grid": [2, 1, 1]}))
    parts = part_count(build.machine)
    gen = np.random.default_rng(3)
    W, windows, alpha = 24.0, 300, 0.05
    cols = {"start": [], "end": [], "interrupted": [], "parts": [], "indptr": [0], "job": []}
    for w in range(windows):
        s, e, f, used = null_runs(gen, 150, np.arange(parts), W, w * W)
        for i in range(len(s)):
            cols["start"].append(s[i]); cols["end"].append(e[i]); cols["interrupted"].append(f[i])
            cols["parts"] += used[i].tolist(); cols["indptr"].append(len(cols["parts"])); cols["job"].append(i)
    runs = {k: np.asarray(v) for k, v in cols.items()}
    params = LocaliserParams(window_hours=W, step_hours=W, alpha=alpha)
    blamed = {b.time for b in deepview(runs, build.machine, windows * W, params)}
    lo, hi = proportion_interval(len(blamed), windows)
    assert lo <= alpha, (len(blamed), windows)
    # the naive count blames on noise alone
    assert len({b.time for b in naive(runs, build.machine, windows * W, params)}) > windows // 2


@pytest.mark.slow
def test_a_planted_gray_link_is_blamed_within_a_few_failed_jobs_in_most_seeds():
    link_cube, link = 5, 3
    sc = scenario(horizon_days=12, replications=8, policies=["reconfigurable"], slices=["4x4x4"],
                  failures={"initial_state": "steady", "planted_gray": [
                      {"of": "ici_link", "unit": link_cube * 240 + link, "start_day": 3, "days": 4,
                       "job_failures_per_hour": 0.5}]},
                  workload={"jobs_per_pod_day": 139})
    machine = build_model(sc).machine
    assert machine.cube.links == 240
    result = localise(sc)
    e = result.episodes[(result.episodes.method == "deepview") & result.episodes.planted]
    assert len(e) == 8
    # blamed (its cube, or a group of cubes the records cannot tell apart) within 12 failed jobs in
    # at least 6 of 8 seeds (measured: 7 of 8, median 6 jobs, 18 h; the naive count blames the
    # link's cube sooner but 25 times as many innocent parts - precision 4 % against 37 %)
    found_soon = int((e.found & (e.jobs_to_blame <= 12)).sum())
    assert found_soon >= 6, e[["replication", "jobs_failed", "found", "hours_to_blame", "jobs_to_blame"]]
    assert parts_holding(machine, 1, link_cube * 240 + link) == (machine.population("host") + link_cube,)
