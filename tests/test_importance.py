"""Rare slice outages by importance sampling (DESIGN §9, issue 33 point 2): the regenerative
estimator with balanced failure biasing against closed forms written here, at unavailabilities
of about 1e-4, 1e-6 and 1e-8; coverage of its interval at 1e-4; relative error against rarity.

The closed forms are the test's own (DESIGN §6): a unit is up with probability
MTBF / (MTBF + MTTR); a cube of 16 hosts is usable with q = a_host^16; a pod of 64 cubes places
k of them unless fewer than k are usable, P = Binomial(64, q).cdf(k - 1); OCSes multiply in as
a_ocs^48 per pod, and a machine of several pods is down when every pod is.
"""

import math

import numpy as np
import pytest
from scipy import stats as sps

from tpusim.measure.importance import CapacityChain, UnitClass, estimate_unavailability

HOURS_PER_DAY = 24.0
REPAIR = 6.0  # hours, exponential
K = 61  # cubes of 64: an outage needs 4 cubes down at once

#: host daily rates putting the 61-of-64-cube slice at ~1e-4, ~1e-6, ~1e-8 (U ~ rate^4)
LEVELS = {1e-4: 0.00092, 1e-6: 0.00092 / math.sqrt(10), 1e-8: 0.00092 / 10}


def hosts_only(daily_rate: float) -> CapacityChain:
    return CapacityChain(1, 64, (UnitClass("host", "cube", 16, daily_rate / HOURS_PER_DAY, REPAIR),))


def binomial(daily_rate: float, k: int = K, cubes: int = 64, hosts: int = 16) -> float:
    """P(fewer than k of the pod's cubes usable), written here."""
    lam = daily_rate / HOURS_PER_DAY
    a = (1 / lam) / (1 / lam + REPAIR)
    return float(sps.binom.cdf(k - 1, cubes, a**hosts))


@pytest.mark.parametrize("level", list(LEVELS))
def test_closed_forms_land_where_the_test_says(level):
    assert level / 2 < binomial(LEVELS[level]) < level * 2


@pytest.mark.parametrize("level", list(LEVELS))
def test_estimate_agrees_with_the_binomial_within_20_percent(level):
    rate = LEVELS[level]
    exact = binomial(rate)
    r = estimate_unavailability(hosts_only(rate), K, cycles=4000, seed=7)
    print(f"\nU={exact:.3e}: IS {r.unavailability:.3e} +- {r.relative_half_width:.1%} "
          f"({r.cycles} cycles, hit {r.hit_fraction:.0%}, {r.cpu_seconds:.2f} CPU s)")
    lo, hi = r.interval
    assert lo <= exact <= hi
    assert r.relative_half_width <= 0.20


def test_relative_error_is_bounded_in_the_rarity():
    """Same cycles and seed, four orders of magnitude apart: the relative half-width stays flat
    (bounded relative error), and shrinks like 1/sqrt(cycles)."""
    widths = {}
    for level, rate in LEVELS.items():
        r = estimate_unavailability(hosts_only(rate), K, cycles=4000, seed=3)
        widths[level] = r.relative_half_width
        print(f"\nU~{level:.0e}: relative half-width by cycles "
              + ", ".join(f"{n}: {w:.1%}" for n, w in r.trajectory))
        # 1/sqrt(n): from 1024 to 4000 cycles the width roughly halves
        at = dict(r.trajectory)
        assert 0.35 < at[4000] / at[1024] < 0.75
    assert max(widths.values()) / min(widths.values()) < 1.5
    assert max(widths.values()) < 0.15


def test_coverage_at_1e_4():
    """100 seeds of 1000 cycles: the 95 % interval holds the binomial in 90-99 % of them
    (the binomial range of 100 draws at 95 %)."""
    rate = LEVELS[1e-4]
    exact = binomial(rate)
    chain = hosts_only(rate)
    covered = 0
    for seed in range(100):
        lo, hi = estimate_unavailability(chain, K, cycles=1000, seed=seed).interval
        covered += lo <= exact <= hi
    print(f"\ncoverage at U={exact:.2e}: {covered} %")
    assert 90 <= covered <= 99


