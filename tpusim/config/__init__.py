"""Configuration: the scenario schema, loading with overrides, and the build step (DESIGN §7).

``load_scenario`` / ``scenario_from_dict`` give a validated :class:`Scenario` (days, minutes,
file names: the user's units); ``build_model`` turns it into the hours-only
:class:`~tpusim.engine.model.Model` that the simulation runs. Only this package reads scenario files
and the CSV files they name.

Layer: above every model package (it builds their parameter types), below execution, results
and outputs.
"""

from tpusim.config.build import build_model  # noqa: I001  (registers the cross-key check)
from tpusim.config.load import load_scenario
from tpusim.config.overrides import apply_overrides, override_strings, parse_override
from tpusim.config.schema import Scenario, scenario_from_dict

__all__ = ["Scenario", "apply_overrides", "build_model", "load_scenario", "override_strings", "parse_override",
           "scenario_from_dict"]
