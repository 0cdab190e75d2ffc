"""Plots: matplotlib figures of a run or a sweep.

Figures are built on :class:`Figure`, a ``matplotlib.figure.Figure`` that knows how to show
itself in IPython (``_repr_png_``), never through ``pyplot``'s global state and never with
``matplotlib.use``: library code leaves the backend to its caller (the CLI picks a file backend
for itself). A fresh Jupyter kernel without ``%matplotlib`` therefore shows a returned figure as
an image, and one with the inline backend shows it once (IPython's formatter for matplotlib
figures, which the inline backend registers, takes precedence over ``_repr_png_``). With a path,
a function writes the PNG atomically and returns None; without one it returns the figure; with
``ax`` (where one axes suffices) it draws into the caller's axes and returns their figure.

Conventions every plot keeps: a policy's colour is fixed by its place in the policy registry;
axes and titles name metrics by their registry labels and units, never by ids; where nothing was
observed (no outage) a marker sits on the axis itself, never at an invented value, and the
legend says so; intervals are the 95 % CIs of the estimates; internal quantities (``internal``
in the registry) are never plotted.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
import matplotlib.figure
from matplotlib.ticker import NullLocator

from tpusim.core.formatting import for_metric, label as metric_label
from tpusim.core.metrics import HERO_GOODPUT, REGISTRY
from tpusim.output.files import write_atomic
from tpusim.policies import registry
from tpusim.scheduler.hero import HERO_PARTS
from tpusim.core.metrics import (CHECKPOINT_CHIP_HOURS, GOODPUT, GRAY_LOST_CHIP_HOURS, HELD_CHIP_HOURS, LOST_CHIP_HOURS,
                                 PREEMPTION_LOST_CHIP_HOURS, SETUP_CHIP_HOURS, SLOWDOWN_CHIP_HOURS)
from tpusim.topology.machine import COMPONENT_CLASSES, OPTIONAL_CLASSES
from tpusim.core.units import HOURS_PER_DAY

if TYPE_CHECKING:  # the results layer calls this module; annotations only
    from tpusim.measure.results import Results

PALETTE = ("tab:red", "tab:blue", "tab:green", "tab:purple", "tab:orange", "tab:brown", "tab:pink", "tab:olive")


class Figure(matplotlib.figure.Figure):
    """A matplotlib figure that IPython displays as a PNG, with or without pyplot."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()


def color(policy: str) -> str:
    """The policy's colour, by its place in the registry (grey for unknown names)."""
    names = registry.names()
    return PALETTE[names.index(policy) % len(PALETTE)] if policy in names else "grey"


def _save(fig, path: Path | None, own: bool = True):
    """Write ``fig`` to ``path`` atomically; with no path, hand the figure back (notebooks).
    ``own``: the figure is ours to lay out (not the caller's, drawn into through ``ax``)."""
    if own:
        fig.tight_layout()
    if path is None:
        return fig
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    write_atomic(path, buffer.getvalue())
    return None


def _axes(ax, figsize: tuple[float, float], dpi: int = 120):
    """The caller's axes, or one new axes on a new :class:`Figure`; and whether the figure is ours."""
    if ax is not None:
        return ax.figure, ax, False
    fig = Figure(figsize=figsize, dpi=dpi)
    return fig, fig.subplots(), True


def _on_axis(ax, xs, policy: str, row: int, label: str | None) -> None:
    """'None observed' markers on the bottom axis line itself (below every value the axis
    shows), shifted sideways per policy so that no marker hides another: never at an invented
    value."""
    from matplotlib.transforms import ScaledTranslation

    shift = ScaledTranslation((row % 4 - 1.5) * 6 / 72, 0, ax.figure.dpi_scale_trans)
    ax.scatter(xs, [0.0] * len(xs), marker="v", s=45, color=color(policy), zorder=6,
               transform=ax.get_xaxis_transform() + shift, clip_on=False, label=label)


