"""The published operating point, reproduced: each published claim next to what tpusim
computes for it, a verdict, and the assumption the number rests on (issues 9 and 31, DESIGN §4).

``reproduce(scenarios, quick)`` runs the bundled scenarios (or those of the same names in a
folder ``scenarios``): ``tpuv4_pod.yaml`` for capacity, ``tpuv4_pod_jobs.yaml`` for jobs,
``maintenance.yaml`` and ``pod_buildout.yaml`` for the operational statements,
``superpod_144.yaml`` for the superpod framework, ``superpod_hero.yaml`` for the hero-job rows
(in-memory checkpoints, elastic vs rigid; issue 34); pod sizes, hosts per cube and slices are read
from the built models, never written here. It returns one :class:`Claim` per published
statement. A judged claim states a boundary (a range for "about", stated in its row; zero for
a paired difference) and its verdict comes from an interval (:func:`_judge`):

- ``reproduced``: the interval lies entirely inside the claim's range (or on its side of zero);
- ``not reproduced``: it lies entirely outside; the ``rests_on`` column says which assumption
  causes the gap;
- ``inconclusive``: it straddles a boundary, or there is no interval;
- ``calibrated``: a free parameter was set from this very figure, so agreement proves nothing;
- ``modelled``: the claim is qualitative and is an input of the model, shown with its value.

The intervals are at :attr:`Plan.level`: 95 % in the full form, 99.9 % in the quick form, which
runs the full form's scenarios over the same days with fewer replications - the first ones of
the full form's, as replication ``r`` is seeded by (root seed, ``r``) - so the quick form says
"inconclusive" where it cannot tell rather than contradict the full form. A claim made of
several conditions (several targets, both orders of the 2x2, every slice it speaks of) is
reproduced when all hold and not reproduced when one fails (:func:`_all`). Comparisons between
policies or runs are paired differences per replication (:class:`Intervals`): the policies
share each replication's failure trace.

The study is :class:`ReproduceStudy` (``reproduce`` in the registry): what it runs on is the
folder of scenarios (validated before anything runs), and every run goes through its runner.
Policies are found by what they do (no OCS / OCS / OCS with fault-tolerant routing), never by
name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar, Iterable

from tpusim.config.build import build_model
from tpusim.config.load import as_scenario
from tpusim.config.schema import Scenario
from tpusim.policies import registry
from tpusim.policies.base import FT_ROUTING, OCS_WIRING, PLAIN_ROUTING, STATIC_WIRING, Policy
from tpusim.measure.results import Results
from tpusim.core.stats import UNBOUNDED, Estimate, availability_estimate, estimate
from tpusim.core.metrics import (CAPACITY_FRACTION, CIRCUITS_PER_JOB, JOBS_INTERRUPTED, SLICE_AVAILABILITY,
                                 SLICE_OUTAGE_LONGEST_HOURS, SLICE_OUTAGE_SQ_HOURS, SLICE_OUTAGES, SYSTEM_AVAILABILITY,
                                 USEFUL_CHIP_HOURS, XCONNECTS_PER_JOB, metric)
from tpusim.policies.analytic import cube_availability
from tpusim.core.units import HOURS_PER_DAY
from tpusim.studies.base import Overrides, Runner, Study

SOURCES = {
    "NSDI24": "Zu et al., NSDI 2024 (TPU v4 resiliency)",
    "ISCA23": "Jouppi et al., ISCA 2023 (TPU v4)",
    "SOSP23": "Wang et al., SOSP 2023 (Gemini)",
    "SUPERPOD": "Google Cloud superpod framework (2026)",
}


@dataclass(frozen=True)
class Claim:
    claim: str
    source: str
    published: str
    simulated: str
    verdict: str  # reproduced | not reproduced | calibrated | modelled
    rests_on: str

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Plan:
    """Replications (and days) of each run, and the confidence ``level`` of the intervals the
    verdicts rest on. The quick form runs the full form's scenarios over the same days with
    fewer replications: replication ``r`` is seeded by (root seed, ``r``), so the quick form's
    replications are the first ones of the full form's, the same runs."""

    level: float
    capacity: tuple[int, float]  # replications, days
    jobs: tuple[int, float]
    hosts: tuple[int, float]  # each point of the host-availability search
    operations: int  # replications of maintenance.yaml and pod_buildout.yaml (their own days)
    superpod: int  # replications of superpod_144.yaml (its own days)
    hero: int = 10  # replications of each superpod_hero.yaml variant (its own days)


FULL = Plan(0.95, capacity=(20, 365), jobs=(8, 90), hosts=(10, 365), operations=10, superpod=10, hero=10)
QUICK = Plan(0.999, capacity=(5, 365), jobs=(3, 90), hosts=(5, 365), operations=5, superpod=5, hero=4)

Roles = tuple[str | None, str | None, str | None, str | None]


def _roles(results: Results) -> Roles:
    """(static, reconfigurable, fault-tolerant, static fault-tolerant) policy names in
    ``results``, by their wiring and routing (the 2x2 of DESIGN §1)."""
    return _roles_of(results.model.policies)


def _roles_of(policies) -> Roles:
    def find(test: Callable[[Policy], bool]) -> str | None:
        return next((p.name for p in policies if test(p)), None)
    return (find(lambda p: (p.wiring, p.ici_routing) == (STATIC_WIRING, PLAIN_ROUTING)),
            find(lambda p: (p.wiring, p.ici_routing) == (OCS_WIRING, PLAIN_ROUTING)),
            find(lambda p: (p.wiring, p.ici_routing) == (OCS_WIRING, FT_ROUTING)),
            find(lambda p: (p.wiring, p.ici_routing) == (STATIC_WIRING, FT_ROUTING)))


