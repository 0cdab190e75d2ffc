"""A multislice gang against one slice of the same cubes, on the same failure traces (README).

The machine of ``tests/test_multislice.py``'s renewal check: 2 pods of 2x2x2 cubes of 4x4x4
chips under the reconfigurable policy, hosts the only failing parts (0.04 failures per
host-day, fixed 3 h repairs, 10 min detection), hourly checkpoints that cost nothing, a 12 min
restart and 3 min reconfiguration, no other work: the hero job alone. 40 replications x 40
days, one scenario per hero, the same seed (so the same failure traces: common random numbers).
Prints each hero's mean goodput with its 95 % interval and the paired differences
(one slice of the same 4 cubes - gang; one slice of half the gang - gang).

Run: ``PYTHONPATH=$PWD python bench/bench_multislice.py``.
"""

from __future__ import annotations

import math
import statistics

from scipy import stats

from tpusim import run_scenario, scenario_from_dict

OFF = {"daily_rate": 0, "repair": {"mean_hours": 1}}
REPLICATIONS = 40


def scenario(shape: str, slices: int):
    return scenario_from_dict({
        "name": "multislice", "seed": 20260101, "replications": REPLICATIONS, "horizon_days": 40,
        "slices": ["4x4x4"], "policies": ["reconfigurable"],
        "topology": {"pods": 2, "cube_grid": [2, 2, 2]},
        "failures": {"host": {"daily_rate": 0.04, "repair": {"dist": "fixed", "mean_hours": 3}},
                     "ici_link": OFF, "ocs": OFF, "initial_state": "all_up", "detection_minutes": 10},
        "workload": {"jobs_per_pod_day": 0, "restart_minutes": 12,
                     "checkpoint": {"interval_hours": 1.0, "write_minutes": 0, "snapshot_minutes": 0},
                     "hero": [{"name": "h", "shape": shape, "slices": slices}]},
        "pod_manager": {"reconfigure_minutes": 3},
        "scheduler": {"defrag_wait_hours": None},
    })


def goodputs(shape: str, slices: int) -> list[float]:
    results = run_scenario(scenario(shape, slices))
    return [s.value for r in results.replications for s in r.samples if s.metric == "hero_goodput" and s.key == "h"]


def interval(values: list[float]) -> str:
    n, mean = len(values), statistics.fmean(values)
    half = stats.t.ppf(0.975, n - 1) * statistics.stdev(values) / math.sqrt(n)
    return f"{mean:.4f} [{mean - half:+.4f}, {mean + half:+.4f}]"


def main() -> None:
    gang, one, half = goodputs("4x4x8", 2), goodputs("8x8x4", 1), goodputs("4x4x8", 1)
    print(f"gang 2 x 4x4x8 (4 cubes in 2 pods): {interval(gang)}")
    print(f"one 8x8x4 slice (4 cubes, 1 pod):   {interval(one)}")
    print(f"one 4x4x8 slice (2 cubes):          {interval(half)}")
    print(f"paired, one 8x8x4 - gang:           {interval([a - b for a, b in zip(one, gang)])}")
    print(f"paired, one 4x4x8 - gang:           {interval([a - b for a, b in zip(half, gang)])}")


if __name__ == "__main__":
    main()
