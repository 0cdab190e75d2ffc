"""Spare-cube planning (issue 13, item 3).

The closed form here is written from the model's definition, not from tpusim's code: with hosts
the only failing parts, a host is up a share a = MTBF / (MTBF + MTTR) of the time, a cube (16
hosts: 64 chips, 4 per host) is usable with probability q = a^16, independently of the others,
and a slice of k cubes can be placed on an OCS pod of 64 cubes while at least k are usable:
P(Binomial(64, q) >= k). The spares a target needs are 64 minus the largest such k.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from conftest import SCENARIOS
import tpusim
from tpusim import build_model
from tpusim.studies.spares import cube_terminations, max_burst, plan_spares

HOSTS_PER_CUBE = 16
CUBES = 64


def binomial_spares(rate_per_day: float, mean_repair_hours: float, target: float) -> int:
    mtbf = 24.0 / rate_per_day
    a = mtbf / (mtbf + mean_repair_hours)
    q = a ** HOSTS_PER_CUBE
    k = max(k for k in range(CUBES + 1) if k == 0 or stats.binom.sf(k - 1, CUBES, q) >= target)
    return CUBES - k


def test_searched_spares_agree_with_the_binomial_form_when_only_hosts_fail():
    rate, repair = 0.004, 6.0  # 5x the published host rate: more spares to tell apart
    scenario = tpusim.load_scenario(SCENARIOS / "tpuv4_pod.yaml").with_overrides({
        "replications": 8, "horizon_days": 180, "seed": 5,
        "policies": ["reconfigurable", "reconfigurable_ft"],
        "failures.host.daily_rate": rate, "failures.host.repair.mean_hours": repair,
        "failures.ici_link.daily_rate": 0, "failures.ocs.daily_rate": 0,
        "failures.ocs_port.daily_rate": 0})
    targets = (0.9, 0.99, 0.999)
    plan = plan_spares(scenario, targets)
    checked = 0
    for target in targets:
        expected = binomial_spares(rate, repair, target)
        assert expected > 0
        for row in plan.frame[plan.frame.target == target].itertuples():
            # the search's range from the capacity fractions' 95 % CIs holds the closed form
            assert row.spares_low <= expected <= row.spares_high, (row.policy, target, expected, row)
            checked += 1
        # the reconfigurable policy's own closed form is the same binomial
        own = plan.frame[(plan.frame.target == target) & (plan.frame.policy == "reconfigurable")]
        assert own.closed_form.iloc[0] == expected
    assert checked == 6


def test_the_ocs_layer_makes_high_targets_unreachable():
    plan = plan_spares(tpusim.load_scenario(SCENARIOS / "tpuv4_pod.yaml").with_overrides(
        {"replications": 3, "horizon_days": 60, "policies": ["reconfigurable"]}), (0.9999,))
    row = plan.frame.iloc[0]
    assert np.isnan(row.spares) and np.isnan(row.closed_form)  # all 48 OCSes up < 99.99 %


def test_max_burst_counts_the_busiest_window():
    times = np.array([1.0, 2.0, 2.5, 10.0, 10.1, 10.2, 10.3, 30.0])
    assert max_burst(times, 1.0) == 4  # [10, 11)
    assert max_burst(times, 0.3) == 3  # [10.0, 10.3) holds 10.0, 10.1, 10.2
    assert max_burst(times, 100.0) == 8
    assert max_burst(np.array([]), 5.0) == 0


def test_terminations_follow_each_policy_rule():
    model = build_model(tpusim.load_scenario(SCENARIOS / "tpuv4_pod.yaml").with_overrides(
        {"policies": ["reconfigurable", "reconfigurable_ft"]}))
    links = model.machine.cube.links
    trace = [
        (0.0, "host", 0, True),  # the initial state: not a termination
        (1.0, "host", 0, False),
        (2.0, "host", HOSTS_PER_CUBE * 3, True),  # cube 3
        (2.5, "ici_link", links * 5, True),  # cube 5: a termination only where links are needed
        (3.0, "host", HOSTS_PER_CUBE * 3 + 1, True),  # cube 3 again: already unusable
        (6.0, "host", HOSTS_PER_CUBE * 3, False),
        (7.0, "host", HOSTS_PER_CUBE * 3 + 1, False),  # cube 3 usable again after 5 h
    ]
    got = cube_terminations(model, trace, model.policies)
    reconf, ft = got["reconfigurable"], got["reconfigurable_ft"]
    assert list(reconf.times[0]) == [2.0, 2.5] and list(reconf.durations) == [5.0]
    assert list(ft.times[0]) == [2.0] and list(ft.durations) == [5.0]


def test_bad_arguments_are_refused():
    scenario = tpusim.load_scenario(SCENARIOS / "tpuv4_pod.yaml")
    with pytest.raises(ValueError, match="targets"):
        plan_spares(scenario, (1.0,))
    with pytest.raises(ValueError, match="lead_hours"):
        plan_spares(scenario, lead_hours=0)


@pytest.mark.parametrize("share", [0.0, 0.5, 1.0])
def test_an_ocs_failure_terminates_no_cube_whatever_its_mode(share):
    """An OCS failure is pod-wide (the pod-level rule bounds every slice): the replay, which now
    gives each OCS failure the simulation's mode, counts no cube termination for it in any mode."""
    model = build_model(tpusim.load_scenario(SCENARIOS / "tpuv4_pod.yaml").with_overrides(
        {"policies": ["reconfigurable", "static"], "failures.ocs_control_plane_share": share}))
    trace = [(1.0, "ocs", 0, True), (2.0, "host", 0, True), (5.0, "ocs", 0, False)]
    got = cube_terminations(model, trace, model.policies, replication=3)
    assert all(list(t.times[0]) == [2.0] for t in got.values())