def _pct(e: Estimate | None, digits: int = 2) -> str:
    if e is None:
        return "-"
    if e.ci95 is None:
        return f"{100 * e.mean:.{digits}f} %"
    return f"{100 * e.mean:.{digits}f} % [{100 * e.ci95[0]:.{digits}f}, {100 * e.ci95[1]:.{digits}f}]"


REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
#: The verdicts of a judged claim; ``calibrated`` and ``modelled`` rows are not judged.
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, "calibrated", "modelled")


def _judge(interval: "Estimate | tuple[float, float] | None", low: float, high: float = math.inf) -> str:
    """The verdict on "the quantity lies in [low, high]" from its interval: reproduced when the
    interval lies inside, not reproduced when it lies wholly outside, inconclusive when it
    straddles a boundary or there is no interval (one replication, or the same value in all)."""
    if isinstance(interval, Estimate):
        interval = interval.ci95
    if interval is None:
        return INCONCLUSIVE
    lo, hi = interval
    if low <= lo and hi <= high:
        return REPRODUCED
    if hi < low or lo > high:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def _all(verdicts: Iterable[str]) -> str:
    """A claim made of several conditions: not reproduced if any fails, reproduced if all hold."""
    seen = list(verdicts)
    if NOT_REPRODUCED in seen:
        return NOT_REPRODUCED
    return REPRODUCED if seen and all(v == REPRODUCED for v in seen) else INCONCLUSIVE


class Intervals:
    """One run's values per replication, and intervals at one confidence ``level`` over them
    (the run's own estimates are at 95 %; an :class:`Estimate` made here holds its interval at
    ``level`` in the field ``ci95``)."""

    def __init__(self, results: Results, level: float):
        self.results, self.level = results, level
        self._by: dict[tuple[str | None, str, str | None], dict[int, float]] = {}
        for s in results.samples:
            self._by.setdefault((s.policy, s.metric, s.key), {})[s.replication] = s.value

    def joined(self, other: Results, suffix: str) -> "Intervals":
        """These values and ``other``'s (a run of the same replications), each of ``other``'s
        policies named ``f"{policy} {suffix}"``: for paired differences across two runs."""
        for s in other.samples:
            name = None if s.policy is None else f"{s.policy} {suffix}"
            self._by.setdefault((name, s.metric, s.key), {})[s.replication] = s.value
        return self

    def series(self, policy: str | None, name: str, key: str | None = None) -> dict[int, float]:
        """Replication -> value (NaN, undefined in that replication, left out)."""
        return {r: v for r, v in self._by.get((policy, name, key), {}).items() if not math.isnan(v)}

    def of(self, policy: str | None, name: str, key: str | None = None) -> Estimate | None:
        """The estimate of one metric with its interval at ``level`` (slice availability as the
        run's estimates compute it: Student's and the outage interval, the wider)."""
        values = list(self.series(policy, name, key).values())
        if not values:
            return None
        if name == SLICE_AVAILABILITY:
            count, sq, longest = (list(self.series(policy, m, key).values())
                                  for m in (SLICE_OUTAGES, SLICE_OUTAGE_SQ_HOURS, SLICE_OUTAGE_LONGEST_HOURS))
            if count and sq and longest:
                return availability_estimate(values, self.results.model.horizon, math.fsum(count),
                                             math.fsum(sq), max(longest), self.level)
        return estimate(values, self.level, metric(name).bounds)

    def paired(self, terms: dict[str, float], name: str, key: str | None = None) -> Estimate | None:
        """The estimate of ``sum(weight * policy's value)`` over the replications where every
        policy has a value, with its interval at ``level`` (paired: the policies share each
        replication's failure trace)."""
        series = [self.series(p, name, key) for p in terms]
        common = sorted(set.intersection(*(set(s) for s in series))) if series else []
        if not common:
            return None
        values = [math.fsum(w * s[r] for w, s in zip(terms.values(), series)) for r in common]
        return estimate([0.0 if abs(v) <= 1e-12 else v for v in values], self.level, UNBOUNDED)


def _capacity_claims(results: Results, level: float) -> list[Claim]:
    static, reconf, ft, static_ft = _roles(results)
    at = Intervals(results, level)
    out = []
    host = results.component_availability("host")
    assert host is not None
    out.append(Claim(
        "host availability 99.98 %", SOURCES["NSDI24"], "99.98 %", _pct(host, 3), "calibrated",
        "host repair mean 6 h is chosen so that MTBF/(MTBF+MTTR) = 99.98 % at 0.08 %/day"))
    system = at.of(reconf, SYSTEM_AVAILABILITY) if reconf else None
    if system is not None:
        static_sys = at.of(static, SYSTEM_AVAILABILITY) if static else None
        out.append(Claim(
            "system availability 99.98 %", SOURCES["NSDI24"], "99.98 %",
            f"OCS {_pct(system, 3)}; static {_pct(static_sys, 3)}", _judge(system, 0.99975, 0.99985),
            "tpusim's system availability counts a chip's host, ICI links and dark OCS circuits; the "
            "published figure matches hosts alone (row above): links and OCSes add the rest "
            f"({_ocs_assumptions(results.model)} are assumptions); '99.98 %' taken as 99.975-99.985 %"))
    if static and reconf and ft:
        out.append(_reconfiguration_claim(at, static, reconf, ft, static_ft))
    return out


def _gain(e: Estimate | None) -> str:
    """A paired difference of availabilities, in points, with its interval."""
    if e is None:
        return "-"
    ci = f" [{100 * e.ci95[0]:+.2f}, {100 * e.ci95[1]:+.2f}]" if e.ci95 is not None else ""
    return f"{100 * e.mean:+.2f}{ci}"


Orders = list[tuple[str, dict[str, float], dict[str, float]]]