def test_mixed_classes_against_binomial_times_a_ocs():
    """Hosts, ICI links, OCS ports and whole OCSes at the canonical rates (exponential repairs),
    one pod: U = 1 - a_ocs^48 x P(Binomial(64, q) >= k), q = a_host^16 a_link^240 a_port^96.
    Not rare (the OCS layer alone is down ~0.5 % of the time) but four classes of very different
    totals: the class-balanced split must stay unbiased."""
    spec = [("host", "cube", 16, 0.0008, 6.0), ("ici_link", "cube", 240, 0.00005, 24.0),
            ("ocs_port", "cube", 96, 1.5625e-6, 24.0), ("ocs", "pod", 48, 0.0002, 12.0)]
    chain = CapacityChain(1, 64, tuple(UnitClass(n, g, c, d / HOURS_PER_DAY, m) for n, g, c, d, m in spec))
    avail = {n: 1 / (1 + d / HOURS_PER_DAY * m) for n, _, _, d, m in spec}
    q = avail["host"] ** 16 * avail["ici_link"] ** 240 * avail["ocs_port"] ** 96
    k = 60
    exact = 1 - avail["ocs"] ** 48 * sps.binom.sf(k - 1, 64, q)
    r = estimate_unavailability(chain, k, cycles=6000, seed=11)
    print(f"\nfour classes: exact {exact:.3e}, IS {r.unavailability:.3e} +- {r.relative_half_width:.1%}")
    lo, hi = r.interval
    assert lo <= exact <= hi
    assert r.relative_half_width < 0.25
    assert chain.binomial_unavailability(k) == pytest.approx(exact, rel=1e-9)
    # two pods: the closed form squares the per-pod one
    two = CapacityChain(2, 64, chain.classes)
    assert two.binomial_unavailability(k) == pytest.approx(exact**2, rel=1e-9)


def test_denominator_matches_the_all_up_state():
    """E[cycle] = 1 / (exit rate of all-up x P(all up)) with P(all up) = a^1024 (regenerative
    theory: the all-up sojourn 1/exit-rate is that share of a cycle)."""
    rate = LEVELS[1e-6]
    lam = rate / HOURS_PER_DAY
    a = 1 / (1 + lam * REPAIR)
    exact = 1 / (1024 * lam * a**1024)
    r = estimate_unavailability(hosts_only(rate), K, cycles=3000, seed=5)
    assert abs(r.cycle_hours - exact) < 3 * r.cycle_sd / math.sqrt(r.cycles)


def test_small_chain_exactly():
    """Two cubes of one host each, a slice of both: U = 1 - a^2, not rare; the biased estimate
    still agrees (unbiasedness does not need rarity)."""
    chain = CapacityChain(1, 2, (UnitClass("host", "cube", 1, 0.01, 5.0),))
    a = 1 / (1 + 0.01 * 5.0)
    r = estimate_unavailability(chain, 2, cycles=4000, seed=2)
    lo, hi = r.interval
    assert lo <= 1 - a * a <= hi


def test_no_bias_is_the_plain_regenerative_estimator():
    """bias 0: no change of measure; unbiased where outages are common, blind where rare."""
    chain = CapacityChain(1, 2, (UnitClass("host", "cube", 1, 0.01, 5.0),))
    a = 1 / (1 + 0.01 * 5.0)
    r = estimate_unavailability(chain, 2, cycles=4000, seed=2, bias=0.0)
    lo, hi = r.interval
    assert lo <= 1 - a * a <= hi
    rare = estimate_unavailability(hosts_only(LEVELS[1e-8]), K, cycles=2000, seed=2, bias=0.0)
    assert rare.unavailability == 0.0 and rare.hit_fraction == 0.0


def test_same_seed_same_answer_and_seeds_differ():
    chain = hosts_only(LEVELS[1e-6])
    a = estimate_unavailability(chain, K, cycles=300, seed=4)
    b = estimate_unavailability(chain, K, cycles=300, seed=4)
    c = estimate_unavailability(chain, K, cycles=300, seed=5)
    assert (a.unavailability, a.half_width) == (b.unavailability, b.half_width)
    assert a.unavailability != c.unavailability


