"""Presenting results: the terminal table, summary.json, CSV tables and plots.

This is the output edge of tpusim: model code never imports it. Files are written atomically
(a temporary file in the same directory, then a rename), so a reader never sees half a file.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tpusim.analytic import closed_forms
from tpusim.results import Results
from tpusim.stats import Estimate


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: Path, payload: dict) -> None:
    write_atomic(path, (json.dumps(payload, indent=2, allow_nan=False) + "\n").encode())


def write_outputs(results: Results, out: Path, plot: bool = True) -> list[Path]:
    """Write summary.json and, when something was measured, the CSV tables and plots."""
    written = [out / "summary.json"]
    write_json(written[0], results.summary())
    if not results.replications:
        return written
    written.append(out / "availability.csv")
    write_atomic(written[-1], results.availability_frame().to_csv(index=False).encode())
    series = results.availability_series_frame()
    if series is not None:
        written.append(out / "availability_timeseries.csv")
        write_atomic(written[-1], series.to_csv(index=False).encode())
        if plot:
            written.append(out / "availability_timeseries.png")
            plot_series(results, series, written[-1])
    traces = results.trace_csv()
    if traces is not None:
        written.append(out / "failure_trace.csv")
        write_atomic(written[-1], traces.encode())
    if results.has_jobs:
        written.append(out / "jobs.csv")
        write_atomic(written[-1], results.jobs_frame().to_csv(index=False).encode())
    if plot:
        written.append(out / "availability_vs_slice.png")
        plot_availability(results, written[-1])
        if results.has_jobs:
            written.append(out / "queue_wait_by_slice.png")
            plot_queue_wait(results, written[-1])
            written.append(out / "goodput_by_policy.png")
            plot_goodput(results, written[-1])
    return written


# -- terminal ------------------------------------------------------------------------------

def pct(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{100.0 * value:.{digits}f}"


def fmt_estimate(est: Estimate, digits: int = 3) -> str:
    """``mean ± half-width`` in percent (the unit goes in the column header)."""
    if est.half_width is None:
        return pct(est.mean, digits)
    return f"{pct(est.mean, digits)} ± {100.0 * est.half_width:.{digits}f}"


def render_table(results: Results, console: Console) -> None:
    s = results.scenario
    n = len(results.replications)
    title = (
        f"{s.name}: slice availability, {n} replication{'s' * (n != 1)} x "
        f"{s.horizon_days:g} days, seed {s.seed}; % (mean ± 95 % CI half-width)"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("slice")
    table.add_column("chips", justify="right")
    table.add_column("cubes", justify="right")
    for policy in s.policies:
        table.add_column(policy, justify="right")
    if "reconfigurable" in s.policies:
        table.add_column("closed form", justify="right", style="dim")
    forms = {c.shape: c for c in closed_forms(s)}
    per_policy = {p: results.slice_availability(p) for p in s.policies}
    unplaceable = set(results.static_unplaceable())
    for i, shape in enumerate(s.shapes):
        row = [shape.label, str(shape.chips), str(per_policy[s.policies[0]][i][1])]
        for policy in s.policies:
            est = per_policy[policy][i][3]
            cell = fmt_estimate(est)
            if policy == "static" and shape.label in unplaceable:
                cell = "does not fit grid"
            row.append(cell)
        if "reconfigurable" in s.policies:
            row.append(pct(forms[shape.label].reconfigurable))
        table.add_row(*row)
    console.print(table)

    sys_table = Table(title="system availability: chip-time on healthy hardware", title_justify="left")
    sys_table.add_column("policy")
    sys_table.add_column("availability %", justify="right")
    for policy in s.policies:
        sys_table.add_row(policy, fmt_estimate(results.system_availability(policy), 4))
    console.print(sys_table)

    comp = Table(title="components: measured vs MTBF/(MTBF+MTTR)", title_justify="left")
    for col in ("class", "failures", "availability %", "closed form %", "within CI"):
        comp.add_column(col, justify="left" if col == "class" else "right")
    for cls, info in results.summary()["components"].items():
        est = results.component_availability(cls)
        if est is None:
            continue
        if info["closed_form"] is None:
            inside = "n/a: trace/schedule"
        elif est.ci95 is None or info["failures"] + info["repairs"] == 0:
            inside = "n/a: too few events"
        else:
            inside = "yes" if est.ci95[0] <= info["closed_form"] <= est.ci95[1] else "NO"
        form = "-" if info["closed_form"] is None else pct(info["closed_form"], 4)
        comp.add_row(cls, str(info["failures"]), fmt_estimate(est, 4), form, inside)
    console.print(comp)
    if results.has_jobs:
        render_jobs(results, console)
    for note in s.notes:
        console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    if results.has_jobs:
        jobs = sum(r.jobs[s.policies[0]].metrics["jobs_arrived"] for r in results.replications)
        console.print(f"{results.events} failure/repair events and {jobs:,.0f} jobs x {len(s.policies)} "
                      f"policies in {results.wall_seconds:.2f} s")
    else:
        console.print(
            f"{results.events} failure/repair events in {results.wall_seconds:.2f} s "
            f"({results.events / max(results.wall_seconds, 1e-9):,.0f} events/s)"
        )


#: (metric, label, scale, digits) of the job table; fractions are shown in percent.
JOB_ROWS = (
    ("goodput", "goodput %", 100, 2),
    ("utilization", "utilization %", 100, 2),
    ("jobs_interrupted", "jobs interrupted %", 100, 3),
    ("lost_chip_hours", "lost chip-hours (hardware)", 1, 0),
    ("queue_wait_p50_hours", "queue wait p50 (h)", 1, 2),
    ("queue_wait_p95_hours", "queue wait p95 (h)", 1, 2),
    ("preemptions", "preemptions", 1, 0),
    ("migrations", "migrations", 1, 0),
    ("spare_swaps", "spare-cube swaps", 1, 0),
    ("ft_reroutes", "FT reroutes", 1, 0),
    ("degraded_fraction", "degraded (FT) %", 100, 3),
    ("slowdown_chip_hours", "chip-hours lost to FT slowdown", 1, 0),
    ("preflight_failures", "pre-flight failures", 1, 1),
    ("detections", "failures detected by healthd", 1, 0),
    ("mean_detection_minutes", "mean detection delay (min)", 1, 2),
    ("xconnects_per_day", "xconnects per day", 1, 0),
    ("xconnects_per_job", "xconnects per job", 1, 1),
    ("jobs_arrived", "jobs arrived", 1, 0),
    ("jobs_rejected", "jobs that never fit", 1, 0),
    ("jobs_waiting_at_end", "jobs waiting at the end", 1, 0),
)


def render_jobs(results: Results, console: Console) -> None:
    s = results.scenario
    table = Table(title="jobs (mean ± 95 % CI half-width, per replication)", title_justify="left")
    table.add_column("metric")
    for policy in s.policies:
        table.add_column(policy, justify="right")
    for name, label, scale, digits in JOB_ROWS:
        cells = []
        for policy in s.policies:
            est = results.job_metric(policy, name)
            if est is None:
                cells.append("-")
            elif est.half_width is None:
                cells.append(f"{scale * est.mean:,.{digits}f}")
            else:
                cells.append(f"{scale * est.mean:,.{digits}f} ± {scale * est.half_width:,.{digits}f}")
        table.add_row(label, *cells)
    console.print(table)


def render_closed_forms(scenario, console: Console) -> None:
    from tpusim.analytic import class_availability, cube_availability

    m = scenario.machine
    a = {c: class_availability(scenario, c) for c in ("host", "ici_link", "ocs")}
    console.print(
        f"per-unit availability MTBF/(MTBF+MTTR): host {pct(a['host'], 4)} %, "
        f"ici_link {pct(a['ici_link'], 5)} %, ocs {pct(a['ocs'], 4)} %"
    )
    console.print(
        f"cube usable (all {m.cube.hosts} hosts and {m.cube.links} links up): "
        f"{pct(cube_availability(scenario), 4)} %; all {m.ocs_per_pod} OCSes of a pod up: "
        f"{pct(a['ocs'] ** m.ocs_per_pod, 4)} %; {m.pods} pod(s) of {m.cubes_per_pod} cubes"
    )
    table = Table(title=f"{scenario.name}: closed-form slice availability", title_justify="left")
    for col in ("slice", "chips", "cubes", "reconfigurable (binomial, exact)", "static fixed box q^k (bound)"):
        table.add_column(col, justify="left" if col == "slice" else "right")
    for c in closed_forms(scenario):
        table.add_row(c.shape, str(c.chips), str(c.cubes), f"{pct(c.reconfigurable, 4)} %", f"{pct(c.static_fixed_box, 4)} %")
    console.print(table)


# -- plots ---------------------------------------------------------------------------------

COLORS = {"static": "tab:red", "reconfigurable": "tab:blue", "reconfigurable_ft": "tab:green"}

def plot_availability(results: Results, path: Path | None = None):
    """Unavailability (log) against slice size (chips, log2), per policy, with closed forms."""
    plt = _pyplot()
    s = results.scenario
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    unplaceable = set(results.static_unplaceable())
    series = {}
    for policy in s.policies:
        pts = [(chips, est) for shape, _, chips, est in results.slice_availability(policy)
               if not (policy == "static" and shape in unplaceable)]
        series[policy] = pts
    positives = [1 - e.mean for pts in series.values() for _, e in pts if 1 - e.mean > 0]
    floor = min(positives) / 10 if positives else 1e-6
    for policy, pts in series.items():
        if not pts:
            continue
        seen = [(c, e) for c, e in pts if 1 - e.mean > 0]
        if seen:
            xs = [c for c, _ in seen]
            ys = [1 - e.mean for _, e in seen]
            lo = [y - max(1 - e.ci95[1], floor) if e.ci95 else 0 for y, (_, e) in zip(ys, seen)]
            hi = [1 - e.ci95[0] - y if e.ci95 else 0 for y, (_, e) in zip(ys, seen)]
            ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, color=COLORS.get(policy),
                        label=f"{policy} (simulated, 95 % CI)")
        zeros = [(c, floor) for c, e in pts if 1 - e.mean <= 0]
        if zeros:
            ax.scatter(*zip(*zeros), marker="v", s=60, color=COLORS.get(policy), zorder=5,
                       label=f"{policy}: no unavailability observed")
    forms = closed_forms(s)
    xs = [c.chips for c in forms]
    if "reconfigurable" in s.policies:
        ax.plot(xs, [max(1 - c.reconfigurable, floor) for c in forms], "--", color=COLORS["reconfigurable"],
                alpha=0.6, label="reconfigurable, closed form")
    if "static" in s.policies:
        ax.plot(xs, [max(1 - c.static_fixed_box, floor) for c in forms], ":", color=COLORS["static"],
                alpha=0.6, label="one fixed static box, closed form")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.set_xlabel("slice size (chips)")
    ax.set_ylabel("slice unavailability (1 - availability)")
    ax.set_title(f"{s.name}: {len(results.replications)} replications x {s.horizon_days:g} days")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def _save(fig, path: Path | None):
    """Write ``fig`` to ``path`` atomically; with no path, hand the figure back (notebooks)."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    if path is None:
        return fig
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    write_atomic(path, buffer.getvalue())


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_queue_wait(results: Results, path: Path | None = None):
    """p50 and p95 of the wait before first start, against slice size, per policy."""
    plt = _pyplot()
    s = results.scenario
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    for policy in s.policies:
        rows = results.queue_wait_by_chips(policy)
        if not rows:
            continue
        xs = [c for c, _, _ in rows]
        for idx, style, label in ((1, "--", "p50"), (2, "-", "p95")):
            ys = [r[idx].mean for r in rows]
            ax.plot(xs, ys, style, marker="o", color=COLORS.get(policy), label=f"{policy} {label}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("symlog", linthresh=0.1)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("slice size (chips)")
    ax.set_ylabel("wait before first start (hours)")
    ax.set_title(f"{s.name}: queue wait by slice size (mean over {len(results.replications)} replications)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_goodput(results: Results, path: Path | None = None):
    """Goodput per policy with its 95 % CI."""
    plt = _pyplot()
    s = results.scenario
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    ests = [results.job_metric(p, "goodput") for p in s.policies]
    means = [100 * e.mean if e else 0 for e in ests]
    errs = [[100 * (e.mean - e.ci95[0]) if e and e.ci95 else 0 for e in ests],
            [100 * (e.ci95[1] - e.mean) if e and e.ci95 else 0 for e in ests]]
    ax.bar(s.policies, means, yerr=errs, capsize=4, color=[COLORS.get(p, "grey") for p in s.policies])
    low = min(means) if means else 0
    ax.set_ylim(max(0, low - 5), 100)
    ax.set_ylabel("goodput (% of held chip-hours that were useful)")
    ax.set_title(f"{s.name}: goodput by policy (95 % CI)")
    ax.grid(True, axis="y", alpha=0.3)
    return _save(fig, path)


def plot_series(results: Results, series, path: Path | None = None):
    """Availability of the largest slice per time bucket and policy, above the failure rates."""
    from tpusim.failures.schedule import Schedule, read_schedule

    plt = _pyplot()
    s = results.scenario
    shape = max(s.shapes, key=lambda x: x.chips).label
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), dpi=120, sharex=True,
                                      gridspec_kw={"height_ratios": [3, 2]})
    for policy in s.policies:
        rows = series[(series.policy == policy) & (series["shape"] == shape)]
        top.step(rows.start_days, 100 * rows["mean"], where="post", color=COLORS.get(policy), label=policy)
        if rows.ci95_low.notna().any():
            top.fill_between(rows.start_days, 100 * rows.ci95_low, 100 * rows.ci95_high, step="post",
                             color=COLORS.get(policy), alpha=0.15)
    top.set_ylabel(f"{shape} availability (%)")
    top.set_title(f"{s.name}: {shape} slice availability per {s.timeseries_days:g}-day bucket "
                  f"(mean and 95 % CI over {len(results.replications)} replications)")
    top.grid(True, alpha=0.3)
    top.legend(fontsize=8)
    days = [b * s.timeseries_days for b in range(int(-(-s.horizon_days // s.timeseries_days)) + 1)]
    for cls in ("host", "ici_link", "ocs"):
        cfg = getattr(s.failures, cls)
        if cfg.schedule is not None:
            sched = Schedule(read_schedule(cfg.schedule), cfg.schedule.period_hours)
            rates = [100 * 24 * sched.rate(d * 24) for d in days]
        else:
            rates = [100 * cfg.daily_rate] * len(days)
        bottom.step(days, rates, where="post", label=cls)
    bottom.set_yscale("log")
    bottom.set_ylabel("failure rate (% per day)")
    bottom.set_xlabel("time (days)")
    bottom.grid(True, which="both", alpha=0.3)
    bottom.legend(fontsize=8)
    return _save(fig, path)


def plot_sweep(frame, keys: list[str], out: Path | None = None) -> list:
    """One plot per metric: the mean and CI against the first varied key, a line per policy,
    slice shape and value of the other keys."""
    plt = _pyplot()
    x = keys[0]
    written = []
    for metric, rows in frame.groupby("metric", sort=False):
        fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
        group_keys = ["policy", "shape"] + keys[1:]
        styles = itertools.cycle([(m, ls) for ls in ("-", "--", ":") for m in "osD^v<>"])
        for labels, line in rows.groupby(group_keys, dropna=False, sort=False):
            marker, linestyle = next(styles)
            labels = labels if isinstance(labels, tuple) else (labels,)
            line = line.sort_values(x)
            name = " ".join(str(v) for v in labels if v == v and v is not None)
            ax.errorbar(line[x], line["mean"], yerr=[line["mean"] - line["ci95_low"].fillna(line["mean"]),
                                                     line["ci95_high"].fillna(line["mean"]) - line["mean"]],
                        marker=marker, linestyle=linestyle, capsize=3, label=name, color=COLORS.get(labels[0]))
        ax.set_xlabel(x)
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} against {x} (mean and 95 % CI)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
        if out is None:
            written.append(_save(fig, None))  # the figure itself, for a notebook
        else:
            path = out / f"sweep_{metric}.png"
            _save(fig, path)
            written.append(path)
    return written
