"""report.html: a run's tables and plots in one self-contained file that a person can mail.

Everything comes from what the run already computed (the summary, the results' estimates and the
PNGs written beside it, embedded as data URIs); nothing is recomputed here. The page has no
scripts and no external resources.

Its tables are the terminal's (:mod:`tpusim.output.views`): the same labels and units from the
metrics registry, the same marks (``†``, ``(none seen)``, ``(all equal)``, ``[low, high]``) and
the same footnotes, detection limits and closed-form columns. User text is escaped.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tpusim.core.formatting import number
from tpusim.output.views import View, run_views

if TYPE_CHECKING:  # the results layer calls this module; annotations only
    from tpusim.measure.results import Results

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
.note, .meta { color: #555; font-size: 0.85em; margin: 0.2em 0; } code { background: #f6f6f6; padding: 0 3px; }
.warning { color: #8a5300; font-size: 0.85em; margin: 0.2em 0; } .caption { font-size: 0.9em; margin: 0.3em 0 0 0; }
td.ref { color: #777; } td { white-space: pre; }
"""


def _num(value: float | None, digits: int = 1) -> str:
    return number(value, digits)


def _table(header: list[str], rows: list[list[str]], dim: set[int] | frozenset[int] = frozenset()) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    ref = " class='ref'"
    body = "".join("<tr>" + "".join(f"<td{ref if i in dim else ''}>{html.escape(c)}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _view(view: View, heading: str | None = None) -> str:
    """One shared view (:mod:`tpusim.output.views`): its title, table and footnotes."""
    parts = [f"<h2>{html.escape(heading)}</h2>" if heading else "",
             f"<p class='caption'>{html.escape(view.title)}</p>", _table(view.header, view.rows, view.dim)]
    for line in view.notes:
        cls = "warning" if line.startswith("warning:") else "note"
        parts.append(f"<p class='{cls}'>{html.escape(line)}</p>")
    return "\n".join(p for p in parts if p)


_HEADINGS = {"slice availability": "Slice availability", "system availability": "System availability and capacity",
             "components": "Components", "maintenance": "Maintenance", "rollout": None,
             "jobs": "Jobs", "hero job": "Hero jobs", "queue wait": "Queue wait by slice size",
             "paired differences": "Paired differences",
             "rare slice outages": "Rare slice outages (importance sampling)"}


def _heading(title: str, name: str) -> str | None:
    text = title[len(name) + 2:] if title.startswith(name + ": ") else title  # the run's name leads the first
    return next((h for key, h in _HEADINGS.items() if text.startswith(key)), None)


def build_report(results: "Results", summary: dict[str, Any], images: list[Path]) -> str:
    """The HTML of the report of one run."""
    s = results.scenario
    prov = summary.get("provenance", {})
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>tpusim: {html.escape(s.name)}</title>"
             f"<style>{_STYLE}</style></head><body>",
             f"<h1>tpusim run: {html.escape(s.name)}</h1>",
             f"<p>{html.escape(s.description.strip())}</p>" if s.description.strip() else "",
             f"<p class='meta'>{summary['replications']} replications x {s.horizon_days:g} days, seed {s.seed}, "
             f"{summary['events']:,} failure and repair events, {summary['wall_seconds']:.1f} s. tpusim "
             f"{html.escape(str(summary['tpusim_version']))}; scenario SHA-256 "
             f"<code>{html.escape(str(prov.get('scenario_sha256', ''))[:16])}</code>; made "
             f"{html.escape(str(prov.get('created_utc', '')))}"
             + (f" by <code>{html.escape(' '.join(prov['command']))}</code>" if prov.get("command") else "")
             + ". Intervals are 95 % confidence intervals over replications; fractions are in percent.</p>"]
    if summary.get("error"):
        parts.append(f"<p class='warning'><b>The run stopped part-way:</b> {html.escape(summary['error'])}</p>")
    if results.replications:
        used: set[str] = set()
        baseline = (summary.get("comparisons") or {}).get("baseline")  # the table the summary holds
        for view in run_views(results, by_size=True, baseline=baseline):
            heading = _heading(view.title, s.name)
            if view.title.startswith("rollout "):
                parts.append(f"<h3>{html.escape(view.title.split(':')[0].capitalize())}</h3>")
            parts.append(_view(view, heading if heading not in used else None))
            used.add(heading or "")
            if view.title.startswith("maintenance") and summary.get("maintenance"):
                parts += [_table(
                    ["campaign", "upgrades", "waves per campaign", "waves run (all replications)"],
                    [[name, m["upgrades"], str(m["waves_per_campaign"]), f"{m['waves_run']:,}"]
                     for name, m in summary["maintenance"].items()])]
            if view.title.startswith("system availability"):
                parts.append("<p class='note'>System availability: the fraction of chip-time on healthy hardware "
                             "(the chip, its host, every ICI link touching it and the OCS circuits carrying its "
                             "ports), the definition the published 99.98 % is compared with.</p>")
        if summary.get("domains"):
            parts += ["<h2>Correlated failure domains</h2>", _table(
                ["domain", "members", "failures", "availability (closed form) %"],
                [[name, f"{d['units']} {'OCSes' if d['of'] == 'ocs' else d['of'] + 's'}", f"{d['failures']:,}",
                  number(d["availability_closed_form"], 4, 100.0)] for name, d in summary["domains"].items()])]
        if results.has_jobs:
            parts.append("<p class='note'>One row per job in <code>jobs.parquet</code>.</p>")
    if images:
        parts.append("<h2>Plots</h2>")
        for path in images:
            data = base64.b64encode(path.read_bytes()).decode()
            parts.append(f"<p class='note'>{html.escape(path.name)}</p><img alt='{html.escape(path.stem)}' "
                         f"src='data:image/png;base64,{data}'>")
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)
