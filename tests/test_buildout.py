"""Partial deployment (issue 12, item 4): cubes installed over time; the reconfigurable pod is
usable from its first cubes, the static pod waits for whole boxes. Exact timelines, no failures."""

import pytest

from tpusim import ScenarioError, run_scenario, scenario_from_dict
from tpusim.engine.replication import simulate

OFF = {"daily_rate": 0, "repair": {"mean_hours": 1}}


def buildout(**over):
    data = {"name": "buildout", "seed": 1, "replications": 1, "horizon_days": 10,
            "slices": ["4x4x4", "4x4x8", "8x8x4", "8x8x8"], "policies": ["static", "reconfigurable"],
            "topology": {"cube_grid": [2, 2, 2], "install": {"cubes_per_day": 1.0}},
            "failures": {"host": OFF, "ici_link": OFF, "ocs": OFF}}
    data.update(over)
    return scenario_from_dict(data)


def test_slices_become_available_as_their_cubes_arrive():
    """Cube n arrives at day n + 1; a k-cube reconfigurable slice is placeable from day k, so over
    10 days its availability is (10 - k) / 10. The static pod needs a whole box: cubes are numbered
    x fastest on the 2x2x2 grid, so the first 2-cube box (cubes 0, 1) is complete at day 2, the
    first 2x2x1 box (0-3) at day 4, the whole grid at day 8."""
    results = run_scenario(buildout())
    for shape, k, static_day in (("4x4x4", 1, 1), ("4x4x8", 2, 2), ("8x8x4", 4, 4), ("8x8x8", 8, 8)):
        assert results.estimate("reconfigurable", "slice_availability", shape).mean == pytest.approx((10 - k) / 10)
        assert results.estimate("static", "slice_availability", shape).mean == pytest.approx((10 - static_day) / 10)
    # no closed form pretends a build-out is a steady state
    assert all(p.closed_form(results.model.failures, (1, 1, 1)) is None for p in results.model.policies)
    assert results.summary()["components"]["host"]["closed_form"] is None


def test_cubes_there_from_the_start_and_the_trace():
    sc = buildout(**{"topology": {"cube_grid": [2, 2, 2], "install": {"at_start": 6, "cubes_per_day": 0.5}}})
    trace = simulate(run_scenario(sc).model, 0, record_trace=True).trace
    arrivals = sorted({t for t, cls, unit, down in trace if not down})
    assert arrivals == [48.0, 96.0]  # cubes 6 and 7, every 2 days
    ups = [unit for t, cls, unit, down in trace if not down and t == 48.0]
    assert sorted(ups) == list(range(6 * 16, 7 * 16))  # the 16 hosts of cube 6
    with pytest.raises(ScenarioError, match="topology.install.at_start"):
        buildout(**{"topology": {"cube_grid": [2, 2, 2], "install": {"at_start": 9, "cubes_per_day": 1}}})
