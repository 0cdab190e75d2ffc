"""useful_availability (DESIGN section 4): chip-time able to do useful work under the policy.

Without fault-tolerant routing it is the system availability itself; under FT routing every chip
whose host is up keeps working (links and OCS circuits routed around), so it is the hosts'
time-averaged availability, never below the hardware figure (mean against mean, and in every
replication, since a chip whose host is down is also on unhealthy hardware)."""

from __future__ import annotations

import pytest

from tpusim import run_scenario, scenario_from_dict
from tpusim.core.metrics import COMPONENT_AVAILABILITY, SYSTEM_AVAILABILITY, USEFUL_AVAILABILITY

POLICIES = ["static", "static_ft", "reconfigurable", "reconfigurable_ft"]


def test_useful_availability_is_the_hardware_figure_unless_faults_are_routed_around():
    sc = scenario_from_dict({
        "name": "useful", "seed": 11, "replications": 4, "horizon_days": 60, "slices": ["4x4x8"],
        "policies": POLICIES, "topology": {"cube_grid": [2, 2, 2]},
        # links fail 20x the published rate, so routing around them shows
        "failures": {"ici_link": {"daily_rate": 0.001}},
    })
    results = run_scenario(sc)
    for r in results.replications:
        host = r.value(None, COMPONENT_AVAILABILITY, "host")
        for policy in POLICIES:
            system = r.value(policy, SYSTEM_AVAILABILITY)
            useful = r.value(policy, USEFUL_AVAILABILITY)
            if policy.endswith("_ft"):
                assert useful == pytest.approx(host, abs=1e-12) and useful >= system
            else:
                assert useful == system
    for ft, plain in (("static_ft", "static"), ("reconfigurable_ft", "reconfigurable")):
        gain = results.estimate(ft, USEFUL_AVAILABILITY).mean - results.estimate(plain, SYSTEM_AVAILABILITY).mean
        assert gain > 0  # links do fail: the FT figure is strictly higher on average
