"""Planned maintenance: capacity-time a campaign removes (closed forms written here, from the
campaign's description), exact timelines of drains, and the wave schedule the driver runs."""

import copy
import dataclasses

import pytest

from tpusim import build_model, run_scenario, scenario_from_dict
from tpusim.core.errors import ScenarioError
from tpusim.failures.maintenance import planned_waves
from tpusim.engine.replication import job_simulation, simulate
from tpusim.scheduler.workload import BANDS, JobSpec
from tpusim.topology.shapes import SliceShape

OFF = {"daily_rate": 0, "repair": {"mean_hours": 1}}


def scenario(campaigns, **over):
    data = copy.deepcopy({
        "name": "maint", "seed": 5, "replications": 1, "horizon_days": 10,
        "slices": ["4x4x4", "8x8x8", "16x16x16"], "policies": ["static", "reconfigurable"],
        "failures": {"host": OFF, "ici_link": OFF, "ocs": OFF, "initial_state": "all_up"},
        "maintenance": campaigns,
    })
    for key, value in over.items():
        data[key] = value
    return scenario_from_dict(data)


def values(results, policy, metric):
    return {s.key: s.value for r in results.replications for s in r.samples if s.policy == policy and s.metric == metric}


# -- capacity-time, against closed forms -------------------------------------------------------

