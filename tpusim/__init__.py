"""tpusim: a discrete-event simulator of a TPU v4-style ML supercomputer.

It answers: how available is a machine whose cubes are wired by optical circuit switches,
compared with a statically wired one, under real failure rates? See DESIGN.md for the model.

Python API (the CLI is a thin layer over it)::

    import tpusim
    results = tpusim.run("tpuv4_pod", ["replications=5"])
    results.availability_frame()

The code flows one way: config -> model -> simulation -> samples -> estimates -> output
(README, "Layout").
"""

from tpusim.core.version import __version__

# The API is imported on first use (PEP 562), so that `import tpusim` and `tpusim --help` stay
# fast: the model pulls in numpy, scipy, networkx, pandas and pydantic.
_LAZY = {
    "run": "tpusim.api", "run_scenario": "tpusim.api", "study": "tpusim.api", "fit": "tpusim.api",
    "build_model": "tpusim.config", "load_scenario": "tpusim.config", "scenario_from_dict": "tpusim.config",
    "Scenario": "tpusim.config.schema", "ScenarioError": "tpusim.core.errors", "Results": "tpusim.measure.results",
    "load_results": "tpusim.output.presenter", "domain_attribution": "tpusim.studies.attribution",
    "campaign_cost": "tpusim.studies.attribution", "localise": "tpusim.studies.localisation.study", "plan_spares": "tpusim.studies.spares",
    "sweep": "tpusim.studies.sweep", "sensitivity": "tpusim.studies.sensitivity",
    "input_uncertainty": "tpusim.studies.uncertainty", "rare_outage": "tpusim.studies.rare",
    # a matplotlib Figure that shows itself as an image in any Jupyter kernel (no %matplotlib)
    "Figure": "tpusim.output.plots",
    "load_sweep": "tpusim.studies.sweep",
}

__all__ = ["Figure", "Results", "Scenario", "ScenarioError", "__version__", "build_model", "campaign_cost", "domain_attribution", "fit", "input_uncertainty", "load_results",
           "load_scenario", "load_sweep", "localise", "plan_spares", "rare_outage", "run",
           "run_scenario", "scenario_from_dict", "sensitivity", "study", "sweep"]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'tpusim' has no attribute {name!r}")
    import importlib

    importlib.import_module("tpusim.api")  # the facade: results can then show themselves (summary, plot)
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # once imported, an ordinary attribute (also shadows the submodule)
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
