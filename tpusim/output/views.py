"""The tables of a run as text cells, built once and rendered by the terminal and by report.html.

A :class:`View` is a titled table of strings with the footnotes its cells need. The terminal
(:mod:`tpusim.output.tables`, rich) and the report (:mod:`tpusim.output.report`, HTML) render
the same views, so they show the same labels, units, marks and caveats: a caveat cannot be shown
in one and dropped in the other. Every cell is written by :mod:`tpusim.core.formatting` from the
run's estimates; labels and units come from the metrics registry, never raw metric ids.

Invariant: a view's ``notes`` explain every mark its cells (and the views before it, in
:func:`run_views`) carry; :func:`run_views` gives each footnote once, after the first view that
needs it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator

from tpusim.core.formatting import ALL_EQUAL, NONE_SEEN, ONE_REPLICATION, UNRELIABLE, Marks, for_metric, interval, number
from tpusim.core.metrics import COST_METRICS, HERO_METRICS, REGISTRY, metric as lookup
from tpusim.measure.paired import CANNOT_TELL, HIGHER, LOWER, PairedDifference
from tpusim.core.formatting import label as metric_label
from tpusim.output.summary import components, noticed_gray
from tpusim.topology.machine import COMPONENT_CLASSES
from tpusim.scheduler.job import elastic_sizes
from tpusim.core.metrics import (
    COMPONENT_AVAILABILITY,
    GOODPUT,
    HERO_GOODPUT,
    HERO_MEAN_CUBES,
    HERO_PROGRAM_GOODPUT,
    LOST_CHIP_HOURS,
    MAINTENANCE_CHIP_HOURS,
    QUEUE_WAIT_P50_BY_CHIPS_HOURS,
    QUEUE_WAIT_P95_BY_CHIPS_HOURS,
    SLICE_AVAILABILITY,
    SYSTEM_AVAILABILITY,
    USEFUL_AVAILABILITY,
)

if TYPE_CHECKING:  # the results layer calls this package; annotations only
    from tpusim.measure.results import Results


@dataclass
class View:
    """One table: a title, a header, rows of text cells and the footnotes below it. ``dim``:
    columns of reference values (closed forms), shown dimmed."""

    title: str
    header: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    dim: set[int] = field(default_factory=set)


def slice_view(results: "Results", marks: Marks) -> View:
    """Slice availability per shape and policy, with the exact closed forms beside."""
    s, model = results.scenario, results.model
    n = len(results.replications)
    cube_shape = model.machine.cube.shape
    exact = [p for p in model.policies
             if (cf := p.closed_form(model.failures, (1, 1, 1))) is not None and cf.kind == "exact"]
    header = ["slice", "chips", "cubes", *model.policy_names, *(f"{p.name} closed form" for p in exact)]
    per_policy = {p: results.slice_availability(p) for p in model.policy_names}
    never = {p: set(results.never_placeable(p)) for p in model.policy_names}
    rows = []
    for i, shape in enumerate(model.shapes):
        row = [shape.label, str(shape.chips), str(shape.cubes(cube_shape))]
        for policy in model.policy_names:
            est = per_policy[policy][i][3]
            row.append("never fits" if shape.label in never[policy] else marks.cell(est, SLICE_AVAILABILITY))
        for p in exact:
            cf = p.closed_form(model.failures, shape.cube_dims(cube_shape))
            row.append(number(cf.value if cf else None, 3, 100.0))
        rows.append(row)
    title = (f"{s.name}: slice availability, {n} replication{'s' * (n != 1)} x {s.horizon_days:g} days, "
             f"seed {s.seed}; % (mean ± 95 % CI half-width, or mean [95 % CI] where clipped or asymmetric)")
    return View(title, header, rows, dim=set(range(3 + len(model.policy_names), len(header))))


def system_view(results: "Results", marks: Marks) -> View:
    """System availability and capacity at confidence, per policy, with the closed form."""
    level = results.model.capacity_confidence
    rows = []
    for policy in results.model.policy_names:
        cap = results.capacity_at_confidence(policy)
        span = f" [{cap.cubes_low}, {cap.cubes_high}]" if cap.cubes_low is not None else " (no interval)"
        form = "-" if cap.closed_form_cubes is None else str(cap.closed_form_cubes)
        useful = results.estimate(policy, USEFUL_AVAILABILITY)
        rows.append([policy, marks.cell(results.system_availability(policy), SYSTEM_AVAILABILITY),
                     "-" if useful is None else marks.cell(useful, USEFUL_AVAILABILITY), f"{cap.cubes}{span}", form])
    return View(f"system availability (chip-time on healthy hardware), useful availability (chip-time able to do "
                f"useful work: under FT routing, every chip whose host is up) and capacity at {100 * level:g} % "
                "(most cubes placeable as one slice that often)",
                ["policy", "system availability %", "useful availability %",
                 f"cubes at {100 * level:g} % [range the CIs allow]", "closed form"], rows, dim={4})


def components_view(results: "Results", marks: Marks) -> View:
    """Each component class: failures, measured availability, MTBF/(MTBF+MTTR) and whether the
    interval holds it."""
    model = results.model
    rows = []
    for cls, info in components(results).items():
        est = results.component_availability(cls)
        if est is None:
            continue
        if info["closed_form"] is None:
            released = {c.release_class for c in model.maintenance if c.release is not None}
            inside = ("n/a: build-out" if model.failures.install_hours else "n/a: bad releases"
                      if COMPONENT_CLASSES.index(cls) in released else "n/a: gray noticed"
                      if cls in noticed_gray(model) else "n/a: trace/schedule")
        elif est.ci95 is None and est.n < 2:
            inside = "n/a: one replication"
        elif est.ci95 is None or info["failures"] + info["repairs"] == 0:
            inside = "n/a: too few events"
        else:
            inside = "yes" if est.ci95[0] <= info["closed_form"] <= est.ci95[1] else "NO"
        rows.append([cls, f"{info['failures']:,}", f"{info['repairs']:,}", marks.cell(est, COMPONENT_AVAILABILITY),
                     number(info["closed_form"], 4, 100.0), inside])
    return View("components: measured vs MTBF/(MTBF+MTTR) (repairs include those of parts down at the start, "
                "which begins in the steady state)",
                ["class", "failures", "repairs", "availability %", "closed form %", "within CI"], rows, dim={4})


def maintenance_views(results: "Results", marks: Marks) -> Iterator[View]:
    """Chip-hours out for maintenance per policy, and each rollout's record (made one at a
    time, so that each view's footnotes follow the view that needs them)."""
    model = results.model
    if not model.maintenance or not results.replications:
        return
    names = ", ".join(f"{c.name} ({c.kind}, {c.waves_per_occurrence(model.machine)} waves)" for c in model.maintenance)
    yield View("maintenance: chip-hours out on otherwise healthy hardware", ["", *model.policy_names],
               [["chip-hours", *(marks.cell(results.estimate(p, MAINTENANCE_CHIP_HOURS), MAINTENANCE_CHIP_HOURS)
                                 for p in model.policy_names)]], notes=[f"maintenance campaigns: {names}"])
    from tpusim.core.stats import Estimate

    def mean(d) -> str:  # a mean over rollouts (summary form: no count; a note where all were equal)
        if d is None:
            return "-"
        ci = d["ci95"]
        if ci is None and d.get("note") is None:
            return f"{number(d['mean'], 1)} (one rollout)"
        return marks.text(Estimate(d["mean"], tuple(ci) if ci else None, 2, d.get("note"), d.get("reliable", True)), 1)

    for name, block in results.rollout_summary().items():
        rows = []
        for lab, b in block.items():
            rate = b["stop_rate"]
            stopped = "-" if rate is None else (f"{100 * rate['mean']:.1f} [{100 * rate['ci95'][0]:.1f}, "
                                                f"{100 * rate['ci95'][1]:.1f}]")
            rows.append([lab, str(b["occurrences"]), stopped, mean(b["hours"]), mean(b["exposed_units"]),
                         mean(b["detection_hours"])])
        yield View(f"rollout {name}: means over rollouts (95 % CI)",
                          ["release", "n", "stopped % [exact CI]", "hours", "units exposed", "detect hours"], rows,
                          notes=["hours: to the last wave's end or the stop; a stop of a good release is a false "
                                 "stop (exact CI); units are the campaign's (cubes or OCSes); tpusim.campaign_cost "
                                 "gives each campaign's cost as paired differences."])