@pytest.mark.parametrize("kwargs, message", [
    ({"k": 65}, "does not fit"), ({"k": 0}, "does not fit"), ({"bias": 1.0}, "bias"),
    ({"bias": -0.1}, "bias"), ({"cycles": 1}, "cycles"),
])
def test_bad_input_is_refused(kwargs, message):
    args = {"k": K, "cycles": 10, "bias": 0.5} | kwargs
    with pytest.raises(ValueError, match=message):
        estimate_unavailability(hosts_only(0.001), args.pop("k"), **args)


def test_nothing_can_fail_is_refused():
    with pytest.raises(ValueError, match="nothing can fail"):
        estimate_unavailability(CapacityChain(1, 4, ()), 2, cycles=10)


@pytest.mark.slow
def test_coverage_at_1e_8_over_seeds():
    """Coverage where the event is rarest: 200 seeds of 1000 cycles at ~1e-8."""
    rate = LEVELS[1e-8]
    exact = binomial(rate)
    chain = hosts_only(rate)
    covered = sum(lo <= exact <= hi for lo, hi in
                  (estimate_unavailability(chain, K, cycles=1000, seed=s).interval for s in range(200)))
    print(f"\ncoverage at U={exact:.2e}: {covered / 2:.1f} %")
    assert 0.91 <= covered / 200 <= 0.985
    assert np.isfinite(exact)


# -- the study, the facade and the command ------------------------------------------------------

HOSTS_ONLY = {"failures.ici_link.daily_rate": 0, "failures.ocs.daily_rate": 0, "failures.ocs_port.daily_rate": 0}


def test_rare_outage_on_a_scenario_agrees_with_the_binomial():
    """tpuv4_pod, hosts only (lognormal repairs, mean 6 h, 0.08 %/day): a 60-cube slice."""
    import tpusim

    out = tpusim.rare_outage("tpuv4_pod", ["12x16x20", "4x4x2"], cycles=3000, overrides=HOSTS_ONLY)
    row = out.frame.iloc[0]
    a = 1 / (1 + 0.0008 / HOURS_PER_DAY * 6.0)
    exact = float(sps.binom.cdf(59, 64, a**16))
    assert row.closed_form == pytest.approx(exact, rel=1e-9)
    assert abs(row.unavailability - exact) <= row.half_width
    assert row.relative_half_width < 0.2
    assert any("not exponential" in w for w in out.warnings)  # lognormal repairs: said, and why it holds
    assert any("4x4x2" in s for s in out.skipped)  # smaller than a cube


@pytest.mark.parametrize("scenario, reason", [
    ("maintenance", "planned maintenance"), ("correlated_failures", "correlated failure domains"),
    ("pod_buildout", "build-out"), ("gray_failures", "gray faults"),
])
def test_scenarios_outside_the_chain_are_refused_with_the_reason(scenario, reason):
    import tpusim

    with pytest.raises(ValueError, match=reason):
        tpusim.rare_outage(scenario, cycles=10)


def test_the_command_prints_estimate_and_closed_form_and_refuses_bad_input():
    from typer.testing import CliRunner

    from tpusim.cli import app

    runner = CliRunner()
    sets = [a for key, v in HOSTS_ONLY.items() for a in ("--set", f"{key}={v}")]
    ok = runner.invoke(app, ["rare", "tpuv4_pod", "--slice", "12x16x20", "--cycles", "500", *sets])
    assert ok.exit_code == 0, ok.output
    assert "12x16x20" in ok.output and "±" in ok.output and "closed form" in ok.output
    for args, option in ((["--cycles", "1"], "--cycles"), (["--bias", "1.5"], "--bias"),
                         (["--slice", "4x4"], "--slice")):
        bad = runner.invoke(app, ["rare", "tpuv4_pod", *args])
        assert bad.exit_code == 2 and option in bad.output, bad.output
    refused = runner.invoke(app, ["rare", "maintenance", "--cycles", "10"])
    assert refused.exit_code == 2 and "does not apply" in refused.output
