"""Property tests (hypothesis) of the invariants of placement, health and availability."""

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference import boxes, evaluate, grid_number
from tpusim import scenario_from_dict
from tpusim import build_model
from tpusim.engine.replication import simulate
from tpusim.topology.placement import place_reconfigurable, place_static, static_box_masks, static_boxes

grids = st.tuples(*[st.integers(1, 4)] * 3)


@st.composite
def grid_and_shape(draw):
    grid = draw(grids)
    dims = tuple(draw(st.integers(1, 4)) for _ in range(3))
    cubes = math.prod(grid)
    unusable = draw(st.sets(st.integers(0, cubes - 1), max_size=cubes))
    return grid, dims, unusable


@given(grid_and_shape(), st.booleans())
def test_static_placement_is_a_healthy_box_of_the_grid(case, wrap):
    """Checked against reference.boxes (every box of the grid, enumerated there with itertools
    from DESIGN §1), not against the package's own enumeration that place_static walks."""
    grid, dims, unusable = case
    every = boxes(grid, dims, wrap)
    free = [b for b in every if not {grid_number(grid, c) for c in b} & unusable]
    box = place_static(grid, dims, unusable, wrap=wrap)
    assert (box is None) == (not free)  # it finds a box exactly when some box is free
    if box is None:
        return
    assert sorted(box.dims) == sorted(dims)
    cells = box.cells()
    assert len(set(cells)) == math.prod(dims) and frozenset(cells) in every
    assert not any(grid_number(grid, c) in unusable for c in cells)
    # a torus of cubes places at least wherever a mesh of cubes does
    if place_static(grid, dims, unusable, wrap=False) is not None:
        assert place_static(grid, dims, unusable, wrap=True) is not None


@given(grids, st.tuples(*[st.integers(1, 4)] * 3), st.booleans())
def test_static_boxes_are_every_box_of_the_grid_once(grid, dims, wrap):
    found = [frozenset(b.cells()) for b in static_boxes(grid, dims, wrap=wrap)]
    assert len(found) == len(set(found))
    assert set(found) == boxes(grid, dims, wrap)
    assert sorted(static_box_masks(grid, dims, wrap=wrap)) == sorted(
        sum(1 << grid_number(grid, c) for c in b) for b in boxes(grid, dims, wrap))


@given(grid_and_shape(), st.booleans())
def test_reconfigurable_placement_uses_only_usable_cubes(case, ocs_up):
    grid, dims, unusable = case
    cubes = math.prod(grid)
    k = math.prod(dims)
    chosen = place_reconfigurable(cubes, k, unusable, ocs_up)
    if chosen is None:
        assert not ocs_up or cubes - len(unusable) < k
    else:
        assert len(set(chosen)) == k and not set(chosen) & unusable and ocs_up


@given(grid_and_shape())
def test_static_placeable_implies_reconfigurable_placeable_when_ocs_up(case):
    grid, dims, unusable = case
    if place_static(grid, dims, unusable, wrap=True) is not None:
        assert place_reconfigurable(math.prod(grid), math.prod(dims), unusable, True) is not None


# -- simulator against the naive reference evaluator ------------------------------------------

