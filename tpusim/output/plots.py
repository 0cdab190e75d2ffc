"""Plots: matplotlib figures of a run or a sweep.

Figures are built on ``matplotlib.figure.Figure`` directly, never through ``pyplot``'s global
state and never with ``matplotlib.use``: library code leaves the backend to its caller (the CLI
picks a file backend for itself; a notebook keeps its inline backend and displays the returned
figure). With a path, a function writes the PNG atomically and returns None; without one it
returns the figure.

A policy's colour is fixed by its place in the policy registry, so it is the same in every plot
of every run.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matplotlib.figure import Figure

from tpusim.metrics import REGISTRY
from tpusim.output.files import write_atomic
from tpusim.policies import registry

if TYPE_CHECKING:  # the results layer calls this module; annotations only
    from tpusim.results import Results

PALETTE = ("tab:red", "tab:blue", "tab:green", "tab:purple", "tab:orange", "tab:brown", "tab:pink", "tab:olive")


def color(policy: str) -> str:
    """The policy's colour, by its place in the registry (grey for unknown names)."""
    names = registry.names()
    return PALETTE[names.index(policy) % len(PALETTE)] if policy in names else "grey"


def _save(fig: Figure, path: Path | None) -> Figure | None:
    """Write ``fig`` to ``path`` atomically; with no path, hand the figure back (notebooks)."""
    fig.tight_layout()
    if path is None:
        return fig
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    write_atomic(path, buffer.getvalue())
    return None


def plot_availability(results: "Results", path: Path | None = None) -> Figure | None:
    """Unavailability (log) against slice size (chips, log2), per policy, with closed forms."""
    s, model = results.scenario, results.model
    fig = Figure(figsize=(8, 6.5), dpi=120)
    ax = fig.subplots()
    series = {}
    for policy in model.policy_names:
        never = set(results.never_placeable(policy))
        series[policy] = [(chips, est) for shape, _, chips, est in results.slice_availability(policy)
                          if shape not in never]
    cube_shape = model.machine.cube.shape
    closed = {}  # policy -> its closed forms per shape (when it has one for every shape)
    for rule in model.policies:
        maybe = [rule.closed_form(model.failures, shape.cube_dims(cube_shape)) for shape in model.shapes]
        forms = [f for f in maybe if f is not None]
        if len(forms) == len(maybe):
            closed[rule.name] = forms
    # 'none observed' markers go below everything drawn, closed forms included
    positives = [1 - e.mean for pts in series.values() for _, e in pts if 1 - e.mean > 0]
    positives += [1 - f.value for forms in closed.values() for f in forms if 1 - f.value > 0]
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
            ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, color=color(policy),
                        label=f"{policy} (simulated, 95 % CI)")
        # below the lowest value seen, one row per policy so that no marker hides another
        row = floor * 0.7 ** list(series).index(policy)
        zeros = [(c, row) for c, e in pts if 1 - e.mean <= 0]
        if zeros:
            ax.scatter([c for c, _ in zeros], [r for _, r in zeros], marker="v", s=60, color=color(policy), zorder=5,
                       label=f"{policy}: no unavailability observed")
    xs = [shape.chips for shape in model.shapes]
    for name, forms in closed.items():
        kind = forms[0].kind
        ax.plot(xs, [1 - f.value for f in forms], "--" if kind == "exact" else ":",  # true values, never clamped
                color=color(name), alpha=0.6, label=f"{name}, closed form ({kind}: {forms[0].formula})")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.set_xlabel("slice size (chips)")
    ax.set_ylabel("slice unavailability (1 - availability)")
    ax.set_title(f"{s.name}: {len(results.replications)} replications x {s.horizon_days:g} days")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13))  # below: never over the data
    return _save(fig, path)


