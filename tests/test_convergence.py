"""Statistical convergence of the simulator to closed forms (DESIGN §2, §6).

Each test runs independent replications with a fixed seed and checks that every closed-form
value lies inside the simulator's confidence interval. A test checks several quantities at once,
so each interval is widened to level ``1 - 0.05 / m`` (Bonferroni): the family of ``m`` checks
holds at 95 %. These tolerances come from the intervals; they are never widened to pass.

The closed forms are written here (DESIGN §6: independent formulas, never the code under test);
where ``tpusim.policies.analytic`` has the same form, the test also checks it against this one.
"""

import csv

import pytest
from scipy import stats as sps

from conftest import REPO
from tpusim import build_model, run_scenario, scenario_from_dict
from tpusim.failures.health import HOST
from tpusim.policies.analytic import any_k_cubes, class_availability, fixed_box
from tpusim.core.stats import UNBOUNDED, estimate


def mtbf_over_mtbf_plus_mttr(daily_rate: float, mean_repair_hours: float) -> float:
    """Long-run fraction of time a unit failing at ``daily_rate`` per day is up (any repair law)."""
    mtbf = 24.0 / daily_rate
    return mtbf / (mtbf + mean_repair_hours)


def failures_only(**classes):
    """A ``failures`` mapping with the given classes on and every other class switched off."""
    off = {"daily_rate": 0, "repair": {"mean_hours": 1}}
    return {cls: classes.get(cls, off) for cls in ("host", "ici_link", "ocs")}


def _within(values, truth, level):
    est = estimate(values, level=level, bounds=UNBOUNDED)
    lo, hi = est.ci95
    return lo <= truth <= hi, est


@pytest.mark.slow
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
    a = mtbf_over_mtbf_plus_mttr(0.01, 24)
    assert a == pytest.approx(1 / 1.01)  # MTBF = 100 days, MTTR = 1 day
    assert class_availability(model.failures, "host") == pytest.approx(a, rel=1e-12)
    ok, est = _within([r.value(None, "component_availability", "host") for r in results.replications], a, level)
    assert ok, f"host availability {est} vs MTBF/(MTBF+MTTR) = {a}"
    q = a ** 16  # a cube: its 16 hosts up (links and OCSes never fail here)
    cubes = [1, 16, 48, 64]
    for i, k in enumerate(cubes):
        values = [r.values("reconfigurable", "slice_availability")[i] for r in results.replications]
        form = float(sps.binom.sf(k - 1, 64, q))  # one pod of 64 cubes: at least k usable
        assert any_k_cubes(model.machine, model.failures, k) == pytest.approx(form, rel=1e-9)
        ok, est = _within(values, form, level)
        assert ok, f"{k} cubes: simulated {est} vs binomial {form}"
    # The static pod with any free box is at least as available as one fixed box, and for the
    # whole-pod slice the two rules coincide with the reconfigurable one (no OCS failures here).
    static = results.slice_availability("static")
    for (_, _, _, est), k in zip(static, cubes):
        upper = est.ci95[1] if est.ci95 is not None else est.mean  # no outage seen: no interval
        assert fixed_box(model.machine, model.failures, k) == pytest.approx(q ** k, rel=1e-9)
        assert upper >= q ** k  # one fixed box of k cubes
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
    truth = mtbf_over_mtbf_plus_mttr(0.01, 12) ** 48  # every OCS of the pod up
    assert class_availability(build_model(scenario).failures, "ocs") ** 48 == pytest.approx(truth, rel=1e-12)
    for i in range(2):
        values = [r.values("reconfigurable", "slice_availability")[i] for r in results.replications]
        ok, est = _within(values, truth, 1 - 0.05 / 2)
        assert ok, f"simulated {est} vs a_ocs^48 = {truth}"
    # the static pod has no OCS
    assert all(r.values("static", "slice_availability") == [1.0, 1.0] for r in results.replications)