def test_an_ici_stack_campaign_removes_exactly_its_capacity_time():
    h, w, T = 6.0, 4, 240.0  # 6 h per wave, 4 cubes of the 64 per wave: 16 waves
    r = run_scenario(scenario([{"name": "ici", "upgrades": "ici_stack", "start_day": 1, "wave_size": w,
                                "wave_hours": h}]))
    chip_hours = 64 * 64 * h  # every cube out once for one wave, whatever the plan
    for policy in ("static", "reconfigurable"):
        assert values(r, policy, "maintenance_chip_hours")[None] == pytest.approx(chip_hours)
        assert values(r, policy, "system_availability")[None] == pytest.approx(1 - chip_hours / (4096 * T))
    # the static pod cannot mix ICI versions: one pod-wide window of one wave; every slice waits
    assert values(r, "static", "slice_availability") == pytest.approx(
        {"4x4x4": 1 - h / T, "8x8x8": 1 - h / T, "16x16x16": 1 - h / T})
    # the reconfigurable pod loses w cubes for each of 64 / w waves: only the full pod waits
    assert values(r, "reconfigurable", "slice_availability") == pytest.approx(
        {"4x4x4": 1.0, "8x8x8": 1.0, "16x16x16": 1 - (64 // w) * h / T})


def test_host_firmware_takes_the_waves_cubes_on_both_machines_and_ocs_software_keeps_circuits_lit():
    T = 240.0
    r = run_scenario(scenario([
        {"name": "fw", "upgrades": "host_firmware", "start_day": 1, "wave_size": 32, "wave_hours": 2,
         "bake_hours": 1},
        {"name": "ocs", "upgrades": "ocs_software", "start_day": 5, "wave_size": 8, "wave_hours": 3}]))
    # two waves of 32 cubes: a full-pod slice waits 2 x 2 h on either machine; an 8x8x8 box of 8
    # cubes always fits in the other half
    assert values(r, "static", "slice_availability")["16x16x16"] == pytest.approx(1 - 4 / T)
    assert values(r, "static", "slice_availability")["8x8x8"] == pytest.approx(1.0)
    # the OCS upgrade: 48 / 8 = 6 waves of 3 h in which no cross-connect can change, so no
    # multi-cube slice can be placed (one cube also needs its wraparound circuits)
    assert values(r, "reconfigurable", "slice_availability")["16x16x16"] == pytest.approx(1 - (4 + 18) / T)
    assert values(r, "reconfigurable", "slice_availability")["4x4x4"] == pytest.approx(1 - 18 / T)
    # ... but the frozen circuits stay lit: no chip-time is lost to them
    assert values(r, "reconfigurable", "maintenance_chip_hours")[None] == pytest.approx(64 * 64 * 2)


def test_the_driver_runs_the_planned_waves():
    sc = scenario([{"name": "a", "upgrades": "host_firmware", "start_day": 0.5, "wave_size": 20, "wave_hours": 5,
                    "bake_hours": 7, "every_days": 4},
                   {"name": "b", "upgrades": "ocs_hardware", "start_day": 2, "wave_size": 48, "wave_hours": 1}])
    model = build_model(sc)
    waves = simulate(model, 0).maintenance.waves
    planned = planned_waves(model.maintenance, model.machine, model.horizon)
    assert sorted(waves) == sorted(planned)
    assert [w.start for w in planned if w.campaign == 0][:5] == [12.0, 24.0, 36.0, 48.0, 108.0]
    assert planned[0].units == tuple(range(20))


def test_campaigns_are_validated_with_key_paths():
    with pytest.raises(ScenarioError) as err:
        scenario([{"name": "x", "upgrades": "ocs_software", "start_day": 20, "wave_size": 49, "wave_hours": 1,
                   "static_scope": "pod", "watchdog": {}}])
    text = str(err.value)
    for path in ("maintenance[0].start_day", "maintenance[0].wave_size", "maintenance[0].static_scope",
                 "maintenance[0].watchdog"):
        assert path in text
    with pytest.raises(ScenarioError, match=r"maintenance\[0\].every_days"):
        scenario([{"name": "x", "upgrades": "ici_stack", "start_day": 0, "wave_size": 1, "wave_hours": 2,
                   "every_days": 1}])


# -- exact timelines of drains -----------------------------------------------------------------

def job_scenario(campaign, policies=("static", "reconfigurable")):
    sc = scenario([campaign], policies=list(policies), slices=["4x4x4"])
    return sc.with_overrides({"topology.cube_grid": [3, 1, 1], "workload.restart_minutes": 12,
                              "workload.checkpoint.interval_hours": 1.0, "pod_manager.reconfigure_minutes": 3,
                              "workload.checkpoint.write_minutes": 0, "workload.checkpoint.snapshot_minutes": 0,  # free
                              "scheduler.defrag_wait_hours": None})


def one_job(sc, policy, shape="4x4x4", work=5.0):
    sim = job_simulation(build_model(sc), policy, [], [JobSpec(0, 0.0, SliceShape.parse(shape), work, BANDS.index("batch"))])
    sim.run()
    return sim.jobs[0], sim


SETUP = 3 / 60 + 12 / 60  # reconfigure + restart


def test_a_drain_moves_the_job_to_a_free_spare_and_loses_no_work():
    sc = job_scenario({"name": "fw", "upgrades": "host_firmware", "start_day": 2 / 24, "wave_size": 1,
                       "wave_hours": 1, "bake_hours": 10})
    job, sim = one_job(sc, "reconfigurable")
    assert job.alloc is None and job.finish == pytest.approx(SETUP + 5.0 + SETUP)  # moved at t = 2
    assert job.lost == 0 and job.interruptions == 0 and job.migrated == 1 and job.preempted == 0
    assert sim.pod_manager.drains == 1 and sim.pod_manager.swaps == 0
    assert sim.pod_manager.xconnects_by["migration"] > 0
    assert job.useful == pytest.approx(64 * 5.0)


def test_without_a_free_spare_the_job_checkpoints_and_waits_for_its_cubes():
    sc = job_scenario({"name": "fw", "upgrades": "host_firmware", "start_day": 2 / 24, "wave_size": 1,
                       "wave_hours": 1, "bake_hours": 10})
    job, sim = one_job(sc, "reconfigurable", "4x4x12")  # every cube of the pod
    # out 2..3, restarted at 3 on the same cubes: their circuits are still set, nothing to program
    assert job.finish == pytest.approx(SETUP + 5.0 + 1.0 + 12 / 60)
    assert job.lost == 0 and job.interruptions == 0 and sim.pod_manager.drains == 1
    assert job.xconnects == 144 and sim.pod_manager.xconnects_by == {"first": 144, "swap": 0, "migration": 0,
                                                                   "restart": 0, "resize": 0}


def test_a_static_ici_upgrade_stops_every_job_which_checkpoints_and_restarts_after_the_window():
    sc = job_scenario({"name": "ici", "upgrades": "ici_stack", "start_day": 2 / 24, "wave_size": 1,
                       "wave_hours": 1, "bake_hours": 10})
    job, sim = one_job(sc, "static")
    restart = 12 / 60  # cables: no cross-connects to program
    assert job.finish == pytest.approx(restart + 5.0 + 1.0 + restart)  # the whole pod out 2..3
    assert job.lost == 0 and job.interruptions == 0 and job.migrated == 0 and sim.pod_manager.drains == 1
    # a later wave does not touch the static pod again (it was upgraded in one window)
    job, sim = one_job(sc, "static", work=20.0)
    assert job.finish == pytest.approx(restart + 20.0 + 1.0 + restart) and sim.pod_manager.drains == 1


# -- safe rollouts -----------------------------------------------------------------------------

def rollout(bad_probability, watchdog=True, replications=300, host_rate=0.0008, alpha=0.05):
    campaign = {"name": "fw", "upgrades": "host_firmware", "start_day": 1, "wave_size": 4, "wave_hours": 1,
                "bake_hours": 24, "release": {"bad_probability": bad_probability, "failure_multiplier": 10}}
    if watchdog:
        campaign["watchdog"] = {"window_hours": 72, "alpha": alpha}
    sc = scenario([campaign], policies=["reconfigurable"], slices=["4x4x4"], replications=replications,
                  horizon_days=18, seed=21)
    sc = sc.with_overrides({"failures.host": {"daily_rate": host_rate, "repair": {"dist": "lognormal", "mean_hours": 6}},
                            "failures.initial_state": "steady"})
    return run_scenario(sc, workers=1).rollouts_frame()


@pytest.mark.slow
def test_the_watchdog_stops_good_releases_no_more_often_than_its_significance():
    from scipy.stats import binomtest

    for host_rate in (0.0008, 0.01):  # the published rate (few failures), and a busy class
        frame = rollout(0.0, host_rate=host_rate)
        assert len(frame) == 300 and not frame.bad.any()
        stops = int(frame.halted.sum())
        # alpha bounds a whole rollout's false-stop chance (Bonferroni over its 15 checks): the
        # exact 95 % interval of the observed rate must reach down to alpha or below
        low = binomtest(stops, len(frame)).proportion_ci(method="exact").low
        assert low <= 0.05, (host_rate, stops)
        assert (frame.exposed_units == 0).all() and (frame.checks[~frame.halted] == 15).all()


def test_the_watchdog_stops_bad_releases_early_and_limits_exposure():
    from scipy.stats import binomtest

    watched, unwatched = rollout(1.0, replications=120), rollout(1.0, watchdog=False, replications=120)
    stops = int(watched.halted.sum())
    assert binomtest(stops, len(watched)).proportion_ci(method="exact").low >= 0.9
    assert not unwatched.halted.any() and (unwatched.exposed_units == 64).all()  # all 16 waves x 4 cubes
    # a stop comes after a whole number of waves, before the last: fewer cubes exposed
    assert (watched.exposed_units[watched.halted] < 64).all()
    assert watched.exposed_units.mean() < 40
    assert (watched.detection_hours[watched.halted] == watched.hours[watched.halted]).all()


def test_a_bad_release_multiplies_the_failure_rate_of_what_it_touched():
    """Without a watchdog every cube is upgraded by day 17; the hosts' extra failures over the
    run match (multiplier - 1) x rate x the host-hours run on the bad release (Poisson CI)."""
    from scipy.stats import poisson

    sc = scenario([{"name": "fw", "upgrades": "host_firmware", "start_day": 1, "wave_size": 4, "wave_hours": 1,
                    "bake_hours": 24, "release": {"bad_probability": 1.0, "failure_multiplier": 5}}],
                  policies=["reconfigurable"], slices=["4x4x4"], replications=40, horizon_days=18, seed=3)
    sc = sc.with_overrides({"failures.host": {"daily_rate": 0.004, "repair": {"dist": "fixed", "mean_hours": 1}}})
    model = build_model(sc)
    extra = [simulate(model, r).counts.events - simulate(dataclasses.replace(model, maintenance=()), r).counts.events
             for r in range(sc.replications)]
    # each wave ends at 24 + 25 i + 1 h; its 64 hosts then run the release to 432 h
    host_hours = sum(64 * (18 * 24 - (24 + 25 * i + 1)) for i in range(16))
    rate = 0.004 / 24 * (5 - 1)
    expected = rate * host_hours * sc.replications * 2  # a failure and its repair are two events
    total = sum(extra)
    lo, hi = poisson.interval(0.99, expected / 2)
    assert 2 * lo <= total <= 2 * hi, (total, expected)