def jobs_view(results: "Results", marks: Marks) -> View:
    """Every job metric the registry shows in tables, per policy, by label and unit."""
    model = results.model
    rows = []
    for m in REGISTRY.values():
        if m.group != "jobs" or m.breakdown is not None or not m.table:
            continue
        if m.name in COST_METRICS and model.cost is None:
            continue  # no prices given
        rows.append([("  " if m.label.startswith(" ") else "") + metric_label(m.name),
                     *(marks.cell(results.job_metric(p, m.name), m.name) for p in model.policy_names)])
    return View("jobs (mean ± 95 % CI half-width, or mean [95 % CI], over replications)",
                ["metric", *model.policy_names], rows)


#: The marks of the hero tables, beside :mod:`tpusim.core.formatting`'s.
NEVER_FITS = "(never fits)"
INPUT = "(input)"


def hero_views(results: "Results", marks: Marks) -> list[View]:
    """One table per hero job (``workload.hero``), policies as columns: its goodput and the
    other parts of its preferred slice's chip-time (indented; with the goodput they sum to 100 %
    in every replication), then time at preferred size, mean cubes, interruptions and resizes per
    day and the ML-goodput products (:mod:`tpusim.scheduler.hero`). Cells are written as the job
    table's, except: a policy that can never place the hero shows its constant values marked
    ``(never fits)``, not ``(all equal)``; the program goodput, an input, is marked ``(input)``; a
    fraction the same in every replication is ``(all equal)`` even at 100 % (no outage is meant)."""
    model = results.model
    heroes = results.heroes
    if not heroes:
        return []
    never = {p: set(results.heroes_never_placed(p)) for p in model.policy_names}
    cube_shape = model.machine.cube.shape
    used: set[str] = set()
    views = []

    def cell(policy: str, name: str, hero: str) -> str:
        est = results.estimate(policy, name, hero)
        m = lookup(name)
        if est is not None and name == HERO_PROGRAM_GOODPUT:
            used.add(INPUT)
            return f"{number(est.mean, m.digits, m.scale)} {INPUT}"
        if est is not None and hero in never[policy] and est.ci95 is None:
            used.add(NEVER_FITS)
            return f"{number(est.mean, m.digits, m.scale)} {NEVER_FITS}"
        if est is None:
            used.add("-")
        return marks.record(est, for_metric(est, name).replace(NONE_SEEN, ALL_EQUAL))

    for i, h in enumerate(heroes):
        sizes = [x * y * z for x, y, z in elastic_sizes(h.shape.cube_dims(cube_shape), h.min_cubes)]
        cubes = sizes[0]
        size = (f"elastic, {', '.join(map(str, reversed(sizes[1:])))} or {cubes} cubes" if len(sizes) > 1
                else f"rigid, {cubes} cube{'s' * (cubes != 1)}")
        if h.slices > 1:
            size += f", each of {h.slices} slices in its own pod"
        rows = [[("  " if m.startswith(" ") else "") + metric_label(name),
                 *(cell(p, name, h.name) for p in model.policy_names)]
                for name in HERO_METRICS for m in (lookup(name).label,)]
        title = (f"hero job {h.name}: {h.shape.label} ({size}), arriving at {h.arrival:g} h; % of its preferred slice's "
                 "chip-time from arrival to the horizon or its finish (mean ± 95 % CI half-width, or mean [95 % CI], over "
                 "replications)")
        notes = [] if i else [
            "hero jobs: goodput and the eight indented parts sum to 100 % of the preferred slice's chip-time in "
            "every replication; scheduling goodput x runtime goodput = goodput; ML goodput = scheduling x runtime "
            "x program goodput"]
        views.append(View(title, ["metric", *model.policy_names], rows, notes=notes))
    last = views[-1].notes
    if NEVER_FITS in used:
        last.append(f"{NEVER_FITS}: this policy can place none of the hero's sizes (no slice of them fits a healthy, "
                    "empty pod under the policy), so the hero waits from arrival to the horizon: goodput 0 and "
                    "waiting 100 % by construction, not measured")
    if INPUT in used:
        last.append(f"{INPUT}: program goodput is given by the scenario (workload.hero[].program_goodput, e.g. "
                    "model FLOPs utilisation), not simulated")
    if "-" in used:
        last.append("-: not measured (the hero never held chips in any replication, or arrived at the horizon)")
    return views