@st.composite
def small_scenarios(draw):
    cube_shape = draw(st.sampled_from([(2, 2, 2), (2, 2, 4), (4, 4, 4)]))
    chips = math.prod(cube_shape)
    chips_per_host = draw(st.sampled_from([c for c in (1, 2, 4) if chips % c == 0]))
    grid = draw(st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 2)))
    cubes = math.prod(grid)
    n_shapes = draw(st.integers(1, 3))
    shapes = set()
    for _ in range(n_shapes):
        dims = tuple(draw(st.integers(1, 3)) for _ in range(3))
        if math.prod(dims) <= cubes:
            shapes.add("x".join(str(d * c) for d, c in zip(dims, cube_shape)))
    if not shapes:
        shapes = {"x".join(map(str, cube_shape))}

    def component(rate_max):
        return {
            "daily_rate": draw(st.sampled_from([0.0, rate_max / 10, rate_max])),
            "repair": {"dist": draw(st.sampled_from(["exponential", "lognormal", "fixed"])),
                       "mean_hours": draw(st.sampled_from([2.0, 24.0, 100.0]))},
        }

    return scenario_from_dict({
        "name": "prop",
        "policies": ["static", "reconfigurable", "reconfigurable_ft"],
        "pod_manager": {"ft_routing": {"max_faults": draw(st.integers(0, 3))}},
        "seed": draw(st.integers(0, 2**32)),
        "replications": 1,
        "horizon_days": draw(st.sampled_from([5.0, 30.0])),
        "timeseries_days": draw(st.sampled_from([None, 1.0, 7.0])),
        "slices": sorted(shapes),
        "topology": {"pods": draw(st.integers(1, 2)), "cube_grid": list(grid), "cube_shape": list(cube_shape),
                     "hosts_per_cube": chips // chips_per_host, "chips_per_host": chips_per_host},
        "failures": {"host": component(0.05), "ici_link": component(0.01), "ocs": component(0.05),
                     "initial_state": draw(st.sampled_from(["steady", "all_up"]))},
    })


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_scenarios())
def test_trackers_match_a_naive_replay_of_the_trace(scenario):
    result = simulate(build_model(scenario), 0, record_trace=True)
    expected = evaluate(scenario, result.trace)
    for policy in scenario.policies:
        got = result.values(policy, "slice_availability")
        want = expected[policy]["slice_availability"]
        assert got == pytest.approx(want, abs=1e-9), policy
        assert all(0.0 <= a <= 1.0 for a in got)
        assert result.value(policy, "system_availability") == pytest.approx(
            expected[policy]["system_availability"], abs=1e-9
        )
        # the time with at least k cubes placeable as one slice, for every k
        got_capacity = result.values(policy, "capacity_fraction")
        assert got_capacity == pytest.approx(expected[policy]["capacity"], abs=1e-9), policy
    # the time series splits the same indicator: its length-weighted mean is the total
    if scenario.timeseries_days:
        width, T = scenario.timeseries_days * 24, scenario.horizon_days * 24
        for policy in scenario.policies:
            for series, total in zip(result.series[policy], result.values(policy, "slice_availability")):
                lengths = [min(width, T - i * width) for i in range(len(series))]
                assert sum(a * w for a, w in zip(series, lengths)) / T == pytest.approx(total, abs=1e-9)
    # fault-tolerant routing never makes a slice less available on the same trace
    ft, plain = result.values("reconfigurable_ft", "slice_availability"), result.values("reconfigurable", "slice_availability")
    assert all(a >= b - 1e-12 for a, b in zip(ft, plain))


@settings(max_examples=15, deadline=None)
@given(small_scenarios())
def test_every_policy_sees_the_same_trace(scenario):
    """The trace depends on (seed, replication) only: not on which policies are evaluated."""
    data = scenario.model_dump()
    traces = []
    for policies in (["static"], ["reconfigurable"], ["reconfigurable_ft", "reconfigurable", "static"]):
        sc = scenario_from_dict({**data, "policies": policies})
        traces.append(simulate(build_model(sc), 0, record_trace=True).trace)
    assert traces[0] == traces[1] == traces[2]
    # and a policy's numbers do not depend on which others run beside it
    both = simulate(build_model(scenario_from_dict({**data, "policies": ["static", "reconfigurable"]})), 0)
    alone = simulate(build_model(scenario_from_dict({**data, "policies": ["static"]})), 0)
    assert both.values("static", "slice_availability") == alone.values("static", "slice_availability")


@settings(max_examples=15, deadline=None)
@given(small_scenarios())
def test_trace_is_consistent(scenario):
    """Every repair follows a failure of the same unit; no unit fails while down."""
    trace = simulate(build_model(scenario), 0, record_trace=True).trace
    down = set()
    last = 0.0
    for t, cls, unit, is_down in trace:
        assert t >= last
        last = t
        key = (cls, unit)
        if is_down:
            assert key not in down
            down.add(key)
        else:
            assert key in down
            down.remove(key)
    assert last <= scenario.horizon_days * 24
