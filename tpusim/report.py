"""Presenting results: the terminal table, summary.json, CSV tables and plots.

This is the output edge of tpusim: model code never imports it. Files are written atomically
(a temporary file in the same directory, then a rename), so a reader never sees half a file.
"""

from __future__ import annotations

import io
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
    """Write summary.json, availability.csv and (optionally) availability_vs_slice.png."""
    written = [out / "summary.json", out / "availability.csv"]
    write_json(written[0], results.summary())
    if results.replications:
        write_atomic(written[1], results.availability_frame().to_csv(index=False).encode())
        if plot:
            written.append(out / "availability_vs_slice.png")
            plot_availability(results, written[-1])
    else:
        written.pop()
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
        inside = "-" if est.ci95 is None else ("yes" if est.ci95[0] <= info["closed_form"] <= est.ci95[1] else "NO")
        comp.add_row(cls, str(info["failures"]), fmt_estimate(est, 4), pct(info["closed_form"], 4), inside)
    console.print(comp)
    console.print(
        f"{results.events} failure/repair events in {results.wall_seconds:.2f} s "
        f"({results.events / max(results.wall_seconds, 1e-9):,.0f} events/s)"
    )


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

def plot_availability(results: Results, path: Path) -> None:
    """Unavailability (log) against slice size (chips, log2), per policy, with closed forms."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    colors = {"static": "tab:red", "reconfigurable": "tab:blue", "reconfigurable_ft": "tab:green"}
    for policy, pts in series.items():
        if not pts:
            continue
        seen = [(c, e) for c, e in pts if 1 - e.mean > 0]
        if seen:
            xs = [c for c, _ in seen]
            ys = [1 - e.mean for _, e in seen]
            lo = [y - max(1 - e.ci95[1], floor) if e.ci95 else 0 for y, (_, e) in zip(ys, seen)]
            hi = [1 - e.ci95[0] - y if e.ci95 else 0 for y, (_, e) in zip(ys, seen)]
            ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, color=colors.get(policy),
                        label=f"{policy} (simulated, 95 % CI)")
        zeros = [(c, floor) for c, e in pts if 1 - e.mean <= 0]
        if zeros:
            ax.scatter(*zip(*zeros), marker="v", s=60, color=colors.get(policy), zorder=5,
                       label=f"{policy}: no unavailability observed")
    forms = closed_forms(s)
    xs = [c.chips for c in forms]
    if "reconfigurable" in s.policies:
        ax.plot(xs, [max(1 - c.reconfigurable, floor) for c in forms], "--", color=colors["reconfigurable"],
                alpha=0.6, label="reconfigurable, closed form")
    if "static" in s.policies:
        ax.plot(xs, [max(1 - c.static_fixed_box, floor) for c in forms], ":", color=colors["static"],
                alpha=0.6, label="one fixed static box, closed form")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.set_xlabel("slice size (chips)")
    ax.set_ylabel("slice unavailability (1 - availability)")
    ax.set_title(f"{s.name}: {len(results.replications)} replications x {s.horizon_days:g} days")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    write_atomic(path, buffer.getvalue())
