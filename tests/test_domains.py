"""Correlated failure domains (issue 12, item 1): a domain takes all its members down at once,
members' own failures go on, repair laws may be mixtures; closed forms for a unit under its
domain and for k-of-N with a shared domain, written here independently of tpusim.policies.analytic."""

import math

import numpy as np
import pytest

from conftest import SCENARIOS
from tpusim import ScenarioError, build_model, run_scenario, scenario_from_dict
from tpusim.failures.distributions import MixtureRepair, RepairDistribution
from tpusim.engine.replication import simulate
from tpusim.core.stats import UNBOUNDED, estimate

OFF = {"daily_rate": 0, "repair": {"mean_hours": 1}}
MIX = [{"share": 0.9, "dist": "fixed", "mean_hours": 1 / 3}, {"share": 0.1, "dist": "exponential", "mean_hours": 2}]


def scenario(**over):
    data = {"name": "domains", "seed": 3, "replications": 30, "horizon_days": 2 * 365,
            "slices": ["4x4x4", "8x8x8"], "policies": ["reconfigurable"],
            "topology": {"cube_grid": [2, 2, 2]},
            "failures": {"host": {"daily_rate": 0.004, "repair": {"dist": "exponential", "mean_hours": 24}},
                         "ici_link": OFF, "ocs": OFF,
                         "domains": [
                             {"name": "rack_power", "of": "host", "units": 16, "daily_rate": 0.1, "repair_mix": MIX},
                             {"name": "pdu_row", "of": "host", "units": 64, "daily_rate": 0.05,
                              "repair": {"dist": "exponential", "mean_hours": 24}}]}}
    data.update(over)
    return scenario_from_dict(data)


def avail(rate_per_day, mean_hours):
    return 1 / (1 + rate_per_day / 24 * mean_hours)


def test_a_domain_takes_its_members_down_together_and_own_failures_go_on():
    sc = scenario(**{"failures": {"host": OFF, "ici_link": OFF, "ocs": OFF, "domains": [
        {"name": "rack_power", "of": "host", "units": 16, "daily_rate": 0.2,
         "repair": {"dist": "fixed", "mean_hours": 2}}]}, "replications": 1, "horizon_days": 60})
    trace = simulate(build_model(sc), 0, record_trace=True).trace
    downs = {}
    for t, cls, unit, down in trace:
        assert cls == "host"
        downs.setdefault((t, down), []).append(unit)
    assert downs, "no domain failed"
    for (t, down), units in downs.items():  # every event moves one whole cube's 16 hosts
        assert len(units) == 16 and sorted(units) == list(range(units[0], units[0] + 16)) and units[0] % 16 == 0
        if down:
            assert (t + 2.0, False) in downs  # fixed 2 h repair, all at once


def test_failure_counts_add_up_per_class_and_per_domain():
    """A replication's counts are the sum of its components' (failure source, gray faults
    noticed, a bad release's events): per class, per domain (in first-seen order) and events."""
    from tpusim.failures.counts import FailureCounts

    source = FailureCounts((1, 2, 3), (1, 1, 1), (0, 1, 0), {"rack": 2, "pdu": 0}, 10)
    total = source + FailureCounts(failures=(0, 5, 0), events=3) + FailureCounts(domain_failures={"pdu": 4, "ocs_psu": 1})
    assert total == FailureCounts((1, 7, 3), (1, 1, 1), (0, 1, 0), {"rack": 2, "pdu": 4, "ocs_psu": 1}, 13)
    assert list(total.domain_failures) == ["rack", "pdu", "ocs_psu"] and source.domain_failures == {"rack": 2, "pdu": 0}


