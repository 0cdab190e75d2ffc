"""Statistical convergence of the simulator to closed forms (DESIGN §2, §6).

Each test runs independent replications with a fixed seed and checks that every closed-form
value lies inside the simulator's confidence interval. A test checks several quantities at once,
so each interval is widened to level ``1 - 0.05 / m`` (Bonferroni): the family of ``m`` checks
holds at 95 %. These tolerances come from the intervals; they are never widened to pass.
"""

import pytest
from scipy import stats as sps

from tpusim import build_model, run_scenario, scenario_from_dict
from tpusim.analytic import any_k_cubes, class_availability, fixed_box
from tpusim.stats import UNBOUNDED, estimate


def failures_only(**classes):
    """A ``failures`` mapping with the given classes on and every other class switched off."""
    off = {"daily_rate": 0, "repair": {"mean_hours": 1}}
    return {cls: classes.get(cls, off) for cls in ("host", "ici_link", "ocs")}


def _within(values, truth, level):
    est = estimate(values, level=level, bounds=UNBOUNDED)
    lo, hi = est.ci95
    return lo <= truth <= hi, est


def test_host_failures_converge_to_binomial_and_mtbf_over_mtbf_plus_mttr():
    scenario = scenario_from_dict({
        "name": "host-only",
        "seed": 7,
        "replications": 40,
        "horizon_days": 3 * 365,
        "policies": ["reconfigurable", "static"],
        "slices": ["4x4x4", "8x8x16", "12x16x16", "16x16x16"],  # 1, 16, 48 and 64 cubes
        "failures": failures_only(host={"daily_rate": 0.01, "repair": {"dist": "exponential", "mean_hours": 24}}),
    })
    results = run_scenario(scenario)
    level = 1 - 0.05 / 5
    model = build_model(scenario)
    a = class_availability(model.failures, "host")
    assert a == pytest.approx(1 / 1.01)  # MTBF = 100 days, MTTR = 1 day
    ok, est = _within([r.value(None, "component_availability", "host") for r in results.replications], a, level)
    assert ok, f"host availability {est} vs MTBF/(MTBF+MTTR) = {a}"
    cubes = [a * b * c for a, b, c in model.shapes_in_cubes]
    for i, k in enumerate(cubes):
        values = [r.values("reconfigurable", "slice_availability")[i] for r in results.replications]
        form = any_k_cubes(model.machine, model.failures, k)
        ok, est = _within(values, form, level)
        assert ok, f"{k} cubes: simulated {est} vs binomial {form}"
    # The static pod with any free box is at least as available as one fixed box, and for the
    # whole-pod slice the two rules coincide with the reconfigurable one (no OCS failures here).
    static = results.slice_availability("static")
    for (_, _, _, est), k in zip(static, cubes):
        upper = est.ci95[1] if est.ci95 is not None else est.mean  # no outage seen: no interval
        assert upper >= fixed_box(model.machine, model.failures, k)
    assert all(r.values("static", "slice_availability")[3] == r.values("reconfigurable", "slice_availability")[3]
               for r in results.replications)


def test_ocs_failures_alone_give_all_ocs_up_probability():
    scenario = scenario_from_dict({
        "name": "ocs-only",
        "seed": 11,
        "replications": 40,
        "horizon_days": 2 * 365,
        "slices": ["4x4x4", "12x16x16"],
        "failures": failures_only(ocs={"daily_rate": 0.01, "repair": {"dist": "lognormal", "mean_hours": 12, "sigma": 1.0}}),
    })
    results = run_scenario(scenario)
    truth = class_availability(build_model(scenario).failures, "ocs") ** 48
    for i in range(2):
        values = [r.values("reconfigurable", "slice_availability")[i] for r in results.replications]
        ok, est = _within(values, truth, 1 - 0.05 / 2)
        assert ok, f"simulated {est} vs a_ocs^48 = {truth}"
    # the static pod has no OCS
    assert all(r.values("static", "slice_availability") == [1.0, 1.0] for r in results.replications)


@pytest.mark.parametrize("dist", ["lognormal", "fixed"])
def test_availability_depends_on_the_repair_mean_only(dist):
    """MTBF/(MTBF+MTTR) holds for any repair distribution (alternating renewal process)."""
    scenario = scenario_from_dict({
        "name": f"insensitivity-{dist}",
        "seed": 3,
        "replications": 30,
        "horizon_days": 365,
        "slices": ["4x4x4"],
        "failures": failures_only(
            host={"daily_rate": 0.02, "repair": {"dist": dist, "mean_hours": 36}},
            ici_link={"daily_rate": 0.001, "repair": {"dist": dist, "mean_hours": 48}},
        ),
    })
    results = run_scenario(scenario)
    for cls in ("host", "ici_link"):
        values = [r.value(None, "component_availability", cls) for r in results.replications]
        truth = class_availability(build_model(scenario).failures, cls)
        ok, est = _within(values, truth, 1 - 0.05 / 2)
        assert ok, f"{cls}: {est} vs {truth}"


