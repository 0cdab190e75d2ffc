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
from tpusim.topology.allocation import Allocation
from tpusim.topology.shapes import SliceShape

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

        def swaps_cubes(self, job):
            return False

        def spare_cubes(self, requested):
            return 0  # so it keeps none

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
    assert [(p.wiring, p.ici_routing) for p in model.policies] == [("static", "plain"), ("ocs", "plain"), ("ocs", "ft")]
    whole, sub = _Holder(cubes=2), _Holder(cubes=0)
    assert [p.swaps_cubes(whole) for p in model.policies] == [False, True, True]
    assert [p.spare_cubes(3) for p in model.policies] == [0, 3, 3]
    assert [p.routes_around_faults(whole) for p in model.policies] == [False, False, True]
    assert not ft.routes_around_faults(sub)  # sub-cube slices do not use fault-tolerant routing
    # a slice of whole cubes uses every OCS of its pod on the OCS machine, none on the static one
    assert static.slice_ocses(1) == range(0) and reconf.slice_ocses(1) == range(48, 96) == ft.slice_ocses(1)
    assert [type(p).ocs_ports_needed(8) for p in model.policies] == [0, 16, 16]
    # the circuits of a 1x1x2 slice on cubes 0 and 1, by face join: each cube's x and y faces to
    # its own (wraparounds), the z faces to each other; none on cables or for a sub-cube slice
    two = Allocation(0, [0, 1], (1 << 64) - 1)
    assert static.slice_circuits(two, (1, 1, 2)).faces() == []
    joins = [(0, 0, 0), (1, 0, 0), (2, 0, 1), (0, 1, 1), (1, 1, 1), (2, 1, 0)]
    assert reconf.slice_circuits(two, (1, 1, 2)).faces() == joins == ft.slice_circuits(two, (1, 1, 2)).faces()
    assert reconf.slice_circuits(Allocation(0, [0], 0xFF), None).faces() == []
    assert not static.cube_usable(0, 1, 0) and not reconf.cube_usable(0, 1, 0) and ft.cube_usable(0, 1, 0)
    # an optical port link is a cable end for the static pod (the cable's business, not the
    # cube's) and a fibre every whole-cube slice uses for the reconfigurable one
    assert static.cube_usable(0, 0, 1) and not reconf.cube_usable(0, 0, 1) and ft.cube_usable(0, 0, 1)
    assert not ft.cube_usable(1, 0, 0) and not static.cube_usable(1, 0, 0)
    assert static.pod_usable(48) and not reconf.pod_usable(1) and ft.pod_usable(4) and not ft.pod_usable(5)
    assert static.grid_fits((2, 2, 2)) and not static.grid_fits((1, 1, 8)) and reconf.grid_fits((1, 1, 8))


class _Holder:
    """A job as a policy reads it (:class:`tpusim.policies.SliceHolder`), of ``cubes`` whole cubes."""

    def __init__(self, cubes: int):
        self.id, self.chips, self.cubes, self.cube_dims, self.pattern, self.alloc = 0, 64 * cubes, cubes, None, "", None


def test_the_failures_that_interrupt_a_slice_set_its_rate():
    """A 2-cube slice: 2 x (16 hosts + 240 links) on every machine, plus the data-plane failures
    of the pod's 48 OCSes where it is wired through them (a control-plane failure leaves its
    circuits lit); under FT routing only its 32 hosts (links and OCSes are routed around); a
    2x2x1 sub-cube slice: one host and its 4 links under every policy."""
    failures = {c: {"daily_rate": r, "repair": {"mean_hours": 1}} for c, r in
                (("host", 0.024), ("ici_link", 0.0024), ("ocs", 0.24))}
    model = build_model(scenario_from_dict({**SCENARIO, "failures": {**failures, "ocs_control_plane_share": 0.25},
                                            "policies": ["static", "reconfigurable", "reconfigurable_ft"]}))
    static, reconf, ft = model.policies
    host, link, ocs = 0.001, 0.0001, 0.01  # per hour
    cubes = 2 * (16 * host + 240 * link)
    assert static.interrupting_rate(model.failures, SliceShape((4, 4, 8))) == pytest.approx(cubes)
    assert reconf.interrupting_rate(model.failures, SliceShape((4, 4, 8))) == pytest.approx(cubes + 48 * ocs * 0.75)
    assert ft.interrupting_rate(model.failures, SliceShape((4, 4, 8))) == pytest.approx(2 * 16 * host)
    for policy in model.policies:
        assert policy.interrupting_rate(model.failures, SliceShape((2, 2, 1))) == pytest.approx(host + 4 * link)


