"""Terminal tables (rich): slice availability, system and component availability, jobs,
closed forms and check reports. Every number is read from the run's estimates.

A run's tables are the views of :mod:`tpusim.output.views` (shared with report.html), so the
terminal and the report carry the same labels, marks and footnotes; cells are printed as plain
text, never parsed as rich markup. The
other tables pass every piece of user text (a scenario, campaign or metric name, a path)
through :func:`rich.markup.escape`, titles included: ``[/]`` in a name prints as written."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rich.text import Text

from tpusim.policies.analytic import class_availability, cube_availability, ocs_layer_availability
from tpusim.core.formatting import Marks, estimate_text, share
from tpusim.engine.model import Model
from tpusim.output.views import View, run_views
from tpusim.core.stats import Estimate
from tpusim.core.metrics import GOODPUT, JOBS_ARRIVED, SLICE_AVAILABILITY, SYSTEM_AVAILABILITY
from tpusim.topology.machine import COMPONENT_CLASSES

if TYPE_CHECKING:  # the results layer calls this module; annotations only
    import pandas as pd

    from tpusim.measure.results import Results


def pct(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{100.0 * value:.{digits}f}"


def fmt_estimate(est: Estimate, digits: int = 3) -> str:
    """A fraction in percent with its interval and marks (:mod:`tpusim.core.formatting`'s rules)."""
    return estimate_text(est, digits, 100.0)


def print_view(view: View, console: Console) -> None:
    """One view as a rich table, its cells printed literally (no markup), then its footnotes."""
    table = Table(title=Text(view.title), title_justify="left")
    for i, name in enumerate(view.header):
        table.add_column(Text(name), justify="left" if i == 0 else "right", style="dim" if i in view.dim else None,
                         overflow="fold")  # never "…": a narrow pipe folds a cell, it does not hide it
    for row in view.rows:
        table.add_row(*(Text(cell) for cell in row))
    console.print(table)
    for line in view.notes:
        if line.startswith("warning: "):
            console.print(Text.assemble(("warning:", "yellow"), line[len("warning:"):]))
        else:
            console.print(Text(line))


def render_table(results: "Results", console: Console, baseline: str | None = None) -> None:
    """Every table of a run (:func:`tpusim.output.views.run_views`, the paired differences
    against ``baseline`` last), then the run's size and speed."""
    model = results.model
    for view in run_views(results, baseline=baseline):
        print_view(view, console)
    if results.has_jobs:
        first = model.policy_names[0]
        jobs = sum(s.value for s in results.samples if s.metric == JOBS_ARRIVED and s.policy == first)
        console.print(f"{results.events} failure/repair events and {jobs:,.0f} jobs x {len(model.policies)} "
                      f"policies in {results.wall_seconds:.2f} s")
    else:
        console.print(
            f"{results.events} failure/repair events in {results.wall_seconds:.2f} s "
            f"({results.events / max(results.wall_seconds, 1e-9):,.0f} events/s)"
        )


def render_closed_forms(model: Model, console: Console) -> None:
    m, f = model.machine, model.failures
    a = {c: class_availability(f, c) for c in COMPONENT_CLASSES}
    console.print(
        f"per-unit availability MTBF/(MTBF+MTTR): host {pct(a['host'], 4)} %, "
        f"ici_link {pct(a['ici_link'], 5)} %, ocs {pct(a['ocs'], 4)} %"
        + (f", ocs_port {pct(a['ocs_port'], 6)} %" if f.of("ocs_port").enabled else "")
    )
    console.print(
        f"cube usable (all {m.cube.hosts} hosts and {m.cube.links} links up): "
        f"{pct(cube_availability(m, f), 4)} %"
        + (f" (with the OCS ports facing it: {pct(cube_availability(m, f, ocs_ports=True), 4)} %)"
           if f.of("ocs_port").enabled else "")
        + f"; all {m.ocs_per_pod} OCSes of a pod up: "
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


def render_check(report: Any, title: str, console: Console) -> None:
    """Every metric of a check (a :class:`tpusim.studies.check.CheckReport`, read by its fields:
    output sits below the studies), in the baseline's order: the values, the change, its p-value,
    and the smallest change the comparison finds with 80 % power (absolute, and relative to the
    value - to the unavailability for an availability)."""
    table = Table(title=escape(title), title_justify="left")
    table.add_column("metric", overflow="fold")
    for col in ("baseline", "now", "change", "p-value", "detectable", "relative", ""):
        table.add_column(col, justify="right")
    for c in report.checks:
        relative = c.relative_detectable
        table.add_row(escape(c.name), f"{c.old['mean']:.6g}", f"{c.new['mean']:.6g}", f"{c.change:+.3g}",
                      f"{c.p_value:.2g}", f"{c.detectable:.2g}",
                      "any" if c.detectable == 0 else ("-" if relative is None else share(relative)),
                      "[red]MOVED[/red]" if c.failed else "ok")
    console.print(table)


def render_localisation(frame: "pd.DataFrame", title: str, console: Console) -> None:
    """The summary of a localisation study (:meth:`tpusim.studies.localisation.study.Localisation.summary`):
    precision or recall in percent with its exact 95 % interval as [low, high] (a proportion's
    interval is not symmetric), and the time and failed jobs it took to blame."""
    table = Table(title=escape(title), title_justify="left")
    for col in ("policy", "method", "scope", "count", "value", "95 % interval", "hours to blame", "jobs to blame"):
        table.add_column(col, justify="right" if col not in ("policy", "method", "scope") else "left")

    def mean_ci(row, name: str) -> str:
        value = row.get(name)
        if value is None or value != value:
            return "-"
        ci = row.get(f"{name}_ci95")
        return f"{value:.1f}" + (f" [{ci[0]:.1f}, {ci[1]:.1f}]" if isinstance(ci, (list, tuple)) else "")

    for row in frame.to_dict("records"):
        n, value = int(row["count"]), row["value"]
        shown = "-" if value != value else f"{100 * value:.1f} %"
        ci = "-" if row["ci95_low"] != row["ci95_low"] else f"[{100 * row['ci95_low']:.1f}, {100 * row['ci95_high']:.1f}] %"
        kind = "precision" if str(row["scope"]).endswith("blames") or str(row["scope"]).startswith("blames") else "recall"
        table.add_row(escape(str(row["policy"])), escape(str(row["method"])), escape(f"{kind}, {row['scope']}"
                      if kind == "precision" else str(row["scope"])), str(n), shown, ci,
                      mean_ci(row, "hours_to_blame"), mean_ci(row, "jobs_to_blame"))
    console.print(table)


#: What the sweep table shows of each point (the rest is in sweep.csv).
SWEEP_TABLE_METRICS = (SLICE_AVAILABILITY, SYSTEM_AVAILABILITY, GOODPUT)


def render_sweep(frame: "pd.DataFrame", keys: list[str], title: str, console: Console) -> None:
    """A sweep's points, one row per point and policy: the varied values, then slice
    availability per shape, system availability and (with jobs) goodput, written by the rules of
    :mod:`tpusim.core.formatting` (the terminal's marks and footnotes); sweep.csv has every metric."""
    from tpusim.core.formatting import label
    from tpusim.core.stats import Estimate

    shown = frame[frame.metric.isin(SWEEP_TABLE_METRICS)]
    columns = list(dict.fromkeys(zip(shown.metric, shown.key)))
    table = Table(title=escape(title), title_justify="left")
    for key in keys:
        table.add_column(escape(key), overflow="fold")
    table.add_column("policy")
    for metric, key in columns:
        header = {SLICE_AVAILABILITY: f"{key} %", SYSTEM_AVAILABILITY: "system %"}.get(metric, label(metric))
        table.add_column(escape(header), justify="right")
    marks = Marks()
    for (point, policy), rows in shown.groupby(["point", "policy"], sort=False):
        cells = {(r["metric"], r["key"]): r for r in rows.to_dict("records")}
        values = [escape(str(rows[k].iloc[0])) for k in keys]
        out = []
        for metric, key in columns:
            r = cells.get((metric, key))
            if r is None or r["mean"] != r["mean"]:
                out.append("-")
                continue
            ci = None if r["ci95_low"] != r["ci95_low"] else (float(r["ci95_low"]), float(r["ci95_high"]))
            note = r.get("note")
            est = Estimate(float(r["mean"]), ci, int(r["replications"]), note if isinstance(note, str) else None,
                           bool(r.get("reliable", True)))
            out.append(escape(marks.cell(est, metric)))
        table.add_row(*values, escape(str(policy)), *out)
    console.print(table)
    replications = int(shown.replications.min()) if len(shown) else None
    for line in marks.footnotes(replications):
        console.print(line, highlight=False, markup=False, soft_wrap=True)


def render_sweep_differences(frame: "pd.DataFrame", keys: list[str], title: str, console: Console) -> None:
    """A sweep's paired differences (:meth:`tpusim.studies.sweep.SweepResults.differences`) for
    the metrics of :func:`render_sweep`, one table per point so that it reads at 80 columns:
    per policy and metric (the policy written where it changes), point - baseline point with
    the 95 % CI of the per-replication differences and the verdict (higher or lower only where
    the interval excludes 0, else cannot tell); sweep_differences.csv has every metric, the
    unpaired half-width and the variance reduction. ``title`` (plain text) heads the first."""
    from tpusim.core.stats import Estimate
    from tpusim.measure.paired import PairedDifference
    from tpusim.output.views import VERDICTS, difference_text

    shown = frame[frame.metric.isin(SWEEP_TABLE_METRICS)]
    marks = Marks()
    labels = {SYSTEM_AVAILABILITY: "system avail.", GOODPUT: "goodput"}

    def known(v) -> bool:
        return v is not None and v == v

    console.print(Text(title))
    for point, rows in shown.groupby("point", sort=False):
        first = rows.iloc[0]
        values = ", ".join(f"{k}={first[k]}" for k in keys)
        table = Table(title=Text(f"point {point} ({values}) - point {first['baseline_point']}"), title_justify="left")
        table.add_column("policy", overflow="fold")
        table.add_column("metric", overflow="fold")
        table.add_column("difference", justify="right", overflow="fold")
        table.add_column("verdict", justify="right")
        last = None
        for r in rows.to_dict("records"):
            ci = (float(r["ci95_low"]), float(r["ci95_high"])) if known(r["ci95_low"]) else None
            note = r.get("note")
            est = Estimate(float(r["difference"]), ci, int(r["replications"]),
                           note if isinstance(note, str) else None, bool(r.get("reliable", True)))
            d = PairedDifference("", "", r["metric"], r["key"], float(r["mean_a"]), float(r["mean_b"]), est, None,
                                 None, str(r["verdict"]))
            label = f"slice {r['key']}" if r["metric"] == SLICE_AVAILABILITY else labels[r["metric"]]
            table.add_row(Text(str(r["policy"]) if r["policy"] != last else ""), Text(label),
                          Text(difference_text(d, marks)), Text(VERDICTS[d.verdict]))
            last = r["policy"]
        console.print(table)
    replications = int(shown.replications.min()) if len(shown) else None
    for line in marks.footnotes(replications):
        console.print(line, highlight=False, markup=False, soft_wrap=True)


def render_claims(rows: list[dict], title: str, console: Console, footnote: str | None = None) -> None:
    """Published claims next to their simulated values (``tpusim reproduce``), and a footnote
    (plain text: what the intervals are)."""
    colours = {"reproduced": "green", "not reproduced": "red", "inconclusive": "magenta", "calibrated": "yellow",
               "modelled": "cyan"}
    table = Table(title=escape(title), show_lines=True)
    for name, ratio in (("claim", 3), ("published", 1), ("simulated", 3), ("verdict", 1), ("rests on", 4)):
        table.add_column(name, ratio=ratio, overflow="fold")
    for row in rows:
        colour = colours.get(row["verdict"], "white")
        table.add_row(f"{escape(row['claim'])}\n[dim]{escape(row['source'])}[/dim]", escape(row["published"]),
                      escape(row["simulated"]), f"[{colour}]{escape(row['verdict'])}[/{colour}]",
                      escape(row["rests_on"]))
    console.print(table)
    if footnote is not None:
        console.print(footnote, highlight=False, markup=False)


def availability_markdown(results: "Results") -> str:
    """Slice availability per policy as a Markdown table (percent, with the 95 % CI and the
    same marks and footnotes as the terminal; the unit follows the mean), for design documents
    and pull requests."""
    policies = list(results.model.policy_names)
    lines = ["| slice | chips | " + " | ".join(policies) + " |", "|---|---:|" + "---:|" * len(policies)]
    rows = {p: results.slice_availability(p) for p in policies}
    marks = Marks()
    for i, (shape, _, chips, _) in enumerate(rows[policies[0]]):
        cells = [marks.cell(rows[p][i][3], SLICE_AVAILABILITY) for p in policies]
        lines.append(f"| {shape} | {chips} | " + " | ".join(" % ".join(c.split(" ", 1)) for c in cells) + " |")
    marks.rare = results.rare_hint()
    notes = marks.footnotes(len(results.replications))
    return "\n".join(lines + ([""] + [f"{line}  " for line in notes] if notes else []))


def render_spares(frame, title: str, console: Console) -> None:  # title: plain text
    """Spare cubes per pod for each policy and target (``tpusim spares``): searched (with the
    range the 95 % CIs allow), the closed form, and Mist's rule (mean ± CI half-width, or
    [low, high] where clipped at 0; largest)."""
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
        mist = (estimate_text(Estimate(row.mist, (row.mist_ci95_low, row.mist_ci95_high), 2), 1)
                if known(row.mist_ci95_low) else f"{row.mist:.1f}")  # [low, high] where clipped at 0
        closed = cubes(row.closed_form) if row.has_closed_form else "none"
        table.add_row(row.policy, f"{100 * row.target:g} %", cubes(row.spares), span, closed, mist,
                      f"{row.mist_largest}", f"{row.lead_hours:.1f}")
    console.print(table)
    console.print("n/r: not reachable, no number of spares meets the target; lead: the replacement lead time "
                  "in which Mist's rule counts bursts", highlight=False)


def render_fit(frame: "pd.DataFrame", title: str, console: Console) -> None:
    """A fit of an incident log (:meth:`tpusim.studies.fit.FitResults.frame`, read by its
    columns: output sits below the studies): per class the failures, the daily rate with its
    exact Poisson 95 % interval, and per repair law its mean with its 95 % interval, sigma
    (lognormal) and AIC; the law written into ``failures:`` is marked, and the best by AIC."""
    def num(value: Any, fmt: str = ".4g") -> str:
        return "-" if value is None or value != value else format(value, fmt)

    table = Table(title=escape(title), title_justify="left")
    table.add_column("class", no_wrap=True)
    for col in ("population", "failures", "daily rate\n[95 %]", "repairs\n(open)", "law", "mean hours\n[95 %]",
                "sigma", "AIC", ""):
        table.add_column(col, justify="left" if col in ("law", "") else "right")
    shown = None
    for row in frame.to_dict("records"):
        first = row["class"] != shown
        if first and shown is not None:
            table.add_section()
        shown = row["class"]
        rate = f"{row['daily_rate']:.3g}\n[{row['daily_rate_low']:.3g}, {row['daily_rate_high']:.3g}]"
        dist = row.get("dist")
        mean = (f"{row['mean_hours']:.3g}\n[{row['mean_low']:.3g}, {row['mean_high']:.3g}]"
                if isinstance(dist, str) else "-")
        mark = ", ".join(m for m, on in (("written", row.get("written") is True), ("best AIC", row.get("best") is True)) if on)
        table.add_row(escape(row["class"]) if first else "", str(row["population"]) if first else "",
                      str(row["failures"]) if first else "", rate if first else "",
                      f"{row['repair_times']} ({row['open_at_end']})" if first else "",
                      escape(dist) if isinstance(dist, str) else "none fitted", mean, num(row.get("sigma"), ".3g"),
                      num(row.get("aic"), ".1f"), mark)
    console.print(table)


def render_uncertainty(frame: "pd.DataFrame", title: str, console: Console) -> None:
    """The input-uncertainty study's table (:mod:`tpusim.studies.uncertainty`): per output, its
    mean over the input draws with the total 95 % half-width (inputs and simulation), the
    half-width the simulation alone would give, and the share of the variance due to the inputs.
    Availabilities and goodput in percent; an output equal in every replication of every draw is
    shown "(all equal)", never ± 0."""
    table = Table(title=escape(title), title_justify="left")
    for col in ("policy", "output", "mean ± total", "simulation alone ±", "from inputs"):
        table.add_column(col, justify="left" if col in ("policy", "output") else "right")
    for row in frame.to_dict("records"):
        scale = 100.0
        key = row["key"]
        name = f"{row['metric']} {key}" if isinstance(key, str) else row["metric"]

        def width(v: Any) -> str:
            return "-" if v is None or v != v else f"{scale * v:.3f}"

        share = row["input_share"]
        total = row["half_width"]
        shown = (f"{scale * row['mean']:.3f} (all equal)" if total == 0 else
                 f"{scale * row['mean']:.3f} ± {width(total)}")
        table.add_row(escape(str(row["policy"])), escape(name), shown,
                      width(row["sim_half_width"]), "-" if share is None or share != share else f"{100 * share:.0f} %")
    console.print(table)

def render_sensitivity(indices: dict, findings: dict, method: str, scales: dict, title: str,
                       console: Console) -> None:
    """One table per output of its sensitivity indices, ranked (frames as
    :func:`tpusim.studies.sensitivity.analyse` returns them, by output label), each followed by
    its finding. Morris: mu* with its 95 % interval, and sigma (in the output's units,
    ``scales[label] = (factor, unit)``); Sobol: ST and S1 with theirs."""
    console.print(Text(title))
    for label, frame in indices.items():
        if frame["index"].notna().all() and not (frame["index"].abs() > 1e-12).any():  # nothing moves it: the
            console.print(Text(findings[label]))  # finding says so in one line
            continue
        scale, unit = scales.get(label, (1.0, ""))
        table = Table(title=Text(label), title_justify="left")
        table.add_column(Text("rank"), justify="right")
        table.add_column(Text("assumption"), justify="left", overflow="fold")
        u = f" ({unit})" if unit else ""
        heads = ([f"mu*{u}", "95 % CI", f"sigma{u}"] if method == "morris" else ["ST", "95 % CI", "S1", "95 % CI"])
        for head in heads:
            table.add_column(Text(head), justify="right", overflow="fold")

        def g(v: float) -> str:
            return "-" if v != v else "0" if abs(v) < 1e-9 else f"{v:.3g}"  # float residue is 0

        for row in frame.to_dict(orient="records"):
            if "mu_star" in row:
                cells = [g(scale * row["mu_star"]), f"[{g(scale * row['low'])}, {g(scale * row['high'])}]",
                         g(scale * row["sigma"])]
            elif "ST" in row:
                cells = [g(row["ST"]), f"[{g(row['ST'] - row['ST_conf'])}, {g(row['ST'] + row['ST_conf'])}]",
                         g(row["S1"]), f"[{g(row['S1'] - row['S1_conf'])}, {g(row['S1'] + row['S1_conf'])}]"]
            else:  # undefined output
                cells = ["-"] * len(heads)
            table.add_row(Text(str(row["rank"])), Text(str(row["factor"])), *(Text(c) for c in cells))
        console.print(table)
        console.print(Text(findings[label]))
