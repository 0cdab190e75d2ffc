"""Hero and elastic jobs (DESIGN section 3, issue 34): exact timelines, a renewal formula for a
rigid hero job, the binomial for an elastic one's mean size, the decomposition, bad input.

The closed forms here are written from their definitions, not from tpusim's code:

- **Rigid hero job, spares that never run out** (renewal-reward, one cycle from each restart to
  the next failure): its cubes' hosts fail as a Poisson process of rate ``lam`` (hosts x rate);
  after a (re)start it sets up for ``s`` hours (reconfiguring the swapped-in cube, restarting),
  then alternates ``tau`` hours of work and a synchronous write of ``b`` hours, checkpoint ``j``
  being durable at ``s + j (tau + b)``. A failure at ``X ~ Exp(lam)`` is noticed ``d`` later and
  the job restarts at once on a spare. Kept work per cycle ``tau N`` with ``P(N >= j) =
  exp(-lam (s + j (tau + b)))``, so ``E[N] = exp(-lam s) q / (1 - q)``, ``q = exp(-lam (tau +
  b))``; the cycle lasts ``X + d``. Goodput (useful share of the slice's time) =
  ``tau E[N] / (1 / lam + d)``.
- **Elastic hero job alone on the pod, no delays**: it holds, at every instant, the largest of its
  sizes (multiples of its x-by-y layer, at least ``min_cubes``) that the usable cubes allow, or
  nothing; with independent cubes up with probability ``a`` (16 hosts, each up with ``1 / (1 +
  rate x repair)``), the usable count is Binomial(cubes, a) and the mean size is
  ``E[f(U)]``, ``f(u) = layer x floor(min(u, preferred) / layer)`` if that is ``>= min_cubes``,
  else 0.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import tpusim
from tpusim import build_model, scenario_from_dict
from tpusim.core.errors import ScenarioError
from tpusim.core.metrics import HERO_METRICS
from tpusim.engine.replication import job_simulation
from tpusim.scheduler.hero import HERO_PARTS, hero_metrics
from tpusim.scheduler.job import PENDING, RUNNING, elastic_sizes
from tpusim.scheduler.workload import HERO_ID_BASE, JobSpec
from tpusim.topology.shapes import SliceShape

OFF = {"daily_rate": 0, "repair": {"mean_hours": 1}}


def _superpod(hero: dict, host: dict, **workload) -> dict:
    return {
        "name": "hero", "seed": 11, "replications": 2, "horizon_days": 30, "policies": ["reconfigurable"],
        "slices": ["4x4x4"], "topology": {"cube_grid": [4, 6, 6], "ocs_ports": 320},
        "failures": {"host": host, "ici_link": OFF, "ocs": OFF, "detection_minutes": 0},
        "workload": {"jobs_per_pod_day": 0, "restart_minutes": 0,
                     "checkpoint": {"interval_hours": 1.0, "write_minutes": 0, "snapshot_minutes": 0},
                     "hero": [hero], **workload},
        "pod_manager": {"reconfigure_minutes": 0},
    }


# -- the sizes ---------------------------------------------------------------------------------

def test_elastic_sizes_shorten_the_last_dimension_one_layer_at_a_time():
    assert elastic_sizes((2, 4, 17), 120) == ((2, 4, 17), (2, 4, 16), (2, 4, 15))
    assert elastic_sizes((2, 4, 17), 121) == ((2, 4, 17), (2, 4, 16))  # 120 < 121: not allowed
    assert elastic_sizes((2, 4, 17), 0) == ((2, 4, 17),)  # rigid
    assert elastic_sizes((2, 4, 17), 136) == ((2, 4, 17),)  # as many as it prefers: rigid
    assert elastic_sizes((1, 1, 3), 1) == ((1, 1, 3), (1, 1, 2), (1, 1, 1))


# -- exact timelines ---------------------------------------------------------------------------

def _small(hero: dict, **workload) -> tuple:
    """A pod of 4x1x1 cubes; the hero's jobs come from the scenario (its spec) and the test's trace."""
    sc = scenario_from_dict({
        "name": "small", "horizon_days": 1, "policies": ["reconfigurable"], "slices": ["4x4x4"],
        "topology": {"cube_grid": [4, 1, 1]},
        "failures": {"host": OFF, "ici_link": OFF, "ocs": OFF, "detection_minutes": 0},
        "workload": {"jobs_per_pod_day": 0, "restart_minutes": 6,
                     "checkpoint": {"interval_hours": 1.0, "mode": "synchronous", "write_minutes": 0},
                     "hero": [hero], **workload},
        "pod_manager": {"reconfigure_minutes": 0},
    })
    return build_model(sc)


def test_an_elastic_job_shrinks_at_a_failure_and_grows_back_at_the_repair():
    model = _small({"name": "h", "shape": "4x4x16", "min_cubes": 2})  # 1x1x4 cubes: sizes 4, 3, 2
    hosts = model.machine.cube.hosts
    trace = [(2.5, "host", 1 * hosts, True), (5.0, "host", 1 * hosts, False)]  # cube 1 down 2.5 h .. 5 h
    sim = job_simulation(model, "reconfigurable", trace, [])
    sim.run()
    (job,) = sim.heroes
    assert job.id == HERO_ID_BASE and job.spec.hero == "h"
    # 0 .. 2.5: 4 cubes, setup 0.1 h (restart), progress 2.4 h at full speed, checkpoints at 1, 2
    # 2.5: shrinks to 3 cubes (no spare): loses 0.4 h of work, restarts (0.1 h), progress at 3/4
    # 5.0: grows back to 4 cubes (a planned checkpoint, then a 0.1 h setup), to the horizon 24 h
    assert job.interruptions == 1 and job.resizes == 2 and job.state == RUNNING
    assert job.cubes == 4 and job.scale == 1.0
    work = 2.0 + (5.0 - 2.6) * 0.75 + (24.0 - 5.1)
    assert job.progress == pytest.approx(work)
    chips = 64
    assert job.held == pytest.approx(chips * (4 * 2.5 + 3 * 2.5 + 4 * 19.0))
    assert job.short == pytest.approx(chips * 1 * 2.5)  # one cube not held for 2.5 h
    assert job.lost == pytest.approx(chips * 4 * 0.4 + chips * 3 * 0.1)  # work since the checkpoint; the recovery setup
    assert job.recovery_setup == pytest.approx(chips * 3 * 0.1)
    assert job.resize_held == pytest.approx(chips * 4 * 0.1)
    assert job.setup_held == pytest.approx(chips * 4 * 0.1 * 2)  # the first start and the growth
    assert job.at_full == pytest.approx(24.0 - 2.5)
    h = hero_metrics(job, 24.0, 1.0, 64)
    assert sum(h[p] for p in HERO_PARTS) == pytest.approx(1.0)
    assert h["hero_goodput"] == pytest.approx(work / 24.0)
    assert h["hero_mean_cubes"] == pytest.approx((4 * 2.5 + 3 * 2.5 + 4 * 19.0) / 24.0)
    assert h["hero_resize_fraction"] == pytest.approx(4 * 0.1 / (4 * 24.0))
    assert h["hero_shrunk_fraction"] == pytest.approx(2.5 / (4 * 24.0))


def test_a_rigid_job_waits_for_its_cubes_where_an_elastic_one_goes_on():
    hosts = 16
    trace = [(2.5, "host", 1 * hosts, True), (5.0, "host", 1 * hosts, False)]
    rigid = _small({"name": "h", "shape": "4x4x16"})
    sim = job_simulation(rigid, "reconfigurable", trace, [])
    sim.run()
    (job,) = sim.heroes
    # 2.5: no spare, cannot shrink: back to the queue until the repair at 5.0, then a restart
    assert job.interruptions == 1 and job.resizes == 0 and job.cubes == 4
    assert job.progress == pytest.approx(2.0 + (24.0 - 5.1))
    h = hero_metrics(job, 24.0, 0.5, 64)
    assert h["hero_waiting_fraction"] == pytest.approx(2.5 / 24.0)
    assert h["hero_time_at_preferred"] == pytest.approx(1 - 2.5 / 24.0)
    assert h["hero_ml_goodput"] == pytest.approx(0.5 * h["hero_goodput"])  # the program goodput, an input
    assert sum(h[p] for p in HERO_PARTS) == pytest.approx(1.0)


def test_a_shrunk_hero_grows_back_before_the_queue_is_served():
    model = _small({"name": "h", "shape": "4x4x16", "min_cubes": 2})
    hosts = 16
    # cube 1 is down 2.5 h .. 5 h: the hero runs on 3 cubes; a best-effort one-cube job arriving
    # at 3.0 finds nothing free and waits; at the repair the hero grows first, so it waits on
    trace = [(2.5, "host", 1 * hosts, True), (5.0, "host", 1 * hosts, False)]
    sim = job_simulation(model, "reconfigurable", trace, [JobSpec(0, 3.0, SliceShape.parse("4x4x4"), 1.0, 2)])
    sim.run()
    hero, other = sim.heroes[0], next(j for j in sim.jobs if j.id == 0)
    assert hero.cubes == 4 and hero.resizes == 2
    assert other.first_start is None and other.state == PENDING


def test_a_hero_preempts_lower_bands_for_its_largest_size():
    # a best-effort job holds cube 0 from t = 0; the hero, arriving at 0.5 h, starts on all 4
    # cubes by preempting it (rather than on the 3 free ones), and the victim goes back to the queue
    model = _small({"name": "h", "shape": "4x4x16", "min_cubes": 2, "arrival_hours": 0.5})
    sim = job_simulation(model, "reconfigurable", [], [JobSpec(0, 0.0, SliceShape.parse("4x4x4"), 100.0, 2)])
    sim.run()
    hero, other = sim.heroes[0], next(j for j in sim.jobs if j.id == 0)
    assert hero.cubes == 4 and hero.first_start == pytest.approx(0.5) and hero.resizes == 0
    assert other.preempted == 1 and other.state == PENDING and sim.scheduler.preemptions == 1


def test_a_hero_preempts_at_its_start_and_grows_before_the_queue_at_a_repair():
    # cubes 1 and 2 are down from t = 0 (cube 1 repaired at 1 h); a batch job (band 1) arrives at
    # 0.2 h and takes a free cube; the hero (production) arrives at 0.5 h and reaches 2 cubes (0 and
    # 3) only by preempting it; at 1 h the hero grows to 3 cubes before the queued batch job is served
    model = _small({"name": "h", "shape": "4x4x16", "min_cubes": 2, "arrival_hours": 0.5})
    hosts = 16
    trace = [(0.0, "host", 1 * hosts, True), (0.0, "host", 2 * hosts, True), (1.0, "host", 1 * hosts, False)]
    sim = job_simulation(model, "reconfigurable", trace, [JobSpec(0, 0.2, SliceShape.parse("4x4x4"), 100.0, 1)])
    sim.run()
    hero, other = sim.heroes[0], next(j for j in sim.jobs if j.id == 0)
    assert other.preempted == 1 and other.state == PENDING
    assert hero.cubes == 3 and hero.resizes == 1
    assert hero.short == pytest.approx(64 * (2 * 0.5 + 1 * 23.0))


def test_hero_metrics_decompose_and_are_emitted_per_hero():
    sc = scenario_from_dict(_superpod({"name": "big", "shape": "8x16x68", "min_cubes": 120},
                                      {"daily_rate": 0.005, "repair": {"dist": "exponential", "mean_hours": 48}}))
    res = tpusim.run(sc)
    samples = [s for s in res.samples if s.metric.startswith("hero_")]
    assert {s.metric for s in samples} == set(HERO_METRICS) and {s.key for s in samples} == {"big"}
    for rep in range(2):
        parts = {s.metric: s.value for s in samples if s.replication == rep and s.metric in HERO_PARTS}
        assert math.fsum(parts.values()) == pytest.approx(1.0, abs=1e-9)
        assert all(v >= 0 for v in parts.values())


# -- closed forms ------------------------------------------------------------------------------

def rigid_goodput(lam: float, s: float, tau: float, b: float, d: float) -> float:
    q = math.exp(-lam * (tau + b))
    kept = math.exp(-lam * s) * q / (1.0 - q)
    return tau * kept / (1.0 / lam + d)


@pytest.mark.slow
def test_a_rigid_hero_follows_the_renewal_formula():
    rate = 0.004  # per host-day
    tau, b, restart, reconfigure, d = 1.0, 0.05, 5 / 60, 1 / 60, 2 / 60
    sc = scenario_from_dict({
        "name": "rigid", "seed": 5, "replications": 12, "horizon_days": 120, "policies": ["reconfigurable"],
        "slices": ["4x4x4"], "topology": {"cube_grid": [4, 6, 6], "ocs_ports": 320},
        # quick fixed repairs: 80 free cubes are never short of a healthy spare
        "failures": {"host": {"daily_rate": rate, "repair": {"dist": "fixed", "mean_hours": 0.25}},
                     "ici_link": OFF, "ocs": OFF, "detection_minutes": d * 60},
        "workload": {"jobs_per_pod_day": 0, "restart_minutes": restart * 60,
                     "checkpoint": {"interval_hours": tau, "mode": "synchronous", "write_minutes": b * 60},
                     "hero": [{"name": "rigid", "shape": "16x16x16"}]},  # 64 cubes
        "pod_manager": {"reconfigure_minutes": reconfigure * 60},
    })
    res = tpusim.run(sc)
    g = np.array([s.value for s in res.samples if s.metric == "hero_goodput"])
    lam = 64 * 16 * rate / 24
    exact = rigid_goodput(lam, restart + reconfigure, tau, b, d)
    half = stats.t.ppf(0.995, len(g) - 1) * g.std(ddof=1) / math.sqrt(len(g))
    # (the horizon adds a bias below 1e-3: the first setup and the unwritten work at the end)
    assert abs(g.mean() - exact) <= half + 1e-3, (g.mean(), exact, half)
    assert exact < 0.9  # failures matter at this rate


@pytest.mark.slow
def test_an_elastic_hero_alone_holds_the_binomial_mean_size():
    rate, repair = 0.005, 48.0
    sc = scenario_from_dict(_superpod({"name": "big", "shape": "8x16x68", "min_cubes": 120},
                                      {"daily_rate": rate, "repair": {"dist": "exponential", "mean_hours": repair}}))
    res = tpusim.run(sc, replications=12, horizon_days=365)
    size = np.array([s.value for s in res.samples if s.metric == "hero_mean_cubes"])
    waiting = np.array([s.value for s in res.samples if s.metric == "hero_waiting_fraction"])
    a = (1.0 / (1.0 + rate / 24 * repair)) ** 16
    u = np.arange(145)
    p = stats.binom.pmf(u, 144, a)
    held = 8 * (np.minimum(u, 136) // 8)
    f = np.where(held >= 120, held, 0)
    t = stats.t.ppf(0.995, len(size) - 1) / math.sqrt(len(size))
    assert abs(size.mean() - (p * f).sum()) <= t * size.std(ddof=1), (size.mean(), (p * f).sum())
    assert abs(waiting.mean() - p[u < 120].sum()) <= t * waiting.std(ddof=1), (waiting.mean(), p[u < 120].sum())
    assert 0.1 < p[u < 120].sum() < 0.5  # the three sizes and waiting all happen


# -- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("hero, key, words", [
    ({"name": "h", "shape": "16x16x48"}, "workload.hero[0].shape", "needs"),
    ({"name": "h", "shape": "4x4x2"}, "workload.hero[0].shape", "whole cubes"),
    ({"name": "h", "shape": "4x4x8", "min_cubes": 3}, "workload.hero[0].min_cubes", "at most the 2 cubes"),
    ({"name": "h", "shape": "4x4x5"}, "workload.hero[0].shape", ""),
])
def test_bad_hero_jobs_are_refused_with_their_key(hero, key, words):
    with pytest.raises(ScenarioError) as err:
        build_model(scenario_from_dict(_superpod(hero, OFF) | {"topology": {"cube_grid": [2, 2, 2]}}))
    text = str(err.value)
    assert key in text and words in text, text


def test_two_heroes_may_not_share_a_name():
    sc = _superpod({"name": "h", "shape": "4x4x4"}, OFF)
    sc["workload"]["hero"].append({"name": "h", "shape": "4x4x8"})
    with pytest.raises(ScenarioError) as err:
        build_model(scenario_from_dict(sc))
    assert "workload.hero[1].name" in str(err.value)


def test_an_elastic_hero_runs_at_the_sizes_the_static_grid_holds():
    # a 2x2x1 grid of cubes: a 1x1x3-cube slice (4x4x12) fits no static box, 1x1x2 and 1x1x1 do;
    # the reconfigurable pod wires any 3 cubes
    sc = scenario_from_dict({
        "name": "grid", "horizon_days": 1, "policies": ["static", "reconfigurable"], "slices": ["4x4x4"],
        "topology": {"cube_grid": [2, 2, 1]},
        "failures": {"host": OFF, "ici_link": OFF, "ocs": OFF},
        "workload": {"jobs_per_pod_day": 0, "restart_minutes": 0,
                     "hero": [{"name": "h", "shape": "4x4x12", "min_cubes": 1}]},
    })
    model = build_model(sc)
    for policy, cubes, sizes in (("static", 2, ((1, 1, 2), (1, 1, 1))),
                                 ("reconfigurable", 3, ((1, 1, 3), (1, 1, 2), (1, 1, 1)))):
        sim = job_simulation(model, policy, [], [])
        sim.run()
        (job,) = sim.heroes
        assert job.state == RUNNING and job.cubes == cubes and job.sizes == sizes, policy
        h = hero_metrics(job, 24.0, 1.0, 64)
        assert h["hero_shrunk_fraction"] == pytest.approx(1 - cubes / 3)
        assert h["hero_time_at_preferred"] == (1.0 if cubes == 3 else 0.0)


def test_a_hero_key_from_an_error_message_works_in_set():
    from tpusim.config.overrides import apply_overrides

    sc = scenario_from_dict(_superpod({"name": "big", "shape": "8x16x68", "min_cubes": 120}, OFF))
    for key in ("workload.hero[0].min_cubes", "workload.hero.0.min_cubes", "workload.hero.big.min_cubes"):
        data = apply_overrides(sc.resolved(), [f"{key}=128"])
        assert data["workload"]["hero"][0]["min_cubes"] == 128, key


def test_the_spares_are_kept_for_the_hero_not_against_it():
    # 4 cubes, a rigid 3-cube hero, 1 spare: cubes 1 and 2 fail at 2.5 h (one spare for two
    # broken cubes: back to the queue); cube 1 is repaired at 5 h, cube 2 at 8 h. With cubes 0,
    # 1, 3 usable the hero restarts at 5 h on them, taking the spare: the cap keeps ordinary work
    # off the spares, not the job they are kept for
    sc = scenario_from_dict({
        "name": "spares", "horizon_days": 1, "policies": ["reconfigurable"], "slices": ["4x4x4"],
        "topology": {"cube_grid": [4, 1, 1]},
        "failures": {"host": OFF, "ici_link": OFF, "ocs": OFF, "detection_minutes": 0},
        "workload": {"jobs_per_pod_day": 0, "restart_minutes": 0, "hero": [{"name": "h", "shape": "4x4x12"}]},
        "pod_manager": {"reconfigure_minutes": 0, "spare_cubes": 1},
    })
    model = build_model(sc)
    hosts = model.machine.cube.hosts
    trace = [(2.5, "host", 1 * hosts, True), (2.5, "host", 2 * hosts, True),
             (5.0, "host", 1 * hosts, False), (8.0, "host", 2 * hosts, False)]
    sim = job_simulation(model, "reconfigurable", trace, [])
    sim.run()
    (job,) = sim.heroes
    h = hero_metrics(job, 24.0, 1.0, 64)
    assert h["hero_waiting_fraction"] == pytest.approx(2.5 / 24.0)
    # an ordinary production job of the same shape is capped: it would wait for cube 2 too
    spec = JobSpec(0, 0.0, SliceShape.parse("4x4x12"), 1e6, 0)
    sim = job_simulation(build_model(scenario_from_dict(sc.resolved() | {"workload": sc.resolved()["workload"] | {"hero": []}})),
                         "reconfigurable", trace, [spec])
    sim.run()
    (job,) = sim.jobs
    assert job.waited == pytest.approx(8.0 - 2.5)


def test_a_hero_that_finishes_is_measured_up_to_its_finish():
    # 5 h of work on a healthy pod, setup 0.1 h: done at 5.1 h; the rest of the day it is not
    # waiting for anything
    model = _small({"name": "h", "shape": "4x4x16", "work_days": 5 / 24})
    sim = job_simulation(model, "reconfigurable", [], [])
    sim.run()
    (job,) = sim.heroes
    assert job.state == "done" and job.finish == pytest.approx(5.1)
    h = hero_metrics(job, 24.0, 1.0, 64)
    assert h["hero_goodput"] == pytest.approx(5.0 / 5.1) and h["hero_waiting_fraction"] == pytest.approx(0.0, abs=1e-12)
    assert h["hero_restart_fraction"] == pytest.approx(0.1 / 5.1) and h["hero_time_at_preferred"] == pytest.approx(1.0)
    assert sum(h[p] for p in HERO_PARTS) == pytest.approx(1.0)


def test_validate_says_which_policy_can_never_place_a_hero(tmp_path):
    from typer.testing import CliRunner

    from tpusim.cli import app

    path = tmp_path / "hv.yaml"
    path.write_text("name: hv\nhorizon_days: 1\npolicies: [static, reconfigurable]\nslices: [4x4x4]\n"
                    "topology: {cube_grid: [4, 6, 6], ocs_ports: 320}\n"
                    "workload:\n  hero:\n    - {name: big, shape: 8x16x68, min_cubes: 120}\n"
                    "    - {name: fits, shape: 16x24x20, min_cubes: 96}\n")
    out = CliRunner().invoke(app, ["validate", str(path)])
    assert out.exit_code == 0, out.output
    notes = [line for line in out.output.splitlines() if line.startswith("# note: hero")]
    assert len(notes) == 1 and "big" in notes[0] and "static" in notes[0]  # 2x4x17 cubes: no box of 4x6x6


# -- the review's cases (each failed before its fix) --------------------------------------------

def _pod4(hero: dict, spare_cubes: int = 0, **scheduler):
    return build_model(scenario_from_dict({
        "name": "small", "horizon_days": 1, "policies": ["reconfigurable"], "slices": ["4x4x4"],
        "topology": {"cube_grid": [4, 1, 1]},
        "failures": {"host": OFF, "ici_link": OFF, "ocs": OFF, "detection_minutes": 0, "ocs_control_plane_share": 1.0},
        "workload": {"jobs_per_pod_day": 0, "restart_minutes": 6,
                     "checkpoint": {"interval_hours": 1.0, "mode": "synchronous", "write_minutes": 0},
                     "hero": [hero]},
        "pod_manager": {"reconfigure_minutes": 0, "spare_cubes": spare_cubes},
        "scheduler": {"defrag_wait_hours": None, **scheduler},
    }))


def test_a_hero_is_not_stuck_behind_an_ordinary_job_of_its_shape():
    # an ordinary production job of the hero's shape arrives first and cannot start; the hero,
    # placed otherwise (elastic; exempt from the spare cap), has a queue of its own and starts
    other = JobSpec(0, 0.0, SliceShape.parse("4x4x16"), 5.0, 0)
    m = _pod4({"name": "h", "shape": "4x4x16", "min_cubes": 2})
    trace = [(0.0, "host", 3 * m.machine.cube.hosts, True), (20.0, "host", 3 * m.machine.cube.hosts, False)]
    sim = job_simulation(m, "reconfigurable", trace, [other])
    sim.run()
    assert sim.heroes[0].first_start == 0.0 and sim.heroes[0].cubes == 4  # on 3 cubes at 0, grown at 20
    sim = job_simulation(_pod4({"name": "h", "shape": "4x4x16"}, spare_cubes=1), "reconfigurable", [], [other])
    sim.run()
    assert sim.heroes[0].first_start == 0.0 and sim.heroes[0].state == RUNNING


def test_a_lower_band_hero_grows_only_after_the_higher_bands_queue_is_served():
    # cube 1 down 2.5 .. 5 h: a best-effort elastic hero shrinks to 3 cubes; a production 1-cube
    # job arriving at 3 h (preemption off) gets the repaired cube at 5 h, not the hero
    m = _pod4({"name": "h", "shape": "4x4x16", "min_cubes": 2, "priority": "best_effort"}, preemption=False)
    hosts = m.machine.cube.hosts
    trace = [(2.5, "host", 1 * hosts, True), (5.0, "host", 1 * hosts, False)]
    sim = job_simulation(m, "reconfigurable", trace, [JobSpec(0, 3.0, SliceShape.parse("4x4x4"), 2.0, 0)])
    sim.run()
    job = next(j for j in sim.jobs if j.id == 0)
    assert job.first_start == pytest.approx(5.0) and job.state == "done"
    assert sim.heroes[0].cubes == 4  # it grew when the production job was done


def test_a_growth_whose_preflight_fails_leaves_the_hero_running_as_it_was():
    # the hero runs on 3 cubes (cube 3 down 1 .. 5 h); OCS 32's control plane fails at 4 h, noticed
    # at 10 h, repaired at 12 h; at 5 h growing would change circuits through it: the pre-flight
    # check finds it, and the hero runs on, on its lit circuits, instead of stopping to wait
    m = _pod4({"name": "h", "shape": "4x4x16", "min_cubes": 2})
    hosts = m.machine.cube.hosts
    trace = [(1.0, "host", 3 * hosts, True), (4.0, "ocs", 32, True), (5.0, "host", 3 * hosts, False),
             (12.0, "ocs", 32, False)]
    sim = job_simulation(m, "reconfigurable", trace, [], delays=[0.0, 6.0, 0.0, 0.0])
    sim.run()
    hero = sim.heroes[0]
    assert sim.pod_manager.preflight_failures == 1 and hero.waited == 0.0 and hero.interruptions == 1
    assert hero.cubes == 4 and hero.resizes == 2  # shrunk at 1 h, grown after the OCS repair


def test_a_bracketed_index_is_an_index_even_where_a_hero_is_named_like_one():
    from tpusim.config.overrides import apply_overrides

    data = {"workload": {"hero": [{"name": "1", "shape": "8x16x68"}, {"name": "0", "shape": "4x4x4"}]}}
    assert apply_overrides(data, ["workload.hero[0].min_cubes=120"])["workload"]["hero"][0]["min_cubes"] == 120
    assert apply_overrides(data, ["workload.hero.0.min_cubes=1"])["workload"]["hero"][1]["min_cubes"] == 1  # by name
    with pytest.raises(ScenarioError) as err:
        apply_overrides(data, ["workload.hero[5].min_cubes=1"])
    assert "workload.hero[5]: names no entry of workload.hero" in str(err.value)


def test_never_fits_is_judged_on_every_size_and_the_title_lists_the_sizes():
    from tpusim.output.views import run_views

    sc = scenario_from_dict({
        "name": "grid", "replications": 2, "horizon_days": 1, "policies": ["static", "reconfigurable"],
        "slices": ["4x4x4"], "topology": {"cube_grid": [2, 2, 1]},
        "failures": {"host": OFF, "ici_link": OFF, "ocs": OFF},
        "workload": {"jobs_per_pod_day": 0, "hero": [{"name": "h", "shape": "4x4x12", "min_cubes": 1},
                                                     {"name": "r", "shape": "4x4x12"}]},
    })
    res = tpusim.run(sc)
    assert res.heroes_never_placed("static") == ["r"] and res.heroes_never_placed("reconfigurable") == []
    titles = [v.title for v in run_views(res) if v.title.startswith("hero job")]
    assert "(elastic, 1, 2 or 3 cubes)" in titles[0] and "(rigid, 3 cubes)" in titles[1]


def test_a_heros_mean_cubes_interval_stops_at_the_most_it_can_hold():
    sc = scenario_from_dict(_superpod({"name": "big", "shape": "8x16x68", "min_cubes": 120},
                                      {"daily_rate": 0.0008, "repair": {"dist": "exponential", "mean_hours": 48}}))
    res = tpusim.run(sc, replications=4, horizon_days=60)
    est = res.estimates.get("reconfigurable", "hero_mean_cubes", "big")
    plain = [s.value for s in res.samples if s.metric == "hero_mean_cubes"]
    assert max(plain) <= 136 and est.ci95 is not None and est.ci95[1] <= 136.0
    assert est.mean + stats.t.ppf(0.975, 3) * np.std(plain, ddof=1) / 2 > 136.0  # (it would reach past it)


def test_the_regression_gate_checks_each_hero_jobs_figures():
    from tpusim.studies.check import metric_samples

    sc = scenario_from_dict(_superpod({"name": "big", "shape": "8x16x68", "min_cubes": 120},
                                      {"daily_rate": 0.005, "repair": {"dist": "exponential", "mean_hours": 48}}))
    names = metric_samples(tpusim.run(sc).samples)
    assert "reconfigurable.heroes.big.hero_goodput" in names and "reconfigurable.heroes.big.hero_mean_cubes" in names
    assert not any(n.endswith("hero_program_goodput") for n in names)  # an input, not a result
