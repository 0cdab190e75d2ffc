"""How an estimate is written wherever it is shown: terminal, Markdown, report.html, notebook repr.

One set of rules, so that every output carries the same caveats (DESIGN §4):

- A value is written in its metric's unit (:mod:`tpusim.core.metrics`: fractions in percent) to its
  metric's digits, with thousands separators; never in exponent notation.
- An interval is written ``mean ± half`` only when ``mean - half`` and ``mean + half`` are its
  two ends to the digits shown. An interval clipped at a bound the quantity cannot cross (0,
  100 %) or asymmetric (the outage interval of slice availability) is written by its ends,
  ``mean [low, high]``: never as a ± that crosses a physical bound.
- A half-width that rounds to zero is written ``± <0.01`` (to the digits shown), never ``± 0``.
- Where there is no interval a mark says why: ``(none seen)`` (availability 1 in every
  replication: no outage; the note gives the detection limit), ``(all equal)`` (the same value
  in every replication), ``(one replication)``. ``†`` marks an interval whose coverage may be
  well below 95 % (``Estimate.reliable`` is False).
- :class:`Marks` formats cells and remembers which marks it wrote, and gives the footnotes that
  explain them (with the notes of the estimates behind them): an output that shows a mark shows
  its footnote.

Layer: foundations, beside :mod:`tpusim.core.metrics` and :mod:`tpusim.core.stats`; it knows no model,
results or output code, so the results layer and every output read the same rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tpusim.core.metrics import Metric, metric as lookup
from tpusim.core.stats import MIN_OUTAGES, MIN_REPLICATIONS, Estimate

#: The marks, as printed (plain text; HTML escapes them).
UNRELIABLE = "†"
CONTROLLED = "ᶜ"  # a control-variate estimate (estimation.control_variates: headline)
NONE_SEEN = "(none seen)"
ALL_EQUAL = "(all equal)"
ONE_REPLICATION = "(one replication)"


def unit_suffix(m: Metric) -> str:
    """What a header adds to a metric's label for its unit (``" %"``, ``" (h)"``, ...); counts
    and the units already in the label (chip-hours) add nothing."""
    return {"fraction": " %", "hours": " (h)", "minutes": " (min)", "hours^2": " (h²)"}.get(m.unit, "")


def label(name: str) -> str:
    """A metric's label with its unit, for headers and axes (``goodput %``)."""
    m = lookup(name)
    return m.label.strip() + unit_suffix(m)


def number(value: float | None, digits: int, scale: float = 1.0) -> str:
    """``value * scale`` to ``digits`` decimals with thousands separators ("-" for none, "n/a"
    for NaN)."""
    if value is None:
        return "-"
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    text = f"{scale * value:,.{digits}f}"
    return "0" + text[2:] if text.startswith("-0") and float(text.replace(",", "")) == 0 else text


def share(fraction: float) -> str:
    """A relative change in percent, readable at any size (``7.1 %``, ``370 %``, ``7,000 %``;
    never ``7e+03 %``)."""
    percent = 100 * fraction
    return f"{percent:,.0f} %" if percent >= 10 else f"{percent:.2g} %"


def interval(est: Estimate, digits: int, scale: float = 1.0) -> str:
    """The interval part alone: ``± half``, ``[low, high]`` or ``""`` (no interval)."""
    if est.ci95 is None:
        return ""
    lo, hi = est.ci95
    half = (hi - lo) / 2.0
    if (number(est.mean - half, digits, scale) == number(lo, digits, scale)
            and number(est.mean + half, digits, scale) == number(hi, digits, scale)):
        shown = number(half, digits, scale)
        if float(shown.replace(",", "")) == 0.0:
            return "± <" + (f"{10.0 ** -digits:.{digits}f}" if digits else "1")
        return f"± {shown}"
    return f"[{number(lo, digits, scale)}, {number(hi, digits, scale)}]"


def kind(est: Estimate, fraction: bool = True) -> str | None:
    """Why an estimate has no interval (the mark), or None if it has one. An availability
    (``fraction``) of 1 in every replication is "none seen", not "all equal"."""
    if est.ci95 is not None:
        return None
    if est.n <= 1:
        return ONE_REPLICATION
    if fraction and est.mean == 1.0 or est.note is not None and est.note.startswith("no outage"):
        return NONE_SEEN
    return ALL_EQUAL


def estimate_text(est: Estimate | None, digits: int, scale: float = 1.0) -> str:
    """``mean ± half``, ``mean [low, high]`` or ``mean (mark)``, then ``†`` if unreliable."""
    if est is None:
        return "-"
    text = number(est.mean, digits, scale)
    mark = kind(est, scale == 100.0)
    text += f" {mark}" if mark else f" {interval(est, digits, scale)}"
    if est.controlled is not None:
        text += f" {CONTROLLED}"
    return text + ("" if est.reliable else f" {UNRELIABLE}")