def queue_wait_views(results: "Results", marks: Marks) -> list[View]:
    """The wait before first start per slice size, one table per quantile (p95, then p50)."""
    model = results.model
    by = {p: {c: (p50, p95) for c, p50, p95 in results.queue_wait_by_chips(p)} for p in model.policy_names}
    sizes = sorted({c for rows in by.values() for c in rows})
    if not sizes:
        return []
    names = shape_names(results)
    views = []
    for q, name in ((1, QUEUE_WAIT_P95_BY_CHIPS_HOURS), (0, QUEUE_WAIT_P50_BY_CHIPS_HOURS)):
        rows = [[names.get(c, "-"), f"{c:,}",
                 *("-" if c not in by[p] else marks.cell(by[p][c][q], name) for p in model.policy_names)]
                for c in sizes]
        views.append(View(f"queue wait {'p95' if q else 'p50'} before first start by slice size (hours; the "
                          "shapes of that size in the workload)", ["slice", "chips", *model.policy_names], rows))
    return views


def shape_names(results: "Results") -> dict[int, str]:
    """Slice size in chips -> the shapes of that size the run knows (workload mix and slices)."""
    shapes = list(results.model.shapes)
    if results.model.workload is not None:
        shapes += [s for s, _ in results.model.workload.mix]
    out: dict[int, list[str]] = {}
    for s in shapes:
        if s.label not in out.setdefault(s.chips, []):
            out[s.chips].append(s.label)
    return {c: "/".join(labels) for c, labels in out.items()}