def _orders(static: str, reconf: str, ft: str, static_ft: str | None) -> Orders:
    """The 2x2's orders: (name, reconfiguration's gain, FT routing's gain), each gain as the
    weights of a paired difference; FT first only where there is a static pod with FT routing."""
    orders = [("OCS first", {reconf: 1.0, static: -1.0}, {ft: 1.0, reconf: -1.0})]
    if static_ft is not None:
        orders.append(("FT first", {ft: 1.0, static_ft: -1.0}, {static_ft: 1.0, static: -1.0}))
    return orders


def _far_more(at: Intervals, orders: Orders, label: str) -> tuple[str, list[str], str]:
    """At one slice: the verdict (in every order, reconfiguration's gain positive and at least 3x
    FT routing's, judged on the paired differences gain_ocs and gain_ocs - 3 gain_ft), the gains
    per order in points with their intervals, and their means in short."""
    verdicts, parts, short = [], [], []
    for name, ocs, routing in orders:
        gain_ocs = at.paired(ocs, SLICE_AVAILABILITY, label)
        gain_ft = at.paired(routing, SLICE_AVAILABILITY, label)
        margin = at.paired({p: ocs.get(p, 0.0) - 3 * routing.get(p, 0.0) for p in {**ocs, **routing}},
                           SLICE_AVAILABILITY, label)
        verdicts += [_judge(gain_ocs, 0.0), _judge(margin, 0.0)]
        parts.append(f"{name}: reconfiguration {_gain(gain_ocs)}, FT {_gain(gain_ft)} points")
        if gain_ocs is not None and gain_ft is not None:
            short.append(f"{name} {100 * gain_ocs.mean:+.2f} vs {100 * gain_ft.mean:+.2f}")
    return _all(verdicts), parts, ", ".join(short)


def _reconfiguration_claim(at: Intervals, static: str, reconf: str, ft: str, static_ft: str | None) -> Claim:
    """"Reconfiguration helps far more than FT routing" at every slice size of the scenario, in
    both orders of the 2x2 (:func:`_far_more`): the largest slice in full, a verdict per size."""
    model = at.results.model
    orders = _orders(static, reconf, ft, static_ft)
    per_size = {shape: _far_more(at, orders, shape.label) for shape in model.shapes}
    shape = model.shapes[-1]
    label, cubes = shape.label, shape.cubes(model.machine.cube.shape)
    by = {p: at.of(p, SLICE_AVAILABILITY, label) for p in (static, reconf, ft, static_ft) if p}
    names = {static: "static pod", reconf: "OCS", ft: "OCS + FT", static_ft: "static + FT"}
    sizes = "; ".join(f"{s.cubes(model.machine.cube.shape)}: {verdict} ({short})"
                      for s, (verdict, _, short) in per_size.items())
    return Claim(
        "reconfiguration improves availability far more than fault-tolerant routing",
        SOURCES["ISCA23"], "qualitative",
        f"{cubes}-cube slice: " + ", ".join(f"{names[p]} {_pct(e)}" for p, e in by.items())
        + "; gains (paired): " + "; ".join(per_size[shape][1]) + f". By slice size in cubes (gains in points, reconfiguration vs FT): {sizes}",
        _all(verdict for verdict, _, _ in per_size.values()),
        "published failure rates; FT routing tolerates up to ft_routing.max_faults link/OCS "
        "faults; 'far more' taken as reconfiguration's gain positive and at least 3x FT routing's "
        "in both orders of the 2x2 (static + FT: FT first), each judged on the interval of the "
        "paired difference, at every slice size of the scenario (reproduced only if at all); a "
        "size where every pod is up all the time has no interval (inconclusive)")


def _jobs_claims(results: Results, level: float) -> list[Claim]:
    _, reconf, _, _ = _roles(results)
    if reconf is None:
        return []
    at = Intervals(results, level)
    out = []
    interrupted = at.of(reconf, JOBS_INTERRUPTED)
    if interrupted is not None:
        out.append(Claim(
            "about 1 % of jobs see a hardware interruption", SOURCES["NSDI24"], "~1 %",
            _pct(interrupted), _judge(interrupted, 0.005, 0.02),
            "published rates; job durations (lognormal, mean 1.2 h) and slice mix are assumptions: "
            "the share scales with job length x slice size; 'about' taken as 0.5-2 %"))
    xc = at.of(reconf, XCONNECTS_PER_JOB)
    if xc is not None:
        ci = f" [{xc.ci95[0]:.0f}, {xc.ci95[1]:.0f}]" if xc.ci95 is not None else ""
        parts = []
        for kind in ("first", "swap", "migration", "restart"):
            e = results.job_metric(reconf, f"xconnects_per_job_{kind}")
            if e is not None:
                parts.append(f"{kind} {e.mean:.0f}")
        used = results.job_metric(reconf, CIRCUITS_PER_JOB)
        if used is not None:
            parts.append(f"circuits its slice uses {used.mean:.0f}")
        out.append(Claim(
            "about 174 xconnects per admitted job at about 139 jobs per pod-day", SOURCES["NSDI24"],
            "~174", f"{xc.mean:.0f}{ci} ({', '.join(parts)})", _judge(xc, 0.75 * 174, 1.25 * 174),
            "139 jobs/pod-day is an input; an xconnect is a circuit a placement changes: the OCSes "
            "keep their circuits after a job ends (none set at the start), so a placement finding "
            "its circuits set programs nothing; " + _mix_text(results) + "; churn adds swaps, "
            "migrations and restarts on other cubes; 'about' taken as +-25 %"))
    return out


