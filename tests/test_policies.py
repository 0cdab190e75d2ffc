"""Policies are strategy objects behind one interface: a new one is a few lines, and runs
everywhere at once (validation, capacity, jobs, summary, tables, plots)."""

from __future__ import annotations

import pytest
from rich.console import Console

import tpusim
from tpusim import ScenarioError, build_model, scenario_from_dict
from tpusim.output.tables import render_table
from tpusim.policies import registry
from tpusim.policies.reconfigurable import ReconfigurablePolicy

SCENARIO = {
    "name": "fourth", "seed": 3, "replications": 2, "horizon_days": 8,
    "slices": ["4x4x4", "8x8x8"],
    "topology": {"cube_grid": [2, 2, 2]},
    "failures": {"host": {"daily_rate": 0.02, "repair": {"mean_hours": 12}},
                 "ici_link": {"daily_rate": 0.0, "repair": {"mean_hours": 12}},
                 "ocs": {"daily_rate": 0.0, "repair": {"mean_hours": 12}}},
    "workload": {"jobs_per_pod_day": 40, "duration": {"mean_hours": 3.0}},
}


@pytest.fixture
def no_swap_policy():
    @registry.register
    class NoSpareSwaps(ReconfigurablePolicy):  # the whole policy: one rule changed
        name = "reconfigurable_noswap"
        summary = "OCS pod that never swaps a failed cube for a spare (waits for repair or requeues)"
        swaps_spares = False

    yield NoSpareSwaps
    registry.unregister("reconfigurable_noswap")


def test_a_fourth_policy_defined_in_a_few_lines_runs_end_to_end(no_swap_policy):
    results = tpusim.run({**SCENARIO, "policies": ["reconfigurable", "reconfigurable_noswap"]})
    summary = results.summary()
    plain, noswap = summary["policies"]["reconfigurable"], summary["policies"]["reconfigurable_noswap"]
    # same capacity rule, same trace: the same slice availability
    assert plain["slice_availability"] == noswap["slice_availability"]
    # the one rule it changes shows in the jobs
    assert plain["jobs"]["spare_swaps"]["mean"] > 0
    assert noswap["jobs"]["spare_swaps"]["mean"] == 0
    assert noswap["jobs"]["jobs_interrupted"]["mean"] > 0
    console = Console(record=True, width=200)
    render_table(results, console)
    assert "reconfigurable_noswap" in console.export_text()
    assert results.plot() is not None


def test_an_unknown_policy_is_an_error_naming_the_registered_ones():
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict({**SCENARIO, "policies": ["static", "reconfigurabel"]})
    line = info.value.lines()[0]
    assert line.startswith("policies[1]: must be one of ") and "'reconfigurable_ft'" in line and "'reconfigurabel'" in line


def test_registering_a_taken_name_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        @registry.register
        class Impostor(ReconfigurablePolicy):
            name = "static"


def test_policies_differ_only_by_their_rules():
    model = build_model(scenario_from_dict({**SCENARIO, "policies": ["static", "reconfigurable", "reconfigurable_ft"]}))
    static, reconf, ft = model.policies
    assert (static.uses_ocs, reconf.uses_ocs, ft.uses_ocs) == (False, True, True)
    assert (static.swaps_spares, reconf.swaps_spares, ft.swaps_spares) == (False, True, True)
    assert (static.reroutes, reconf.reroutes, ft.reroutes) == (False, False, True)
    assert static.xconnects(2) == 0 and reconf.xconnects(2) == 96 == ft.xconnects(2)
    # a 1x1x2 slice swapping one cube reprograms that cube's x and y rings and the shared z ring
    assert reconf.swap_xconnects((1, 1, 2), [0]) == 16 + 16 + 16 + 16
    assert not static.cube_usable(0, 1, 0) and not reconf.cube_usable(0, 1, 0) and ft.cube_usable(0, 1, 0)
    # an optical port link is a cable end for the static pod (the cable's business, not the
    # cube's) and a fibre every whole-cube slice uses for the reconfigurable one
    assert static.cube_usable(0, 0, 1) and not reconf.cube_usable(0, 0, 1) and ft.cube_usable(0, 0, 1)
    assert not ft.cube_usable(1, 0, 0) and not static.cube_usable(1, 0, 0)
    assert static.pod_usable(48) and not reconf.pod_usable(1) and ft.pod_usable(4) and not ft.pod_usable(5)
    assert static.grid_fits((2, 2, 2)) and not static.grid_fits((1, 1, 8)) and reconf.grid_fits((1, 1, 8))