@pytest.mark.slow
@pytest.mark.parametrize("dist", ["lognormal", "fixed"])
def test_availability_depends_on_the_repair_mean_only(dist):
    """MTBF/(MTBF+MTTR) holds for any repair distribution (alternating renewal process)."""
    scenario = scenario_from_dict({
        "name": f"insensitivity-{dist}",
        "seed": 3,
        "replications": 30,
        "horizon_days": 365,
        "slices": ["4x4x4"],
        # component availability is the health state's, the same under every policy (one trace):
        # one policy, the cheapest to track, gives the same samples in less time
        "policies": ["reconfigurable"],
        "failures": failures_only(
            host={"daily_rate": 0.02, "repair": {"dist": dist, "mean_hours": 36}},
            ici_link={"daily_rate": 0.001, "repair": {"dist": dist, "mean_hours": 48}},
        ),
    })
    results = run_scenario(scenario)
    for cls, rate, mttr in (("host", 0.02, 36), ("ici_link", 0.001, 48)):
        values = [r.value(None, "component_availability", cls) for r in results.replications]
        truth = mtbf_over_mtbf_plus_mttr(rate, mttr)
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
    # the shipped weekly rates, read here (percent of the population per day, scaled by 5)
    with open(REPO / "tpusim" / "data" / "weekly_failure_rates.csv", newline="") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    hourly = [float(row["machine_pct_per_day"]) / 100 * 5 / 24 for row in rows]
    n = 64 * 16  # hosts of one TPU v4 pod
    expected = scenario.replications * sum(
        n * (1 / (1 + hourly[w % len(hourly)] * 1.0)) * hourly[w % len(hourly)] * 168 for w in range(100))
    observed = sum(r.counts.failures[HOST] for r in results.replications)
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


def _static_slab_placements(extent: int, wrap: bool) -> list[tuple[frozenset, frozenset]]:
    """Every placement of a box that spans two axes of a 4x4x4 grid of cubes and is ``extent``
    cubes long along the third, as (its cubes, the cube-to-cube connections it uses), by
    DESIGN §1 written out: between neighbouring cubes of the box along every dimension, plus the
    wraparound along a dimension the box spans fully (on a torus of cubes only). A connection is
    (cell, d): the bundle of 16 cables from ``cell`` to its +d neighbour."""
    grid = [(x, y, z) for x in range(4) for y in range(4) for z in range(4)]
    out = []
    for axis in range(3):
        for origin in (range(4) if wrap else range(4 - extent + 1)):
            cells = frozenset(c for c in grid if (c[axis] - origin) % 4 < extent)
            conns = set()
            for cell in cells:
                for d in range(3):
                    if d == axis and extent < 4:
                        if (cell[d] - origin) % 4 < extent - 1:  # the next cube is in the box
                            conns.add((cell, d))
                    elif wrap or cell[d] < 3:  # spans d fully: a ring (torus) or a line (mesh)
                        conns.add((cell, d))
            out.append((cells, frozenset(conns)))
    return out


def _any_placement_up(placements, a_cube: float, a_conn: float) -> float:
    """P(some placement has all its cubes and connections up), elements independent:
    inclusion-exclusion over the placements."""
    import itertools

    total = 0.0
    for r in range(1, len(placements) + 1):
        for combo in itertools.combinations(placements, r):
            cubes = frozenset().union(*(c for c, _ in combo))
            conns = frozenset().union(*(k for _, k in combo))
            total += (-1) ** (r + 1) * a_cube ** len(cubes) * a_conn ** len(conns)
    return total