def test_closed_forms_for_a_unit_under_its_domains_and_k_of_n_with_a_shared_domain():
    """Host availability = own x rack x PDU; a pod's k-of-8 cubes with two PDU rows of 4 cubes:
    per row, no cube while its PDU is down, else Binomial(4, q) cubes."""
    results = run_scenario(scenario())
    a_own = avail(0.004, 24)
    a_rack = avail(0.1, 0.9 / 3 + 0.1 * 2)
    a_pdu = avail(0.05, 24)
    q = a_own**16 * a_rack  # a cube: its 16 hosts and its rack power (links and OCSes off)

    def at_least(k):
        row = [a_pdu * math.comb(4, j) * q**j * (1 - q) ** (4 - j) + (1 - a_pdu) * (j == 0) for j in range(5)]
        return sum(row[i] * row[j] for i in range(5) for j in range(5) if i + j >= k)

    reps = results.replications
    checks = [("host availability", [r.value(None, "component_availability", "host") for r in reps],
               a_own * a_rack * a_pdu)]
    for shape, k in (("4x4x4", 1), ("8x8x8", 8)):  # 1 cube; the whole pod
        checks.append((f"{shape}: {k} of 8 cubes", [r.value("reconfigurable", "slice_availability", shape)
                                                    for r in reps], at_least(k)))
    level = 1 - 0.05 / len(checks)
    widths = {}
    for name, values, truth in checks:
        wide = estimate(values, level=level, bounds=UNBOUNDED)
        widths[name] = wide.ci95[1] - wide.ci95[0]
        assert wide.ci95[0] <= truth <= wide.ci95[1], f"{name}: simulated {wide} vs closed form {truth}"
    # and tpusim's own closed forms agree with these
    from tpusim.policies.analytic import any_k_cubes, class_availability

    m = results.model
    assert class_availability(m.failures, "host") == pytest.approx(a_own * a_rack * a_pdu, rel=1e-12)
    assert any_k_cubes(m.machine, m.failures, 8) == pytest.approx(at_least(8), rel=1e-9)
    assert any_k_cubes(m.machine, m.failures, 1) == pytest.approx(at_least(1), rel=1e-9)
    # the shared domain matters: a binomial over independent cubes would fail this test
    marginal = q * a_pdu
    assert abs(marginal**8 - at_least(8)) > 3 * widths["8x8x8: 8 of 8 cubes"]


def test_a_mixed_repair_law_has_its_mean_and_equilibrium_residual():
    law = MixtureRepair(((0.9, RepairDistribution("fixed", 1 / 3)), (0.1, RepairDistribution("exponential", 2.0))))
    gen = np.random.default_rng(1)
    n = 400_000
    x = law.sample(gen, n)
    mean = 0.9 / 3 + 0.1 * 2
    second = 0.9 * (1 / 3) ** 2 + 0.1 * 2 * 2.0**2  # E[X^2]: fixed m^2, exponential 2 m^2
    # 99.9 % intervals from the sample's own standard error
    assert abs(x.mean() - mean) < 3.3 * x.std() / n**0.5
    r = law.sample_residual(gen, n)
    assert abs(r.mean() - second / (2 * mean)) < 3.3 * r.std() / n**0.5  # E[residual] = E[X^2] / 2E[X]
    assert law.mean == pytest.approx(mean)


@pytest.mark.parametrize("domain, expect", [
    ({"name": "a", "of": "host", "units": 7, "daily_rate": 0.1, "repair": {"mean_hours": 1}}, "must divide"),
    ({"name": "a", "of": "host", "units": 16, "daily_rate": 0.1}, "exactly one of repair and repair_mix"),
    ({"name": "a", "of": "host", "units": 16, "daily_rate": 0.1, "repair": {"mean_hours": 1},
      "repair_mix": MIX}, "exactly one"),
    ({"name": "a", "of": "ocs", "units": 5, "daily_rate": 0.1, "repair": {"mean_hours": 1}}, "must divide"),
    ({"name": "a", "of": "link", "units": 5, "daily_rate": 0.1, "repair": {"mean_hours": 1}}, "failures.domains[0].of"),
    ({"name": "a", "of": "host", "units": 16, "daily_rate": -1, "repair": {"mean_hours": 1}}, "daily_rate"),
])
def test_bad_domains_are_refused_with_their_key_path(domain, expect):
    with pytest.raises(ScenarioError, match=expect.replace("[", r"\[").replace("]", r"\]")):
        scenario(**{"failures": {"domains": [domain]}})


def test_without_domains_nothing_changes():
    """No domain: the resolved scenario says so, and the golden summaries (tests/golden) hold."""
    sc = scenario_from_dict({"name": "x", "slices": ["4x4x4"]})
    assert sc.resolved()["failures"]["domains"] == []


def test_each_domain_is_charged_the_unavailability_it_causes():
    """Paired by replication on common random numbers: removing a domain changes only its own
    draws. A static pod uses no OCS, so an OCS power supply costs it nothing, exactly."""
    import tpusim

    sc = tpusim.load_scenario(SCENARIOS / "correlated_failures.yaml",
                              ["replications=6", "horizon_days=120", "policies=[static, reconfigurable]"])
    frame = tpusim.domain_attribution(sc)
    assert set(frame.domain) == {"rack_power", "pdu_row", "ocs_power"}
    ocs_static = frame[(frame.domain == "ocs_power") & (frame.policy == "static")]
    assert (ocs_static.caused == 0).all()
    # the reconfigurable pod needs every OCS: the supplies cost it availability at every size
    ocs_reconf = frame[(frame.domain == "ocs_power") & (frame.policy == "reconfigurable")]
    assert (ocs_reconf.caused > 0).all() and (ocs_reconf.share <= 1 + 1e-9).all()
    with pytest.raises(ValueError, match="no failures.domains"):
        tpusim.domain_attribution(sc.with_overrides({"failures.domains": []}))
