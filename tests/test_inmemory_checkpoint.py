"""In-memory checkpoints (DESIGN section 3; :mod:`tpusim.scheduler.checkpoint`): exact timelines.

One job on a pod of 8 cubes, replaying a hand-written host trace. Its checkpoints come every
hour of work and stall ``B`` hours each (the asynchronous storage snapshot, or the in-memory
copy: the same stall, so the two stores' timelines agree until a restore); a storage checkpoint
is durable ``W`` after its start. A restart pays ``S`` (warm-up) plus the restore of the store it
reads: ``RS`` from storage, ``RM`` from peers' RAM. The timeline is written out here:

- compute starts at ``S`` (a first start restores nothing); checkpoint ``j``'s write starts at
  ``S + j + (j - 1) B``;
- a failure at ``T`` stalls the job, noticed at ``T + D``; a restart from checkpoint ``k`` then
  finishes work ``w`` at ``T + D + S + restore + (w - k) + (writes left) B``.
"""

from __future__ import annotations

import math

import pytest

from tpusim import build_model, scenario_from_dict
from tpusim.core.errors import ScenarioError
from tpusim.engine.replication import job_simulation
from tpusim.scheduler.checkpoint import Checkpointing, MemoryStore, copies_lost, replica_slot, young_interval
from tpusim.scheduler.workload import JobSpec
from tpusim.topology.shapes import SliceShape

S, D, B, W, RS, RM = 0.2, 0.1, 0.01, 0.1, 0.5, 0.05  # hours: restart, detection, stall, storage write, restores
WORK = 5.0
HOSTS = 16  # per cube


def _scenario(store: str, policy: str = "reconfigurable", every: int = 1, **extra) -> dict:
    checkpoint = {"interval_hours": 1.0, "write_minutes": W * 60, "mode": "asynchronous",
                  "snapshot_minutes": B * 60, "storage_restore_minutes": RS * 60}
    if store == "memory":
        checkpoint.update(store="memory", memory_write_minutes=B * 60, memory_restore_minutes=RM * 60,
                          storage_every=every)
    checkpoint.update(extra)
    return {"name": "inmem", "horizon_days": 2, "slices": ["4x4x4"], "policies": [policy],
            "topology": {"cube_grid": [8, 1, 1]}, "failures": {"detection_minutes": D * 60},
            "workload": {"restart_minutes": S * 60, "checkpoint": checkpoint},
            "pod_manager": {"reconfigure_minutes": 0}}


def _run(store: str, hosts_down: list[tuple[float, int]], shape: str = "4x4x4", **kw):
    """Run one job of ``WORK`` hours on ``shape`` through the host failures ``(time, host)``
    (each repaired 5 h later); the job is placed on cubes 0, 1, ... of the pod."""
    model = build_model(scenario_from_dict(_scenario(store, **kw)))
    events = [(t, "host", h, True) for t, h in hosts_down] + [(t + 5.0, "host", h, False) for t, h in hosts_down]
    sim = job_simulation(model, model.policy_names[0], sorted(events), [JobSpec(0, 0.0, SliceShape.parse(shape), WORK, 0)])
    sim.run()
    return sim.jobs[0]


def _write_start(j: int) -> float:
    return S + j + (j - 1) * B


T = _write_start(3) + 0.5  # a failure half an hour after checkpoint 3 (durable in both stores)


def _finish(t_restart: float, k: int, restore: float) -> float:
    """The end of the work after a restart at ``t_restart`` from checkpoint ``k``."""
    writes = (math.ceil(WORK) - 1) - k  # checkpoints k + 1 .. 4 (none at the end)
    return t_restart + S + restore + (WORK - k) + writes * B


def test_a_memory_restore_is_faster_by_exactly_the_restore_difference():
    storage = _run("storage", [(T, 3)])
    memory = _run("memory", [(T, 3)])
    assert storage.finish == pytest.approx(_finish(T + D, 3, RS))
    assert memory.finish == pytest.approx(_finish(T + D, 3, RM))
    assert storage.finish - memory.finish == pytest.approx(RS - RM)
    chips = memory.chips
    assert storage.lost - memory.lost == pytest.approx(chips * (RS - RM))
    assert memory.lost == pytest.approx(chips * ((T - _write_start(3) - B) + D + S + RM))
    assert storage.ckpt_stall == memory.ckpt_stall == pytest.approx(chips * 4 * B)


def test_an_in_memory_checkpoint_is_durable_once_the_copy_is_made():
    t = _write_start(3) + B + 0.02  # the in-memory copy is made, the storage write still going
    storage, memory = _run("storage", [(t, 3)]), _run("memory", [(t, 3)])
    assert storage.finish == pytest.approx(_finish(t + D, 2, RS))  # storage: back to checkpoint 2
    assert memory.finish == pytest.approx(_finish(t + D, 3, RM))  # memory: checkpoint 3


def test_a_host_and_its_replica_failing_together_fall_back_to_the_last_storage_checkpoint():
    # every second checkpoint reaches storage: at the failure, memory holds 3 and storage 2
    done = 3 + (T - _write_start(3) - B)
    pair = _run("memory", [(T, 3), (T, 4)], every=2)  # host 4 keeps host 3's replica
    assert pair.finish == pytest.approx(_finish(T + D, 2, RS))
    assert pair.lost == pytest.approx(pair.chips * ((done - 2) + D + S + RS))  # the work since checkpoint 2
    apart = _run("memory", [(T, 3), (T, 5)], every=2)  # two hosts, every shard keeps a copy
    assert apart.finish == pytest.approx(_finish(T + D, 3, RM))
    assert apart.lost == pytest.approx(apart.chips * ((done - 3) + D + S + RM))


