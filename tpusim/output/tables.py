"""Terminal tables (rich): slice availability, system and component availability, jobs,
closed forms and check reports. Every number is read from the run's estimates.

Titles and cells are rich markup; every piece of user text in them (a scenario, campaign or
metric name, a path) goes through :func:`rich.markup.escape`, so ``[/]`` in a name prints as
written instead of ending in a MarkupError, and ``[bold]x[/bold]`` is not silently restyled."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tpusim.analytic import class_availability, cube_availability, ocs_layer_availability
from tpusim.metrics import COST_METRICS, REGISTRY
from tpusim.model import Model
from tpusim.output.summary import components, noticed_gray
from tpusim.stats import Estimate
from tpusim.topology.machine import COMPONENT_CLASSES

if TYPE_CHECKING:  # the results layer calls this module; annotations only
    from tpusim.check import CheckReport
    from tpusim.results import Results


def pct(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{100.0 * value:.{digits}f}"


def fmt_estimate(est: Estimate, digits: int = 3) -> str:
    """``mean ± half-width`` in percent (the unit goes in the column header); ``†`` marks an
    interval whose coverage may be well below 95 %, ``(none seen)`` a fraction of 1 observed in
    every replication, ``(all equal)`` any other value the same in every replication."""
    if est.half_width is None:
        if est.n > 1 and est.mean == 1.0:
            return f"{pct(est.mean, digits)} (none seen)"
        return pct(est.mean, digits) + (" (all equal)" if est.n > 1 else "")
    return f"{pct(est.mean, digits)} ± {100.0 * est.half_width:.{digits}f}" + ("" if est.reliable else " †")


def interval_notes(results: "Results", console: Console) -> None:
    """Footnotes: what the marks mean, and the warning for few replications."""
    n = len(results.replications)
    if n < 5:
        console.print(f"[yellow]warning:[/yellow] {n} replication{'s' * (n != 1)}: intervals from fewer than 5 "
                      "may cover far less than 95 %; add --replications", highlight=False)
    shown = [est for p in results.model.policy_names for *_, est in results.slice_availability(p)]
    if any(not e.reliable for e in shown):
        console.print("† fewer than 10 outages behind this interval (or fewer than 5 replications): its "
                      "coverage may be well below 95 % (measured); add replications or days", highlight=False)
    if any(e.ci95 is None and e.n > 1 and e.mean == 1.0 for e in shown):
        console.print("(none seen): no outage in any replication, so no interval; summary.json gives the "
                      "detection limit", highlight=False)


def render_table(results: "Results", console: Console) -> None:
    s, model = results.scenario, results.model
    n = len(results.replications)
    title = (
        f"{escape(s.name)}: slice availability, {n} replication{'s' * (n != 1)} x "
        f"{s.horizon_days:g} days, seed {s.seed}; % (mean ± 95 % CI half-width)"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("slice")
    table.add_column("chips", justify="right")
    table.add_column("cubes", justify="right")
    for policy in model.policy_names:
        table.add_column(policy, justify="right")
    cube_shape = model.machine.cube.shape
    exact = [p for p in model.policies
             if (cf := p.closed_form(model.failures, (1, 1, 1))) is not None and cf.kind == "exact"]
    for p in exact:
        table.add_column(f"{p.name} closed form", justify="right", style="dim")
    per_policy = {p: results.slice_availability(p) for p in model.policy_names}
    never = {p: set(results.never_placeable(p)) for p in model.policy_names}
    for i, shape in enumerate(model.shapes):
        row = [shape.label, str(shape.chips), str(shape.cubes(cube_shape))]
        for policy in model.policy_names:
            est = per_policy[policy][i][3]
            row.append("never fits" if shape.label in never[policy] else fmt_estimate(est))
        for p in exact:
            cf = p.closed_form(model.failures, shape.cube_dims(cube_shape))
            row.append(pct(cf.value if cf else None))
        table.add_row(*row)
    console.print(table)
    interval_notes(results, console)

    level = model.capacity_confidence
    sys_table = Table(title="system availability (chip-time on healthy hardware) and capacity at "
                            f"{100 * level:g} % (most cubes placeable as one slice that often)",
                      title_justify="left")
    sys_table.add_column("policy")
    sys_table.add_column("system availability %", justify="right")
    sys_table.add_column(f"cubes at {100 * level:g} % (CI range)", justify="right")
    sys_table.add_column("closed form", justify="right", style="dim")
    for policy in model.policy_names:
        cap = results.capacity_at_confidence(policy)
        span = f" ({cap.cubes_low}-{cap.cubes_high})" if cap.cubes_low is not None else ""
        form = "-" if cap.closed_form_cubes is None else str(cap.closed_form_cubes)
        sys_table.add_row(policy, fmt_estimate(results.system_availability(policy), 4), f"{cap.cubes}{span}", form)
    console.print(sys_table)

    comp = Table(title="components: measured vs MTBF/(MTBF+MTTR)", title_justify="left")
    for col in ("class", "failures", "availability %", "closed form %", "within CI"):
        comp.add_column(col, justify="left" if col == "class" else "right")
    for cls, info in components(results).items():
        measured = results.component_availability(cls)
        if measured is None:
            continue
        est = measured
        if info["closed_form"] is None:
            released = {c.release_class for c in model.maintenance if c.release is not None}
            inside = ("n/a: build-out" if model.failures.install_hours else "n/a: bad releases"
                      if COMPONENT_CLASSES.index(cls) in released else "n/a: gray noticed"
                      if cls in noticed_gray(model) else "n/a: trace/schedule")
        elif est.ci95 is None or info["failures"] + info["repairs"] == 0:
            inside = "n/a: too few events"
        else:
            inside = "yes" if est.ci95[0] <= info["closed_form"] <= est.ci95[1] else "NO"
        form = "-" if info["closed_form"] is None else pct(info["closed_form"], 4)
        comp.add_row(cls, str(info["failures"]), fmt_estimate(est, 4), form, inside)
    console.print(comp)
    render_maintenance(results, console)
    if results.has_jobs:
        render_jobs(results, console)
        first = model.policy_names[0]
        jobs = sum(s.value for s in results.samples if s.metric == "jobs_arrived" and s.policy == first)
        console.print(f"{results.events} failure/repair events and {jobs:,.0f} jobs x {len(model.policies)} "
                      f"policies in {results.wall_seconds:.2f} s")
    else:
        console.print(
            f"{results.events} failure/repair events in {results.wall_seconds:.2f} s "
            f"({results.events / max(results.wall_seconds, 1e-9):,.0f} events/s)"
        )


def _unit_suffix(unit: str) -> str:
    return {"fraction": " %", "hours": " (h)", "minutes": " (min)"}.get(unit, "")


def render_jobs(results: "Results", console: Console) -> None:
    model = results.model
    table = Table(title="jobs (mean ± 95 % CI half-width, per replication)", title_justify="left")
    table.add_column("metric")
    for policy in model.policy_names:
        table.add_column(policy, justify="right")
    for m in REGISTRY.values():
        if m.group != "jobs" or m.breakdown is not None or not m.table:
            continue
        if m.name in COST_METRICS and model.cost is None:
            continue  # no prices given
        cells = []
        for policy in model.policy_names:
            est = results.job_metric(policy, m.name)
            scale, digits = m.scale, m.digits
            if est is None:
                cells.append("-")
            elif est.half_width is None:
                cells.append(f"{scale * est.mean:,.{digits}f}" + (" (all equal)" if est.n > 1 else ""))
            else:
                cells.append(f"{scale * est.mean:,.{digits}f} ± {scale * est.half_width:,.{digits}f}"
                             + ("" if est.reliable else " †"))
        table.add_row(m.label + _unit_suffix(m.unit), *cells)
    console.print(table)
    if len(results.replications) < 5:
        console.print("† fewer than 5 replications: these intervals may cover far less than 95 %", highlight=False)


def render_maintenance(results: "Results", console: Console) -> None:
    """Maintenance campaigns: chip-hours each policy had out, and each rollout's record."""
    model = results.model
    if not model.maintenance or not results.replications:
        return
    names = ", ".join(f"{escape(c.name)} ({c.kind}, {c.waves_per_occurrence(model.machine)} waves)" for c in model.maintenance)
    console.print(f"maintenance campaigns: {names}", highlight=False)
    table = Table(title="maintenance: chip-hours out (mean ± 95 % CI)", title_justify="left")
    table.add_column("on healthy hardware")
    for policy in model.policy_names:
        table.add_column(policy, justify="right")
    def plain(est: Estimate | None) -> str:
        if est is None:
            return "-"
        return f"{est.mean:,.0f}" + (f" ± {est.half_width:,.0f}" if est.half_width is not None else "")

    table.add_row("chip-hours", *(plain(results.estimate(p, "maintenance_chip_hours")) for p in model.policy_names))
    console.print(table)
    rollouts = results.rollout_summary()
    if not rollouts:
        return
    def mean(d) -> str:
        if d is None:
            return "-"
        ci = d["ci95"]
        return f"{d['mean']:.1f}" + (f" ({ci[0]:.1f}-{ci[1]:.1f})" if ci else "")

    for name, block in rollouts.items():
        table = Table(title=f"rollout {escape(name)}: means (95 % CI) over rollouts", title_justify="left")
        for col in ("release", "n", "stopped %", "hours", "units exposed", "detect hours"):
            table.add_column(col, justify="left" if col == "release" else "right")
        for label, b in block.items():
            rate = b["stop_rate"]
            stopped = "-" if rate is None else f"{100 * rate['mean']:.1f} ({100 * rate['ci95'][0]:.1f}-{100 * rate['ci95'][1]:.1f})"
            table.add_row(escape(str(label)), str(b["occurrences"]), stopped, mean(b["hours"]), mean(b["exposed_units"]),
                          mean(b["detection_hours"]))
        console.print(table)
    console.print("hours: to the last wave's end or the stop; a stop of a good release is a false stop (exact "
                  "CI); units are the campaign's (cubes or OCSes); tpusim.campaign_cost gives each campaign's "
                  "cost as paired differences.", highlight=False)


