"""Every bundled scenario declares its assumptions (DESIGN §2), and every corner of their box is a
valid scenario: `tpusim sensitivity` runs design points anywhere in the box, corners included."""

import itertools
import random

import pytest
from conftest import SCENARIOS

from tpusim import load_scenario
from tpusim.config.schema import assumption_value

#: Bundled scenarios without an assumptions: section, and why (each says so in a comment).
EXEMPT = {
    # the CI gate: raised rates, tpuv4_pod's repairs; an assumptions: entry would change the
    # resolved scenario its committed baseline was made from (tests/test_check.py)
    "regression",
}

BUNDLED = sorted(p.stem for p in SCENARIOS.glob("*.yaml"))


def _ranges(sc):
    """(key, low, high) per declared assumption, ints where the scenario's value is an int."""
    data = sc.model_dump(mode="json")
    out = []
    for key, a in sc.assumptions.items():
        value = assumption_value(data, key)
        if isinstance(value, int) and not isinstance(value, bool):
            assert a.low == int(a.low) and a.high == int(a.high), f"{key}: an integer key needs integer ends"
            out.append((key, int(a.low), int(a.high)))
        else:
            out.append((key, a.low, a.high))
    return out


def _corners(ranges, samples: int = 64):
    """Every corner of the box when it has at most 10 keys (2**10 validations, about a second);
    else a sample: all low, all high, every pair of keys at each of its four low/high
    combinations with the others at the scenario's values (so every rule between one or two keys
    is checked at its corners), and a fixed random sample of full corners."""
    k = len(ranges)
    if k <= 10:
        yield from ({key: (lo, hi)[bit] for (key, lo, hi), bit in zip(ranges, bits)}
                    for bits in itertools.product((0, 1), repeat=k))
        return
    yield {key: lo for key, lo, _ in ranges}
    yield {key: hi for key, _, hi in ranges}
    for (k1, lo1, hi1), (k2, lo2, hi2) in itertools.combinations(ranges, 2):
        for v1, v2 in itertools.product((lo1, hi1), (lo2, hi2)):
            yield {k1: v1, k2: v2}
    rng = random.Random(32)
    for _ in range(samples):
        yield {key: rng.choice((lo, hi)) for key, lo, hi in ranges}


def test_every_scenario_but_the_exempt_is_bundled():
    assert EXEMPT <= set(BUNDLED)
    for name in EXEMPT:
        assert not load_scenario(SCENARIOS / f"{name}.yaml").assumptions
        assert "No assumptions: section, on purpose" in (SCENARIOS / f"{name}.yaml").read_text()


@pytest.mark.parametrize("name", [n for n in BUNDLED if n not in EXEMPT])
def test_bundled_scenario_declares_its_assumptions_and_every_corner_validates(name):
    sc = load_scenario(SCENARIOS / f"{name}.yaml")
    assert sc.assumptions, f"{name}: no assumptions: section"
    data = sc.model_dump(mode="json")
    for key, a in sc.assumptions.items():
        value = assumption_value(data, key)
        assert a.low <= value <= a.high, f"{name}: {key} = {value} outside [{a.low}, {a.high}]"
        assert a.low < a.high, f"{name}: {key} varies nothing"
        assert a.source.strip(), f"{name}: {key} gives no source"
    checked = 0
    for corner in _corners(_ranges(sc)):
        try:
            sc.with_overrides(corner)
        except Exception as exc:  # say which corner
            pytest.fail(f"{name}: the corner {corner} is not a valid scenario: {exc}")
        checked += 1
    assert checked >= 2


def test_a_list_entry_is_named_by_its_name_or_index():
    """Campaigns and domains are list entries: an assumption (and --set) names one by its name,
    an entry without a name by its index."""
    from tpusim.core.errors import ScenarioError

    sc = load_scenario(SCENARIOS / "maintenance.yaml")
    data = sc.model_dump(mode="json")
    assert assumption_value(data, "maintenance.ocs_software.wave_hours") == 1.0
    assert assumption_value(data, "maintenance.1.wave_hours") == 1.0
    moved = sc.with_overrides({"maintenance.ocs_software.wave_hours": 2, "maintenance.0.wave_size": 8})
    assert (moved.maintenance[1].wave_hours, moved.maintenance[0].wave_size) == (2.0, 8)
    assert (sc.maintenance[1].wave_hours, sc.maintenance[0].wave_size) == (1.0, 4)  # a copy
    with pytest.raises(KeyError):
        assumption_value(data, "maintenance.2.wave_hours")
    for key in ("maintenance.2.wave_hours", "maintenance.ocs.wave_hours", "maintenance.-1.wave_hours"):
        with pytest.raises(ScenarioError, match="names no entry of maintenance"):
            sc.with_overrides({key: 2})
    with pytest.raises(ScenarioError, match=r"wave_size"):  # too large for the pod's 64 cubes
        sc.with_overrides({"maintenance.ici_stack.wave_size": 65})
    mix = load_scenario(SCENARIOS / "correlated_failures.yaml").with_overrides(
        {"failures.domains.rack_power.repair_mix.1.mean_hours": 3})
    assert mix.failures.domains[0].repair_mix[1].mean_hours == 3.0


def test_an_override_that_removes_what_an_assumption_is_about_drops_it():
    """A what-if that removes a domain, a campaign or the workload drops the assumptions on it
    (they describe nothing there); the others stay, and a bad key is still an error."""
    from tpusim.core.errors import ScenarioError

    sc = load_scenario(SCENARIOS / "correlated_failures.yaml")
    kept = [d.model_dump(mode="json") for d in sc.failures.domains if d.name != "pdu_row"]
    without = sc.with_overrides({"failures.domains": kept})
    assert not [k for k in without.assumptions if "pdu_row" in k]
    assert set(sc.assumptions) - set(without.assumptions) == {"failures.domains.pdu_row.daily_rate",
                                                              "failures.domains.pdu_row.repair.mean_hours"}
    jobs = load_scenario(SCENARIOS / "maintenance.yaml")
    bare = jobs.with_overrides({"workload": None, "maintenance": []})
    assert set(bare.assumptions) == {"pod_manager.reconfigure_minutes", "failures.ocs.repair.mean_hours",
                                     "failures.ocs_control_plane_share"}
    # the same on the command line's path: overrides on the raw file, defaults not yet filled in
    cli = load_scenario(SCENARIOS / "spare_capacity.yaml", ["workload=null", "cost=null"])
    assert "failures.ocs.repair.mean_hours" in cli.assumptions and "cost.reserved_price" not in cli.assumptions
    with pytest.raises(ScenarioError, match="names no key of this scenario"):
        jobs.with_overrides({"assumptions": {"workload.dailly_rate_cv": {"low": 0, "high": 1, "source": "x"}}})
