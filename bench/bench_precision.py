"""Time to precision: each estimator's work-normalised variance against plain Monte Carlo (DESIGN §9).

A user waits for an interval narrow enough to decide; the replications that takes are set by
the variance of the estimator, and each costs CPU. The figure of merit of an estimator is its
**work-normalised variance**: the variance of its estimate of the mean times the CPU seconds
spent to get it. Plain Monte Carlo's over the estimator's is how many times less CPU the
estimator needs for the same half-width (above 1: it is that many times cheaper).

For ``scenarios/tpuv4_pod.yaml`` (20 replications x 365 days) and
``scenarios/tpuv4_pod_jobs.yaml`` (16 x 30 days), one serial run each in this process, prints
from that run, per policy and metric:

1. **control variates** (:meth:`tpusim.measure.results.Results.controlled`): the variance
   reduction of the controlled estimate over the plain one (their variances of the mean, both
   from these replications), and the work-normalised ratio: the reduction times the run's CPU
   over the run's CPU plus the CPU of the control-variate estimates (measured: every metric's
   regression, timed here; the controls themselves are counters the replications keep anyway);
2. **common random numbers** for paired differences (:meth:`Results.compare`): every policy
   against the scenario's first on the comparison metrics, the variance of the paired
   difference against that of independent runs of the same variances. Both estimate the
   difference from replications that simulate both policies, so the CPU is taken as equal:
   independent streams would also draw a second failure trace (and workload), not counted
   here, so the ratio is a slight underestimate;
3. **importance sampling** (issue 33, point 2; :mod:`tpusim.measure.importance`): the CPU to a
   20 % relative half-width of a 61-of-64-cube slice's unavailability at ~1e-4, 1e-6 and 1e-8
   (hosts only, exponential repairs) against plain Monte Carlo's, plain measured at 1e-4 and
   extrapolated from its work-normalised variance (:func:`importance_sampling`).

A ratio is printed only where both variances are positive: a metric constant over the
replications (an availability with no outage seen) has none, and says so.

CPU seconds are the process's (``time.process_time``), not wall time: on a shared host they
move less, but the ratios are what to compare. Every figure comes from one run, as in
``bench_engine`` and ``bench_jobs``.

Usage: python bench/bench_precision.py [--quick] [--scenario pod|jobs]
    --quick: 10 x 180 days and 10 x 14 days (a smoke run; ratios from 10 replications are rough)
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import tpusim

ROOT = Path(__file__).resolve().parent.parent
#: (name, path, replications, horizon days, quick replications, quick days)
SCENARIOS = [
    ("pod", ROOT / "scenarios" / "tpuv4_pod.yaml", 20, 365, 10, 180),
    ("jobs", ROOT / "scenarios" / "tpuv4_pod_jobs.yaml", 16, 30, 10, 14),
]


def label(name: str, key: str | None) -> str:
    return f"{name}[{key}]" if key else name


def ratio_text(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "     -"
    return f"{x:6.2f}" if x < 1000 else f"{x:6.0f}"


def run(path: Path, replications: int, days: float):
    """One serial run in this process, and its CPU seconds (the model's build included)."""
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    results = tpusim.run(path, replications=replications, horizon_days=days, workers=1)
    return results, time.process_time() - start_cpu, time.perf_counter() - start_wall


def control_variates(results, cpu: float) -> None:
    """Per policy and metric: the controlled estimate's variance reduction and its
    work-normalised ratio to plain Monte Carlo (see the module docstring)."""
    results.estimates  # the plain estimates (plain Monte Carlo's own cost) before the clock starts
    start = time.process_time()
    rows = []
    for policy in [*results.model.policy_names, None]:
        for name, key in results.controlled_metrics(policy):
            rows.append((policy, name, key, results.controlled(policy, name, key)))
    extra = time.process_time() - start
    share = cpu / (cpu + extra)
    print(f"control variates: every metric's regression took {extra * 1e3:.1f} ms of CPU "
          f"({100 * extra / cpu:.3f} % of the run's): work-normalised ratio = variance reduction x {share:.4f}")
    print(f"  {'policy':18s} {'metric':40s} {'plain mean':>12s} {'var.red.':>8s} {'work-norm.':>10s}  controls / note")
    shown = constant = 0
    for policy, name, key, ce in rows:
        if ce is None:
            continue
        if ce.controlled is None and ce.plain.ci95 is None and ce.plain.n == results.model.replications:
            constant += 1  # the same in every replication: no variance to reduce
            continue
        vr = ce.variance_reduction
        work = vr * share if vr is not None and math.isfinite(vr) else None
        why = ", ".join(ce.controls) if ce.controlled is not None else (ce.note or "")
        if vr is None and ce.controlled is not None and ce.controlled.note:
            why = f"{why} ({ce.controlled.note})"
        print(f"  {policy or '(machine)':18s} {label(name, key):40s} {ce.plain.mean:12.6g} {ratio_text(vr):>8s} "
              f"{ratio_text(work):>10s}  {why}")
        shown += 1
    finite = sorted(ce.variance_reduction * share for _, _, _, ce in rows
                    if ce is not None and ce.variance_reduction is not None and math.isfinite(ce.variance_reduction))
    print(f"  ({constant} more metrics are the same in every replication: no interval, nothing to reduce)")
    if finite:
        print(f"  {shown} metrics shown, {len(finite)} with a ratio: median {finite[len(finite) // 2]:.2f}, "
              f"min {finite[0]:.2f}, max {finite[-1]:.2f}")


def common_random_numbers(results) -> None:
    """Every policy against the first on the comparison metrics: paired (one trace, both
    policies) against independent runs of the same variances, at equal CPU."""
    base = results.baseline_policy()
    print(f"common random numbers (paired differences against {base}; CPU taken as equal, see the docstring):")
    print(f"  {'policy - ' + base:34s} {'metric':40s} {'difference':>12s} {'work-norm.':>10s}")
    ratios, constant = [], 0
    for policy, diffs in results.paired_differences():
        for d in diffs:
            vr = d.variance_reduction
            if vr is not None and math.isfinite(vr):
                ratios.append(vr)
            if vr is None:
                constant += 1  # the difference is the same in every replication
                continue
            print(f"  {policy:34s} {label(d.metric, d.key):40s} {d.mean:12.6g} {ratio_text(vr):>10s}")
    print(f"  ({constant} more differences are the same in every replication: no ratio)")
    if ratios:
        ratios.sort()
        print(f"  {len(ratios)} differences with a ratio: median {ratios[len(ratios) // 2]:.2f}, "
              f"min {ratios[0]:.2f}, max {ratios[-1]:.2f}")


#: hosts-only, exponential 6 h repairs: host daily rates putting a 61-of-64-cube slice at ~1e-4,
#: ~1e-6 and ~1e-8 (the unavailability goes as the rate to the 4th power: 4 cubes down at once)
IS_REPAIR, IS_K = 6.0, 61
IS_LEVELS = {1e-4: 0.00092, 1e-6: 0.00092 / math.sqrt(10), 1e-8: 0.00092 / 10}
TARGET = 0.20  # relative half-width both estimators are costed to


def importance_sampling(name: str, path: Path, quick: bool = False) -> None:
    """The CPU seconds to a 20 % relative half-width of a rare slice outage (a 61-of-64-cube
    slice on a hosts-only pod, exponential repairs) with importance sampling
    (:func:`tpusim.measure.importance.estimate_unavailability`, 4000 cycles) and with plain Monte
    Carlo, and their ratio. Plain is measured where it sees outages (~1e-4: the simulator's own
    replications, the unavailability read as 1 - capacity fraction at 61 cubes) and extrapolated
    from its work-normalised variance: for a time average of rare, independent outages the
    relative variance of the mean grows as 1 / U at a fixed simulated time, so the CPU to a
    given relative half-width scales as U(measured) / U. Run once, for the pod scenario."""
    if name != "pod":
        return
    from scipy import stats

    from tpusim.measure.importance import CapacityChain, UnitClass, estimate_unavailability

    def binomial(rate: float) -> float:
        lam = rate / 24.0
        a = (1 / lam) / (1 / lam + IS_REPAIR)
        return float(stats.binom.cdf(IS_K - 1, 64, a ** 16))

    base = tpusim.load_scenario(path)
    reps, days = (50, 365) if quick else (400, 365)  # hosts-only replications are cheap
    plain_rate = IS_LEVELS[1e-4]
    sc = base.with_overrides({
        "failures.host.daily_rate": plain_rate, "failures.host.repair": {"dist": "exponential", "mean_hours": IS_REPAIR},
        "failures.ici_link.daily_rate": 0, "failures.ocs.daily_rate": 0, "failures.ocs_port.daily_rate": 0,
        "policies": ["reconfigurable"], "replications": reps, "horizon_days": days})
    start = time.process_time()
    results = tpusim.run(sc)
    cpu = time.process_time() - start
    values = [1.0 - r.value("reconfigurable", "capacity_fraction", str(IS_K)) for r in results.replications]
    mean = sum(values) / len(values)
    var_mean = sum((v - mean) ** 2 for v in values) / (len(values) - 1) / len(values)
    if mean <= 0 or var_mean <= 0:
        print(f"importance sampling ({name}): plain saw no outage at {plain_rate:g}/day in {reps} x {days} d: no ratio")
        return
    half = 1.959964 * math.sqrt(var_mean) / mean
    plain_cpu_target = cpu * (half / TARGET) ** 2  # CPU to reach TARGET at this U
    print(f"\nimportance sampling: a {IS_K}-of-64-cube slice, hosts only, exponential {IS_REPAIR:g} h repairs")
    print(f"  plain, measured: U = {mean:.3g} (binomial {binomial(plain_rate):.3g}) +- {100 * half:.0f} % from {reps} x "
          f"{days} d in {cpu:.3g} CPU s: {plain_cpu_target:.3g} CPU s to +-{100 * TARGET:.0f} %")
    print(f"  {'U (binomial)':>14} {'IS estimate':>12} {'IS +-':>7} {'IS CPU to 20 %':>15} "
          f"{'plain CPU to 20 % (extrapolated)':>33} {'ratio':>10}")
    for level, rate in IS_LEVELS.items():
        chain = CapacityChain(1, 64, (UnitClass("host", "cube", 16, rate / 24.0, IS_REPAIR),))
        est = estimate_unavailability(chain, IS_K, cycles=4000, seed=1)
        truth = binomial(rate)
        is_cpu = est.cpu_seconds * (est.half_width / est.unavailability / TARGET) ** 2
        plain = plain_cpu_target * mean / truth
        print(f"  {truth:>14.3g} {est.unavailability:>12.3g} {100 * est.half_width / est.unavailability:>6.1f}% "
              f"{is_cpu:>14.3g}s {plain:>32.3g}s {plain / is_cpu:>10.3g}")


def main(quick: bool = False, only: str | None = None) -> None:
    for name, path, reps, days, quick_reps, quick_days in SCENARIOS:
        if only is not None and name != only:
            continue
        if quick:
            reps, days = quick_reps, quick_days
        results, cpu, wall = run(path, reps, days)
        print(f"\n== {path.name}: {reps} replications x {days:g} days, policies {list(results.model.policy_names)}: "
              f"{cpu:.1f} s CPU ({cpu / reps:.2f} s a replication), {wall:.1f} s wall, one process")
        control_variates(results, cpu)
        common_random_numbers(results)
        importance_sampling(name, path, quick)


if __name__ == "__main__":
    scenario = sys.argv[sys.argv.index("--scenario") + 1] if "--scenario" in sys.argv else None
    main(quick="--quick" in sys.argv, only=scenario)
