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
from tpusim.formatting import Marks, estimate_text, for_metric
from tpusim.metrics import REGISTRY
from tpusim.stats import Estimate

ROOT = Path(__file__).resolve().parent.parent
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


def test_a_fresh_kernel_without_magic_shows_figures_as_images_once(tmp_path, monkeypatch):
    """No ``%matplotlib`` and no pyplot: ``results.plot()`` must still be an image; with the
    inline backend active it must be shown once, not twice."""
    monkeypatch.delenv("MPLBACKEND", raising=False)
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
    ], tmp_path)
    assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", [])), nb.cells
    assert _pngs(nb.cells[1]) == 1, nb.cells[1].outputs  # the fresh kernel: an image, not "<Figure ...>"
    assert _pngs(nb.cells[2]) == 1
    assert _pngs(nb.cells[3]) == 1  # the inline backend active: still one image


def test_plots_draw_into_given_axes():
    from matplotlib.figure import Figure

    results = tpusim.run({**SMALL, "horizon_days": 5})
    fig = Figure()
    ax = fig.subplots()
    assert results.plot(ax=ax) is fig and ax.lines + ax.collections
    with pytest.raises(ValueError):
        results.plot("timeseries", ax=ax)