def test_a_second_failure_of_the_pair_before_the_restore_ends_loses_the_copy():
    # host 3 fails; its cube is swapped for cube 1, whose host 4 fails during the setup
    second = T + D + 0.1
    job = _run("memory", [(T, 3), (second, 1 * HOSTS + 4)], every=2)
    assert job.finish == pytest.approx(_finish(second + D, 2, RS))
    # after a restore completes, the copies are whole again: the same host fails later, harmlessly
    later = T + D + S + RM + 0.3
    job = _run("memory", [(T, 3), (later, 1 * HOSTS + 4)], every=2)
    assert job.finish == pytest.approx(_finish(later + D, 3, RM))


def test_a_multi_cube_slice_keeps_replicas_in_the_next_cube():
    rack = [(T, h) for h in range(HOSTS)]  # a whole cube (a rack's power): the other cube holds every replica
    job = _run("memory", rack, shape="4x4x8", every=2)
    assert job.finish == pytest.approx(_finish(T + D, 3, RM))
    job = _run("memory", [(T, 3), (T, HOSTS + 3)], shape="4x4x8", every=2)  # host 3 of both cubes
    assert job.finish == pytest.approx(_finish(T + D, 2, RS))
    assert replica_slot((0, 3), 2, tuple(range(HOSTS))) == (1, 3)
    assert replica_slot((1, 3), 2, tuple(range(HOSTS))) == (0, 3)
    assert replica_slot((0, 15), 1, tuple(range(HOSTS))) == (0, 0)
    assert replica_slot((0, 6), 1, (2, 6)) == (0, 2)
    assert copies_lost({(0, 6)}, 1, (6,))  # a one-host slice: no peer
    assert not copies_lost({(0, 3)}, 1, tuple(range(HOSTS)))


def test_a_job_that_goes_back_to_the_queue_restores_from_storage():
    # static wiring swaps no cube: the job is requeued and restarts at once on another cube
    done = 3 + (T - _write_start(3) - B)
    job = _run("memory", [(T, 3)], policy="static", every=2)
    assert job.finish == pytest.approx(_finish(T + D, 2, RS))
    assert job.lost == pytest.approx(job.chips * ((done - 2) + D + S + RS))


def test_storage_checkpoints_of_the_memory_store_in_closed_form():
    from tpusim.scheduler.job import Job

    store = Checkpointing("fixed", 1.0, B, B, RS, MemoryStore(RM, 3, W))
    job = Job(JobSpec(0, 0.0, SliceShape.parse("4x4x4"), 10.0, 0), 1, (1, 1, 1), None, 1.0, store)
    job.restore(0.0)
    start = lambda j: j + (j - 1) * B  # noqa: E731
    assert job.last_checkpoint(start(2) + B) == pytest.approx(2.0)
    assert job.last_storage_checkpoint(start(2) + B) == 0.0  # only every third reaches storage
    assert job.last_storage_checkpoint(start(3) + W - 1e-9) == 0.0
    assert job.last_storage_checkpoint(start(3) + W) == pytest.approx(3.0)
    assert job.last_storage_checkpoint(start(6) + W) == pytest.approx(6.0)
    # a rate change while checkpoint 3 goes to storage keeps its durability time
    job.set_rate(start(3) + 0.05, 0.5)
    assert job.last_storage_checkpoint(start(3) + W - 1e-9) == 0.0
    assert job.last_storage_checkpoint(start(3) + W) == pytest.approx(3.0)
    assert job.last_storage_checkpoint(start(3) + B + 2.0) == pytest.approx(3.0)  # (4 is memory only)
    assert job.last_checkpoint(start(3) + B + 2.0 + B) == pytest.approx(4.0)


def test_young_and_daly_use_the_blocking_cost_of_the_store_in_use():
    base = _scenario("memory", every=4, interval_hours="young")
    model = build_model(scenario_from_dict(base))
    ckpt = model.workload.checkpointing
    assert ckpt.block == ckpt.write == pytest.approx(B) and ckpt.memory is not None
    assert ckpt.memory.storage_write == pytest.approx(W) and ckpt.memory.every == 4
    assert ckpt.interval_for(50.0) == pytest.approx(young_interval(B, 50.0))
    assert ckpt.interval_for(1e-4) == pytest.approx(W / 4)  # never below the storage write over 4 intervals
    storage = build_model(scenario_from_dict(_scenario("storage", interval_hours="young"))).workload.checkpointing
    assert storage.memory is None and storage.interval_for(50.0) == pytest.approx(young_interval(B, 50.0))


def test_memory_store_settings_are_checked_and_recorded_only_when_used():
    bad = _scenario("memory", every=1, interval_hours=0.05)  # 3 min between storage writes of 6 min
    with pytest.raises(ScenarioError, match=r"workload\.checkpoint\.storage_every: 1 intervals"):
        build_model(scenario_from_dict(bad))
    bad = _scenario("memory", memory_write_minutes=10)
    with pytest.raises(ScenarioError, match=r"workload\.checkpoint\.memory_write_minutes: must be at most"):
        build_model(scenario_from_dict(bad))
    plain = scenario_from_dict({**_scenario("storage"), "workload": {}}).resolved()["workload"]["checkpoint"]
    assert "store" not in plain and "memory_write_minutes" not in plain  # today's model, as summaries wrote it
    memory = scenario_from_dict(_scenario("memory")).resolved()["workload"]["checkpoint"]
    assert memory["store"] == "memory" and memory["storage_every"] == 1 and memory["storage_restore_minutes"] == 30
