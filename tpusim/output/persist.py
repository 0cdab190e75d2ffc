"""Results kept on disk in data formats, never pickle: opening a colleague's folder runs no code.

A saved run is a folder holding, beside the human-readable ``summary.json``:

- ``results.json``: the format version, the tpusim version that wrote it, the resolved scenario,
  the run's wall time, error and whether its job rows were streamed, and for each replication
  everything that is not a table (failure, repair and event counts, correlated-domain
  failures, rollout records, maintenance waves, gray episodes, time series); it also names the
  Parquet files below and their row counts, and is written last, so a folder without it (or
  with counts that do not match) is an incomplete save, refused on load;
- ``results.samples.parquet``: every sample (replication, policy, metric, key, value);
- ``results.jobs.parquet``: the per-job rows, when the results hold them (band as its code,
  times in hours, NaN where a time does not apply), one row group per replication and policy;
- ``results.trace.parquet``: the recorded failure traces, when the run recorded them.

Invariants: loading reads only JSON and Parquet (pandas with pyarrow) and validates the
scenario with the ordinary schema; the model is rebuilt from the saved scenario
(:func:`tpusim.config.build.build_model`), so a scenario that reads CSV files (a failure or job
trace, a slice mix) needs them where they were. Samples, counts, rows and traces round-trip
exactly (floats through JSON by ``repr``, through Parquet as float64), so a loaded run gives
the same estimates, tables and frames as the original. What does not round-trip: a localisation
study's run records and gray kills (``JobOutput.runs``/``gray_kills``, kept only inside
:func:`tpusim.localise`), and ``ReplicationResult.shared_samples`` of a replication that was never
split (None either way). Each file appears atomically (a temporary file, then a rename).

Layer: output (above :mod:`tpusim.measure.results`, whose objects it writes and reads back;
``tpusim.load_results`` is :func:`tpusim.output.presenter.load_results`).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import pandas as pd

from tpusim.config.schema import Scenario, scenario_from_dict
from tpusim.core.errors import Problem, ScenarioError
from tpusim.failures.counts import FailureCounts
from tpusim.failures.gray import GrayEpisode
from tpusim.failures.maintenance import MaintenanceLog, Rollout, Wave
from tpusim.core.metrics import SAMPLE_COLUMNS, Sample
from tpusim.engine.replication import ReplicationResult
from tpusim.scheduler.outcome import JobOutput
from tpusim.scheduler.records import COLUMNS as JOB_COLUMNS, JobRecords
from tpusim.core.version import __version__
from tpusim.topology.machine import COMPONENT_CLASSES

if TYPE_CHECKING:  # annotations only
    from tpusim.measure.results import Results

#: The layout of a saved folder; bumped when it changes incompatibly.
FORMAT = 1
RESULTS_JSON = "results.json"
SAMPLES = "results.samples.parquet"
JOBS = "results.jobs.parquet"
TRACE = "results.trace.parquet"
TRACE_COLUMNS = ("replication", "time_hours", "component", "unit", "down")
BY_CLASS = ("failures", "repairs", "initially_down")  # the counts saved as {class: count}


def write_file(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write`` on a temporary path beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(name))
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def write_json_file(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=1, allow_nan=False) + "\n"

    def write(p: Path) -> None:
        p.write_text(text)

    write_file(path, write)


def write_parquet(path: Path, frame: pd.DataFrame) -> None:
    write_file(path, lambda p: frame.to_parquet(p, index=False, engine="pyarrow"))


def _text(value) -> str | None:
    """A string cell read back from Parquet (missing: None)."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def samples_frame(samples: list[Sample], **extra: Any) -> pd.DataFrame:
    """Samples as a frame with fixed dtypes (``extra``: constant columns placed first)."""
    frame = pd.DataFrame(samples, columns=list(SAMPLE_COLUMNS))
    frame = frame.astype({"replication": "int64", "value": "float64"})
    frame["policy"] = frame["policy"].astype(object)
    frame["key"] = frame["key"].astype(object)
    for name, value in reversed(list(extra.items())):
        frame.insert(0, name, value)
    return frame


def read_samples(frame: pd.DataFrame) -> list[Sample]:
    return [Sample(int(r), _text(p), str(m), _text(k), float(v))
            for r, p, m, k, v in zip(frame["replication"], frame["policy"], frame["metric"], frame["key"],
                                     frame["value"])]


def _none_for_nan(values):
    return [[None if isinstance(v, float) and math.isnan(v) else v for v in row] for row in values]


def _replication_json(r: ReplicationResult) -> dict:
    counts = r.counts
    by_class = {name: dict(zip(COMPONENT_CLASSES, getattr(counts, name))) for name in BY_CLASS}
    return {"replication": r.replication, **by_class, "events": counts.events,
            "domain_failures": dict(counts.domain_failures),
            "rollouts": [asdict(rollout) for rollout in r.maintenance.rollouts],
            "waves": [[*w[:5], list(w.units)] for w in r.maintenance.waves],
            "gray": [[*g[:5], list(g.glitches), *g[6:]] for g in r.gray],
            "series": None if r.series is None else {p: _none_for_nan(v) for p, v in r.series.items()},
            "shared_samples": r.shared_samples}


