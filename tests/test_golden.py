"""Golden summaries of tiny scenarios: any change to the model's numbers shows up here.

When a change is *meant* to move the numbers, regenerate with
``TPUSIM_UPDATE_GOLDEN=1 pytest tests/test_golden.py`` and explain the move in the commit.
"""

import json
import os
from pathlib import Path

import pytest

from tpusim import load_scenario, run_scenario

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("name", ["tiny", "tiny_jobs"])
def test_summary_matches_golden(name):
    results = run_scenario(load_scenario(GOLDEN / f"{name}.yaml"))
    summary = results.summary()
    for volatile in ("wall_seconds", "tpusim_version", "provenance"):
        summary.pop(volatile)
    path = GOLDEN / f"{name}_summary.json"
    if os.environ.get("TPUSIM_UPDATE_GOLDEN"):
        path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    expected = json.loads(path.read_text())
    assert json.loads(json.dumps(summary, sort_keys=True)) == expected