def render_closed_forms(model: Model, console: Console) -> None:
    m, f = model.machine, model.failures
    a = {c: class_availability(f, c) for c in ("host", "ici_link", "ocs")}
    console.print(
        f"per-unit availability MTBF/(MTBF+MTTR): host {pct(a['host'], 4)} %, "
        f"ici_link {pct(a['ici_link'], 5)} %, ocs {pct(a['ocs'], 4)} %"
    )
    console.print(
        f"cube usable (all {m.cube.hosts} hosts and {m.cube.links} links up): "
        f"{pct(cube_availability(m, f), 4)} %; all {m.ocs_per_pod} OCSes of a pod up: "
        f"{pct(ocs_layer_availability(m, f), 4)} %; {m.pods} pod(s) of {m.cubes_per_pod} cubes"
    )
    table = Table(title=f"{escape(model.name)}: closed-form slice availability", title_justify="left")
    for col in ("slice", "chips", "cubes"):
        table.add_column(col, justify="left" if col == "slice" else "right")
    cube_shape = m.cube.shape
    with_forms = []
    for p in model.policies:
        cf = p.closed_form(f, (1, 1, 1))
        if cf is not None:
            with_forms.append(p)
            table.add_column(f"{p.name} ({cf.kind})", justify="right")
    for shape in model.shapes:
        cells = [shape.label, str(shape.chips), str(shape.cubes(cube_shape))]
        for p in with_forms:
            cf = p.closed_form(f, shape.cube_dims(cube_shape))
            cells.append(f"{pct(cf.value if cf else None, 4)} %")
        table.add_row(*cells)
    console.print(table)
    for p in with_forms:
        console.print(f"{p.name}: {p.closed_form(f, (1, 1, 1)).formula}", highlight=False)  # type: ignore[union-attr]


