"""Sweeps: a grid of scenario variations, each point a full run with confidence intervals.

``sweep(scenario, {"failures.host.daily_rate": [0.0008, 0.0016], ...})`` runs every combination
of the values (each a dotted-key override, as ``--set``), with the scenario's seed and
replication count at every point: the points share their random streams (common random numbers
across the grid), so differences between points are due to the varied keys. A point's numbers
depend only on the scenario and its overrides, never on how the grid is executed: serially, or
one point per worker of a local process pool.

Beyond one machine, give a Dask scheduler address (``distributed``; a real engine, with the
same results). With ``target_ci`` a point keeps doubling its replications until the 95 % CI
half-width of every availability metric is at most the target (or ``max_replications``):
users ask for precision instead of guessing replication counts. Replication ``r`` always draws
the same streams, so the added replications extend, never change, the earlier ones.

With an output directory each finished point is written at once, atomically, as
``points/<n>.json``; a rerun with ``resume`` loads the points already there (after checking
that they were made from the same scenario and overrides) and runs only the others, so an
interrupted sweep loses nothing. The result is one tidy table: a row per point, policy, metric
and slice shape, with the mean and 95 % CI.
"""

from __future__ import annotations

import itertools
import json
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import yaml

from tpusim.api import run_scenario
from tpusim.scenario import Scenario, apply_overrides, scenario_from_dict


def grid(vary: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the varied values, the last key varying fastest."""
    keys = list(vary)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(vary[k] for k in keys))]


def _overrides(point: dict[str, Any]) -> list[str]:
    return [f"{key}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}"
            for key, value in point.items()]


def _rows(index: int, point: dict[str, Any], summary: dict) -> list[dict]:
    """Tidy rows of one point's summary."""
    rows = []

    def add(policy, metric, shape, est):
        lo, hi = (est.get("ci95") or (None, None))
        rows.append({"point": index, **point, "policy": policy, "metric": metric, "shape": shape,
                     "mean": est.get("mean"), "ci95_low": lo, "ci95_high": hi})

    for policy, data in summary["policies"].items():
        for entry in data["slice_availability"]:
            add(policy, "slice_availability", entry["shape"], entry)
        add(policy, "system_availability", None, data["system_availability"])
        for name, est in (data.get("jobs") or {}).items():
            if isinstance(est, dict) and "mean" in est:
                add(policy, name, None, est)
    return rows


def widest_availability_ci(results) -> float:
    """The largest 95 % CI half-width among the slice and system availabilities."""
    widths = []
    for policy in results.scenario.policies:
        widths += [est.half_width for *_, est in results.slice_availability(policy)]
        widths.append(results.system_availability(policy).half_width)
    return max(w if w is not None else float("inf") for w in widths)


def run_point(base: dict, index: int, point: dict[str, Any], target_ci: float | None = None,
              max_replications: int = 1000) -> dict:
    """Run one grid point (a plain function of plain data, so any executor can call it)."""
    from tpusim.engine import simulate
    from tpusim.results import Results

    scenario = scenario_from_dict(apply_overrides(base, _overrides(point)))
    results = run_scenario(scenario)
    while target_ci is not None and widest_availability_ci(results) > target_ci:
        have = len(results.replications)
        if have >= max_replications:
            break
        more = min(max_replications, 2 * have)
        scenario = scenario_from_dict({**scenario.model_dump(mode="json"), "replications": more})
        extra = [simulate(scenario, r) for r in range(have, more)]
        results = Results(scenario, results.replications + extra, results.wall_seconds)
    summary = results.summary()
    summary.pop("wall_seconds")
    return {"index": index, "point": point, "overrides": _overrides(point), "summary": summary}


@dataclass
class SweepResults:
    vary: dict[str, list[Any]]
    points: list[dict]  # run_point outputs, in grid order

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([row for p in self.points for row in _rows(p["index"], p["point"], p["summary"])])

    def plot(self) -> list:
        """One matplotlib figure per metric against the first varied key."""
        from tpusim.report import plot_sweep

        return plot_sweep(self.to_frame(), list(self.vary))


def sweep(scenario: Scenario, vary: dict[str, list[Any]], *, workers: int = 1, out: Path | None = None,
          resume: bool = False, progress: Callable[[int, int], None] | None = None,
          scheduler_address: str | None = None, target_ci: float | None = None,
          max_replications: int = 1000) -> SweepResults:
    base = scenario.model_dump(mode="json")
    points = grid(vary)
    done: dict[int, dict] = {}
    folder = out / "points" if out is not None else None
    if folder is not None and resume and folder.is_dir():
        for index, point in enumerate(points):
            path = folder / f"{index}.json"
            if path.exists():
                saved = json.loads(path.read_text())
                made = {k: v for k, v in saved["summary"]["scenario"].items() if k != "replications"}
                want = {k: v for k, v in _resolved(base, point).items() if k != "replications"}
                if saved["overrides"] != _overrides(point) or made != want:
                    raise ValueError(f"{path} was made from another scenario or grid; rerun without --resume")
                done[index] = saved
    todo = [i for i in range(len(points)) if i not in done]
    if progress:
        progress(len(done), len(points))

    def finished(result: dict) -> None:
        done[result["index"]] = result
        if folder is not None:
            from tpusim.report import write_json

            write_json(folder / f"{result['index']}.json", result)
        if progress:
            progress(len(done), len(points))

    args = (target_ci, max_replications)
    if scheduler_address is not None:
        from distributed import Client, as_completed as dask_completed

        with Client(scheduler_address) as client:
            futures = [client.submit(run_point, base, i, points[i], *args, pure=False) for i in todo]
            for future in dask_completed(futures):
                finished(future.result())
    elif workers <= 1:
        for i in todo:
            finished(run_point(base, i, points[i], *args))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(run_point, base, i, points[i], *args) for i in todo]
            for future in as_completed(futures):
                finished(future.result())
    return SweepResults(vary, [done[i] for i in range(len(points))])


def _resolved(base: dict, point: dict) -> dict:
    return scenario_from_dict(apply_overrides(base, _overrides(point))).resolved()


def parse_vary(text: str) -> tuple[str, list[Any]]:
    """``"failures.host.daily_rate=0.0008,0.0016"`` -> (key, [values parsed as YAML])."""
    key, sep, values = text.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise ValueError(f"expected KEY=V1,V2,..., got {text!r}")
    return key.strip(), [yaml.safe_load(v) for v in values.split(",")]
