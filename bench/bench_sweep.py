"""Sweep speed: a 64-point sweep serially, then on local process pools and Dask clusters of the
worker counts given.

Prints, from one run: the wall time of the same 64-point grid (16 replications x 1 pod-year per
point) serially and, for every worker count N, on an N-process pool and on an N-worker Dask
LocalCluster, with the speed-up over serial and the efficiency (speed-up / N). The Dask
cluster's first sweep (fresh worker processes that import tpusim and receive the models) is
shown apart from its later sweeps (what a user of a long-lived cluster sees); each cluster runs
twice, with Dask's default settings and with ``deploy/dask-workers.yaml`` (the housekeeping a
cluster of tpusim workers can do without), and is closed before anything else runs (an idle
cluster takes CPU from the other runs). Beside them, the host's own *ceiling*: how much faster
N fresh processes running identical serial work at once get through it than one process alone
(no executor, no imbalance). On a virtual machine whose vCPUs share physical cores, or whose
host is busy, N processes do not run N times as fast, whatever the executor does: the speed-ups
of the executors are to be read against it. Each figure is the best of ``--repeat`` runs, the configurations interleaved: on a shared virtual machine one
run's wall time moves by 10-20 %, which would swamp a ratio of two single runs. Every parallel
result is checked to equal the serial one, bit for bit.

Last, the efficiency the plan of blocks alone allows 2 to 64 workers (task times from the serial
run, each block to the first free worker, no overhead or contention): where no machine with that
many cores is at hand, the part of the loss that is tpusim's own scheduling, not the host's.

Targets (issue 10): on a 2-core machine at least x1.85 on 2 workers; on a 16-core machine an
efficiency of at least 0.8 on 16 Dask workers and on 16 local processes.

Usage: python bench/bench_sweep.py [--workers 2,4,8,16] [--replications 16] [--days 365] [--repeat 3]
(default workers: 2 and every power of two up to the CPU count)
"""

from __future__ import annotations

import argparse
import heapq
import os
import time
from pathlib import Path
from typing import Any, Iterator

import dask
import pandas as pd
import yaml

from tpusim import load_scenario
from tpusim.engine import execution
from tpusim.engine.execution import Task
from tpusim.studies.sweep import grid, sweep

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "tpuv4_pod.yaml"
DASK_SETTINGS = Path(__file__).resolve().parent.parent / "deploy" / "dask-workers.yaml"
GRID: dict[str, list[Any]] = {
    "failures.host.daily_rate": [0.0004, 0.0008, 0.0016, 0.0032],
    "failures.host.repair.mean_hours": [3, 6, 12, 24],
    "failures.ocs.repair.mean_hours": [6, 12, 24, 48],
}  # 64 points


def timed(scenario, **options) -> tuple[float, pd.DataFrame]:
    start = time.perf_counter()
    frame = sweep(scenario, GRID, **options).to_frame()
    return time.perf_counter() - start, frame


def timed_tasks(scenario) -> tuple[float, pd.DataFrame, list[tuple[Task, float, float]]]:
    """:func:`timed` serially, with every task's own time and the part of it spent in the
    collector's full (generation 2) passes (the serial path runs each task through
    ``execution.run_task``). Those passes traverse every object the process holds, and a serial
    sweep holds the samples of every task done: they grow with the sweep (85 to 180 ms by the
    end of this one, against 10 ms tasks) and land on whichever task triggers them. In a pool
    the results pile up in the parent, not in the workers."""
    import gc

    original, seen = execution.run_task, []
    full = [0.0, 0.0]  # seconds in full collections; the start of the one under way

    def collector(phase: str, info: dict) -> None:
        if info["generation"] == 2:
            if phase == "start":
                full[1] = time.perf_counter()
            else:
                full[0] += time.perf_counter() - full[1]

    def run_task(task: Task, progress=None):
        start, before = time.perf_counter(), full[0]
        result = original(task, progress)
        seen.append((task, time.perf_counter() - start, full[0] - before))
        return result

    execution.run_task = run_task
    gc.callbacks.append(collector)
    try:
        wall, frame = timed(scenario)
    finally:
        execution.run_task = original
        gc.callbacks.remove(collector)
    return wall, frame, seen


def plan_balance(seen: list[tuple[Task, float, float]], n: int, net: bool = False) -> float:
    """The efficiency the block plan allows ``n`` workers for these task times (``net``: less
    their full collections), from the plan alone: :func:`~tpusim.engine.execution.plan_blocks`, each
    block to the first worker free (as a process pool hands them out), no overhead, no
    contention: total work over ``n`` times the last worker's finish."""
    tasks = [task for task, _, _ in seen]
    times = [t - gc if net else t for _, t, gc in seen]
    _, blocks = execution.plan_blocks(tasks, n)
    free = [0.0] * n
    for _, members in blocks:
        heapq.heapreplace(free, free[0] + sum(times[i] for i in members))
    return sum(times) / (n * max(free))