def save_results(results: "Results", directory: Path) -> None:
    """Write ``results`` to ``directory`` (see the module docstring for the files)."""
    directory = Path(directory)
    reps = results.replications
    files: dict[str, int] = {}
    samples = samples_frame([s for r in reps for s in r.samples])
    write_parquet(directory / SAMPLES, samples)
    files[SAMPLES] = len(samples)
    policies = list(results.model.policy_names)
    if reps and all(r.jobs is not None for r in reps):
        parts = [pd.DataFrame({"replication": r.replication, "policy": p, **r.jobs[p].rows})  # type: ignore[index]
                 for r in reps for p in policies if p in r.jobs]  # type: ignore[operator]
        jobs = pd.concat(parts, ignore_index=True)
        for name in ("shape", "state"):
            jobs[name] = jobs[name].astype(str)
        write_parquet(directory / JOBS, jobs)
        files[JOBS] = len(jobs)
    if reps and all(r.trace is not None for r in reps):
        trace = pd.DataFrame([(r.replication, *e) for r in reps for e in r.trace],  # type: ignore[union-attr]
                             columns=list(TRACE_COLUMNS))
        trace = trace.astype({"replication": "int64", "time_hours": "float64", "component": str, "unit": "int64",
                              "down": bool})
        write_parquet(directory / TRACE, trace)
        files[TRACE] = len(trace)
    write_json_file(directory / RESULTS_JSON, {
        "format": FORMAT, "tpusim_version": __version__, "scenario": results.scenario.resolved(),
        "wall_seconds": results.wall_seconds, "error": results.error, "rows_streamed": results.rows_streamed,
        "stopping": results.stopping, "importance": results.importance, "policies": policies, "files": files, "replications": [_replication_json(r) for r in reps]})


def _refuse(directory: Path, message: str) -> ScenarioError:
    return ScenarioError([Problem("", message)], str(directory))


def read_meta(directory: Path) -> dict:
    """``results.json`` of a saved folder, checked for its format."""
    path = Path(directory) / RESULTS_JSON
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise _refuse(directory, f"no {RESULTS_JSON} here (keep results with Results.save)") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise _refuse(directory, f"{RESULTS_JSON} is not JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise _refuse(directory, f"{RESULTS_JSON} has format {found!r}, this tpusim ({__version__}) reads "
                                 f"format {FORMAT}: rerun the scenario (summary.json beside it has the numbers)")
    return meta


def read_table(directory: Path, name: str, meta: dict) -> pd.DataFrame | None:
    """A Parquet file the save listed, with its row count checked (None: not saved)."""
    rows = meta["files"].get(name)
    if rows is None:
        return None
    try:
        frame = pd.read_parquet(Path(directory) / name, engine="pyarrow")
    except (OSError, ValueError) as exc:
        raise _refuse(directory, f"{name}: cannot be read ({exc})") from None
    if len(frame) != rows:
        raise _refuse(directory, f"{name}: {len(frame)} rows, {RESULTS_JSON} says {rows} (an incomplete save)")
    return frame


def load_parts(directory: Path) -> tuple[Scenario, list[ReplicationResult], dict]:
    """The saved scenario (validated), the replications and the rest of ``results.json``."""
    meta = read_meta(directory)
    scenario = scenario_from_dict(meta["scenario"])
    samples = read_samples(read_table(directory, SAMPLES, meta))  # type: ignore[arg-type]
    by_rep: dict[int, list[Sample]] = {}
    for s in samples:
        by_rep.setdefault(s.replication, []).append(s)
    jobs = read_table(directory, JOBS, meta)
    rows: dict[int, dict[str, dict]] = {}
    if jobs is not None:
        for (rep, policy), part in jobs.groupby(["replication", "policy"], sort=False):
            rows.setdefault(int(rep), {})[str(policy)] = {  # type: ignore[call-overload]
                name: (part[name].to_numpy(dtype=object) if name in ("shape", "state") else part[name].to_numpy())
                for name in JOB_COLUMNS}
    trace = read_table(directory, TRACE, meta)
    traces: dict[int, list] = {}
    if trace is not None:
        for rep, t, cls, unit, down in trace.itertuples(index=False, name=None):
            traces.setdefault(int(rep), []).append((float(t), str(cls), int(unit), bool(down)))
    replications = []
    for r in meta["replications"]:
        n = r["replication"]
        series = None if r["series"] is None else {
            p: [[math.nan if v is None else v for v in row] for row in v] for p, v in r["series"].items()}
        failures, repairs, down = (tuple(r[name].get(cls, 0) for cls in COMPONENT_CLASSES) for name in BY_CLASS)
        counts = FailureCounts(failures, repairs, down, r["domain_failures"], r["events"])
        maintenance = MaintenanceLog(tuple(Wave(w[0], w[1], w[2], w[3], w[4], tuple(w[5])) for w in r["waves"]),
                                     tuple(Rollout(**rollout) for rollout in r["rollouts"]))
        replications.append(ReplicationResult(
            n, by_rep.get(n, []), counts, maintenance,
            tuple(GrayEpisode(g[0], g[1], g[2], g[3], g[4], tuple(g[5]), *g[6:]) for g in r["gray"]),
            trace=traces.get(n, []) if trace is not None else None,
            jobs={p: JobOutput(rows.get(n, {}).get(p, _no_rows())) for p in meta["policies"]}
            if jobs is not None else None,
            series=series, shared_samples=r["shared_samples"]))
    return scenario, replications, meta


def _no_rows() -> dict:
    """The columns of a policy with no job row (as :meth:`JobRecords.columns` makes them)."""
    return {name: np.empty(0, dtype=object if name in ("shape", "state") else
                           np.float64 if name in JobRecords._FLOAT else np.int64) for name in JOB_COLUMNS}