#: Row labels of the compared metrics (short: the table must read at 80 columns).
_COMPARED = {SLICE_AVAILABILITY: "slice {key}", SYSTEM_AVAILABILITY: "system avail.",
             USEFUL_AVAILABILITY: "useful avail.", GOODPUT: "goodput", LOST_CHIP_HOURS: "lost chip-hours",
             HERO_GOODPUT: "hero {key} goodput", HERO_MEAN_CUBES: "hero {key} cubes"}

#: The verdict column: is the policy's value higher or lower than the baseline's?
VERDICTS = {HIGHER: "higher", LOWER: "lower", CANNOT_TELL: CANNOT_TELL}


def difference_text(d: PairedDifference, marks: Marks) -> str:
    """A paired difference in its metric's unit and digits, signed: ``+0.584 ± 0.302``, or
    ``0 (all equal)`` / ``(one replication)`` without an interval, ``†`` where its coverage may
    be low; recorded in ``marks`` for the footnotes."""
    m = lookup(d.metric)
    est = d.difference
    text = number(est.mean, m.digits, m.scale)
    if est.mean > 0 and not text.startswith("-") and float(text.replace(",", "")) != 0.0:
        text = "+" + text
    if est.ci95 is None:
        text += f" {ONE_REPLICATION if est.n <= 1 else ALL_EQUAL}"
    else:
        text += f" {interval(est, m.digits, m.scale)}"
    return marks.record(est, text + ("" if est.reliable else f" {UNRELIABLE}"))


def unpaired_text(d: PairedDifference) -> str:
    """The unpaired half-width: ``± 1.337``, ``± <0.001`` where it rounds to 0, ``-`` where
    both series are constant (or there is one replication): never ``± 0``."""
    m = lookup(d.metric)
    w = d.unpaired_half_width
    if w is None or w == 0.0:
        return "-"
    shown = number(w, m.digits, m.scale)
    return f"± {shown}" if float(shown.replace(",", "")) != 0.0 else "± <" + (f"{10.0 ** -m.digits:.{m.digits}f}"
                                                                              if m.digits else "1")