def _mix_text(results: Results) -> str:
    """What the scenario's slice mix makes of first placements: cubes per job (all jobs, sub-cube
    ones as 0, and whole-cube jobs alone), the xconnects a fresh slice programs per cube, and the
    shape that supplies most of the first-placement xconnects."""
    workload, machine = results.model.workload, results.model.machine
    if workload is None or not workload.mix:
        return "no slice mix"
    cube = machine.cube
    total = sum(w for _, w in workload.mix)
    cubes = {s: (s.cubes(cube.shape) if s.chips >= cube.chips and all(e % c == 0 for e, c in zip(s.dims, cube.shape))
                 else 0) for s, _ in workload.mix}
    whole = sum(w for s, w in workload.mix if cubes[s])
    per_job = sum(w * cubes[s] for s, w in workload.mix) / total
    top, weight = max(workload.mix, key=lambda sw: sw[1] * cubes[sw[0]])
    return (f"the slice mix averages {per_job:.1f} cubes per job (sub-cube jobs as 0), "
            f"{per_job * total / whole if whole else 0:.1f} per whole-cube job ({100 * whole / total:.0f} % of jobs); "
            f"a slice uses {machine.ocs_per_pod} circuits per cube, so first slices use "
            f"{per_job * machine.ocs_per_pod:.0f} per job on average (programmed only where not already set), "
            f"{top.label} ({100 * weight / total:.1f} % of jobs) supplying "
            f"{weight / total * cubes[top] * machine.ocs_per_pod:.0f} of them")


def _ft_penalty_claim(results: Results) -> Claim:
    """The FT step-time penalty is CALIBRATED to the published range
    (:func:`~tpusim.topology.routing.calibrate_comm_fraction`): the row states the rule and the
    penalties that the scenario's comm fractions give, per job and per single fault."""
    from tpusim.config.build import shipped_mix
    from tpusim.topology.routing import PUBLISHED_PENALTY, single_fault_slowdowns

    routing = results.model.policies[0].routing  # every policy carries the scenario's
    cube = results.model.machine.cube
    shapes = [s for s, _ in shipped_mix()
              if s.chips >= cube.chips and all(e % c == 0 for e, c in zip(s.dims, cube.shape))]
    per_job: list[float] = []
    per_fault: list[float] = []
    for pattern, fraction in routing.comm_fraction:
        for shape in shapes:
            slowdowns = single_fault_slowdowns(cube, shape.cube_dims(cube.shape), pattern).values()
            per_job.append(fraction * max(slowdowns))
            per_fault += [fraction * s for s in slowdowns]
    low, high = PUBLISHED_PENALTY
    fractions = ", ".join(f"{pattern} {fraction:g}" for pattern, fraction in routing.comm_fraction)
    return Claim(
        "fault-tolerant routing costs 0.5-8.6 % step time", SOURCES["NSDI24"],
        f"{100 * low:g}-{100 * high:g} %",
        f"per job (its costliest single fault): {100 * min(per_job):.1f}-{100 * max(per_job):.1f} %; "
        f"every single fault (one OCS or one port link down): {100 * min(per_fault):.3f}-"
        f"{100 * max(per_fault):.1f} % ({len(shapes)} whole-cube shapes of the shipped mix, both patterns)",
        "calibrated",
        f"CALIBRATED: the share of a step spent communicating (ft_routing.comm_fraction: {fractions}) "
        "is set so that, over the shipped mix's whole-cube shapes and both patterns, the job whose "
        "costliest single fault costs least pays 0.5 % and the one it costs most 8.6 %; the slowdown "
        "itself comes from each slice's chip graph (per-dimension phases: all-reduce detours, "
        "all-to-all bisection cuts), so agreement with the range proves nothing")


#: The slice availability targets "a static pod needs about 99.9 % host availability where the
#: OCS pod needs about 99 %" is judged at (the claim states none), and what "about" is taken as.
TARGETS = (0.90, 0.95, 0.99)
STATIC_ABOUT, OCS_ABOUT = (0.998, 0.9995), (0.985, 0.995)


def _hosts_only(base: Scenario, plan: Plan, runner: Runner, label: str, level: float) -> Callable[[float], Estimate]:
    """Static slice availability of ``label`` when hosts, each up ``a`` of the time (exponential
    24 h repairs), are the only failing part: a function of ``a``, remembered per ``a``."""
    reps, days = plan.hosts
    static, _, _, _ = _roles_of(build_model(base).policies)
    seen: dict[float, Estimate] = {}

    def availability(a: float) -> Estimate:
        if a not in seen:
            sc = base.with_overrides([
                f"replications={reps}", f"horizon_days={days}", f"slices=[{label}]", f"policies=[{static}]",
                f"failures.host.daily_rate={1 / a - 1}",  # a = 1 / (1 + rate x 1 day)
                "failures.host.repair={dist: exponential, mean_hours: 24}",
                "failures.ici_link.daily_rate=0", "failures.ocs.daily_rate=0", "failures.ocs_port.daily_rate=0"])
            est = Intervals(runner.run(sc), level).of(static, SLICE_AVAILABILITY, label)
            seen[a] = est if est is not None else Estimate(0.0, None, 0)
        return seen[a]
    return availability


def _static_need(availability: Callable[[float], Estimate], target: float) -> float:
    """The host availability at which the static slice reaches ``target`` (7 bisection steps on
    the means, unavailability on a log scale between 1 % and 0.001 %)."""
    lo, hi = 0.99, 0.99999
    for _ in range(7):
        mid = 1 - ((1 - lo) * (1 - hi)) ** 0.5
        if availability(mid).mean >= target:
            hi = mid
        else:
            lo = mid
    return hi