# -- the static closed form against one written here ------------------------------------------

def _box_cables(grid, cells, cube_shape, wrap) -> int:
    """Cables a static box uses, from DESIGN §1: one bundle of face-position cables from each of
    its cubes to its +d neighbour when that neighbour is in the box too (through the grid's end
    on a torus of cubes; a cube is never its own neighbour)."""
    chips, count = cube_shape[0] * cube_shape[1] * cube_shape[2], 0
    for cell in cells:
        for d in range(3):
            nb = list(cell)
            nb[d] += 1
            if nb[d] == grid[d]:
                if not wrap:
                    continue
                nb[d] = 0
            if tuple(nb) != cell and tuple(nb) in cells:
                count += chips // cube_shape[d]
    return count


@pytest.mark.parametrize("shape, per_host, grid, dims", [
    ((4, 4, 4), 4, (4, 4, 4), (1, 2, 3)), ((4, 4, 4), 4, (4, 4, 4), (4, 4, 2)), ((4, 4, 4), 4, (4, 4, 4), (4, 4, 4)),
    ((2, 2, 4), 2, (2, 3, 1), (1, 2, 1)), ((2, 2, 4), 2, (2, 3, 1), (2, 3, 1)), ((2, 4, 6), 2, (3, 2, 2), (2, 3, 1)),
    ((2, 2, 2), 1, (1, 1, 1), (1, 1, 1)), ((4, 4, 4), 8, (2, 2, 2), (2, 1, 2)),
])
@pytest.mark.parametrize("wrap", [True, False])
@pytest.mark.parametrize("ends", [1, 2])
def test_the_static_closed_form_and_cabling_count_the_cables_of_a_box(shape, per_host, grid, dims, wrap, ends):
    """tpusim.policies.analytic.static_box against a_host^(H k) * a_link^(E k + ends * C) with C counted
    here cube by cube; and the simulator's cabling (StaticCabling.used_cables) against the same
    count for every box of the grid (enumerated by tests/reference.py)."""
    import itertools
    import math

    from reference import boxes, grid_number
    from tpusim.policies.analytic import static_box
    from tpusim.topology.cabling import StaticCabling

    host, link, mttr = 0.002, 0.0004, 24.0
    sc = scenario_from_dict({
        "name": "static-form", "policies": ["static"], "slices": ["x".join(str(n * c) for n, c in zip(dims, shape))],
        "topology": {"cube_grid": list(grid), "cube_shape": list(shape), "chips_per_host": per_host,
                     "hosts_per_cube": math.prod(shape) // per_host, "static_wrap": wrap, "static_cable_ends": ends},
        "failures": {"host": {"daily_rate": host, "repair": {"dist": "exponential", "mean_hours": mttr}},
                     "ici_link": {"daily_rate": link, "repair": {"dist": "exponential", "mean_hours": mttr}},
                     "ocs": {"daily_rate": 0, "repair": {"mean_hours": 1}}},
    })
    model = build_model(sc)
    first = next(p for p in itertools.permutations(dims) if all(n <= g for n, g in zip(p, grid)))
    cells = set(itertools.product(*map(range, first)))  # the box at the origin, first axis order
    k = math.prod(dims)
    hosts = math.prod(shape) // per_host
    electrical = sum((n - 1) * math.prod(shape) // n for n in shape)
    a_host, a_link = (24 / host) / (24 / host + mttr), (24 / link) / (24 / link + mttr)
    truth = a_host ** (hosts * k) * a_link ** (electrical * k + ends * _box_cables(grid, cells, shape, wrap))
    assert static_box(model.machine, model.failures, dims) == pytest.approx(truth, rel=1e-12)
    cabling = StaticCabling(model.machine)
    for box in boxes(grid, dims, wrap):
        mask = sum(1 << grid_number(grid, c) for c in box)
        assert cabling.used_cables(mask) == _box_cables(grid, box, shape, wrap), sorted(box)
