"""Checkpoint cost (DESIGN section 3): exact timelines, the renewal formula, Young and Daly.

The renewal formula here is written from its definition, not from tpusim's code: one rigid job
whose parts fail as a Poisson process of rate ``lam`` while it runs or sets up; a failure is
noticed ``d`` hours later, and the job restarts on a spare after a setup ``s`` (failures during
the setup count); it checkpoints every ``tau`` hours of work with a synchronous write of ``c``
hours that is durable only once finished. A segment of work ``x = tau + c`` first runs without a
setup; after each failure it needs ``s + x`` failure-free hours. With ``E[min(T, L)] =
(1 - e^(-lam L)) / lam`` and ``F(L) = (e^(lam L) - 1)(1 / lam + d)`` the expected time to get a
failure-free window ``L`` after a failure (geometric retries, each paying ``d``):

    E[segment] = (1 - e^(-lam x)) / lam + (1 - e^(-lam x)) (d + F(s + x))

and the long-run goodput is ``tau / E[segment]`` (renewal-reward).

The in-memory variant is the same formula with a smaller ``s``: the restart is the warm-up
``S_WARM`` plus the restore from peers' RAM ``R_MEMORY`` in place of the restore from storage
``R_STORAGE`` (a single host failure never loses the in-memory copy, and every checkpoint also
reaches storage as fast, so a restart loses the same work under either store).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, stats

from tpusim import build_model, scenario_from_dict
from tpusim.core.errors import ScenarioError
from tpusim.engine.replication import job_simulation
from tpusim.scheduler.checkpoint import Checkpointing, daly_interval, young_interval
from tpusim.scheduler.job import Job
from tpusim.scheduler.workload import JobSpec
from tpusim.topology.shapes import SliceShape

LAM, D, S, C = 0.2, 0.1, 0.2, 0.1  # failures per hour, detection, setup and write hours
S_WARM, R_STORAGE, R_MEMORY = 0.1, 0.1, 0.02  # the memory variant: S = S_WARM + R_STORAGE as above


def renewal_goodput(tau: float, lam: float = LAM, d: float = D, s: float = S, c: float = C) -> float:
    x = tau + c
    window = lambda length: (math.exp(lam * length) - 1.0) * (1.0 / lam + d)  # noqa: E731
    p_fail = 1.0 - math.exp(-lam * x)
    segment = p_fail / lam + p_fail * (d + window(s + x))
    return tau / segment


def _scenario(tau: float, horizon_days: float, store: str = "storage"):
    off = {"daily_rate": 0, "repair": {"mean_hours": 1}}
    workload = {"restart_minutes": S * 60,
                "checkpoint": {"interval_hours": tau, "mode": "synchronous", "write_minutes": C * 60}}
    if store == "memory":  # the same write into peers' RAM (and storage), a faster restore
        workload = {"restart_minutes": S_WARM * 60,
                    "checkpoint": {"interval_hours": tau, "store": "memory", "write_minutes": C * 60,
                                   "memory_write_minutes": C * 60, "storage_every": 1,
                                   "storage_restore_minutes": R_STORAGE * 60, "memory_restore_minutes": R_MEMORY * 60}}
    return scenario_from_dict({
        "name": "renewal", "horizon_days": horizon_days, "slices": ["4x4x4"], "policies": ["reconfigurable"],
        "topology": {"cube_grid": [8, 1, 1]},
        # the job's cube fails at LAM per hour: 16 hosts of LAM / 16 each; repairs are quick, so
        # a healthy spare is always free
        "failures": {"host": {"daily_rate": LAM / 16 * 24, "repair": {"dist": "fixed", "mean_hours": 0.25}},
                     "ici_link": off, "ocs": off, "detection_minutes": D * 60},
        "workload": workload,
        "pod_manager": {"reconfigure_minutes": 0},
    })


def _host_trace(machine, horizon: float, seed: int) -> list[tuple[float, str, int, bool]]:
    """Poisson failures of every host at LAM / 16 per hour, each repaired after 0.25 h (a host
    that is down does not fail again)."""
    gen = np.random.default_rng(seed)
    events = []
    for host in range(machine.population("host")):
        t = 0.0
        while True:
            t += gen.exponential(16 / LAM)
            if t >= horizon:
                break
            events += [(t, "host", host, True), (min(t + 0.25, horizon), "host", host, False)]
            t += 0.25
    return sorted(e for e in events if e[0] < horizon)


def _simulated_goodput(tau: float, seed: int, horizon_days: float = 120, store: str = "storage") -> float:
    model = build_model(_scenario(tau, horizon_days, store))
    trace = _host_trace(model.machine, model.horizon, seed)
    spec = JobSpec(0, 0.0, SliceShape.parse("4x4x4"), 1e9, 0)  # runs the whole horizon
    sim = job_simulation(model, "reconfigurable", trace, [spec])
    sim.run()
    job = sim.jobs[0]
    return job.chips * job.progress / job.held


@pytest.mark.slow
def test_goodput_against_the_interval_follows_the_renewal_formula():
    taus = (0.25, 0.5, 1.0, 2.0, 4.0)
    seeds = range(20)
    sims = np.array([[_simulated_goodput(tau, seed) for tau in taus] for seed in seeds])
    exact = np.array([renewal_goodput(tau) for tau in taus])
    # (the horizon adds a bias below 1e-3: the first setup and the unwritten work at the end)
    half = stats.t.ppf(0.995, len(seeds) - 1) * sims.std(axis=0, ddof=1) / math.sqrt(len(seeds))
    assert np.all(np.abs(sims.mean(axis=0) - exact) <= half + 1e-3), (sims.mean(axis=0), exact, half)
    # the overhead is large enough to matter, and goodput has an interior optimum
    assert exact.max() < 0.95 and exact.argmax() not in (0, len(taus) - 1)
    # paired across intervals (same traces): the optimum beats both ends
    best = exact.argmax()
    for end in (0, len(taus) - 1):
        diff = sims[:, best] - sims[:, end]
        low = diff.mean() - stats.t.ppf(0.975, len(seeds) - 1) * diff.std(ddof=1) / math.sqrt(len(seeds))
        assert low > 0, (taus[end], diff)


@pytest.mark.slow
def test_in_memory_goodput_follows_the_renewal_formula_with_the_smaller_restore():
    taus = (0.25, 1.0, 4.0)
    seeds = range(20)
    memory = np.array([[_simulated_goodput(tau, seed, store="memory") for tau in taus] for seed in seeds])
    storage = np.array([[_simulated_goodput(tau, seed) for tau in taus] for seed in seeds])
    exact = np.array([renewal_goodput(tau, s=S_WARM + R_MEMORY) for tau in taus])
    # (biases below 1e-3: the horizon's ends; a start from no progress restores nothing; the rare
    # second failure of a replica's host before the restore ends, which pays R_STORAGE instead)
    half = stats.t.ppf(0.995, len(seeds) - 1) * memory.std(axis=0, ddof=1) / math.sqrt(len(seeds))
    assert np.all(np.abs(memory.mean(axis=0) - exact) <= half + 1e-3), (memory.mean(axis=0), exact, half)
    assert np.all(exact > [renewal_goodput(tau) for tau in taus])  # the smaller s pays at every interval
    diff = memory - storage  # paired: the same failures under both stores
    assert np.all(diff.mean(axis=0) > 0), diff.mean(axis=0)


def test_young_and_daly_land_near_the_renewal_optimum():
    mtbf = 1.0 / LAM
    best = optimize.minimize_scalar(lambda tau: -renewal_goodput(tau), bounds=(0.01, 20), method="bounded")
    for rule in (young_interval, daly_interval):
        tau = rule(C, mtbf)
        assert tau == pytest.approx(best.x, rel=0.35)  # first- and higher-order approximations
        assert renewal_goodput(tau) == pytest.approx(-best.fun, rel=0.01)  # flat near the optimum
    assert young_interval(C, mtbf) == pytest.approx(math.sqrt(2 * C * mtbf))
    # Daly's closed form, written out: sqrt(2CM) (1 + sqrt(C/2M)/3 + (C/2M)/9) - C
    x = C / (2 * mtbf)
    assert daly_interval(C, mtbf) == pytest.approx(math.sqrt(2 * C * mtbf) * (1 + math.sqrt(x) / 3 + x / 9) - C)
    assert daly_interval(3.0, 1.0) == 1.0  # a write of at least twice the MTBF: checkpoint every MTBF


def _job(work: float, interval: float, write: float, block: float) -> Job:
    spec = JobSpec(0, 0.0, SliceShape.parse("4x4x4"), work, 0)
    return Job(spec, 1, (1, 1, 1), None, interval, Checkpointing("fixed", interval, write, block))


def test_synchronous_timeline_stalls_for_each_write_and_skips_the_one_at_the_end():
    job = _job(work=3.0, interval=1.0, write=0.1, block=0.1)
    job.restore(0.5)  # compute starts after a half-hour setup
    assert job.finish_time() == pytest.approx(0.5 + 3.0 + 2 * 0.1)  # writes at 1 and 2, none at 3
    assert job.progress_at(1.5) == pytest.approx(1.0)  # reached checkpoint 1 ...
    assert job.progress_at(1.55) == pytest.approx(1.0)  # ... writing it
    assert job.progress_at(1.7) == pytest.approx(1.1)
    assert job.last_checkpoint(1.55) == 0.0  # not durable until the write ends
    assert job.last_checkpoint(1.6) == pytest.approx(1.0)
    assert job.progress_at(10.0) == 3.0


def test_asynchronous_write_stalls_for_the_snapshot_and_is_durable_after_the_write():
    job = _job(work=5.0, interval=1.0, write=0.5, block=0.05)
    job.restore(0.0)
    assert job.progress_at(1.05) == pytest.approx(1.0)
    assert job.progress_at(1.25) == pytest.approx(1.2)  # computing again while the write goes on
    assert job.last_checkpoint(1.4) == 0.0 and job.last_checkpoint(1.5) == pytest.approx(1.0)
    # a rate change mid-write keeps the write's end and the durability time
    job.set_rate(1.02, 0.5)
    assert job.progress_at(1.05) == pytest.approx(1.0)
    assert job.progress_at(1.25) == pytest.approx(1.1)
    assert job.last_checkpoint(1.49) == 0.0 and job.last_checkpoint(1.5) == pytest.approx(1.0)
    job.settle_rate(1.25)
    assert job.ckpt_stall == pytest.approx(job.chips * 0.05)


def test_intervals_shorter_than_the_write_and_free_rules_are_refused():
    base = {"name": "x", "horizon_days": 1, "slices": ["4x4x4"], "topology": {"cube_grid": [2, 1, 1]},
            "workload": {"checkpoint": {"interval_hours": 0.01, "write_minutes": 2}}}
    with pytest.raises(ScenarioError, match=r"workload\.checkpoint\.interval_hours: must be at least the write"):
        build_model(scenario_from_dict(base))
    base["workload"]["checkpoint"] = {"interval_hours": "young", "mode": "asynchronous", "snapshot_minutes": 0}
    with pytest.raises(ScenarioError, match=r"workload\.checkpoint\.interval_hours: 'young' trades"):
        build_model(scenario_from_dict(base))
    base["workload"]["checkpoint"] = {"interval_hours": 1, "snapshot_minutes": 3, "write_minutes": 2}
    with pytest.raises(ScenarioError, match=r"workload\.checkpoint\.snapshot_minutes: must be at most"):
        build_model(scenario_from_dict(base))
