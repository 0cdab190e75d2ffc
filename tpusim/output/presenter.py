"""How results show themselves: the :class:`~tpusim.measure.results.Presenter` that the output
package gives the measurement layer (dependency inversion: results never import output).

``results.summary()``, ``results.plot(kind)`` and ``results.save(directory)`` call this
presenter; :func:`install` puts it in place and is called by the facade (:mod:`tpusim.api`) and
by :func:`load_results` (``tpusim.load_results``: results kept with ``save``, read back). Plotting modules are imported on first use, so
installing costs nothing (``tpusim --help`` stays fast).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tpusim.measure.results import Results, install_presenter


class OutputPresenter:
    """Summary, figures and persistence of :class:`Results`, from the output package."""

    def summary(self, results: Results, command: list[str] | None, baseline: str | None = None) -> dict:
        from tpusim.output.summary import build_summary

        return build_summary(results, command, baseline)

    def plot(self, results: Results, kind: str, ax: Any) -> Any:
        """``availability`` (against slice size), ``queue_wait`` or ``goodput`` (with a
        workload), ``hero`` (with hero jobs: each one's decomposition per policy),
        ``timeseries`` (with ``timeseries_days``; two axes, so no ``ax``)."""
        from tpusim.output import plots

        if kind == "availability":
            return plots.plot_availability(results, ax=ax)
        if kind in ("queue_wait", "goodput") and results.has_jobs:
            return (plots.plot_queue_wait(results, ax=ax) if kind == "queue_wait"
                    else plots.plot_goodput(results, ax=ax))
        if kind == "hero" and results.heroes:
            return plots.plot_hero_decomposition(results, ax=ax)
        if kind == "timeseries" and ax is not None:
            raise ValueError("the timeseries plot draws two axes: call it without ax")
        series = results.availability_series_frame()
        if kind == "timeseries" and series is not None:
            return plots.plot_series(results, series)
        raise ValueError(f"no {kind!r} plot for these results")

    def save(self, results: Results, directory: Path) -> Path:
        """``results.json``, Parquet for samples, job rows and traces, and ``summary.json``."""
        from tpusim.output.files import write_json
        from tpusim.output.persist import save_results

        write_json(directory / "summary.json", self.summary(results, None))
        save_results(results, directory)
        return directory


def install() -> None:
    """Make results show themselves through the output package."""
    install_presenter(OutputPresenter())


def load_results(directory: "str | Path") -> Results:
    """Results kept with :meth:`Results.save` (``tpusim.load_results``): read from JSON and
    Parquet only (never pickle, so a folder from anyone runs no code), with the model rebuilt
    from the saved scenario; see :mod:`tpusim.output.persist` for the files and what does not round-trip."""
    from tpusim.config.build import build_model
    from tpusim.output.persist import load_parts

    install()  # loaded results can show themselves (summary(), plot()) like a run's
    scenario, replications, meta = load_parts(Path(directory))
    return Results(scenario, build_model(scenario), replications, float(meta["wall_seconds"]), meta["error"],
                   rows_streamed=bool(meta["rows_streamed"]), stopping=meta.get("stopping"), importance=meta.get("importance"))