def for_metric(est: Estimate | None, name: str, digits: int | None = None) -> str:
    """:func:`estimate_text` in the metric's unit and digits (``digits`` overrides)."""
    m = lookup(name)
    return estimate_text(est, m.digits if digits is None else digits, m.scale)


@dataclass
class Marks:
    """Formats cells and remembers which marks and notes they carried, for the footnotes."""

    unreliable: list[str] = field(default_factory=list)  # the notes of the † estimates
    none_seen: list[str] = field(default_factory=list)  # their detection limits
    none_seen_bare: bool = False  # a (none seen) without a detection limit (a component at 100 %)
    all_equal: bool = False
    one_replication: bool = False
    ends: bool = False  # some interval written as [low, high]
    tiny: bool = False  # some half-width written as < the last digit
    controlled: list[float] = field(default_factory=list)  # the variance reductions of the ᶜ estimates
    #: what the (none seen) footnote adds about importance sampling, set by a caller that knows
    #: the estimator applies (:meth:`tpusim.measure.results.Results.rare_hint`); None: nothing
    rare: str | None = None

    def record(self, est: Estimate | None, text: str) -> str:
        if est is None:
            return text
        mark = next((m for m in (NONE_SEEN, ALL_EQUAL, ONE_REPLICATION) if m in text), None)
        if mark == NONE_SEEN and est.note and est.note.startswith("no outage") and est.note not in self.none_seen:
            self.none_seen.append(est.note)
        self.none_seen_bare |= mark == NONE_SEEN
        self.all_equal |= mark == ALL_EQUAL
        self.one_replication |= mark == ONE_REPLICATION
        self.ends |= "[" in text
        self.tiny |= "± <" in text
        if est.controlled is not None:
            self.controlled.append(est.controlled)
        if not est.reliable and est.note and est.note not in self.unreliable:
            self.unreliable.append(est.note)
        return text

    def cell(self, est: Estimate | None, name: str, digits: int | None = None) -> str:
        """One estimate of metric ``name``, formatted and recorded."""
        return self.record(est, for_metric(est, name, digits))

    def text(self, est: Estimate | None, digits: int, scale: float = 1.0) -> str:
        """One estimate not in the registry's units (given digits and scale), recorded."""
        return self.record(est, estimate_text(est, digits, scale))

    def footnotes(self, replications: int | None = None) -> list[str]:
        """Plain-text lines explaining every mark written (and the warning for few replications)."""
        lines = []
        if replications is not None and replications < MIN_REPLICATIONS:
            lines.append(f"warning: {replications} replication{'s' * (replications != 1)}: intervals from fewer "
                         f"than {MIN_REPLICATIONS} may cover far less than 95 %; add replications")
        if self.unreliable:
            why = ("fewer than 5 replications" if all(n.startswith("only") and "replications" in n
                                                       for n in self.unreliable) else
                   f"fewer than {MIN_OUTAGES} outages behind it, or fewer than {MIN_REPLICATIONS} replications")
            lines.append(f"{UNRELIABLE} {why}: this interval's coverage may be well below 95 % (measured); add "
                         "replications or days")
        if self.none_seen or self.none_seen_bare:
            limits = [n.split("; ", 1)[-1] for n in self.none_seen]  # "outages rarer than ... not excluded"
            lines.append(f"{NONE_SEEN}: no outage in any replication, so no interval"
                         + "".join(f"; {n}" for n in dict.fromkeys(limits))
                         + (f"; {self.rare}" if self.none_seen and self.rare else ""))
        if self.all_equal:
            lines.append(f"{ALL_EQUAL}: the same value in every replication, so no interval (not a certainty)")
        if self.one_replication:
            lines.append(f"{ONE_REPLICATION}: no interval from a single replication")
        if self.ends:
            lines.append("[low, high]: a 95 % CI clipped at a bound the quantity cannot cross (0, or 100 %) or "
                         "asymmetric, written by its ends instead of ± half-width")
        if self.controlled:
            low, high = min(self.controlled), max(self.controlled)
            span = f"{low:.2g}" if f"{low:.2g}" == f"{high:.2g}" else f"{low:.2g}-{high:.2g}"
            lines.append(f"{CONTROLLED} control-variate estimate (estimation.control_variates: headline): its "
                         f"interval's variance is the plain one's divided by {span}; the plain estimates are in "
                         "the control variates table")
        if self.tiny:
            lines.append("± <0.01 (or the last digit shown): a half-width that rounds to zero at that precision")
        return lines