def plot_availability(results: "Results", path: Path | None = None, ax=None):
    """Unavailability (log) against slice size (chips, log2), per policy, with closed forms;
    shapes where no outage was seen are markers on the axis (below what the run resolves)."""
    model = results.model
    fig, ax, own = _axes(ax, (8, 6.5))
    series = _simulated_series(results)
    closed = _closed_forms(model)
    floor = _unavailability_floor(series, closed)
    n, days = len(results.replications), results.scenario.horizon_days
    _draw_simulated(ax, series, 1e-6 if floor is None else floor, n, days)
    _draw_closed_forms(ax, model, closed)
    _availability_axes(ax, results, floor)
    return _save(fig, path, own)


def _simulated_series(results: "Results") -> dict:
    """Per policy, (chips, estimate) of each shape it can ever place."""
    series = {}
    for policy in results.model.policy_names:
        never = set(results.never_placeable(policy))
        series[policy] = [(chips, est) for shape, _, chips, est in results.slice_availability(policy)
                          if shape not in never]
    return series


def _closed_forms(model) -> dict:
    """Per policy, its closed forms per shape (the policies that have one for every shape)."""
    cube_shape = model.machine.cube.shape
    closed = {}
    for rule in model.policies:
        maybe = [rule.closed_form(model.failures, shape.cube_dims(cube_shape)) for shape in model.shapes]
        forms = [f for f in maybe if f is not None]
        if len(forms) == len(maybe):
            closed[rule.name] = forms
    return closed


def _unavailability_floor(series: dict, closed: dict) -> float | None:
    """The axis bottom (a CI reaching 100 % is a bar down to it): a fifth of the smallest
    unavailability drawn; None when nothing but markers on the axis is drawn."""
    positives = [1 - e.mean for pts in series.values() for _, e in pts if 1 - e.mean > 0]
    positives += [1 - e.ci95[0] for pts in series.values() for _, e in pts if e.ci95 and 1 - e.ci95[0] > 0]
    positives += [1 - f.value for forms in closed.values() for f in forms if 1 - f.value > 0]
    return min(positives) / 5 if positives else None


def _draw_simulated(ax, series: dict, floor: float, n: int, days: float) -> None:
    """Each policy's simulated unavailabilities with their CIs, and markers on the axis where
    no outage was seen."""
    row = 0
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
                        label=f"{policy} (simulated, 95 % CI; a bar down to the axis: the CI reaches 100 %)")
        zeros = [c for c, e in pts if 1 - e.mean <= 0]
        if zeros:
            _on_axis(ax, zeros, policy, row,
                     f"{policy}: no outage seen in {n} x {days:g} days (marker on the axis, not a value)")
            row += 1


def _draw_closed_forms(ax, model, closed: dict) -> None:
    """Each closed form's unavailability, dashed where exact and dotted where a bound."""
    xs = [shape.chips for shape in model.shapes]
    for name, forms in closed.items():
        kind = forms[0].kind
        text = (f"{name}, closed form (exact: {forms[0].formula})" if kind == "exact" else
                f"{name}, closed-form {kind} on availability, so unavailability is at most this: "
                f"{forms[0].formula}")
        ax.plot(xs, [1 - f.value for f in forms], "--" if kind == "exact" else ":",  # true values, never clamped
                color=color(name), alpha=0.6, label=text)


def _availability_axes(ax, results: "Results", floor: float | None) -> None:
    """Log axes from ``floor`` up, a tick per shape, labels, the title and the legend below."""
    s, model = results.scenario, results.model
    n, days = len(results.replications), s.horizon_days
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    if floor is not None:
        ax.set_ylim(bottom=floor)
    else:  # nothing but markers on the axis: a log axis still needs a range
        ax.set_ylim(1e-6, 1)
    shapes = model.shapes
    ax.set_xticks([shape.chips for shape in shapes], [f"{shape.label}\n{shape.chips:,}" for shape in shapes], fontsize=8)
    ax.xaxis.set_minor_locator(NullLocator())  # the y axis keeps its minor labels (data within one decade)
    ax.set_xlabel("slice (shape and chips)")
    ax.set_ylabel("slice unavailability (1 - availability)")
    ax.set_title(f"{s.name}: {n} replication{'s' * (n != 1)} x {days:g} days"
                 + (" (fewer than 5: intervals may cover far less than 95 %)" if n < 5 else ""), fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15))  # below: never over the data