def _host_needed_claim(base: Scenario, plan: Plan, runner: Runner) -> Claim:
    """Host availability the scenario's largest slice needs, at each of :data:`TARGETS`: OCS by
    its binomial closed form, static by simulated runs (hosts only, 24 h repair). The static
    side is judged on two runs: at the ends of "about 99.9 %" the slice must miss the target at
    the lower end and meet it at the upper (intervals); the closed form is exact."""
    from scipy import optimize, stats

    model = build_model(base)
    shape = model.shapes[-1]
    cubes, n, hosts = shape.cubes(model.machine.cube.shape), model.machine.cubes_per_pod, model.machine.cube.hosts
    static = _hosts_only(base, plan, runner, shape.label, plan.level)
    verdicts, parts = [], []
    for target in TARGETS:
        need_ocs = optimize.brentq(lambda a: float(stats.binom.sf(cubes - 1, n, a ** hosts)) - target, 0.5, 1 - 1e-12)
        need_static = _static_need(static, target)
        verdict = _all([_judge(static(STATIC_ABOUT[0]), -math.inf, target), _judge(static(STATIC_ABOUT[1]), target, 1.0),
                        _judge((need_ocs, need_ocs), *OCS_ABOUT)])
        verdicts.append(verdict)
        parts.append(f"{100 * target:g} %: static {100 * need_static:.3f} %, OCS {100 * need_ocs:.3f} % ({verdict})")
    lo, hi = STATIC_ABOUT
    return Claim(
        "a static pod needs about 99.9 % host availability where the OCS pod needs about 99 %",
        SOURCES["ISCA23"], "~99.9 % vs ~99 %",
        f"{shape.chips}-chip slice ({cubes} of {n} cubes), host availability needed per target slice "
        f"availability: " + "; ".join(parts) + f". Static at {100 * lo:g} %: {_pct(static(lo), 3)}; at "
        f"{100 * hi:g} %: {_pct(static(hi), 3)}",
        _all(verdicts),
        "hosts are the only failing part (as in the claim); the target slice availability is not "
        f"published: judged at each of {', '.join(f'{100 * t:g} %' for t in TARGETS)} (reproduced only "
        "if at all); static by simulated runs (searched on the means; judged by the intervals at the "
        "ends of 'about'), OCS by the binomial closed form; 'about' taken as "
        f"{100 * lo:g}-{100 * hi:g} % and {100 * OCS_ABOUT[0]:g}-{100 * OCS_ABOUT[1]:g} %")


