"""Sweep speed: a 64-point sweep serially, then on local process pools and Dask clusters of the
worker counts given.

Prints, from one run: the wall time of the same 64-point grid (16 replications x 1 pod-year per
point) serially and, for every worker count N, on an N-process pool and on an N-worker Dask
LocalCluster, with the speed-up over serial and the efficiency (speed-up / N). The Dask
cluster's first sweep (fresh worker processes that import tpusim and receive the models) is
shown apart from its later sweeps (what a user of a long-lived cluster sees). Each figure is
the best of ``--repeat`` runs, the configurations interleaved: on a shared virtual machine one
run's wall time moves by 10-20 %, which would swamp a ratio of two single runs. Every parallel
result is checked to equal the serial one, bit for bit.

Targets (issue 10): on a 2-core machine at least x1.85 on 2 workers; on a 16-core machine an
efficiency of at least 0.8 on 16 Dask workers and on 16 local processes.

Usage: python bench/bench_sweep.py [--workers 2,4,8,16] [--replications 16] [--days 365] [--repeat 3]
(default workers: 2 and every power of two up to the CPU count)
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd

from tpusim import load_scenario
from tpusim.sweep import sweep

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "tpuv4_pod.yaml"
GRID: dict[str, list[Any]] = {
    "failures.host.daily_rate": [0.0004, 0.0008, 0.0016, 0.0032],
    "failures.host.repair.mean_hours": [3, 6, 12, 24],
    "failures.ocs.repair.mean_hours": [6, 12, 24, 48],
}  # 64 points


def timed(scenario, **options) -> tuple[float, pd.DataFrame]:
    start = time.perf_counter()
    frame = sweep(scenario, GRID, **options).to_frame()
    return time.perf_counter() - start, frame


def default_workers() -> list[int]:
    cpus = os.cpu_count() or 1
    counts, n = [], 2
    while n <= max(2, cpus):
        counts.append(n)
        n *= 2
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default=",".join(map(str, default_workers())),
                        help="worker counts to try, comma-separated")
    parser.add_argument("--replications", type=int, default=16)
    parser.add_argument("--days", type=float, default=365.0)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each configuration; the best counts")
    args = parser.parse_args()
    counts = sorted({int(w) for w in args.workers.split(",") if int(w) > 1})
    from distributed import LocalCluster

    scenario = load_scenario(SCENARIO, [f"replications={args.replications}", f"horizon_days={args.days}"])
    points = 64
    print(f"64-point sweep, {args.replications} replications x {args.days:g} days per point; "
          f"{os.cpu_count()} CPUs; best of {args.repeat} runs")
    serial_runs: list[float] = []
    reference = None
    clusters = {n: LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
                for n in counts}
    try:
        walls: dict[tuple[int, str], list[float]] = {}
        same = True
        for attempt in range(args.repeat):
            wall, frame = timed(scenario)
            serial_runs.append(wall)
            reference = frame if reference is None else reference
            same &= frame.equals(reference)
            for n in counts:
                for kind, options in (("pool", {"workers": n}),
                                      ("dask", {"scheduler_address": clusters[n].scheduler_address})):
                    wall, frame = timed(scenario, **options)
                    same &= frame.equals(reference)
                    key = (n, "dask first" if kind == "dask" and attempt == 0 else kind)
                    walls.setdefault(key, []).append(wall)
    finally:
        for cluster in clusters.values():
            cluster.close()
    serial = min(serial_runs)
    print(f"  serial: {serial:.2f} s (runs: {', '.join(f'{w:.1f}' for w in serial_runs)})")

    def cell(wall: float, n: int) -> str:
        return f"{wall:6.2f} s x{serial / wall:5.2f} eff {serial / wall / n:4.2f}"

    print(f"  {'workers':>7}  {'process pool':>24}  {'Dask, warm cluster':>24}  {'Dask, first sweep':>24}")
    for n in counts:
        pool, first = min(walls[n, "pool"]), walls[n, "dask first"][0]
        warm = min(walls[n, "dask"]) if (n, "dask") in walls else None  # none with --repeat 1
        print(f"  {n:>7}  {cell(pool, n):>24}  {cell(warm, n) if warm else 'n/a (--repeat 1)':>24}  "
              f"{cell(first, n):>24}")
        print(f"  {'':>7}  Dask overhead per point against the pool: "
              + (f"{(warm - pool) / points * 1e3:+.1f} ms warm, " if warm else "")
              + f"{(first - pool) / points * 1e3:+.1f} ms on a fresh cluster")
    print(f"  every parallel result {'identical to the serial one' if same else 'DIFFERENT FROM THE SERIAL ONE'}")
    print("targets: x1.85 on 2 workers of a 2-core machine; efficiency >= 0.8 on 16 workers (pool and Dask)")


if __name__ == "__main__":
    main()
