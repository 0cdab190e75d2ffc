"""Fleet scale: 25 TPU v4 pods (102,400 chips) with the default workload, one policy, one process.

Prints, from one run: wall time for one replication (target: a fleet-year in under 60 s), jobs
simulated, time per job as a multiple of a bare SimPy timeout event measured in the same run,
and the peak resident memory of the process (target: under 2 GB; the per-job rows are kept in
columns, 8 bytes a number, and job objects live only while their job is in the system).

Usage: python bench/bench_fleet.py [--days N] [--pods N] [--policy NAME]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import bare_simpy_around  # noqa: E402

from tpusim import build_model, load_scenario  # noqa: E402
from tpusim.engine.replication import simulate  # noqa: E402

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "tpuv4_pod_jobs.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=365.0)
    parser.add_argument("--pods", type=int, default=25)
    parser.add_argument("--policy", default="reconfigurable")
    args = parser.parse_args()
    scenario = load_scenario(SCENARIO, [f"horizon_days={args.days}", f"topology.pods={args.pods}",
                                        f"policies=[{args.policy}]", "replications=1"])
    model = build_model(scenario)

    def run():
        start = time.perf_counter()
        result = simulate(model, 0)
        return result, time.perf_counter() - start

    (result, wall), bare = bare_simpy_around(run)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    jobs = int(result.value(args.policy, "jobs_arrived"))
    chips = model.machine.chips
    print(f"fleet: {args.pods} pods ({chips:,} chips), {args.days:g} days, policy {args.policy}, {jobs:,} jobs")
    print(f"wall for one replication: {wall:.1f} s (target < 60 s for 25 pods x 365 days)")
    print(f"time per job: {wall / jobs * 1e6:.0f} us = {wall / jobs / bare:.0f} bare SimPy timeout events "
          f"({bare * 1e6:.2f} us each, median of 6 loops around the run)")
    print(f"peak resident memory: {peak_mb:,.0f} MB (target < 2,048 MB)")
    print(f"goodput {result.value(args.policy, 'goodput'):.4f}, utilization "
          f"{result.value(args.policy, 'utilization'):.3f}, slice rows kept: "
          f"{len(result.jobs[args.policy].rows['job']):,}")


if __name__ == "__main__":
    main()
