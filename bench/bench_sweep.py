"""Sweep speed: a 64-point sweep on 1 and 2 local workers, and the Dask path's overhead.

Prints, from one run: the wall time of the same 64-point grid serially, on a 2-process pool and
on a 2-worker Dask LocalCluster; the speed-up of 2 workers over 1 (target: at least 1.7x on a
2-core machine); and the overhead per point of the Dask path against the process pool.

Usage: python bench/bench_sweep.py
"""

from __future__ import annotations

import time
from pathlib import Path

from tpusim import load_scenario
from tpusim.sweep import sweep

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "tpuv4_pod.yaml"
GRID = {
    "failures.host.daily_rate": [0.0004, 0.0008, 0.0016, 0.0032],
    "failures.host.repair.mean_hours": [3, 6, 12, 24],
    "failures.ocs.repair.mean_hours": [6, 12, 24, 48],
}  # 64 points


def timed(**options) -> float:
    scenario = load_scenario(SCENARIO, ["replications=16", "horizon_days=365"])
    start = time.perf_counter()
    sweep(scenario, GRID, **options)
    return time.perf_counter() - start


def main() -> None:
    from distributed import LocalCluster

    points = 64
    one = timed()
    two = timed(workers=2)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        dask = timed(scheduler_address=cluster.scheduler_address)
    print("64-point sweep, 16 replications x 1 pod-year per point")
    print(f"  1 worker: {one:.2f} s   2-process pool: {two:.2f} s   2-worker Dask cluster: {dask:.2f} s")
    print(f"speed-up of 2 workers over 1: x{one / two:.2f} (process pool), x{one / dask:.2f} (Dask); target >= 1.7")
    print(f"Dask overhead per point against the process pool: {(dask - two) / points * 1e3:+.1f} ms")


if __name__ == "__main__":
    main()
