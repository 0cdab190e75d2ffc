"""Job simulation speed: one pod-year of the default workload under all three policies.

Prints, from one run: wall time for the replication (target: a pod-year of about 50,000 jobs
under all three policies in under 3 s), time per job-policy pair as a multiple of a bare SimPy
timeout event measured in the same run (target <= 15), and the share of the time spent in
scheduling decisions (the scheduler's passes: placement search, preemption, defragmentation).

Then the same replication on ``--workers`` processes (default: up to 3, one per policy), split by
policy (:func:`tpusim.engine.execution.split_by_policy`): its wall time and speed-up over the run above,
checked to give the same samples. What a user with several cores sees for one replication; the
3 s target is for one core.

``--phases`` reruns the replication with a timer around each phase of a job's life (arrival,
scheduling pass, placement search, victim search, Pod Manager start, completion) and prints,
per phase, its calls per job and its time per job. The timers add their own cost (about a
third more wall time), so read the shares, not the totals; the result: no phase is cheap
enough to leave out, and none is large enough to win the target alone.

Usage: python bench/bench_jobs.py [--days N] [--workers N] [--phases]
"""

from __future__ import annotations

import os
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import bare_simpy_around  # noqa: E402

from tpusim import build_model, load_scenario
from tpusim.engine.execution import Task, execute
from tpusim.engine.replication import simulate
from tpusim.scheduler.pod_manager import PodManager
from tpusim.scheduler.pool import CubePool
from tpusim.scheduler.records import JobRecords
from tpusim.scheduler.scheduler import Scheduler

# (class, method, what it is): nested phases are timed inside their callers too
PHASES = [
    (Scheduler, "run_pass", "scheduling pass (all below but completion)"),
    (Scheduler, "_place", "  one shape tried (memo checks included)"),
    (CubePool, "find", "    placement search"),
    (Scheduler, "_preempt_for", "    preemption (memo check, search, stops)"),
    (Scheduler, "_search", "      victim search"),
    (PodManager, "start", "  Pod Manager start (pre-flight, take, wiring)"),
    (PodManager, "_completed", "job completion (give back, record)"),
    (Scheduler, "enqueue", "enqueue (arrival or requeue)"),
    (JobRecords, "add", "per-job record"),
]

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "tpuv4_pod_jobs.yaml"


def main(days: float = 365.0, workers: int = 3) -> None:
    scenario = load_scenario(SCENARIO, [f"horizon_days={days}"])
    in_passes = [0.0]
    original = Scheduler.run_pass

    def timed_pass(self, t):
        start = time.perf_counter()
        try:
            return original(self, t)
        finally:
            in_passes[0] += time.perf_counter() - start

    def run():
        start = time.perf_counter()
        result = simulate(build_model(scenario), 0)  # (the model's build counted, as always)
        return result, time.perf_counter() - start

    Scheduler.run_pass = timed_pass
    try:
        (result, wall), bare = bare_simpy_around(run)
    finally:
        Scheduler.run_pass = original
    jobs = int(result.value(scenario.policies[0], "jobs_arrived"))
    policies = len(scenario.policies)
    per_pair = wall / (jobs * policies)
    print(f"scenario: {SCENARIO.name}, {days:g} days, {jobs:,} jobs, policies {scenario.policies}")
    print(f"wall for one replication (failure trace + {policies} policies): {wall:.2f} s "
          f"(target < 3 s for a pod-year)")
    print(f"jobs simulated per second: {jobs * policies / wall:,.0f} (job-policy pairs)")
    print(f"time per job-policy pair: {per_pair * 1e6:.1f} us = {per_pair / bare:.0f} bare SimPy timeout "
          f"events ({bare * 1e6:.2f} us each, median of 6 loops around the run; target <= 15)")
    print(f"share of time in scheduling passes: {100 * in_passes[0] / wall:.1f} %")
    for policy in scenario.policies:
        m = {name: result.value(policy, name) for name in ("goodput", "utilization", "preemptions", "migrations")}
        print(f"  {policy:18s} goodput {m['goodput']:.4f}  utilization {m['utilization']:.3f}  "
              f"preemptions {m['preemptions']:.0f}  migrations {m['migrations']:.0f}")
    if workers > 1:
        start = time.perf_counter()
        split = dict(execute([Task(build_model(scenario), 0)], workers=workers))[0]
        wall_split = time.perf_counter() - start
        assert split.samples == result.samples, "the split replication differs from the whole one"
        print(f"the same replication split by policy on {workers} processes: {wall_split:.2f} s, "
              f"x{wall / wall_split:.2f} (the same samples; pool start-up included)")


def phases(days: float) -> None:
    """Where a job's time goes: each phase timed on its own (see the module docstring)."""
    scenario = load_scenario(SCENARIO, [f"horizon_days={days}"])
    spent: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    originals = []

    def timer(cls, name, label):
        original = getattr(cls, name)
        originals.append((cls, name, original))

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - start
                calls[label] += 1
        setattr(cls, name, timed)

    for cls, name, label in PHASES:
        timer(cls, name, label)
    try:
        start = time.perf_counter()
        result = simulate(build_model(scenario), 0)
        wall = time.perf_counter() - start
    finally:
        for cls, name, original in reversed(originals):
            setattr(cls, name, original)
    pairs = int(result.value(scenario.policies[0], "jobs_arrived")) * len(scenario.policies)
    print(f"phases, timed ({wall:.2f} s with the timers), per job-policy pair:")
    for _, _, label in PHASES:
        print(f"  {label:48s} {calls[label] / pairs:6.2f} calls  {spent[label] / pairs * 1e6:7.1f} us "
              f"({100 * spent[label] / wall:4.1f} %)")


if __name__ == "__main__":
    days = float(sys.argv[sys.argv.index("--days") + 1]) if "--days" in sys.argv else 365.0
    workers = int(sys.argv[sys.argv.index("--workers") + 1]) if "--workers" in sys.argv else min(3, os.cpu_count() or 1)
    main(days, workers)
    if "--phases" in sys.argv:
        phases(days)