def render_check(report: "CheckReport", title: str, console: Console) -> None:
    """``title`` is plain text (it names the scenario and the baseline's path)."""
    moved = [c for c in report.checks if c.failed]
    table = Table(title=escape(title), title_justify="left")
    table.add_column("metric", overflow="fold")
    for col in ("baseline", "now", "change", "detectable", "p-value", ""):
        table.add_column(col, justify="right")
    for c in sorted(report.checks, key=lambda c: c.p_value)[: max(8, len(moved))]:
        table.add_row(escape(c.name), f"{c.old['mean']:.6g}", f"{c.new['mean']:.6g}", f"{c.change:+.3g}",
                      f"{c.detectable:.2g}", f"{c.p_value:.2g}", "[red]MOVED[/red]" if c.failed else "ok")
    console.print(table)


def render_claims(rows: list[dict], title: str, console: Console) -> None:
    """Published claims next to their simulated values (``tpusim reproduce``)."""
    colours = {"reproduced": "green", "not reproduced": "red", "calibrated": "yellow", "modelled": "cyan"}
    table = Table(title=escape(title), show_lines=True)
    for name, ratio in (("claim", 3), ("published", 1), ("simulated", 3), ("verdict", 1), ("rests on", 4)):
        table.add_column(name, ratio=ratio, overflow="fold")
    for row in rows:
        colour = colours.get(row["verdict"], "white")
        table.add_row(f"{escape(row['claim'])}\n[dim]{escape(row['source'])}[/dim]", escape(row["published"]),
                      escape(row["simulated"]), f"[{colour}]{escape(row['verdict'])}[/{colour}]",
                      escape(row["rests_on"]))
    console.print(table)