def test_a_rate_schedule_sets_the_failure_count_week_by_week():
    """Host failures follow the shipped weekly rates: over the replications, the count lies in
    the Poisson interval of sum_w N * a_w * rate_w * week (a_w = 1/(1 + rate_w * MTTR), exact
    enough with a 1 h repair against week-long periods)."""
    scenario = scenario_from_dict({
        "name": "schedule", "seed": 21, "replications": 8, "horizon_days": 700, "slices": ["4x4x4"],
        "failures": failures_only(host={"daily_rate": 0, "repair": {"dist": "fixed", "mean_hours": 1},
                                        "schedule": {"column": "machine_pct_per_day", "scale": 5}}),
    })
    results = run_scenario(scenario)
    model = build_model(scenario)
    sched = model.failures.of("host").schedule
    n = model.machine.population("host")
    expected = scenario.replications * sum(
        n * (1 / (1 + sched.rate(w * 168) * 1.0)) * sched.rate(w * 168) * 168 for w in range(100))
    observed = sum(r.failures["host"] for r in results.replications)
    lo, hi = sps.poisson.ppf([0.005, 0.995], expected)
    assert lo <= observed <= hi, f"{observed} failures, expected {expected:.0f} (99 % interval {lo}-{hi})"


def test_capacity_at_confidence_converges_to_the_binomial_of_the_superpod_framework():
    """Google's TPU superpod framework: with a per-cube availability of about 0.935, a binomial
    model promises 130 of 144 cubes with 95 % confidence. Hosts only (exponential repair), cube
    availability a_host^16 = 0.935: the simulated time with at least k cubes placeable follows
    P(Binomial(144, 0.935) >= k) for every k, and capacity at 95 % is 130."""
    from conftest import SCENARIOS
    from tpusim import load_scenario

    mttr = 24.0
    a_host = 0.935 ** (1 / 16)
    daily = 24.0 * (1 / a_host - 1) / mttr  # MTBF/(MTBF+MTTR) = a_host
    scenario = load_scenario(SCENARIOS / "superpod_144.yaml", [
        "replications=20", "policies=[reconfigurable]",
        f"failures.host={{daily_rate: {daily!r}, repair: {{dist: exponential, mean_hours: {mttr}}}}}",
        "failures.ici_link.daily_rate=0", "failures.ocs.daily_rate=0"])
    results = run_scenario(scenario)
    ks = range(124, 137)
    level = 1 - 0.05 / len(ks)
    for k in ks:
        truth = float(sps.binom.sf(k - 1, 144, 0.935))  # independent of the code under test
        values = [r.value("reconfigurable", "capacity_fraction", str(k)) for r in results.replications]
        ok, est = _within(values, truth, level)
        assert ok, f"{k} cubes: simulated {est} vs binomial {truth}"
    cap = results.capacity_at_confidence("reconfigurable")
    assert max(k for k in range(145) if sps.binom.sf(k - 1, 144, 0.935) >= 0.95) == 130
    assert cap.closed_form_cubes == 130
    assert cap.cubes_low <= 130 <= cap.cubes_high and cap.cubes in (129, 130, 131)


def _bad_inside_one_of(sets, cells: int, q: float) -> float:
    """P(every unusable cube lies inside at least one of ``sets``) when each of ``cells`` cubes
    is usable independently with probability q: inclusion-exclusion over the sets."""
    import itertools

    total = 0.0
    for r in range(1, len(sets) + 1):
        for combo in itertools.combinations(sets, r):
            inside = frozenset.intersection(*combo)
            total += (-1) ** (r + 1) * q ** (cells - len(inside))
    return total


def _complements(extent: int, wrap: bool) -> list[frozenset]:
    """For a box of ``extent`` (< 4) cubes along one axis of a 4x4x4 grid, spanning the other two:
    the sets of cubes outside each placement (a box is free iff every bad cube is outside it)."""
    grid = [(x, y, z) for x in range(4) for y in range(4) for z in range(4)]
    out = []
    for axis in range(3):
        for origin in (range(4) if wrap else range(4 - extent + 1)):
            covered = {(origin + i) % 4 for i in range(extent)}
            out.append(frozenset(c for c in grid if c[axis] not in covered))
    return out


@pytest.mark.parametrize("wrap", [True, False])
def test_static_slices_of_32_and_48_cubes_match_closed_forms_with_and_without_wrap(wrap):
    """Hosts only: a static 48-cube (4x4x3) or 32-cube (4x4x2) slice is placeable exactly when
    every unusable cube lies outside some placement of the box; on a torus of cubes (wrap) the
    box may start at any layer, on a mesh it lies inside the grid. Closed forms by
    inclusion-exclusion over those complements, cube availability q = a_host^16."""
    rate, mttr = 0.002, 24.0
    q = ((24 / rate) / (24 / rate + mttr)) ** 16
    scenario = scenario_from_dict({
        "name": "static-wrap", "seed": 17, "replications": 20, "horizon_days": 365,
        "policies": ["static"], "slices": ["12x16x16", "8x16x16"],
        "topology": {"static_wrap": wrap},
        "failures": failures_only(host={"daily_rate": rate, "repair": {"dist": "exponential", "mean_hours": mttr}}),
    })
    results = run_scenario(scenario)
    for i, extent in enumerate((3, 2)):
        truth = _bad_inside_one_of(_complements(extent, wrap), 64, q)
        values = [r.values("static", "slice_availability")[i] for r in results.replications]
        ok, est = _within(values, truth, 1 - 0.05 / 2)
        assert ok, f"{4 * extent * 16} cubes, wrap={wrap}: simulated {est} vs closed form {truth}"
    if wrap:  # wrapping adds places: strictly more available than the mesh of cubes
        assert _bad_inside_one_of(_complements(3, True), 64, q) > _bad_inside_one_of(_complements(3, False), 64, q)
