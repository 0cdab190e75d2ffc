"""report.html: a run's tables and plots in one self-contained file that a person can mail.

Everything comes from what the run already computed (the summary, the results' frames and the
PNGs written beside it, embedded as data URIs); nothing is recomputed here. The page has no
scripts and no external resources.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the results layer calls this module; annotations only
    from tpusim.results import Results

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
.note { color: #666; font-size: 0.85em; } code { background: #f6f6f6; padding: 0 3px; }
"""


def _pct(est: dict | None) -> str:
    if not est or est.get("mean") is None:
        return "n/a"
    mean, ci = est["mean"], est.get("ci95")
    text = f"{100 * mean:.3f} %"
    if ci:
        text += f" ({100 * ci[0]:.3f} to {100 * ci[1]:.3f})"
    return text


def _num(est: dict | None, digits: int = 4) -> str:
    if not est or est.get("mean") is None:
        return "n/a"
    mean, ci = est["mean"], est.get("ci95")
    return f"{mean:.{digits}g}" + (f" ({ci[0]:.{digits}g} to {ci[1]:.{digits}g})" if ci else "")


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def build_report(results: "Results", summary: dict[str, Any], images: list[Path]) -> str:
    """The HTML of the report of one run."""
    s = results.scenario
    policies = list(summary["policies"])
    prov = summary.get("provenance", {})
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>tpusim: {html.escape(s.name)}</title>"
             f"<style>{_STYLE}</style></head><body>",
             f"<h1>tpusim run: {html.escape(s.name)}</h1>",
             f"<p>{html.escape(s.description.strip())}</p>" if s.description.strip() else "",
             f"<p class='note'>{summary['replications']} replications x {s.horizon_days:g} days, seed {s.seed}, "
             f"{summary['events']:,} failure and repair events, {summary['wall_seconds']:.1f} s. tpusim "
             f"{html.escape(str(summary['tpusim_version']))}; scenario SHA-256 "
             f"<code>{html.escape(str(prov.get('scenario_sha256', ''))[:16])}</code>; made "
             f"{html.escape(str(prov.get('created_utc', '')))}"
             + (f" by <code>{html.escape(' '.join(prov['command']))}</code>" if prov.get("command") else "")
             + ". Intervals are 95 % confidence intervals over replications.</p>"]
    if summary.get("error"):
        parts.append(f"<p><b>The run stopped part-way:</b> {html.escape(summary['error'])}</p>")
    if results.replications:
        shapes = [e["shape"] for e in summary["policies"][policies[0]]["slice_availability"]]
        rows = []
        for i, shape in enumerate(shapes):
            entry = summary["policies"][policies[0]]["slice_availability"][i]
            rows.append([shape, str(entry["chips"])] +
                        [_pct(summary["policies"][p]["slice_availability"][i]) for p in policies])
        parts += ["<h2>Slice availability</h2>", _table(["slice", "chips"] + policies, rows)]
        parts += ["<h2>System availability and capacity</h2>", _table(
            ["", *policies],
            [["system availability (chip-time on healthy hardware)",
              *[_pct(summary["policies"][p]["system_availability"]) for p in policies]],
             [f"cubes placeable as one slice at {100 * s.capacity_confidence:g} % of the time",
              *[str((summary["policies"][p]["capacity_at_confidence"] or {}).get("cubes", "n/a")) for p in policies]]])]
        comp = summary["components"]
        parts += ["<h2>Components</h2>", _table(
            ["class", "availability", "closed form", "failures", "repairs"],
            [[c, _pct(v), f"{100 * v['closed_form']:.4f} %" if v.get("closed_form") is not None else "n/a",
              str(v["failures"]), str(v["repairs"])] for c, v in comp.items()])]
        if summary.get("domains"):
            parts += ["<h2>Correlated failure domains</h2>", _table(
                ["domain", "members", "failures", "availability (closed form)"],
                [[name, f"{d['units']} {'OCSes' if d['of'] == 'ocs' else d['of'] + 's'}", str(d["failures"]), f"{100 * d['availability_closed_form']:.4f} %"]
                 for name, d in summary["domains"].items()])]
        if summary.get("maintenance"):
            parts += ["<h2>Maintenance</h2>", _table(
                ["campaign", "upgrades", "waves per campaign", "waves run (all replications)"],
                [[name, m["upgrades"], str(m["waves_per_campaign"]), str(m["waves_run"])]
                 for name, m in summary["maintenance"].items()]), _table(
                ["", *policies],
                [["chip-hours out on otherwise healthy hardware",
                  *[_num(summary["policies"][p].get("maintenance_chip_hours")) for p in policies]]])]
            for name, block in summary.get("rollouts", {}).items():
                parts += [f"<h3>Rollout {html.escape(name)}</h3>", _table(
                    ["release", "rollouts", "stopped", "hours to end or stop", "units exposed", "detection hours"],
                    [[label, str(b["occurrences"]), str(b["stops"]), _num(b["hours"]), _num(b["exposed_units"]),
                      _num(b["detection_hours"])] for label, b in block.items()])]
        if results.has_jobs:
            names = ["goodput", "utilization", "jobs_interrupted", "lost_chip_hours", "preemptions", "migrations",
                     "xconnects_per_day", "mean_time_in_queue_hours"]
            jobs = {p: summary["policies"][p]["jobs"] for p in policies}
            rows = [[n, *[_num(jobs[p].get(n)) for p in policies]] for n in names]
            rows += [[f"queue wait {q} (hours)", *[_num(jobs[p]["queue_wait_hours"][q]) for p in policies]]
                     for q in ("p50", "p95")]
            parts += ["<h2>Jobs</h2>", _table(["metric", *policies], rows),
                      "<p class='note'>One row per job in <code>jobs.parquet</code>.</p>"]
    if images:
        parts.append("<h2>Plots</h2>")
        for path in images:
            data = base64.b64encode(path.read_bytes()).decode()
            parts.append(f"<p class='note'>{html.escape(path.name)}</p><img alt='{html.escape(path.stem)}' "
                         f"src='data:image/png;base64,{data}'>")
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)