def variance_reduction_text(d: PairedDifference) -> str:
    """``×8.4`` (what pairing bought), or ``-`` where every difference was the same."""
    v = d.variance_reduction
    if v is None:
        return "-"
    return f"×{v:,.0f}" if v >= 100 else f"×{v:.1f}"


def comparison_views(results: "Results", marks: Marks, baseline: str | None = None) -> list[View]:
    """Every other policy against ``baseline`` (default: the first policy), one table each:
    per compared metric the paired difference (policy - baseline) with its 95 % CI, the
    half-width unpaired runs would give, the variance reduction pairing bought and the verdict
    read from the paired interval (:meth:`tpusim.measure.results.Results.paired_differences`)."""
    compared = results.paired_differences(baseline)
    n = len(results.replications)
    views = []
    for i, (policy, diffs) in enumerate(compared):
        rows = []
        for d in diffs:
            m = lookup(d.metric)
            unpaired = unpaired_text(d)
            rows.append([_COMPARED[d.metric].format(key=d.key), difference_text(d, marks), unpaired,
                         variance_reduction_text(d), VERDICTS[d.verdict]])
        base = diffs[0].b if diffs else (baseline or results.model.policy_names[0])
        notes = [] if i else [
            f"difference: the mean over {n} replication{'s' * (n != 1)} of (policy - {base}), each replication "
            "replaying the same failure trace" + (" and jobs" if results.has_jobs else "") + " under both, ± the 95 % CI half-width of those paired "
            "differences; unpaired ±: the half-width two independent runs with the same variances would give; "
            "var. reduction: (var policy + var baseline) / var(difference), what the pairing bought (- where the "
            "difference never varied); verdict: higher or lower only when the interval excludes 0, else cannot tell."]
        views.append(View(f"paired differences vs {base}: {policy} - {base} (availabilities and goodput in "
                          "percentage points" + ("; hero cubes: mean cubes held" if results.heroes else "") + ")", ["metric", "difference", "unpaired\n±", "var.\nreduction", "verdict"],
                          rows, notes=notes))
    return views


#: The rows of the control-variate tables: (metric, row label; ``{key}``: the slice shape).
_CONTROLLED = (("slice_availability", "slice {key}"), ("system_availability", "system availability"),
               ("goodput", "goodput"), ("lost_chip_hours", "lost chip-hours"),
               ("queue_wait_p50_hours", "queue wait p50 h"), ("queue_wait_p95_hours", "queue wait p95 h"),
               ("queue_wait_mean_hours", "queue wait mean h"))