@pytest.mark.parametrize("wrap", [True, False])
@pytest.mark.parametrize("component", ["host", "ici_link"])
def test_static_slices_of_16_32_and_48_cubes_match_closed_forms(component, wrap):
    """Hosts only or links only: a static slice of 16 (4x4x1 cubes), 32 (4x4x2) or 48 (4x4x3)
    cubes is placeable exactly when some placement has all its cubes usable and all the cables it
    uses up. Closed forms by inclusion-exclusion over the placements: a cube is usable with
    probability a_host^16 (hosts only) or a_link^144 (its electrical links; links only), a
    connection of 16 cables, each one part at the per-cable rate, is up with a_link^16. On a torus
    of cubes (wrap) a box may start at any layer and closes its rings through the wraparound."""
    mttr = 24.0
    rate = 0.002 if component == "host" else 0.00022
    a = (24 / rate) / (24 / rate + mttr)
    a_cube, a_conn = (a ** 16, 1.0) if component == "host" else (a ** 144, a ** 16)
    scenario = scenario_from_dict({
        "name": "static-closed-forms", "seed": 17, "replications": 20, "horizon_days": 365,
        "policies": ["static"], "slices": ["12x16x16", "8x16x16", "4x16x16"],
        "topology": {"static_wrap": wrap},
        "failures": failures_only(**{component: {"daily_rate": rate,
                                                 "repair": {"dist": "exponential", "mean_hours": mttr}}}),
    })
    results = run_scenario(scenario)
    for i, extent in enumerate((3, 2, 1)):
        truth = _any_placement_up(_static_slab_placements(extent, wrap), a_cube, a_conn)
        values = [r.values("static", "slice_availability")[i] for r in results.replications]
        ok, est = _within(values, truth, 1 - 0.05 / 3)
        assert ok, f"{component} only, {16 * extent} cubes, wrap={wrap}: simulated {est} vs closed form {truth}"
    if wrap:  # wrapping adds places: strictly more available than the mesh of cubes
        assert (_any_placement_up(_static_slab_placements(3, True), a_cube, a_conn)
                > _any_placement_up(_static_slab_placements(3, False), a_cube, a_conn))


def test_ocs_control_plane_failures_block_placement_but_keep_circuits_lit():
    """DESIGN §2: a share s of OCS failures are control-plane failures. A new slice needs a
    cross-connect through every OCS of its pod, so slice availability stays a_ocs^48 whatever s
    is; but only data-plane failures darken circuits, so a chip is sick while one of the OCSes
    holding its ports is down *and dark*. A 4x4x4 cube has 8 chips with no optical port, 24 with
    one, 24 with two and 8 with three, each port on its own OCS; an OCS is down-and-dark a
    fraction u = (1 - s)(1 - a_ocs) of the time, independently of the others, so the sick
    fraction of chip-time is sum_m n_m / 64 * (1 - (1 - u)^m)."""
    rate, mttr, share = 0.01, 24.0, 0.3
    a = (24 / rate) / (24 / rate + mttr)
    u = (1 - share) * (1 - a)
    sick = sum(n / 64 * (1 - (1 - u) ** m) for m, n in ((0, 8), (1, 24), (2, 24), (3, 8)))
    scenario = scenario_from_dict({
        "name": "ocs-modes", "seed": 5, "replications": 20, "horizon_days": 365,
        "policies": ["reconfigurable"], "slices": ["4x4x4"],
        "failures": {**failures_only(ocs={"daily_rate": rate, "repair": {"dist": "exponential", "mean_hours": mttr}}),
                     "ocs_control_plane_share": share},
    })
    results = run_scenario(scenario)
    checks = {
        "slice availability": ([r.values("reconfigurable", "slice_availability")[0] for r in results.replications],
                               a ** 48),
        "system availability": ([r.value("reconfigurable", "system_availability") for r in results.replications],
                                1 - sick),
    }
    for what, (values, truth) in checks.items():
        ok, est = _within(values, truth, 1 - 0.05 / 2)
        assert ok, f"{what}: simulated {est} vs closed form {truth}"
    # with every failure dark the same trace darkens more chip-time (the closed form moves too)
    assert 1 - sum(n / 64 * (1 - a ** m) for m, n in ((0, 8), (1, 24), (2, 24), (3, 8))) < 1 - sick