def _run_share(scenario, points: list[dict[str, Any]]) -> None:
    for point in points:  # one point at a time, serially, as the serial sweep runs it
        sweep(scenario, {key: [value] for key, value in point.items()})


def ceiling(scenario, n: int) -> tuple[float, float]:
    """What the host itself allows ``n`` processes: the wall times of one share of the grid
    (every ``n``-th point) run serially in one fresh process, and of the same share in ``n``
    fresh processes at once (identical work, so no imbalance). The ceiling is ``n`` times the
    first over the second. Process start and imports are included, as the pool pays them."""
    from concurrent.futures import ProcessPoolExecutor

    share = grid(GRID)[::n]
    walls = []
    for copies in (1, n):
        start = time.perf_counter()
        with ProcessPoolExecutor(max_workers=copies) as pool:
            for future in [pool.submit(_run_share, scenario, share) for _ in range(copies)]:
                future.result()
        walls.append(time.perf_counter() - start)
    return walls[0], walls[1]


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
    from distributed import LocalCluster  # (also loads Dask's distributed defaults)

    scenario = load_scenario(SCENARIO, [f"replications={args.replications}", f"horizon_days={args.days}"])
    print(f"64-point sweep, {args.replications} replications x {args.days:g} days per point; "
          f"{os.cpu_count()} CPUs; best of {args.repeat} runs")
    lean = dict(_flatten(yaml.safe_load(DASK_SETTINGS.read_text())))
    serial_runs: list[float] = []
    reference = None
    walls: dict[tuple[int, str], list[float]] = {}
    shares: dict[int, list[tuple[float, float]]] = {}  # the host ceiling's walls, per worker count
    same = True
    for attempt in range(args.repeat):  # configurations interleaved; no cluster alive but the one in use
        wall, frame, seen = timed_tasks(scenario)
        serial_runs.append(wall)
        reference = frame if reference is None else reference
        same &= frame.equals(reference)
        for n in counts:
            shares.setdefault(n, []).append(ceiling(scenario, n))
            wall, frame = timed(scenario, workers=n)
            same &= frame.equals(reference)
            walls.setdefault((n, "process pool"), []).append(wall)
            for settings, label in (({}, "Dask"), (lean, "Dask, lean settings")):
                with dask.config.set(settings), LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                                             dashboard_address=None) as cluster:
                    for sweep_kind in ("first sweep", "warm cluster"):
                        wall, frame = timed(scenario, scheduler_address=cluster.scheduler_address)
                        same &= frame.equals(reference)
                        walls.setdefault((n, f"{label}, {sweep_kind}"), []).append(wall)
    serial = min(serial_runs)
    print(f"  serial: {serial:.2f} s (runs: {', '.join(f'{w:.1f}' for w in serial_runs)})")
    for n in counts:
        top = n * min(a for a, _ in shares[n]) / min(b for _, b in shares[n])  # best of each
        print(f"  {n} workers  {'host ceiling':<34} {'':>9} x{top:5.2f}  eff {top / n:4.2f}")
        for (m, label), runs in walls.items():
            if m == n:
                wall = min(runs)
                print(f"  {n} workers  {label:<34} {wall:7.2f} s x{serial / wall:5.2f}  eff {serial / wall / n:4.2f}"
                      f"  ({serial / wall / top:.2f} of the ceiling)")
    print(f"  every parallel result {'identical to the serial one' if same else 'DIFFERENT FROM THE SERIAL ONE'}")
    sizes = sorted({*counts, 16, 64})
    print("  the block plan alone (task times of the last serial run, blocks to the first free worker, "
          "no overhead): efficiency " + ", ".join(f"{plan_balance(seen, n):.3f} on {n}" for n in sizes))
    print(f"  the same, less the serial process's full collections ({sum(gc for _, _, gc in seen):.2f} s of "
          f"{sum(t for _, t, _ in seen):.2f} s, growing with the results it holds): efficiency "
          + ", ".join(f"{plan_balance(seen, n, net=True):.3f} on {n}" for n in sizes))
    print("targets: x1.85 on 2 workers of a 2-core machine; efficiency >= 0.8 on 16 workers (pool and Dask)")


def _flatten(tree: dict, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Dask settings as dotted keys (``dask.config.set`` with a nested mapping would replace
    whole sections, not merge into them)."""
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


if __name__ == "__main__":
    main()
