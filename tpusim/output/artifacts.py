"""The files a run writes: summary.json always; the tables, traces and plots when something was
measured. Only this module (and the CLI above it) decides file names."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

from tpusim.measure.results import job_frames
from tpusim.output import plots
from tpusim.output.report import build_report
from tpusim.output.files import atomic_path, write_atomic, write_json

if TYPE_CHECKING:  # the results layer calls this module; annotations only
    import pandas as pd

    from tpusim.engine.replication import ReplicationResult
    from tpusim.measure.results import Results


def write_outputs(results: "Results", out: Path, plot: bool = True, jobs_csv: bool = False,
                  command: list[str] | None = None, rows: "JobRows | None" = None,
                  provenance: dict | None = None, baseline: str | None = None) -> list[Path]:
    """Write summary.json and, when something was measured, the tables, the plots and
    ``report.html`` (all of them in one file); the per-job rows go to ``jobs.parquet`` (and also
    to ``jobs.csv`` with ``jobs_csv``), or, if they were streamed into ``rows`` during the run,
    ``rows`` is closed there. ``provenance``: the block summary.json records (default: made
    now), the one ``rows`` was opened with. ``baseline``: the policy the paired differences
    (summary.json's ``comparisons``, the report's table) are against, default the first."""
    written = [out / "summary.json"]
    summary = results.summary(command, baseline)
    if provenance is not None:
        summary["provenance"] = provenance
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
        if rows is None:  # the rows are in the results: write them now
            rows = JobRows(out, results.model.policy_names, jobs_csv, summary["provenance"])
            try:
                for r in results.replications:
                    rows.add(r)
            except BaseException:
                rows.abort()
                raise
        written += rows.close()
    if plot:
        written.append(out / "availability_vs_slice.png")
        plots.plot_availability(results, written[-1])
        if results.has_jobs:
            written.append(out / "queue_wait_by_slice.png")
            plots.plot_queue_wait(results, written[-1])
            written.append(out / "goodput_by_policy.png")
            plots.plot_goodput(results, written[-1])
            written.append(out / "goodput_decomposition.png")
            plots.plot_goodput_decomposition(results, written[-1])
        if results.heroes:
            written.append(out / "hero_goodput_decomposition.png")
            plots.plot_hero_decomposition(results, written[-1])
    written.append(out / "report.html")  # tables and the plots above, in one file to mail
    images = [p for p in written if p.suffix == ".png"]
    write_atomic(written[-1], build_report(results, summary, images).encode())
    return written


class JobRows:
    """The per-job rows of a run, written as they come: ``jobs.parquet`` (one row group per
    replication and policy) and, with ``csv``, ``jobs.csv`` too. Both files appear, atomically,
    at :meth:`close` (:meth:`abort` leaves neither). The Parquet file's key-value metadata
    carries the run's ``provenance`` (``tpusim.provenance``, JSON), given when the writer is
    made. Fed either after a run, from the rows its results hold (:func:`write_outputs`), or
    during one: the CLI hands :meth:`add` to :func:`~tpusim.api.run_scenario`, so that a run of
    many replications never holds all their rows (a 25-pod year: about 170 MB of rows per
    policy and replication)."""

    def __init__(self, out: Path, policies: Sequence[str], csv: bool = False, provenance: dict | None = None):
        import json

        self.policies = tuple(policies)
        self._meta = {b"tpusim.provenance": json.dumps(provenance).encode()} if provenance else {}
        self.paths = [out / "jobs.parquet"] + ([out / "jobs.csv"] if csv else [])
        self._files = ExitStack()  # the temporary files, renamed into place on close
        tmps = [self._files.enter_context(atomic_path(p)) for p in self.paths]
        self._parquet = tmps[0]
        self._csv = self._files.enter_context(open(tmps[1], "w", newline="")) if csv else None
        self._writer = None
        self._frames = 0
        self.closed = False

    def add(self, result: "ReplicationResult") -> None:
        """Write the rows ``result`` holds: a replication's, of all its policies or of some
        (calls in replication order, then policy order; each replication and policy once)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        assert result.jobs is not None, "this replication kept no per-job rows"
        for frame in job_frames(result, [p for p in self.policies if p in result.jobs]):
            writer = self._writer
            table = pa.Table.from_pandas(frame, preserve_index=False,
                                         schema=writer.schema if writer is not None else None)
            if writer is None:
                schema = table.schema.with_metadata({**(table.schema.metadata or {}), **self._meta})
                writer = self._writer = pq.ParquetWriter(self._parquet, schema)
            else:
                table = table.replace_schema_metadata(writer.schema.metadata)
            writer.write_table(table)
            if self._csv is not None:
                frame.to_csv(self._csv, index=False, header=self._frames == 0)
            self._frames += 1

    def close(self) -> list[Path]:
        """Finish the files and move them into place; the paths written."""
        if self._writer is None:
            raise ValueError("no replication's rows were added")
        self._writer.close()
        self.closed = True
        self._files.close()
        return self.paths

    def abort(self) -> None:
        """Drop the files (a run that measured nothing, or failed while writing)."""
        if self.closed:
            return
        self.closed = True
        if self._writer is not None:
            self._writer.close()
        error = RuntimeError("job rows aborted")
        self._files.__exit__(type(error), error, None)  # each temporary file removed