def controls_views(results: "Results", marks: Marks) -> list[View]:
    """The main metrics' plain and controlled estimates, one table per policy
    (:meth:`tpusim.measure.results.Results.controlled`): slice availability per shape, system
    availability and, with jobs, goodput, lost chip-hours and the queue waits; with fewer
    replications than control variates need, one line saying so."""
    from tpusim.measure.controls import MIN_CONTROLLED

    n = len(results.replications)
    if not n:
        return []
    if n < MIN_CONTROLLED or not results.control_means:
        why = (f"{n} replication{'s' * (n != 1)} (they need at least {MIN_CONTROLLED})" if results.control_means
               else "no quantity with a known mean was recorded (replayed traces)")
        return [View("control variates: not applied", [], [], notes=[f"control variates: not applied: {why}; "
                                                                    "the plain estimates above stand."])]
    views = []
    for i, policy in enumerate(results.model.policy_names):
        rows = []
        for name, text in _CONTROLLED:
            if lookup(name).group == "jobs" and not results.has_jobs:
                continue
            keys = [s.label for s in results.model.shapes] if name == "slice_availability" else [None]
            for key in keys:
                ce = results.controlled(policy, name, key)
                if ce is None:
                    continue
                c, m = ce.controlled, lookup(name)
                exact = c is not None and c.ci95 is None and ce.variance_reduction is None
                factor = ("-" if c is None or ce.variance_reduction is None and not exact else "exact" if exact
                          else f"{ce.variance_reduction:.1f}x")
                cell = ("-" if c is None else f"{number(c.mean, m.digits, m.scale)} (exact fit)" if exact
                        else marks.cell(c, name))
                rows.append([text.format(key=key), marks.cell(ce.plain, name), cell, factor])
        notes = [] if i else [
            f"plain: Student-t over {n} replications (slice availability above also holds the outage interval); "
            "controlled: the regression control-variate estimate, adjusted by quantities whose means the model "
            "fixes exactly (failure candidates and drawn repair hours per class; with generated jobs, offered "
            "chip-hours and arrivals), at most one control per 5 replications beyond 2, its interval on "
            "n - 1 - q degrees of freedom; factor: plain variance of the mean / controlled (below 1: the "
            "controls cost more degrees of freedom than they explained); exact: the controls explain every "
            "replication exactly (no interval); -: not applied (summary.json's controlled section says why)."]
        views.append(View(f"control variates: {policy} (availabilities and goodput in %)",
                          ["metric", "plain", "controlled", "factor"], rows, notes=notes))
    return views


def run_views(results: "Results", by_size: bool = False, baseline: str | None = None) -> list[View]:
    """Every table of a run, in the terminal's order, each with the footnotes first needed there
    (``by_size``: also the queue waits per slice size, which the report shows and the terminal
    leaves to its plot), the paired differences against ``baseline`` (default: the first policy) last."""
    marks = Marks(rare=results.rare_hint())
    shown: set[str] = set()
    views: list[View] = []
    n = len(results.replications)

    def add(view: View | None) -> None:
        if view is None:
            return
        fresh = [line for line in marks.footnotes(n) if line not in shown]
        shown.update(fresh)
        view.notes = fresh + view.notes
        views.append(view)

    add(slice_view(results, marks))
    add(system_view(results, marks))
    add(components_view(results, marks))
    for view in maintenance_views(results, marks):
        add(view)
    if results.has_jobs:
        add(jobs_view(results, marks))
        for view in hero_views(results, marks):
            add(view)
        if by_size:
            for view in queue_wait_views(results, marks):
                add(view)
    for view in comparison_views(results, marks, baseline):
        add(view)
    for view in controls_views(results, marks):
        add(view)
    add(importance_view(results))
    return views


def importance_view(results: "Results") -> View | None:
    """A run with ``estimation.estimator: importance``: each whole-cube slice shape's
    unavailability under the reconfigurable rule by importance sampling (summary.json's
    ``importance``), beside the binomial closed form; the study's warnings and the shapes it
    skipped, with the reason, as notes. None for a plain run."""
    block = results.importance
    if block is None:
        return None
    rows = []
    for r in block["rows"]:
        u, rel = r["unavailability"], r["relative_half_width"]
        est = (f"{u:.3g} ± {rel:.1%}" if u is not None and u > 0 and rel is not None and math.isfinite(rel)
               else "none reached (raise estimation.importance.bias)")
        rows.append([r["shape"], str(r["cubes"]), est, f"{r['closed_form']:.3g}", f"{r['cycles']:,}",
                     f"{r['cpu_seconds']:.2f}"])
    title = (f"rare slice outages (importance sampling): unavailability under the {block['rule']} rule, "
             f"{block['method']}, {block['cycles']:,} cycles per shape, seed {block['seed']}; "
             "estimate ± 95 % relative half-width")
    notes = [f"the estimate is the {block['rule']} rule's (any k usable cubes of a pod, every OCS of the pod up) "
             "with independent units; the policies' slice availability above is 1 - unavailability where the "
             "policy is that rule"]
    notes += [f"warning: {w}" for w in block["warnings"]] + [f"skipped: {w}" for w in block["skipped"]]
    return View(title, ["slice", "cubes", "unavailability", "closed form", "cycles", "CPU s"], rows, notes=notes,
                dim={3})