def plot_queue_wait(results: "Results", path: Path | None = None, ax=None):
    """p50 and p95 of the wait before first start, with their 95 % CIs, per slice size (ticks
    name the shapes of that size) and policy."""
    from tpusim.output.views import shape_names

    s, model = results.scenario, results.model
    fig, ax, own = _axes(ax, (10, 5.5))
    sizes = sorted({c for p in model.policy_names for c, _, _ in results.queue_wait_by_chips(p)})
    where = {c: i for i, c in enumerate(sizes)}
    names = shape_names(results)
    k = len(model.policy_names)
    for j, policy in enumerate(model.policy_names):
        rows = results.queue_wait_by_chips(policy)
        if not rows:
            continue
        shift = (j - (k - 1) / 2) * 0.08  # side by side, so that no interval hides another
        for upper, style, q in ((False, "--", "p50"), (True, "-", "p95")):
            ests = [p95 if upper else p50 for _, p50, p95 in rows]
            xs = [where[c] + shift for c, _, _ in rows]
            ys = [e.mean for e in ests]
            lo = [e.mean - e.ci95[0] if e.ci95 else 0.0 for e in ests]
            hi = [e.ci95[1] - e.mean if e.ci95 else 0.0 for e in ests]
            ax.errorbar(xs, ys, yerr=[lo, hi], linestyle=style, marker="o" if q == "p95" else "s", ms=4, capsize=2,
                        color=color(policy), label=f"{policy} {q}")
    ax.set_yscale("symlog", linthresh=0.1)
    ax.set_ylim(bottom=0)
    def tick(c: int) -> str:
        shapes = names.get(c, "?").split("/")
        return "/".join(shapes[:2]) + (f" +{len(shapes) - 2}" if len(shapes) > 2 else "") + f"\n{c:,}"

    ax.set_xticks(range(len(sizes)), [tick(c) for c in sizes], rotation=60, ha="right", fontsize=7)
    ax.set_xlabel("slice (shapes of that size, chips)")
    ax.set_ylabel("wait before first start (hours)")
    n = len(results.replications)
    ax.set_title(f"{s.name}: queue wait by slice size " + (f"(mean and 95 % CI over {n} replications)" if n > 1
                                                              else "(one replication: no interval)"), fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path, own)


