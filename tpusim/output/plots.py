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
import itertools
from pathlib import Path
from typing import TYPE_CHECKING

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
            ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, color=color(policy),
                        label=f"{policy} (simulated, 95 % CI)")
        # below the lowest value seen, one row per policy so that no marker hides another
        row = floor * 0.7 ** list(series).index(policy)
        zeros = [(c, row) for c, e in pts if 1 - e.mean <= 0]
        if zeros:
            ax.scatter([c for c, _ in zeros], [r for _, r in zeros], marker="v", s=60, color=color(policy), zorder=5,
                       label=f"{policy}: no unavailability observed")
    cube_shape = model.machine.cube.shape
    xs = [shape.chips for shape in model.shapes]
    for rule in model.policies:
        maybe = [rule.closed_form(model.failures, shape.cube_dims(cube_shape)) for shape in model.shapes]
        forms = [f for f in maybe if f is not None]
        if len(forms) < len(maybe):
            continue
        kind = forms[0].kind
        ax.plot(xs, [max(1 - f.value, floor) for f in forms], "--" if kind == "exact" else ":",
                color=color(rule.name), alpha=0.6,
                label=f"{rule.name}, closed form ({kind}: {forms[0].formula})")
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
    ax.set_title(f"{s.name}: queue wait by slice size (mean over {len(results.replications)} replications)")
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
    ax.bar(names, means, yerr=errs, capsize=4, color=[color(p) for p in names])
    low = min(means) if means else 0
    ax.set_ylim(max(0, low - 5), 100)
    ax.set_ylabel("goodput (% of held chip-hours that were useful)")
    ax.set_title(f"{s.name}: goodput by policy (95 % CI)")
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


def plot_sweep(frame, keys: list[str], out: Path | None = None) -> list:
    """One plot per metric: the mean and CI against the first varied key, a line per policy,
    breakdown key and value of the other keys. Returns the figures (no ``out``) or the paths.
    Metrics broken down per cube count (one line per k) are left to the table."""
    x = keys[0]
    written: list = []
    for metric, rows in frame.groupby("metric", sort=False):
        if REGISTRY[metric].breakdown == "cubes":
            continue
        fig = Figure(figsize=(8, 5), dpi=120)
        ax = fig.subplots()
        group_keys = ["policy", "key"] + keys[1:]
        styles = itertools.cycle([(m, ls) for ls in ("-", "--", ":") for m in "osD^v<>"])
        for labels, line in rows.groupby(group_keys, dropna=False, sort=False):
            marker, linestyle = next(styles)
            labels = labels if isinstance(labels, tuple) else (labels,)
            line = line.sort_values(x)
            name = " ".join(str(v) for v in labels if v == v and v is not None)
            ax.errorbar(line[x], line["mean"], yerr=[line["mean"] - line["ci95_low"].fillna(line["mean"]),
                                                     line["ci95_high"].fillna(line["mean"]) - line["mean"]],
                        marker=marker, linestyle=linestyle, capsize=3, label=name, color=color(str(labels[0])))
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
