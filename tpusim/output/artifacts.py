"""The files a run writes: summary.json always; the tables, traces and plots when something was
measured. Only this module (and the CLI above it) decides file names."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tpusim.output import plots
from tpusim.output.report import build_report
from tpusim.output.files import atomic_path, write_atomic, write_json

if TYPE_CHECKING:  # the results layer calls this module; annotations only
    from tpusim.results import Results


def write_outputs(results: "Results", out: Path, plot: bool = True, jobs_csv: bool = False,
                  command: list[str] | None = None) -> list[Path]:
    """Write summary.json and, when something was measured, the tables, the plots and
    ``report.html`` (all of them in one file); the per-job rows go to ``jobs.parquet`` (and also
    to ``jobs.csv`` with ``jobs_csv``)."""
    written = [out / "summary.json"]
    summary = results.summary(command)
    write_json(written[0], summary)
    if not results.replications:
        return written
    written.append(out / "availability.csv")
    write_atomic(written[-1], results.availability_frame().to_csv(index=False).encode())
    series = results.availability_series_frame()
    if series is not None:
        written.append(out / "availability_timeseries.csv")
        write_atomic(written[-1], series.to_csv(index=False).encode())
        if plot:
            written.append(out / "availability_timeseries.png")
            plots.plot_series(results, series, written[-1])
    traces = results.trace_csv()
    if traces is not None:
        written.append(out / "failure_trace.csv")
        write_atomic(written[-1], traces.encode())
    if results.has_jobs:
        written.append(out / "jobs.parquet")
        write_job_parquet(results, written[-1], summary["provenance"])
        if jobs_csv:
            written.append(out / "jobs.csv")
            write_job_csv(results, written[-1])
    if plot:
        written.append(out / "availability_vs_slice.png")
        plots.plot_availability(results, written[-1])
        if results.has_jobs:
            written.append(out / "queue_wait_by_slice.png")
            plots.plot_queue_wait(results, written[-1])
            written.append(out / "goodput_by_policy.png")
            plots.plot_goodput(results, written[-1])
    written.append(out / "report.html")  # tables and the plots above, in one file to mail
    images = [p for p in written if p.suffix == ".png"]
    write_atomic(written[-1], build_report(results, summary, images).encode())
    return written


def write_job_parquet(results: "Results", path: Path, provenance: dict | None = None) -> None:
    """Stream the per-job rows to Parquet, one row group per (replication, policy): the whole
    run's rows are never one table in memory. The file's key-value metadata carries the run's
    provenance (``tpusim.provenance``, JSON)."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    meta = {b"tpusim.provenance": json.dumps(provenance).encode()} if provenance else {}

    with atomic_path(path) as tmp:
        writer = None
        try:
            for frame in results.job_frames():
                table = pa.Table.from_pandas(frame, preserve_index=False,
                                             schema=writer.schema if writer is not None else None)
                if writer is not None:
                    table = table.replace_schema_metadata(writer.schema.metadata)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema.with_metadata({**(table.schema.metadata or {}), **meta}))
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()


def write_job_csv(results: "Results", path: Path) -> None:
    """The per-job rows as CSV, appended frame by frame."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        for n, frame in enumerate(results.job_frames()):
            frame.to_csv(fh, index=False, header=n == 0)