def plot_queue_wait(results: "Results", path: Path | None = None) -> Figure | None:
    """p50 and p95 of the wait before first start, against slice size, per policy."""
    s, model = results.scenario, results.model
    fig = Figure(figsize=(8, 5), dpi=120)
    ax = fig.subplots()
    for policy in model.policy_names:
        rows = results.queue_wait_by_chips(policy)
        if not rows:
            continue
        xs = [c for c, _, _ in rows]
        for idx, style, label in ((1, "--", "p50"), (2, "-", "p95")):
            ys = [(p50 if idx == 1 else p95).mean for _, p50, p95 in rows]
            ax.plot(xs, ys, style, marker="o", color=color(policy), label=f"{policy} {label}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("symlog", linthresh=0.1)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("slice size (chips)")
    ax.set_ylabel("wait before first start (hours)")
    n = len(results.replications)
    ax.set_title(f"{s.name}: queue wait by slice size " + (f"(mean over {n} replications)" if n > 1 else "(one replication)"))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_goodput(results: "Results", path: Path | None = None) -> Figure | None:
    """Goodput per policy with its 95 % CI."""
    s, model = results.scenario, results.model
    fig = Figure(figsize=(6, 4), dpi=120)
    ax = fig.subplots()
    names = list(model.policy_names)
    ests = [results.job_metric(p, "goodput") for p in names]
    means = [100 * e.mean if e else 0 for e in ests]
    errs = [[100 * (e.mean - e.ci95[0]) if e and e.ci95 else 0 for e in ests],
            [100 * (e.ci95[1] - e.mean) if e and e.ci95 else 0 for e in ests]]
    # points with intervals, not bars: a bar's length would be read from an axis that does not
    # start at zero
    for i, (name, mean) in enumerate(zip(names, means)):
        ax.errorbar([i], [mean], yerr=[[errs[0][i]], [errs[1][i]]], fmt="o", ms=8, capsize=5, color=color(name))
        ax.annotate(f"{mean:.2f} %", (i, mean), xytext=(10, 0), textcoords="offset points", va="center", fontsize=9)
    ax.set_xticks(range(len(names)), names)
    ax.set_xlim(-0.5, len(names) - 0.5)
    ax.set_ylabel("goodput (% of held chip-hours that were useful)")
    n = len(results.replications)
    ax.set_title(f"{s.name}: goodput by policy " + ("(mean and 95 % CI)" if n > 1 else "(one replication: no interval)"))
    ax.grid(True, axis="y", alpha=0.3)
    return _save(fig, path)


def plot_series(results: "Results", series, path: Path | None = None) -> Figure | None:
    """Availability of the largest slice per time bucket and policy, above the failure rates."""
    s, model = results.scenario, results.model
    shape = max(model.shapes, key=lambda x: x.chips).label
    fig = Figure(figsize=(10, 7), dpi=120)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    for policy in model.policy_names:
        rows = series[(series.policy == policy) & (series["shape"] == shape)]
        top.step(rows.start_days, 100 * rows["mean"], where="post", color=color(policy), label=policy)
        if rows.ci95_low.notna().any():
            top.fill_between(rows.start_days, 100 * rows.ci95_low, 100 * rows.ci95_high, step="post",
                             color=color(policy), alpha=0.15)
    top.set_ylabel(f"{shape} availability (%)")
    top.set_title(f"{s.name}: {shape} slice availability per {s.timeseries_days:g}-day bucket "
                  f"(mean and 95 % CI over {len(results.replications)} replications)")
    top.grid(True, alpha=0.3)
    top.legend(fontsize=8)
    days = [b * s.timeseries_days for b in range(int(-(-s.horizon_days // s.timeseries_days)) + 1)]  # type: ignore[operator]
    for cls in ("host", "ici_link", "ocs"):
        cfg = model.failures.of(cls)
        if cfg.schedule is not None:
            rates = [100 * 24 * cfg.schedule.rate(d * 24) for d in days]
        else:
            rates = [100 * 24 * cfg.rate] * len(days)
        bottom.step(days, rates, where="post", label=cls)
    bottom.set_yscale("log")
    bottom.set_ylabel("failure rate (% per day)")
    bottom.set_xlabel("time (days)")
    bottom.grid(True, which="both", alpha=0.3)
    bottom.legend(fontsize=8)
    return _save(fig, path)


def _numeric(values) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def plot_sweep(frame, keys: list[str], out: Path | None = None) -> list:
    """One figure per metric against the first varied key: a panel per breakdown key (slice
    shape, component class), a line per policy (its fixed colour) and per value of the other
    varied keys (line style), with 95 % CIs; the legend sits below the panels. A numeric key
    whose values span a factor of 4 or more (doubling rates) gets a log axis; a list-valued key
    is placed by position. Availabilities are drawn as unavailability on a log axis (what
    changes by orders of magnitude), with a marker at the bottom where none was observed.
    Metrics broken down per cube count are left to the table. Returns the figures (no
    ``out``) or the paths written."""
    x = keys[0]
    xs_all = list(dict.fromkeys(frame[x]))
    numeric = _numeric(xs_all)
    log_x = numeric and min(xs_all) > 0 and max(xs_all) / min(xs_all) >= 4
    position = {v: i for i, v in enumerate(xs_all)}
    written: list = []
    for metric, rows in frame.groupby("metric", sort=False):
        if REGISTRY[metric].breakdown == "cubes":
            continue
        unavail = metric.endswith("availability")
        panels = rows["key"].dropna().drop_duplicates().tolist() + ([None] if rows["key"].isna().any() else [])
        cols = min(3, len(panels))
        nrows = -(-len(panels) // cols)
        labels = [str(policy) + "".join(f", {k}={v}" for k, v in zip(keys[1:], rest))
                  for (policy, *rest), _ in rows.groupby(["policy"] + keys[1:], dropna=False, sort=False)]
        longest = max((len(label) for label in labels), default=0)
        ncol = max(1, min(len(labels), 4 if longest <= 20 else 2 if longest <= 45 else 1))
        legend_rows = -(-len(labels) // ncol)
        fig = Figure(figsize=(max(6.5, 4.2 * cols), 3.2 * nrows + 1.0 + 0.28 * legend_rows), dpi=110)
        axes = fig.subplots(nrows, cols, squeeze=False, sharex=True)
        styles = ["-", "--", ":", "-."]
        others = rows[keys[1:]].drop_duplicates().apply(tuple, axis=1).tolist() if keys[1:] else [()]
        handles: dict[str, Any] = {}
        policies = list(dict.fromkeys(rows["policy"]))
        values = 1 - rows["mean"] if unavail else rows["mean"]
        values = values.where(values > 1e-12, 0.0)  # 1 - 0.9999999999999999 is none, not 1e-16
        positive = values[values > 0]
        floor = positive.min() / 10 if unavail and len(positive) else None
        for i, panel in enumerate(panels):
            ax = axes[i // cols][i % cols]
            here = rows[rows["key"].isna()] if panel is None else rows[rows["key"] == panel]
            for (policy, *rest), line in here.groupby(["policy"] + keys[1:], dropna=False, sort=False):
                style = styles[others.index(tuple(rest)) % len(styles)] if keys[1:] else "-"
                line = line.assign(_x=line[x].map(lambda v: v if numeric else position[v])).sort_values("_x")
                mean, lo, hi = line["mean"], line["ci95_low"].fillna(line["mean"]), line["ci95_high"].fillna(line["mean"])
                label = str(policy) + "".join(f", {k}={v}" for k, v in zip(keys[1:], rest))
                if unavail:
                    mean, lo, hi = (1 - mean), (1 - hi), (1 - lo)
                    none = mean <= 1e-12  # none observed: a marker on the bottom row, no line through it
                    if none.any() and floor:  # one row per policy, so that no marker hides another
                        row = floor * 0.6 ** policies.index(policy)
                        ax.scatter(line["_x"][none], [row] * int(none.sum()), marker="v", s=30,
                                   color=color(str(policy)), zorder=5)
                    mean = mean.where(~none)
                    lo = lo.clip(lower=floor) if floor else lo
                handle = ax.errorbar(line["_x"], mean, yerr=[(mean - lo).clip(lower=0), (hi - mean).clip(lower=0)],
                                     marker="o", ms=4, linestyle=style, capsize=2, color=color(str(policy)),
                                     label=label)
                handles.setdefault(label, handle)
            if panel is not None:
                ax.set_title(str(panel), fontsize=9)
            ax.grid(True, which="both", alpha=0.3)
            if unavail:
                ax.set_yscale("log")
            if log_x:
                ax.set_xscale("log", base=2)
                ax.set_xticks(xs_all, [f"{v:.3g}" for v in xs_all], rotation=30 if len(xs_all) > 4 else 0)
                ax.minorticks_off()
            elif not numeric:
                ax.set_xticks(range(len(xs_all)), [str(v) for v in xs_all], rotation=20)
            ax.tick_params(labelsize=7)
        for j in range(len(panels), nrows * cols):
            axes[j // cols][j % cols].set_visible(False)
        ylabel = f"1 - {metric} (log)" if unavail else metric
        fig.supylabel(ylabel, fontsize=9)
        fig.supxlabel(x, fontsize=9)
        fig.suptitle(f"{metric} against {x}\n(mean and 95 % CI"
                     + ("; triangles at the bottom: none observed" if floor and (values <= 0).any() else "")
                     + ")", fontsize=10)
        height = fig.get_figheight()
        top = 1 - (0.55 + 0.28 * legend_rows) / height  # title and legend above the panels
        if handles:
            fig.legend(list(handles.values()), list(handles), loc="upper center", ncol=ncol,
                       fontsize=8, frameon=False, bbox_to_anchor=(0.5, 1 - 0.48 / height))
        fig.tight_layout(rect=(0, 0, 1, top))
        if out is None:
            written.append(fig)  # the figure itself, for a notebook
        else:
            path = out / f"sweep_{metric}.png"
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png")
            write_atomic(path, buffer.getvalue())
            written.append(path)
    return written
