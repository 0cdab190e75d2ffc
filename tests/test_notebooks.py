"""The notebooks run end to end (small replication counts) under Jupyter's inline backend, show
their figures and print a conclusion; the committed copies carry their outputs (full counts)."""

import os

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import REPO

NOTEBOOKS = REPO / "notebooks"
NAMES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


def _outputs(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


@pytest.mark.notebooks
@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_and_shows_its_figures(name, monkeypatch):
    monkeypatch.setenv("TPUSIM_NOTEBOOK_QUICK", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the inline backend, as in Jupyter
    # the kernel imports this checkout's tpusim, not whichever one is installed
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(NOTEBOOKS.parent), os.environ.get("PYTHONPATH")])))
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    for cell in nb.cells:  # run from a clean state, not the committed outputs
        if cell.cell_type == "code":
            cell.outputs = []
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    outputs = _outputs(nb)
    assert any("image/png" in o.get("data", {}) for o in outputs), "no figure was displayed"
    assert any(o.get("output_type") == "stream" for o in outputs), "the notebook printed no conclusion"


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebooks_carry_their_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    outputs = _outputs(nb)
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert not any(o.get("output_type") == "error" for o in outputs)
    conclusion = [o for o in outputs if o.get("output_type") == "stream"]
    assert conclusion and "%" in conclusion[-1]["text"]
