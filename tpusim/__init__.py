"""tpusim: a discrete-event simulator of a TPU v4-style ML supercomputer.

It answers: how available is a machine whose cubes are wired by optical circuit switches,
compared with a statically wired one, under real failure rates? See DESIGN.md for the model.

Python API (the CLI is a thin layer over it)::

    from tpusim import load_scenario, run_scenario
    results = run_scenario(load_scenario("scenarios/tpuv4_pod.yaml", ["replications=5"]))
    results.availability_frame()
"""

__version__ = "0.1.0"

from tpusim.api import run, run_scenario  # noqa: E402
from tpusim.errors import ScenarioError  # noqa: E402
from tpusim.results import Results  # noqa: E402
from tpusim.scenario import Scenario, load_scenario, scenario_from_dict  # noqa: E402
from tpusim.sweep import sweep  # noqa: E402  (the function; the module stays importable as tpusim.sweep)

__all__ = ["Results", "Scenario", "ScenarioError", "__version__", "load_scenario", "run", "run_scenario",
           "scenario_from_dict", "sweep"]
