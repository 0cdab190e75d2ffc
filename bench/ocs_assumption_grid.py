"""The OCS assumptions that decide the OCS-vs-static comparison (README, "Modelling choices").

For a grid of whole-switch shares of the published OCS failure rate (the rest port-level) and
OCS repair means, runs scenarios/tpuv4_pod.yaml (static and reconfigurable, its 20 replications
of a year, its seed: every grid point replays the same random streams) and prints the paired
difference reconfigurable - static in slice availability, with its 95 % interval and verdict.

    python bench/ocs_assumption_grid.py [--workers 2]

About 5 s on 2 cores (2026-12-04).
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import tpusim
from tpusim.core.metrics import SLICE_AVAILABILITY

PUBLISHED = 0.0004  # OCS failures per switch and day (Zu et al., NSDI 2024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    base = tpusim.load_scenario(Path(__file__).resolve().parents[1] / "scenarios" / "tpuv4_pod.yaml")
    machine = tpusim.build_model(base).machine
    ports_per_switch = machine.population("ocs_port") // machine.population("ocs")
    print("whole-switch share, OCS repair | reconfigurable - static, slice availability (points)")
    for share, repair in itertools.product([0.1, 0.5, 1.0], [1, 12, 24]):
        sc = base.with_overrides({
            "failures.ocs.daily_rate": PUBLISHED * share,
            "failures.ocs_port.daily_rate": PUBLISHED * (1 - share) / ports_per_switch,
            "failures.ocs.repair.mean_hours": repair, "policies": ["static", "reconfigurable"]})
        results = tpusim.run_scenario(sc, workers=args.workers)
        cells = []
        for shape in ("4x4x4", "8x16x16", "12x16x16"):
            d = results.compare("reconfigurable", "static", SLICE_AVAILABILITY, shape)
            lo, hi = d.ci if d.ci is not None else (d.mean, d.mean)
            cells.append(f"{shape} {100 * d.mean:+.3f} [{100 * lo:+.3f}, {100 * hi:+.3f}] {d.verdict}")
        print(f"{share:4.0%}, {repair:2d} h | " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