def availability_markdown(results: "Results") -> str:
    """Slice availability per policy as a Markdown table (percent, with the 95 % CI), for
    design documents and pull requests."""
    policies = list(results.model.policy_names)
    lines = ["| slice | chips | " + " | ".join(policies) + " |", "|---|---:|" + "---:|" * len(policies)]
    rows = {p: results.slice_availability(p) for p in policies}
    for i, (shape, _, chips, _) in enumerate(rows[policies[0]]):
        cells = []
        for p in policies:
            est = rows[p][i][3]
            cells.append(f"{100 * est.mean:.3f} %" + (f" ({100 * est.ci95[0]:.3f}-{100 * est.ci95[1]:.3f})"
                                                     if est.ci95 else ""))
        lines.append(f"| {shape} | {chips} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_spares(frame, title: str, console: Console) -> None:  # title: plain text
    """Spare cubes per pod for each policy and target (``tpusim spares``): searched (with the
    range the 95 % CIs allow), the closed form, and Mist's rule (mean ± CI half-width, largest)."""
    import math

    def known(v) -> bool:
        return v is not None and not (isinstance(v, float) and math.isnan(v))

    def cubes(v) -> str:
        return f"{v:.0f}" if known(v) else "n/r"

    table = Table(title=escape(title), title_justify="left")
    table.add_column("policy", no_wrap=True)
    for name in ("target", "spares", "95 %\nrange", "binom.", "Mist\n3x burst", "max", "lead\n(h)"):
        table.add_column(name, justify="right", no_wrap=True)
    for row in frame.itertuples():
        span = f"{cubes(row.spares_low)}-{cubes(row.spares_high)}" if known(row.spares_low) else "n/a"
        half = (row.mist_ci95_high - row.mist) if known(row.mist_ci95_low) else None
        mist = f"{row.mist:.1f}" + (f"±{half:.1f}" if half is not None else "")
        closed = cubes(row.closed_form) if row.has_closed_form else "none"
        table.add_row(row.policy, f"{100 * row.target:g} %", cubes(row.spares), span, closed, mist,
                      f"{row.mist_largest}", f"{row.lead_hours:.1f}")
    console.print(table)
    console.print("n/r: not reachable, no number of spares meets the target; lead: the replacement lead time "
                  "in which Mist's rule counts bursts", highlight=False)