def _burst_claim(results: Results, days: float) -> Claim:
    import numpy as np

    rows = results.jobs_frame()
    cv = results.model.workload.daily_rate_cv if results.model.workload is not None else 0.0
    first = rows[rows.policy == rows.policy.iloc[0]] if len(rows) else rows
    dispersion = []
    for _, group in first.groupby("replication"):
        counts = np.bincount((group.arrival_hours // HOURS_PER_DAY).astype(int), minlength=int(days))
        if counts.mean() > 0:
            dispersion.append(counts.var() / counts.mean())
    value = f"index of dispersion of daily arrivals {np.mean(dispersion):.0f} (Poisson: 1)" if dispersion else "-"
    return Claim(
        "job arrivals are bursty from day to day, far beyond Poisson", SOURCES["NSDI24"], "qualitative",
        value, "modelled",
        f"ASSUMPTION: daily rate x gamma factor, coefficient of variation {cv:g} (workload.daily_rate_cv)")


def _maintenance_claim(maintenance: Scenario, plan: Plan, runner: Runner) -> Claim:
    """ISCA23: with OCSes an ICI upgrade drains a few cubes at a time; a static pod goes down.
    Per slice size, the slice availability the upgrade costs each pod (paired: the same
    replications without it); judged on the slices that fit beside one drained wave: the static
    pod loses time, and more than the OCS pod."""
    reps = plan.capacity[0]
    ici = [c for c in maintenance.maintenance if c.upgrades == "ici_stack"]
    runs = [runner.run(maintenance.with_overrides({"replications": reps, "workload": None, "maintenance": kept}))
            for kept in ([c.model_dump(mode="json") for c in ici], [])]
    model = runs[0].model
    static, reconf, _, _ = _roles_of(model.policies)
    if static is None or reconf is None or not ici:
        return Claim("ICI upgrades drain a few cubes at a time instead of taking the pod down", SOURCES["ISCA23"],
                     "qualitative", "-", INCONCLUSIVE, "needs a static and a reconfigurable policy and an ICI upgrade")
    at = Intervals(runs[0], plan.level).joined(runs[1], "without")
    room = model.machine.cubes_per_pod - ici[0].wave_size
    verdicts, parts = [], []
    for shape in model.shapes:
        cubes = shape.cubes(model.machine.cube.shape)
        cost = {p: at.paired({f"{p} without": 1.0, p: -1.0}, SLICE_AVAILABILITY, shape.label) for p in (static, reconf)}
        more = at.paired({f"{static} without": 1.0, static: -1.0, f"{reconf} without": -1.0, reconf: 1.0},
                         SLICE_AVAILABILITY, shape.label)
        judged = cubes <= room and all(e is not None and e.ci95 is not None for e in (cost[static], more))
        if judged:
            verdicts += [_judge(cost[static], 0.0), _judge(more, 0.0)]
        parts.append(f"{cubes}: static {_gain(cost[static])}, OCS {_gain(cost[reconf])}" + ("" if judged else " (not judged)"))
    return Claim(
        "an ICI upgrade takes a static pod down; with OCSes cubes are drained a few at a time",
        SOURCES["ISCA23"], "qualitative",
        "slice availability lost to the upgrade, points (paired), by slice size in cubes: " + "; ".join(parts),
        _all(verdicts),
        f"ASSUMPTION: {ici[0].wave_size} cubes per wave, {ici[0].wave_hours:g} h each; the static pod "
        "upgraded in one pod-wide window (scenarios/maintenance.yaml). Judged on the slices that fit "
        f"beside one drained wave (up to {room} cubes; a larger one waits out every wave on the OCS pod) "
        "and whose costs vary between replications (a cost the same in every one, the pod-wide window "
        "alone, has no interval)")


def _buildout_claim(buildout: Scenario, plan: Plan, runner: Runner) -> Claim:
    """ISCA23: an OCS pod is usable while it is being installed. Judged on the useful chip-hours
    delivered over the scenario's days (paired difference); slice availability per slice size
    shown beside it."""
    results = runner.run(buildout.with_overrides({"replications": plan.operations}))
    static, reconf, _, _ = _roles_of(results.model.policies)
    if static is None or reconf is None:
        return Claim("a pod is usable while partially installed", SOURCES["ISCA23"], "qualitative", "-",
                     INCONCLUSIVE, "needs a static and a reconfigurable policy")
    at = Intervals(results, plan.level)
    more = at.paired({reconf: 1.0, static: -1.0}, USEFUL_CHIP_HOURS)
    s, r = at.of(static, USEFUL_CHIP_HOURS), at.of(reconf, USEFUL_CHIP_HOURS)
    assert s is not None and r is not None and more is not None
    ci = f" [{more.ci95[0]:+,.0f}, {more.ci95[1]:+,.0f}]" if more.ci95 is not None else ""
    cube_shape = results.model.machine.cube.shape
    slices = "; ".join(f"{shape.cubes(cube_shape)}: {_gain(at.paired({reconf: 1.0, static: -1.0}, SLICE_AVAILABILITY, shape.label))}"
                       for shape in results.model.shapes)
    return Claim(
        "an OCS pod is usable while it is being installed; a static one waits for whole boxes",
        SOURCES["ISCA23"], "qualitative",
        f"useful chip-hours in the first {buildout.horizon_days:g} days: reconfigurable {r.mean:,.0f}, "
        f"static {s.mean:,.0f}, difference {more.mean:+,.0f}{ci} ({100 * (r.mean / s.mean - 1):+.0f} %); "
        f"slice availability gained, points (paired), by slice size in cubes: {slices}",
        _judge(more, 0.0),
        "ASSUMPTION: 8 cubes at hand-over, then 2 a day (scenarios/pod_buildout.yaml); judged on the "
        "useful chip-hours (paired difference)")


#: What "about 130 cubes" and "about 0.935" are taken as.
SUPERPOD_ABOUT, CUBE_ABOUT = (128, 132), (0.93, 0.94)


def _binomial_capacity(n: int, q: float, level: float = 0.95) -> int:
    """The most cubes of ``n``, each usable with probability ``q``, usable together with
    probability at least ``level`` (the superpod framework's binomial)."""
    from scipy import stats

    return max((k for k in range(n + 1) if stats.binom.sf(k - 1, n, q) >= level), default=0)


def _least_q(n: int, cubes: int) -> float:
    """The least per-cube availability at which the binomial promises ``cubes`` of ``n`` at 95 %."""
    lo, hi = 0.5, 1.0
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if _binomial_capacity(n, mid) >= cubes else (mid, hi)
    return hi


def _capacity_interval(at: Intervals, policy: str, n: int, confidence: float) -> tuple[int, tuple[int, int] | None]:
    """The most cubes placeable as one slice at least ``confidence`` of the time (on the means),
    and the range the intervals at ``at.level`` allow (None where some k has no interval)."""
    fractions = [at.of(policy, CAPACITY_FRACTION, str(k)) for k in range(n + 1)]

    def largest(bound: Callable[[Estimate], float]) -> int:
        return max((k for k, e in enumerate(fractions) if e is not None and bound(e) >= confidence), default=0)
    bounded = [e for e in fractions if e is not None and e.ci95 is not None]
    if len(bounded) < n:  # k = 0 holds always; any other k without an interval: no range
        return largest(lambda e: e.mean), None
    return largest(lambda e: e.mean), (largest(lambda e: e.ci95[0] if e.ci95 else e.mean),
                                       largest(lambda e: e.ci95[1] if e.ci95 else e.mean))


def _rate(model, component_class: str) -> str:
    """A component class's mean failure rate, percent of units per day."""
    return f"{100 * model.failures.of(component_class).mean_rate * HOURS_PER_DAY:g} %"


def _repair(model, component_class: str) -> str:
    """A component class's mean repair time."""
    return f"{model.failures.of(component_class).repair.mean:g} h"


def _ocs_assumptions(model) -> str:
    """The OCS numbers no publication fixes, as the scenario sets them."""
    f = model.failures
    text = f"OCS rate {_rate(model, 'ocs')} per switch, repair {_repair(model, 'ocs')}, control-plane share {f.ocs_control_share:g}"
    if f.of("ocs_port").enabled:
        text += f"; port-level faults {_rate(model, 'ocs_port')} per port, repair {_repair(model, 'ocs_port')}"
    return text


def _superpod_claim(superpod: Scenario, plan: Plan, runner: Runner) -> Claim:
    """The superpod framework's 130 of 144 cubes at 95 %: the simulated capacity at 95 % (the
    reconfigurable pod places any usable cubes, the framework's rule) with its interval, the
    binomial at the per-cube availability the published rates give, and the per-cube
    availabilities for which the binomial gives 130."""
    model = build_model(superpod)
    _, reconf, _, _ = _roles_of(model.policies)
    source = "Google Cloud superpod framework (2026)"
    if reconf is None:
        return Claim("130 of 144 cubes usable at 95 % confidence", source, "130", "-", INCONCLUSIVE,
                     "needs a reconfigurable policy")
    n, hosts = model.machine.cubes_per_pod, model.machine.cube.hosts
    results = runner.run(superpod.with_overrides({"replications": plan.superpod, "policies": [reconf]}))
    cubes, interval = _capacity_interval(Intervals(results, plan.level), reconf, n, 0.95)
    q_rates = cube_availability(model.machine, model.failures, ocs_ports=True)
    shown = f" [{interval[0]}, {interval[1]}]" if interval is not None else " (no interval)"
    return Claim(
        f"130 of a superpod's {n} cubes usable at 95 % confidence (per-cube availability about 0.935)",
        source, "130 (0.935)",
        f"simulated: {cubes} cubes{shown}; binomial at the per-cube availability the published rates "
        f"give ({q_rates:.4f}): {_binomial_capacity(n, q_rates)} cubes; the binomial gives 130 for a "
        f"per-cube availability in [{_least_q(n, 130):.4f}, {_least_q(n, 131):.4f})",
        _all([_judge(interval, *SUPERPOD_ABOUT), _judge((q_rates, q_rates), *CUBE_ABOUT)]),
        f"the scenario's daily rates (hosts {_rate(model, 'host')}, links {_rate(model, 'ici_link')}: the "
        f"published ones) with its repair means (host {_repair(model, 'host')}, calibrated from 99.98 %; link "
        f"{_repair(model, 'ici_link')}, assumed); a cube counts only with all its hosts and links "
        "up (the framework's rule), and the reconfigurable pod also needs its OCSes (320-port switches, "
        f"assumed). 0.935 would need each of a cube's {hosts} hosts up "
        f"{100 * 0.935 ** (1 / hosts):.2f} % of the time (links aside), not 99.98 %: causes beyond the published "
        "rates (maintenance, software, slow repairs) or another reading of 'healthy'. 'about' taken as "
        f"{SUPERPOD_ABOUT[0]}-{SUPERPOD_ABOUT[1]} cubes and {CUBE_ABOUT[0]:g}-{CUBE_ABOUT[1]:g}")


def _points(e: Estimate | None, digits: int = 2) -> str:
    """A paired difference of fractions, in points, with its interval (or why there is none)."""
    if e is None:
        return "-"
    ci = (f" [{100 * e.ci95[0]:+.{digits}f}, {100 * e.ci95[1]:+.{digits}f}]" if e.ci95 is not None
          else f" (no interval: {e.note})" if e.note else " (no interval)")
    return f"{100 * e.mean:+.{digits}f}{ci}"


def _hero_difference(a: Results, b: Results, names: tuple[str, ...], level: float) -> Estimate | None:
    """The paired difference (``a`` - ``b``) of the sum of the hero metrics ``names`` (key: the
    first hero job), per replication: the two runs share the seed and so the failure trace and
    the ordinary jobs (the hero's settings draw no random numbers)."""
    policy = a.model.policy_names[0]
    hero = a.model.workload.heroes[0].name if a.model.workload is not None else None
    at = Intervals(a, level).joined(b, "b")

    def total(p: str) -> dict[int, float]:
        series = [at.series(p, name, hero) for name in names]
        common = set.intersection(*(set(x) for x in series))
        return {r: math.fsum(x[r] for x in series) for r in common}
    x, y = total(policy), total(f"{policy} b")
    common = sorted(set(x) & set(y))
    if not common:
        return None
    values = [x[r] - y[r] for r in common]
    return estimate([0.0 if abs(v) <= 1e-12 else v for v in values], level, UNBOUNDED)


HERO_LOST = ("hero_hardware_fraction", "hero_restart_fraction")  # what failures cost a hero job


def _hero_claims(hero: Scenario, plan: Plan, runner: Runner) -> list[Claim]:
    """Two statements about a hero job on a superpod (``superpod_hero.yaml``), each judged on a
    paired difference between runs of the same seed that differ only in the hero's settings:
    in-memory checkpoints (Gemini) cut the chip-time failures cost it; an elastic hero makes
    progress through failures that stop a rigid one (no spares held)."""
    model = build_model(hero)
    _, reconf, _, _ = _roles_of(model.policies)
    if reconf is None or model.workload is None or not model.workload.heroes:
        why = "needs a reconfigurable policy and a hero job (workload.hero)"
        return [Claim("in-memory checkpoints cut recovery time", SOURCES["SOSP23"], "~13x faster recovery", "-",
                      INCONCLUSIVE, why),
                Claim("an elastic job makes progress through failures that stop a rigid one", SOURCES["SUPERPOD"],
                      "qualitative", "-", INCONCLUSIVE, why)]
    spec = model.workload.heroes[0]
    name, preferred = spec.name, spec.shape.cubes(model.machine.cube.shape)
    elastic_min = spec.min_cubes if 0 < spec.min_cubes < preferred else None
    common = {"replications": plan.hero, "policies": [reconf]}

    def run(**keys) -> Results:
        return runner.run(hero.with_overrides({**common, **keys}))
    storage = run(**{"workload.checkpoint.store": "storage"})
    memory = run(**{"workload.checkpoint.store": "memory"})
    lost = _hero_difference(storage, memory, HERO_LOST, plan.level)
    goodput = _hero_difference(memory, storage, ("hero_goodput",), plan.level)
    restart = _hero_difference(storage, memory, ("hero_restart_fraction",), plan.level)
    ck = hero.workload.checkpoint if hero.workload is not None else None
    spares = hero.pod_manager.spare_cubes
    claims = [Claim(
        "in-memory checkpoints cut recovery time", SOURCES["SOSP23"], "~13x faster recovery (qualitative here)",
        f"{preferred}-cube hero, {spares} spares: share of its chip-time lost to failures (work since the last "
        f"checkpoint, stalls, restarts), storage - in-memory, {_points(lost)} points (paired); restarts alone "
        f"{_points(restart)}; hero goodput in-memory - storage {_points(goodput)}",
        _judge(lost, 0.0),
        f"ASSUMPTIONS (scenarios/superpod_hero.yaml): storage restore {ck.storage_restore_minutes:g} min, "
        f"in-memory {ck.memory_restore_minutes:g} min (Gemini's 13x); the same {ck.interval_hours} h interval for "
        "both (the in-memory copy's cheaper writes are not spent on a shorter interval); the in-memory copy "
        "survives only while the job keeps its hosts (a spare swap), so it helps less with fewer spares. "
        "Judged on the paired difference of the lost share; goodput beside it also counts the cheaper writes" if ck else "")]
    if elastic_min is None:
        claims.append(Claim("an elastic job makes progress through failures that stop a rigid one", SOURCES["SUPERPOD"],
                            "qualitative", "-", INCONCLUSIVE, "the scenario's hero job is rigid (no min_cubes)"))
        return claims
    rigid = run(**{"pod_manager.spare_cubes": 0, f"workload.hero.{name}.min_cubes": preferred})
    elastic = run(**{"pod_manager.spare_cubes": 0, f"workload.hero.{name}.min_cubes": elastic_min})
    waiting = _hero_difference(rigid, elastic, ("hero_waiting_fraction",), plan.level)
    gain = _hero_difference(elastic, rigid, ("hero_goodput",), plan.level)
    claims.append(Claim(
        "an elastic job makes progress through failures that stop a rigid one", SOURCES["SUPERPOD"], "qualitative",
        f"{preferred}-cube hero, no spares: share of time waiting with nothing (stopped), rigid - elastic "
        f"(down to {elastic_min} cubes), {_points(waiting)} points (paired); hero goodput elastic - rigid "
        f"{_points(gain)}",
        _all([_judge(waiting, 0.0), _judge(gain, 0.0)]),
        "no spares held, so a failure stops the rigid job until a cube is free (the ordinary work's, by "
        "preemption of lower bands, or a repair); the elastic one restarts at once on one layer of cubes fewer "
        "and grows back (each resize a checkpoint and a restart). Reproduced only if the elastic job both waits "
        "less and has more goodput (paired intervals); the ordinary mix's load (an assumption) sets how often "
        "a free cube is at hand"))
    return claims


#: The scenarios the claims are computed from (file stems).
NEEDED = ("tpuv4_pod", "tpuv4_pod_jobs", "maintenance", "pod_buildout", "superpod_144", "superpod_hero")


def scenario_files(scenarios: Path | None = None) -> dict[str, Path]:
    """Where each needed scenario is: in the folder ``scenarios``, or the bundled ones (None)."""
    if scenarios is None:
        from tpusim.config.bundled import bundled

        shipped = bundled()
        return {name: shipped.get(name, Path(f"{name}.yaml")) for name in NEEDED}
    return {name: scenarios / f"{name}.yaml" for name in NEEDED}


def reproduce(scenarios: Path | None = None, quick: bool = False,
              progress: Callable[[str], None] | None = None) -> list[Claim]:
    """Every published claim with its simulated value, verdict and assumption, from the
    scenarios in the folder ``scenarios`` (default: the ones shipped with tpusim)."""
    return ReproduceStudy(quick, progress).on(scenarios)


@dataclass(frozen=True)
class ReproduceStudy(Study[dict[str, Scenario], list[Claim]]):
    """:func:`reproduce`: the published claims, from the scenarios :data:`NEEDED` names."""

    name: ClassVar[str] = "reproduce"
    summary: ClassVar[str] = "the published TPU v4 claims beside what tpusim computes for them, with verdicts"

    quick: bool = False  # the full form's first replications (QUICK), judged at 99.9 %
    progress: Callable[[str], None] | None = None  # told what runs next

    def prepare(self, scenario: Path | None = None, overrides: Overrides = None) -> dict[str, Scenario]:
        """The needed scenarios, from the folder ``scenario`` (None: the shipped ones), each
        validated with ``overrides`` set (a claim's own settings go on top)."""
        return {name: as_scenario(path, overrides) for name, path in scenario_files(scenario).items()}

    def run(self, scenarios: dict[str, Scenario], runner: Runner) -> list[Claim]:
        plan = QUICK if self.quick else FULL
        say = self.progress or (lambda message: None)
        claims: list[Claim] = []
        reps, days = plan.capacity
        say(f"capacity: tpuv4_pod.yaml, {len(registry.names())} policies, {reps} x {days:g} days")
        capacity = runner.run(scenarios["tpuv4_pod"].with_overrides([
            f"replications={reps}", f"horizon_days={days}", f"policies=[{', '.join(registry.names())}]"]))
        claims += _capacity_claims(capacity, plan.level)
        claims.append(_ft_penalty_claim(capacity))
        reps, days = plan.jobs
        say(f"jobs: tpuv4_pod_jobs.yaml, {reps} x {days:g} days")
        jobs = runner.run(scenarios["tpuv4_pod_jobs"].with_overrides([f"replications={reps}", f"horizon_days={days}"]))
        claims += _jobs_claims(jobs, plan.level)
        claims.append(_burst_claim(jobs, days))
        say(f"host availability needed: {len(TARGETS)} targets, runs of {plan.hosts[0]} x {plan.hosts[1]:g} days")
        claims.append(_host_needed_claim(scenarios["tpuv4_pod"], plan, runner))
        say("operations: maintenance.yaml (ICI upgrade, capacity) and pod_buildout.yaml (jobs)")
        claims.append(_maintenance_claim(scenarios["maintenance"], plan, runner))
        claims.append(_buildout_claim(scenarios["pod_buildout"], plan, runner))
        say(f"superpod: superpod_144.yaml, {plan.superpod} replications")
        claims.append(_superpod_claim(scenarios["superpod_144"], plan, runner))
        say(f"hero job: superpod_hero.yaml, 4 variants x {plan.hero} replications")
        claims += _hero_claims(scenarios["superpod_hero"], plan, runner)
        return claims
