"""Engine speed, measured against a bare SimPy loop on the same machine in the same run.

Prints:
1. events per second on a long run at the published rates;
2. wall time per simulated pod-year (one replication of scenarios/tpuv4_pod.yaml: both
   policies, 7 slice shapes, setup included) - target under 0.5 s;
3. tpusim's cost per model event (failure or repair) over a bare SimPy timeout loop's cost per
   event - target at most 5; and the same with each policy alone (what its capacity tracker adds
   to an event);
4. wall time for 1, 4 and 16 pods over the same horizon - target linear growth;
5. the cost of port-level links: every electrical and optical ICI link (15,360 per pod) is a
   component with its own state; a pod-year with them against one where only hosts fail
   (whole cubes then fail by hosts alone) - target at most 2x.

Usage: python bench/bench_engine.py [--quick]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Callable, TypeVar

import simpy

from tpusim import build_model, load_scenario
from tpusim.engine.replication import simulate

T = TypeVar("T")

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "tpuv4_pod.yaml"


def bare_simpy_samples(events: int, runs: int = 3) -> list[float]:
    """Seconds per event of the simplest SimPy model (one process yielding timeouts), ``runs``
    times."""

    def loop(env):
        while True:
            yield env.timeout(1.0)

    out = []
    for _ in range(runs):
        env = simpy.Environment()
        env.process(loop(env))
        start = time.perf_counter()
        env.run(until=events)
        out.append((time.perf_counter() - start) / events)
    return out


def bare_simpy_cost(events: int) -> float:
    """The best of three :func:`bare_simpy_samples` (to set against tpusim's best of as many)."""
    return min(bare_simpy_samples(events))


def bare_simpy_around(run: Callable[[], T], events: int = 200_000) -> tuple[T, float]:
    """``run()``, and the median seconds per bare SimPy event of three loops before it and three
    after: the figure to set against one long run, which averages over a shared host's slow
    and fast moments as a median does (the best of the loops would not)."""
    before = bare_simpy_samples(events)
    result = run()
    return result, statistics.median(before + bare_simpy_samples(events))


def timed(scenario, replication: int = 0):
    start = time.perf_counter()
    result = simulate(build_model(scenario), replication)
    return time.perf_counter() - start, result.counts.events


def main(quick: bool = False) -> None:
    base = load_scenario(SCENARIO)
    print(f"scenario: {SCENARIO.name} ({len(base.policies)} policies, {len(base.slices)} slice shapes)")

    # 2. one pod-year, setup included, several replications
    reps = 5 if quick else 20
    walls = [timed(base, r)[0] for r in range(reps)]
    print(f"wall per pod-year replication: median {statistics.median(walls) * 1e3:.1f} ms, "
          f"max {max(walls) * 1e3:.1f} ms over {reps} replications (target < 500 ms)")

    # 1 + 3. a long run, where setup is negligible: three rounds, each the same replication and
    # a bare SimPy loop, interleaved; the best of each (a single long run against a best-of-three
    # bare loop read this shared host's slow moments as tpusim's cost)
    years = 7 if quick else 70
    long = load_scenario(SCENARIO, [f"horizon_days={365 * years}"])
    rounds = [(timed(long), bare_simpy_cost(200_000)) for _ in range(3)]
    wall, events = min(run for run, _ in rounds)
    per_event = wall / events
    bare = min(b for _, b in rounds)
    print(f"long run: {years} pod-years, {events:,} events in {wall:.2f} s = {events / wall:,.0f} events/s "
          f"(best of 3: {', '.join(f'{run[0]:.2f}' for run, _ in rounds)} s)")
    print(f"cost per event: tpusim {per_event * 1e6:.2f} us, bare SimPy timeout loop {bare * 1e6:.2f} us "
          f"(best of 3 rounds, interleaved), ratio {per_event / bare:.2f} (target <= 5)")

    # 3b. the same long run with one policy at a time: what each policy's capacity tracker adds
    # to the event (the failure trace and the health state are the same in every run)
    parts = []
    for name in base.policies:
        alone = load_scenario(SCENARIO, [f"horizon_days={365 * years}", f"policies=[{name}]"])
        best, same = min(timed(alone) for _ in range(3))
        assert same == events, "the failure trace depends on the seed and replication alone"
        parts.append(f"{name} {best / events * 1e6:.2f} us (x{best / events / bare:.2f})")
    print(f"cost per event with one policy only (best of 3): {', '.join(parts)}")

    # 4. scaling with pods over one horizon
    years = 2 if quick else 10
    rows = []
    for pods in (1, 4, 16):
        sc = load_scenario(SCENARIO, [f"horizon_days={365 * years}", f"topology.pods={pods}"])
        wall, events = timed(sc)
        rows.append((pods, wall, events))
    one = rows[0][1]
    print(f"pods scaling over {years} years (wall, wall relative to 1 pod, events):")
    for pods, wall, events in rows:
        print(f"  {pods:2d} pods: {wall:6.2f} s  x{wall / one:5.2f}  (ideal x{pods})  {events:,} events")

    # 5. port-level links against hosts only, per pod-year (setup included, median of runs)
    hosts_only = load_scenario(SCENARIO, ["failures.ici_link.daily_rate=0"])
    with_links = [timed(base, r) for r in range(reps)]
    without = [timed(hosts_only, r) for r in range(reps)]
    w1, w0 = statistics.median(w for w, _ in with_links), statistics.median(w for w, _ in without)
    e1, e0 = statistics.mean(e for _, e in with_links), statistics.mean(e for _, e in without)
    print(f"port-level links: pod-year {w1 * 1e3:.1f} ms with {build_model(base).machine.population('ici_link'):,} "
          f"link components vs {w0 * 1e3:.1f} ms with hosts only: x{w1 / w0:.2f} (target <= 2; "
          f"events x{e1 / e0:.2f})")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
