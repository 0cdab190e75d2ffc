"""What a person sees: figures in a fresh Jupyter kernel, the caveats and labels of report.html,
intervals that never cross a physical bound, and results kept in data formats (not pickle)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import tpusim
from conftest import REPO, SCENARIOS
from tpusim.core.formatting import Marks, estimate_text, for_metric
from tpusim.core.metrics import REGISTRY
from tpusim.core.stats import Estimate

ROOT = REPO
SMALL = {"name": "present", "replications": 2, "horizon_days": 20, "slices": ["4x4x4", "8x8x8"],
         "policies": ["static", "reconfigurable"]}


def _execute(cells: list[str], tmp_path: Path) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    return nb


def _pngs(cell) -> int:
    return sum("image/png" in o.get("data", {}) for o in cell.get("outputs", []))


@pytest.mark.notebooks
@pytest.mark.slow
def test_a_fresh_kernel_without_magic_shows_figures_as_images_once(tmp_path, monkeypatch):
    """No ``%matplotlib`` and no pyplot: ``results.plot()`` must still be an image; with the
    inline backend active it must be shown once, not twice."""
    import os

    monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    nb = _execute([
        "import tpusim\n"
        f"results = tpusim.run({SMALL!r})",
        "results.plot()",
        "swept = tpusim.sweep(tpusim.Scenario(**{**" + repr(SMALL) + ", 'replications': 2}), "
        "{'failures.host.daily_rate': [0.0008, 0.004]})\n"
        "figures = swept.plot()\n"
        "assert isinstance(figures, dict) and 'slice_availability' in figures\n"
        "figures['slice_availability']",
        "%matplotlib inline\nresults.plot()",
        "figures  # the whole dict: every figure as an image, not a dict's text",
    ], tmp_path)
    assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", [])), nb.cells
    assert _pngs(nb.cells[1]) == 1, nb.cells[1].outputs  # the fresh kernel: an image, not "<Figure ...>"
    assert _pngs(nb.cells[2]) == 1
    assert _pngs(nb.cells[3]) == 1  # the inline backend active: still one image
    assert _pngs(nb.cells[4]) >= 2, nb.cells[4].outputs  # one per metric


def test_plots_draw_into_given_axes():
    from matplotlib.figure import Figure

    results = tpusim.run({**SMALL, "horizon_days": 5})
    fig = Figure()
    ax = fig.subplots()
    assert results.plot(ax=ax) is fig and ax.lines + ax.collections
    with pytest.raises(ValueError):
        results.plot("timeseries", ax=ax)


# -- intervals ---------------------------------------------------------------------------------
def test_a_clipped_or_asymmetric_interval_prints_its_ends_never_a_plus_minus_across_a_bound():
    clipped = Estimate(0.5801, (0.0801, 1.0), 2, "only 2 replications", reliable=False)
    assert for_metric(clipped, "utilization") == "58.01 [8.01, 100.00] †"
    chip_hours = Estimate(1_071_662.0, (0.0, 3_097_900.0), 2, "only 2", reliable=False)
    assert for_metric(chip_hours, "useful_chip_hours") == "1,071,662 [0, 3,097,900] †"
    assert for_metric(Estimate(0.9, (0.85, 0.95), 10), "goodput") == "90.00 ± 5.00"
    assert for_metric(Estimate(0.99, (0.97, 0.995), 10), "slice_availability") == "99.000 [97.000, 99.500]"
    assert for_metric(Estimate(5.0, (4.9999, 5.0001), 10), "mean_detection_minutes") == "5.00 ± <0.01"
    assert "1.687e" not in for_metric(Estimate(16870.0, (0.0, 98290.0), 3), "lost_chip_hours")
    marks = Marks()
    marks.cell(Estimate(1.0, None, 3, "no outage observed in 3 x 10 days; outages rarer than 0.1 per day are "
                                      "not excluded (95 %)"), "slice_availability")
    assert any("rarer than 0.1 per day" in line for line in marks.footnotes(3))


def _plus_minus_cells(texts):
    for text in texts:
        for mean, half in re.findall(r"(-?[\d,]+(?:\.\d+)?) ± ([\d,]+(?:\.\d+)?)", text):
            yield float(mean.replace(",", "")), float(half.replace(",", ""))


@pytest.fixture(scope="module")
def jobs_run():
    return tpusim.run(SCENARIOS / "tpuv4_pod_jobs.yaml", replications=2, horizon_days=30,
                      record_traces=True)


def test_no_printed_plus_minus_crosses_a_bound_anywhere(jobs_run, tmp_path):
    """Every estimate of a run, written as its outputs write it: a ``m ± h`` never reaches past
    the metric's bounds; the terminal, Markdown, report.html and the notebook view show those
    very cells (one set of rules)."""
    import io

    from rich.console import Console

    from tpusim.output.artifacts import write_outputs
    from tpusim.output.tables import availability_markdown, render_table

    console = Console(file=io.StringIO(), width=400)
    render_table(jobs_run, console)
    write_outputs(jobs_run, tmp_path, plot=False)
    import html as htmllib

    outputs = {"terminal": console.file.getvalue(), "markdown": availability_markdown(jobs_run),
               "report": htmllib.unescape((tmp_path / "report.html").read_text()),
               "repr": htmllib.unescape(jobs_run._repr_html_())}
    checked = clipped = 0
    for (policy, name, key), est in jobs_run.estimates.items():
        if est is None:
            continue
        m = REGISTRY[name]
        text = for_metric(est, name)
        for mean, half in _plus_minus_cells([text]):
            low, high = (m.scale * b for b in m.bounds)
            assert mean - half >= low - 1e-9 and mean + half <= high + 1e-9, (name, text)
            checked += 1
        clipped += "[" in text
        if name == "slice_availability":
            assert all(text in out for kind, out in outputs.items() if kind != "markdown"), (policy, key, text)
            assert " % ".join(text.split(" ", 1)) in outputs["markdown"], text  # the unit after the mean
        if m.group == "jobs" and m.table and m.breakdown is None and name not in ("revenue_per_day",):
            assert text in outputs["terminal"] and text in outputs["report"], (name, text)
    assert checked and clipped, "the run shows no ± or no [low, high]: the test reads nothing"
    # the paired differences (policy - baseline) are signed: their tables come last, and a
    # difference of percentages stays within ±100 percentage points
    estimates = [out.split("paired differences vs")[0] for out in outputs.values()]
    assert all(m - h >= -1e-9 for m, h in _plus_minus_cells(estimates))
    differences = [out.split("paired differences vs", 1)[1] for kind, out in outputs.items()
                   if kind in ("terminal", "report")]
    assert all(-100 - 1e-9 <= m - h and m + h <= 100 + 1e-9 for m, h in _plus_minus_cells(differences)
               if abs(m) <= 100)


def test_report_html_carries_the_terminals_caveats_labels_and_units(jobs_run, tmp_path):
    import html as htmllib
    import io

    from rich.console import Console

    from tpusim.output.artifacts import write_outputs
    from tpusim.output.tables import render_table

    write_outputs(jobs_run, tmp_path, plot=False)
    page = htmllib.unescape((tmp_path / "report.html").read_text())
    text = re.sub(r"<[^>]+>", " ", page)
    console = Console(file=io.StringIO(), width=400)
    render_table(jobs_run, console)
    terminal = console.file.getvalue()
    for caveat in ("warning: 2 replications", "†", "(none seen)", "are not excluded (95 %)", "(all equal)",
                   "[low, high]", "closed form", "within CI"):
        assert caveat in terminal and caveat in text, caveat
    for m in REGISTRY.values():  # labels, never raw ids, for every metric the tables show
        if m.group == "jobs" and m.breakdown is None and m.table and jobs_run.job_metric("static", m.name):
            assert m.label.strip() in text, m.label
    raw = [name for name in REGISTRY if "_" in name and re.search(rf"(?<![\w.]){name}(?![\w.])", text)]
    assert not raw, raw
    assert not re.search(r"\d\.\d+e[+-]\d", text), "exponent notation"
    assert "goodput %" in text and "system availability %" in text
    # fractions are in percent: no availability written as 0.99...
    assert not re.search(r"(?<![\d.])0\.9\d{3}", text)


def test_notebook_view_and_frames_carry_caveats_and_share_columns(jobs_run):
    page = jobs_run._repr_html_()
    assert "warning: 2 replications" in page and "system availability" in page and " %" in page
    assert not re.search(r"(?<![\d.])0\.99\d", page)  # no fraction beside the percentages
    metrics, avail = jobs_run.metrics_frame(), jobs_run.availability_frame()
    for column in ("mean", "ci95_low", "ci95_high", "replications", "reliable", "note"):
        assert column in metrics and column in avail
    assert avail.note.notna().any() and not metrics.reliable.all()


# -- results kept in data formats ----------------------------------------------------------------
def test_results_round_trip_through_json_and_parquet(jobs_run, tmp_path):
    import io

    import pandas as pd
    from rich.console import Console

    from tpusim.output.tables import render_table

    jobs_run.save(tmp_path)
    assert not list(tmp_path.glob("*.pickle"))
    again = tpusim.load_results(tmp_path)
    first, second = jobs_run.summary(), again.summary()
    first.pop("provenance"), second.pop("provenance")
    assert first == second
    for frame in ("metrics_frame", "availability_frame", "jobs_frame", "to_frame"):
        pd.testing.assert_frame_equal(getattr(again, frame)(), getattr(jobs_run, frame)())
    assert again.trace_csv() == jobs_run.trace_csv()
    tables = []
    for r in (jobs_run, again):
        console = Console(file=io.StringIO(), width=300)
        render_table(r, console)
        tables.append(console.file.getvalue().rsplit("failure/repair events", 1)[0])
    assert tables[0] == tables[1]


@pytest.mark.parametrize("name,overrides", [
    ("safe_rollout.yaml", {"replications": 2, "horizon_days": 60}),
    ("tpuv4_100_weeks.yaml", {"replications": 2, "horizon_days": 28}),
    ("gray_failures.yaml", {"replications": 2, "horizon_days": 20}),
])
def test_rollouts_waves_gray_and_series_round_trip(name, overrides, tmp_path):
    import pandas as pd

    results = tpusim.run(SCENARIOS / name, **overrides)
    results.save(tmp_path)
    again = tpusim.load_results(tmp_path)
    for a, b in zip(results.replications, again.replications):
        assert (a.maintenance, a.gray, a.series, a.counts) == (b.maintenance, b.gray, b.series, b.counts)
    first, second = results.summary(), again.summary()
    first.pop("provenance"), second.pop("provenance")
    assert first == second
    series = results.availability_series_frame()
    if series is not None:
        pd.testing.assert_frame_equal(again.availability_series_frame(), series)


def test_a_folder_with_only_a_pickle_is_refused_without_unpickling(tmp_path):
    (tmp_path / "results.pickle").write_bytes(b"cos\nsystem\n(S'echo pwned'\ntR.")
    with pytest.raises(tpusim.ScenarioError, match="no results.json"):
        tpusim.load_results(tmp_path)


def test_sweeps_round_trip_and_show_themselves(tmp_path):
    import pandas as pd

    from tpusim.studies.sweep import SweepResults

    base = tpusim.Scenario(**{**SMALL, "horizon_days": 10})
    swept = tpusim.sweep(base, {"failures.host.daily_rate": [0.0008, 0.004]})
    swept.save(tmp_path)
    again = tpusim.load_sweep(tmp_path)
    assert isinstance(again, SweepResults)
    pd.testing.assert_frame_equal(again.to_frame(), swept.to_frame())
    reps = again.replications_frame()
    assert len(reps) == sum(len(p.samples) for p in swept.points)
    assert {"point", "failures.host.daily_rate", "replication", "policy", "metric", "key", "value"} <= set(reps)
    page = swept._repr_html_()
    assert "<table" in page and "system availability %" in page and "warning: 2 replications" in page
