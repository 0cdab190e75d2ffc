"""tpusim: a discrete-event simulator of a TPU v4-style ML supercomputer.

It answers: how available is a machine whose cubes are wired by optical circuit switches,
compared with a statically wired one, under real failure rates? See DESIGN.md for the model.

Python API (the CLI is a thin layer over it)::

    import tpusim
    results = tpusim.run("scenarios/tpuv4_pod.yaml", ["replications=5"])
    results.availability_frame()

The code flows one way: config -> model -> simulation -> samples -> estimates -> output
(README, "Layout").
"""

from tpusim.version import __version__  # noqa: I001
from tpusim.api import run, run_scenario
from tpusim.config import build_model, load_scenario, scenario_from_dict
from tpusim.config.schema import Scenario
from tpusim.errors import ScenarioError
from tpusim.results import Results
from tpusim.sweep import sweep  # the function; the module stays importable as tpusim.sweep

__all__ = ["Results", "Scenario", "ScenarioError", "__version__", "build_model", "load_scenario", "run",
           "run_scenario", "scenario_from_dict", "sweep"]
