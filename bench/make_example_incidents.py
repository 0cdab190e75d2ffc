"""Make tpusim/data/example_incidents.csv: a synthetic incident log of one TPU v4 pod for a year.

The log is tpusim's own failure trace of ``scenarios/tpuv4_pod.yaml`` (the published TPU v4
rates: hosts 0.08 %/day, ICI links 0.005 %/day, OCSes 0.04 %/day; lognormal repairs, means 6,
24 and 12 hours, sigma 1), one replication of 365 days on the scenario's seed, written in the
incident format ``tpusim fit`` reads: one row per incident (unit, class, down_hours, up_hours;
up_hours empty where the repair was still open at the end of the year). Units down when the
log starts (the steady initial state) appear with down_hours 0. The same seed gives the same
file on every machine.

Usage: python bench/make_example_incidents.py [OUT.csv]
(then: tpusim fit tpusim/data/example_incidents.csv --scenario tpuv4_pod --log-end-hours 8760)
"""

from __future__ import annotations

import sys
from pathlib import Path

import tpusim

REPO = Path(__file__).resolve().parent.parent
HORIZON_DAYS = 365

HEADER = """\
# A synthetic incident log: one TPU v4 pod (1024 hosts, 15360 ICI links, 48 OCSes) for 365 days
# (8760 hours) at the published TPU v4 rates, with lognormal repairs of means 6 h (host),
# 24 h (ici_link) and 12 h (ocs), sigma 1: the failure trace of scenarios/tpuv4_pod.yaml,
# replication 0 of its seed, made by bench/make_example_incidents.py (run it to make it again).
# One row per incident; times in hours from the log's start; up_hours empty = still open at the
# log's end (8760 h); down_hours 0 = already down when the log began.
# Fit it: tpusim fit tpusim/data/example_incidents.csv --scenario tpuv4_pod --log-end-hours 8760
"""


def incidents(trace) -> list[tuple[str, str, float, float | None]]:
    """Rows ``(unit, class, down, up or None)`` of a trace, in order of failure."""
    rows: list[list] = []
    open_: dict[tuple[str, int], int] = {}
    for t, cls, unit, down in trace:
        if down:
            open_[(cls, unit)] = len(rows)
            rows.append([str(unit), cls, t, None])
        else:
            rows[open_.pop((cls, unit))][3] = t
    return [tuple(r) for r in rows]  # type: ignore[misc]


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "tpusim" / "data" / "example_incidents.csv"
    results = tpusim.run(REPO / "scenarios" / "tpuv4_pod.yaml", replications=1, horizon_days=HORIZON_DAYS,
                         policies=["static"], slices=["4x4x4"], record_traces=True)
    lines = [HEADER + "unit,class,down_hours,up_hours"]
    for unit, cls, down, up in incidents(results.replications[0].trace or []):
        lines.append(f"{unit},{cls},{down:.4f},{'' if up is None else f'{up:.4f}'}")
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}: {len(lines) - 1} incidents")


if __name__ == "__main__":
    main()