def plot_goodput(results: "Results", path: Path | None = None, ax=None):
    """Goodput per policy with its 95 % CI."""
    s, model = results.scenario, results.model
    fig, ax, own = _axes(ax, (6, 4))
    names = list(model.policy_names)
    ests = [results.job_metric(p, GOODPUT) for p in names]
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
    ax.set_title(f"{s.name}: goodput by policy " + ("(mean and 95 % CI" + (", fewer than 5 replications"
                                                                         if n < 5 else "") + ")"
                                                     if n > 1 else "(one replication: no interval)"), fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    return _save(fig, path, own)


#: The non-useful parts of held chip-hours (DESIGN section 4), drawn in this order; hardware
#: loss is lost chip-hours less the gray faults' share, which is drawn on its own.
DECOMPOSITION = (("hardware loss", None), ("gray faults", GRAY_LOST_CHIP_HOURS), ("FT slowdown", SLOWDOWN_CHIP_HOURS),
                 ("checkpoint stalls", CHECKPOINT_CHIP_HOURS), ("setups (no failure)", SETUP_CHIP_HOURS),
                 ("preemption loss", PREEMPTION_LOST_CHIP_HOURS))


def decomposition_shares(results: "Results", policy: str) -> dict[str, float]:
    """Each non-useful part of ``policy``'s held chip-hours, as a percentage of them, all
    replications pooled (means over means): with the pooled useful share they sum to 100 %, as
    the parts do in every replication."""
    def mean(metric: str) -> float:
        est = results.job_metric(policy, metric)
        return est.mean if est is not None else 0.0
    held = mean(HELD_CHIP_HOURS)
    if not held:
        return {name: 0.0 for name, _ in DECOMPOSITION}
    gray = mean(GRAY_LOST_CHIP_HOURS)
    parts = {name: mean(metric) for name, metric in DECOMPOSITION if metric is not None}
    return {"hardware loss": 100 * (mean(LOST_CHIP_HOURS) - gray) / held,
            **{name: 100 * value / held for name, value in parts.items()}}


def _stacked_bars(ax, names: list[str], shares: list[dict[str, float]], texts: list[str], colors=None) -> float:
    """One horizontal bar per row of ``names`` (top to bottom), stacked from its ``shares``
    (part -> width; every row has the same parts, in order; ``colors``: part -> colour, else
    tab10 in order), the row's text beside its end, the legend's labels from the first row;
    the widest bar's length."""
    cmap = matplotlib.colormaps["tab10"]
    widest = 0.0
    for i, (row, text) in enumerate(zip(shares, texts)):
        left = 0.0
        for k, (part, share) in enumerate(row.items()):
            ax.barh(i, share, left=left, color=colors[part] if colors else cmap(k), label=part if i == 0 else None)
            left += share
        ax.annotate(text, (left, i), xytext=(6, 0), textcoords="offset points", va="center", fontsize=9)
        widest = max(widest, left)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.grid(True, axis="x", alpha=0.3)
    return widest


def plot_goodput_decomposition(results: "Results", path: Path | None = None, ax=None):
    """Where each policy's held chip-hours that did no useful work went, stacked: hardware loss,
    gray faults, FT slowdown, checkpoint stalls, setups and preemption loss; goodput beside."""
    s, model = results.scenario, results.model
    fig, ax, own = _axes(ax, (8, 2.0 + 0.6 * len(model.policy_names)))
    names = list(model.policy_names)
    texts = []
    for policy in names:
        goodput = results.job_metric(policy, GOODPUT)
        texts.append(f"goodput {100 * goodput.mean:.2f} %" if goodput is not None else "no jobs held chips")
    widest = _stacked_bars(ax, names, [decomposition_shares(results, p) for p in names], texts)
    ax.set_xlabel("% of held chip-hours that did no useful work (replications pooled; goodput: mean of ratios)")
    ax.set_title(f"{s.name}: where the held chip-hours that were not useful went", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncols=3, frameon=False)
    ax.set_xlim(0, 1.35 * widest if widest else 1.0)  # room for the goodput beside the longest bar
    return _save(fig, path, own)


#: The colours of a hero job's parts: useful work green, waiting grey, the losses between.
_HERO_COLORS = ("tab:green", "tab:red", "tab:orange", "tab:olive", "tab:purple", "tab:brown", "tab:pink",
                "tab:cyan", "lightgrey")


def plot_hero_decomposition(results: "Results", path: Path | None = None, ax=None):
    """Each hero job's preferred chip-time per policy, stacked in its nine parts (goodput, then
    hardware loss, restarts, resizes, checkpoint stalls, FT slowdown, preemption, running
    smaller, waiting: means over replications, summing to 100 %), the goodput's 95 % CI drawn
    at the end of its segment and written beside the bar; a policy that can never place the
    hero says so. None (nothing drawn) for a run without hero jobs."""
    s, model = results.scenario, results.model
    if not results.heroes:
        return None
    rows = [(h.name, p) for h in results.heroes for p in model.policy_names]
    fig, ax, own = _axes(ax, (9, 2.6 + 0.45 * len(rows)))
    parts = {name: REGISTRY[name].label.strip().split(" (")[0] for name in HERO_PARTS}
    parts[HERO_GOODPUT] = "goodput (useful)"
    never = {p: set(results.heroes_never_placed(p)) for p in model.policy_names}
    shares, texts = [], []
    for i, (hero, policy) in enumerate(rows):
        means = {name: results.estimate(policy, name, hero) for name in HERO_PARTS}
        shares.append({parts[n]: 100 * e.mean if e is not None else 0.0 for n, e in means.items()})
        goodput = means[HERO_GOODPUT]
        texts.append("never fits: waits throughout" if hero in never[policy] else
                     "not measured" if goodput is None else f"goodput {for_metric(goodput, HERO_GOODPUT)} %")
        if goodput is not None and goodput.ci95 is not None:
            lo, hi = goodput.ci95
            ax.errorbar([100 * goodput.mean], [i], xerr=[[100 * (goodput.mean - lo)], [100 * (hi - goodput.mean)]],
                        fmt="none", ecolor="black", capsize=4, lw=1.2, zorder=5)
    _stacked_bars(ax, [f"{hero}: {policy}" for hero, policy in rows], shares, texts,
                  dict(zip(parts.values(), _HERO_COLORS)))
    ax.set_xlim(0, 140)  # room for the text beside the bars, which all end at 100 %
    ax.set_xticks(range(0, 101, 20))
    n = len(results.replications)
    ax.set_xlabel("% of the hero's preferred slice's chip-time from its arrival to the horizon (or its finish)\n"
                  f"(means over {n} replication{'s' * (n != 1)}; black: the goodput's 95 % CI)", fontsize=9)
    ax.set_title(f"{s.name}: where each hero job's time went (the nine parts sum to 100 %)", fontsize=10)
    if own:  # the legend below the axes, in room kept for it
        fig.legend(*ax.get_legend_handles_labels(), fontsize=8, loc="lower center", ncols=5, frameon=False)
        fig.tight_layout(rect=(0, 0.45 / fig.get_figheight(), 1, 1))
        own = False
    else:
        ax.legend(fontsize=7, loc="lower right", frameon=True)
    return _save(fig, path, own)


def plot_series(results: "Results", series, path: Path | None = None):
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
    for cls in COMPONENT_CLASSES:
        cfg = model.failures.of(cls)
        if cls in OPTIONAL_CLASSES and not cfg.enabled:
            continue
        if cfg.schedule is not None:
            rates = [100 * HOURS_PER_DAY * cfg.schedule.rate(d * HOURS_PER_DAY) for d in days]
        else:
            rates = [100 * HOURS_PER_DAY * cfg.rate] * len(days)
        bottom.step(days, rates, where="post", label=cls)
    bottom.set_yscale("log")
    bottom.set_ylabel("failure rate (% per day)")
    bottom.set_xlabel("time (days)")
    bottom.grid(True, which="both", alpha=0.3)
    bottom.legend(fontsize=8)
    return _save(fig, path)


def _numeric(values) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def plot_sweep(frame, keys: list[str], out: Path) -> list[Path]:
    """:func:`sweep_figures` written to ``out/sweep_<metric>.png``; the paths written."""
    return write_figures({out / f"sweep_{metric}.png": fig for metric, fig in sweep_figures(frame, keys).items()})


def write_figures(figures: "dict[Path, Any]") -> list[Path]:
    """Each figure written as a PNG to its path (atomically); the paths written."""
    written = []
    for path, fig in figures.items():
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        write_atomic(path, buffer.getvalue())
        written.append(path)
    return written


class Figures(dict):
    """Figures by metric name (a plain dict); a notebook shows every one of them as an image
    (IPython shows a dict as text, figures inside it included)."""

    def _ipython_display_(self) -> None:
        from IPython.display import display

        for figure in self.values():
            display(figure)


def sweep_figures(frame, keys: list[str]) -> "Figures":
    """One figure per metric against the first varied key: a panel per breakdown key (slice
    shape, component class), a line per policy (its fixed colour) and per value of the other
    varied keys (line style), with 95 % CIs; the legend sits above the panels. A numeric key
    whose values span a factor of 4 or more (doubling rates) gets a log axis; a list-valued key
    is placed by position. Metrics are named by their registry labels and drawn in their units
    (fractions in percent). Availabilities are drawn as unavailability on a log axis (what
    changes by orders of magnitude), with a marker on the axis where none was observed. Metrics
    broken down per cube count are left to the table; internal ones are never drawn. Returns
    the figures keyed by metric name."""
    x = _SweepAxis.of(frame, keys[0])
    figures = Figures()
    for metric, rows in frame.groupby("metric", sort=False):
        m = REGISTRY[metric]
        if m.breakdown == "cubes" or m.internal:
            continue
        figures[metric] = _SweepFigure(metric, rows, keys, x).draw()
    return figures


@dataclass(frozen=True)
class _SweepAxis:
    """The first varied key as every panel's x axis: its values in grid order, placed at
    themselves when numeric (on a log axis when they span a factor of 4 or more), else by
    position."""

    key: str
    values: list
    numeric: bool
    log: bool

    @classmethod
    def of(cls, frame, key: str) -> "_SweepAxis":
        values = list(dict.fromkeys(frame[key]))
        numeric = _numeric(values)
        return cls(key, values, numeric, numeric and min(values) > 0 and max(values) / min(values) >= 4)

    def place(self, line):
        """``line`` with its x positions (``_x``), in x order."""
        position = {v: i for i, v in enumerate(self.values)}
        return line.assign(_x=line[self.key].map(lambda v: v if self.numeric else position[v])).sort_values("_x")

    def ticks(self, ax) -> None:
        if self.log:
            ax.set_xscale("log", base=2)
            ax.set_xticks(self.values, [f"{v:.3g}" for v in self.values], rotation=30 if len(self.values) > 4 else 0)
            ax.minorticks_off()
        elif not self.numeric:
            ax.set_xticks(range(len(self.values)), [str(v) for v in self.values], rotation=20)


_STYLES = ("-", "--", ":", "-.")  # line styles of the other varied keys' values, in grid order


class _SweepFigure:
    """One metric's figure of a sweep (see :func:`sweep_figures`): a panel per breakdown key,
    a line per policy and value of the other varied keys."""

    def __init__(self, metric: str, rows, keys: list[str], x: _SweepAxis):
        self.metric, self.keys, self.x = metric, keys, x
        self.unavail = metric.endswith("availability")
        self.scale = 1.0 if self.unavail else REGISTRY[metric].scale
        self.rows = rows.assign(policy=rows["policy"].fillna("machine"))  # component metrics belong to no policy
        self.others = (self.rows[keys[1:]].drop_duplicates().apply(tuple, axis=1).tolist() if keys[1:] else [()])
        self.policies = list(dict.fromkeys(self.rows["policy"]))
        values = 1 - self.rows["mean"] if self.unavail else self.rows["mean"]
        values = values.where(values > 1e-12, 0.0)  # 1 - 0.9999999999999999 is none, not 1e-16
        positive = values[values > 0]
        # the axis bottom of an unavailability: a CI reaching 100 % ends here
        self.floor = positive.min() / 3 if self.unavail and len(positive) else None
        self.handles: dict[str, Any] = {}
        self.any_none = False  # some panel shows a marker on the axis

    def lines(self, rows):
        """(policy, the other keys' values, label, rows) of each line, in grid order."""
        for (policy, *rest), line in rows.groupby(["policy"] + self.keys[1:], dropna=False, sort=False):
            yield policy, rest, str(policy) + "".join(f", {k}={v}" for k, v in zip(self.keys[1:], rest)), line

    def draw(self) -> "Figure":
        panels = self.rows["key"].dropna().drop_duplicates().tolist() + ([None] if self.rows["key"].isna().any() else [])
        cols = min(3, len(panels))
        nrows = -(-len(panels) // cols)
        labels = [label for _, _, label, _ in self.lines(self.rows)]
        longest = max((len(label) for label in labels), default=0)
        ncol = max(1, min(len(labels), 4 if longest <= 20 else 2 if longest <= 45 else 1))
        legend_rows = -(-len(labels) // ncol)
        fig = Figure(figsize=(max(6.5, 4.2 * cols), 3.2 * nrows + 1.0 + 0.28 * legend_rows), dpi=110)
        axes = fig.subplots(nrows, cols, squeeze=False, sharex=True)
        for i, panel in enumerate(panels):
            self.panel(axes[i // cols][i % cols], panel)
        for j in range(len(panels), nrows * cols):
            axes[j // cols][j % cols].set_visible(False)
        self.titles(fig, ncol, legend_rows)
        return fig

    def panel(self, ax, panel) -> None:
        """One breakdown key's panel (``panel`` None: the rows without a key)."""
        here = self.rows[self.rows["key"].isna()] if panel is None else self.rows[self.rows["key"] == panel]
        for policy, rest, label, line in self.lines(here):
            self.line(ax, policy, rest, label, line)
        if panel is not None:
            ax.set_title(str(panel), fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        if self.unavail:
            ax.set_yscale("log")
            seen_here = (1 - here["mean"] > 1e-12).any()
            if not seen_here:  # nothing seen in this panel: only markers on the axis
                ax.set_ylim(self.floor or 1e-6, 1)
            elif self.floor:  # the axis bottom: a CI reaching 100 % is a bar to it
                ax.set_ylim(bottom=self.floor)
        self.x.ticks(ax)
        ax.tick_params(labelsize=7)

    def line(self, ax, policy, rest: list, label: str, line) -> None:
        """One line with its 95 % CIs; an unavailability none of which was observed is a marker
        on the axis instead."""
        style = _STYLES[self.others.index(tuple(rest)) % len(_STYLES)] if self.keys[1:] else "-"
        line = self.x.place(line)
        mean, lo, hi = line["mean"], line["ci95_low"].fillna(line["mean"]), line["ci95_high"].fillna(line["mean"])
        mean, lo, hi = self.scale * mean, self.scale * lo, self.scale * hi
        if self.unavail:
            mean, lo, hi = (1 - mean), (1 - hi), (1 - lo)
            none = mean <= 1e-12  # none observed: a marker on the axis, no line through it
            if none.any():
                _on_axis(ax, list(line["_x"][none]), str(policy), self.policies.index(policy), None)
                self.any_none = True
            mean = mean.where(~none)
            lo = lo.clip(lower=self.floor) if self.floor else lo
        handle = ax.errorbar(line["_x"].to_numpy(), mean.to_numpy(),  # (arrays: a one-row Series warns)
                             yerr=[(mean - lo).clip(lower=0).to_numpy(), (hi - mean).clip(lower=0).to_numpy()],
                             marker="o", ms=4, linestyle=style, capsize=2, color=color(str(policy)), label=label)
        self.handles.setdefault(label, handle)

    def titles(self, fig, ncol: int, legend_rows: int) -> None:
        """The axis labels, the title and the legend above the panels."""
        name = REGISTRY[self.metric].label.strip()
        ylabel = f"1 - {name} (log)" if self.unavail else metric_label(self.metric)
        fig.supylabel(ylabel, fontsize=9)
        fig.supxlabel(self.x.key, fontsize=9)
        fig.suptitle(f"{name} against {self.x.key}\n(mean and 95 % CI"
                     + ("; triangles on the axis: no outage seen, not a value" if self.any_none else "")
                     + ")", fontsize=10)
        height = fig.get_figheight()
        top = 1 - (0.55 + 0.28 * legend_rows) / height  # title and legend above the panels
        if self.handles:
            fig.legend(list(self.handles.values()), list(self.handles), loc="upper center", ncol=ncol,
                       fontsize=8, frameon=False, bbox_to_anchor=(0.5, 1 - 0.48 / height))
        fig.tight_layout(rect=(0, 0, 1, top))


def fit_figures(fitted: Any) -> "Figures":
    """Goodness of fit of a fitted incident log (:class:`tpusim.studies.fit.FitResults`, read by
    its fields: output sits below the studies): per class with repair laws, the Kaplan-Meier
    curve of the repair times (open incidents right-censored, with its 95 % band) and each
    fitted law's survival curve, on a log time axis; the law written into ``failures:`` is drawn
    solid, the others dashed. Returns the figures keyed by class."""
    figures = Figures()
    for cls, fit in fitted.classes.items():
        km = fit.kaplan_meier
        if km is None:
            continue
        fig = Figure(figsize=(6.4, 5.6), dpi=120)
        ax = fig.subplots()
        positive = km.hours > 0
        ax.step(km.hours[positive], km.survival[positive], where="post", color="black",
                label=f"Kaplan-Meier ({fit.repair_times} repairs, {fit.open_at_end} open)")
        if km.low is not None and km.high is not None:
            ax.fill_between(km.hours[positive], km.low[positive], km.high[positive], step="post", color="grey",
                            alpha=0.25, label="95 % band")
        for i, (dist, curve) in enumerate(fit.curves.items()):
            law = fit.laws[dist]
            said = f"{dist}: mean {law.mean_hours:.3g} h" + (f", sigma {law.sigma:.2g}" if law.sigma is not None else "")
            if law.aic == law.aic:
                said += f", AIC {law.aic:.1f}"
            ax.plot(curve.hours, curve.survival, color=PALETTE[(i + 1) % len(PALETTE)],
                    linestyle="-" if dist == fit.written else "--",
                    label=said + (" (written)" if dist == fit.written else ""))
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_ylim(0.0, 1.02)
        ax.set_xlabel("repair time (hours)")
        ax.set_ylabel("share of repairs still open")
        ax.set_title(f"{cls}: repair times, {fit.rate.failures} failures over {fit.population} units")
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
        ax.grid(True, which="major", alpha=0.3)
        fig.tight_layout()
        figures[cls] = fig
    return figures


def plot_fit(fitted: Any, out: Path) -> list[Path]:
    """:func:`fit_figures` written to ``out/fit_<class>.png``; the paths written."""
    return write_figures({out / f"fit_{cls}.png": fig for cls, fig in fit_figures(fitted).items()})


def tornado_figure(indices, output: str, method: str, scale: float = 1.0, unit: str = "") -> "Figure":
    """A tornado plot of one output's sensitivity indices (a frame as
    :func:`tpusim.studies.sensitivity.analyse` returns it, ranked): one horizontal bar per
    factor, the largest on top, with its 95 % interval as an error bar. Morris: mu* in the
    output's units (``scale`` and ``unit``: percentage points for a fraction); Sobol: the total
    index ST as the bar and the first-order S1 as a marker, each with its interval."""
    rows = indices.iloc[::-1]  # the largest on top
    k = len(rows)
    fig = Figure(figsize=(7.5, 1.2 + 0.45 * max(k, 1)), dpi=120)
    ax = fig.subplots()
    ys = list(range(k))
    if method == "morris":
        mid = [scale * v for v in rows["index"]]
        err = [[scale * (v - lo) for v, lo in zip(rows["index"], rows["low"])],
               [scale * (hi - v) for v, hi in zip(rows["index"], rows["high"])]]
        ax.barh(ys, mid, color="tab:blue", alpha=0.75, label="mu* (mean |elementary effect|)")
        ax.errorbar(mid, ys, xerr=err, fmt="none", ecolor="black", capsize=3, label="95 % CI (bootstrap)")
        ax.set_xlabel(f"mu*{f' ({unit})' if unit else ''}: how far the factor moves the output over its range")
    else:
        st, s1 = list(rows["ST"]), list(rows["S1"])
        ax.barh(ys, st, color="tab:blue", alpha=0.6, label="ST (total)")
        ax.errorbar(st, ys, xerr=list(rows["ST_conf"]), fmt="none", ecolor="black", capsize=3)
        ax.errorbar(s1, ys, xerr=list(rows["S1_conf"]), fmt="o", color="tab:red", capsize=3, label="S1 (first order)")
        ax.set_xlabel("Sobol index (share of the output's variance), 95 % CI")
        ax.axvline(0.0, color="grey", linewidth=0.8)
    ax.set_yticks(ys)
    ax.set_yticklabels(list(rows["factor"]))
    ax.set_title(output, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_tornados(figures: dict, out: Path) -> list[Path]:
    """Tornado figures (by output label) written to ``out/tornado_<n>_<label made safe>.png``;
    the paths written."""
    import re

    return write_figures({out / f"tornado_{n:02d}_{re.sub(r'[^A-Za-z0-9_.-]+', '_', label).strip('_')}.png": fig
                          for n, (label, fig) in enumerate(figures.items(), 1)})
