"""Job simulation speed: one pod-year of the default workload under all three policies.

Prints, from one run: wall time for the replication (target: a pod-year of about 50,000 jobs
under all three policies in under 3 s), time per job-policy pair as a multiple of a bare SimPy
timeout event measured in the same run (target <= 15), and the share of the time spent in
scheduling decisions (the scheduler's passes: placement search, preemption, defragmentation).

Usage: python bench/bench_jobs.py [--days N]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import bare_simpy_cost  # noqa: E402

from tpusim import build_model, load_scenario
from tpusim.replication import simulate
from tpusim.scheduler.scheduler import Scheduler

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "tpuv4_pod_jobs.yaml"


def main(days: float = 365.0) -> None:
    scenario = load_scenario(SCENARIO, [f"horizon_days={days}"])
    in_passes = [0.0]
    original = Scheduler.run_pass

    def timed_pass(self, t):
        start = time.perf_counter()
        try:
            return original(self, t)
        finally:
            in_passes[0] += time.perf_counter() - start

    Scheduler.run_pass = timed_pass
    try:
        start = time.perf_counter()
        result = simulate(build_model(scenario), 0)
        wall = time.perf_counter() - start
    finally:
        Scheduler.run_pass = original
    bare = bare_simpy_cost(200_000)
    jobs = int(result.value(scenario.policies[0], "jobs_arrived"))
    policies = len(scenario.policies)
    per_pair = wall / (jobs * policies)
    print(f"scenario: {SCENARIO.name}, {days:g} days, {jobs:,} jobs, policies {scenario.policies}")
    print(f"wall for one replication (failure trace + {policies} policies): {wall:.2f} s "
          f"(target < 3 s for a pod-year)")
    print(f"jobs simulated per second: {jobs * policies / wall:,.0f} (job-policy pairs)")
    print(f"time per job-policy pair: {per_pair * 1e6:.1f} us = {per_pair / bare:.0f} bare SimPy timeout "
          f"events ({bare * 1e6:.2f} us each, same run; target <= 15)")
    print(f"share of time in scheduling passes: {100 * in_passes[0] / wall:.1f} %")
    for policy in scenario.policies:
        m = {name: result.value(policy, name) for name in ("goodput", "utilization", "preemptions", "migrations")}
        print(f"  {policy:18s} goodput {m['goodput']:.4f}  utilization {m['utilization']:.3f}  "
              f"preemptions {m['preemptions']:.0f}  migrations {m['migrations']:.0f}")


if __name__ == "__main__":
    days = float(sys.argv[sys.argv.index("--days") + 1]) if "--days" in sys.argv else 365.0
    main(days)
