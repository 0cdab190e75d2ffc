"""The ``tpusim`` command line: a thin layer over :mod:`tpusim.api` and :mod:`tpusim.output`.

Exit status: 0 on success, 1 on a failed run or check, 2 on bad input (with one line per
problem naming the file and key path, never a traceback). The CLI writes PNG files, so it
selects matplotlib's file backend for itself; the library never does.

User text (keys, names, descriptions, paths, values) is printed literally, never as rich
markup (:func:`_error`, :func:`_plain`); a scenario's name reaches the file system only as
:func:`tpusim.output.files.folder_name`, one safe folder below ``out/``.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Iterator, NoReturn, Optional

import typer
import yaml
from rich.console import Console
from rich.text import Text

from tpusim.core.errors import ScenarioError

if TYPE_CHECKING:
    from tpusim.config.schema import Scenario

# The model, pydantic, numpy and scipy are imported by the commands that need them, so that
# `tpusim --help` starts in a fraction of a second (issue 10).

app = typer.Typer(
    add_completion=True,  # --install-completion for bash, zsh, fish and PowerShell
    no_args_is_help=True,
    help="tpusim: availability of OCS-reconfigurable vs statically wired TPU pods.",
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,  # help texts are plain: "[default: ...]" must show, not be read as markup
)


def _version(value: bool) -> None:
    if value:
        from tpusim.core.version import __version__

        print(f"tpusim {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """tpusim: availability of OCS-reconfigurable vs statically wired TPU pods."""
#: Off a terminal (a pipe, a file, CI logs) rich would wrap tables at 80 columns and cut headers;
#: print them whole instead, as a wide line is easier to read than a broken one - unless the user
#: set COLUMNS, which rich then follows (``COLUMNS=80 tpusim run ... | less``).
_SIZED = bool(os.environ.get("COLUMNS"))
out_console = Console(width=None if sys.stdout.isatty() or _SIZED else 200)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() or _SIZED else 200)

SCENARIO_ARG = typer.Argument(metavar="SCENARIO", help="Scenario YAML file, or the name of a shipped scenario (tpuv4_pod; see `tpusim scenarios`).",
                              show_default=False)
def _overrides(set_: list[str] | None, **keys) -> tuple[list[str], list[str]]:
    """The overrides of ``--set`` and of the options that set a key (``seed=3`` from ``--seed
    3``), with the option behind each (a problem with its value names that option)."""
    overrides, options = list(set_ or []), ["--set"] * len(set_ or [])
    for key, value in keys.items():
        if value is not None:
            overrides.append(f"{key}={value}")
            options.append(f"--{key}")
    return overrides, options

SET_OPT = typer.Option(
    "--set", metavar="KEY=VALUE", help="Override a dotted scenario key; the value is parsed as YAML. Repeatable."
)


def _error(line: str, prefix: str = "error:") -> None:
    """One error line on stderr: the red prefix, then ``line`` exactly as given. User text (keys,
    names, paths, values) is never read as rich markup: ``[/]`` would end in a MarkupError and
    ``[bold]x[/bold]`` would silently print as a bold x."""
    err_console.print(Text.assemble((prefix, "red"), " ", line), highlight=False, soft_wrap=True)


def _plain(console: Console, line: str) -> None:
    """A line of text holding user text (paths, names), printed literally."""
    console.print(line, markup=False, highlight=False, soft_wrap=True)


def _fail(*lines: str, code: int = 2) -> NoReturn:
    """Print one error line per problem and exit (2: bad input)."""
    for line in lines:
        _error(line)
    raise typer.Exit(code)


def _out_dir(given: str | None, default: str, earlier: str, hint: str) -> Path:
    """The output directory: ``--out`` as given, else ``out/<default>`` (``default`` made by
    :func:`~tpusim.output.files.folder_name`, so a scenario's name never leads outside ``out/``).
    ``--out ''`` is refused (it would be the current folder, which ``--out .`` says
    explicitly), and so is a directory holding an ``earlier`` result unless ``hint`` says how,
    and one that cannot be written (:func:`_writable_dir`: it is made now, before anything runs)."""
    if given is not None and not given.strip():
        _fail("--out '': give a directory (--out . for the current one)")
    out = Path(given) if given is not None else Path("out") / default
    try:
        held = (out / earlier).exists()
    except (OSError, ValueError) as exc:  # a name too long for the file system
        _fail(f"--out {out}: cannot write there ({getattr(exc, 'strerror', None) or exc})")
    if held and hint:
        _fail(f"--out {out}: {hint}")
    _writable_dir(out)
    return out


def _writable_dir(out: Path, option: str = "--out") -> None:
    """Refuse an output directory that cannot be written, before the simulation runs."""
    import tempfile

    try:
        if out.exists() and not out.is_dir():
            _fail(f"{option} {out}: exists and is not a directory")
        probe = out
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not probe.is_dir():
            _fail(f"{option} {out}: {probe} is not a directory")
        # the directory is made now, and a file written and removed in it
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except (OSError, ValueError) as exc:  # unwritable, or a name too long for the file system
        _fail(f"{option} {out}: cannot write there ({getattr(exc, 'strerror', None) or exc})")


def _writable_file(path: Path, option: str) -> None:
    """Refuse a file that ``option`` names and that cannot be written, before the run."""
    try:
        if path.is_dir():
            _fail(f"{option} {path}: is a directory")
    except (OSError, ValueError) as exc:
        _fail(f"{option} {path}: cannot write there ({getattr(exc, 'strerror', None) or exc})")
    _writable_dir(path.parent, option)


def _reachable(address: str | None) -> None:
    """Refuse a Dask scheduler address that does not answer within a few seconds."""
    if address is None:
        return
    import socket
    from urllib.parse import urlparse

    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parsed.hostname, parsed.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        _fail(f"--scheduler-address {address}: expected tcp://HOST:PORT (or tls://HOST:PORT, see README)")
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        _fail(f"--scheduler-address {address}: no Dask scheduler answers there ({exc.strerror or exc})")


_ARGV: list[str] | None = None  # the command line, set by main() (None when called in-process)


def _command() -> list[str] | None:
    """The command line that made a run (for the provenance of what it writes)."""
    return None if _ARGV is None else ["tpusim", *_ARGV]


def _file_backend() -> None:
    """The CLI only writes files: use matplotlib's non-interactive backend."""
    import matplotlib

    matplotlib.use("Agg")


@contextmanager
def _progress(label: str, total: int | None, show: bool = True) -> Iterator[Any]:
    """A rich progress bar on a terminal (stderr) while the block runs, else nothing: yields
    its callback ``(done, of)``, or None."""
    if not show or not err_console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress(label, BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err_console,
                   transient=True)
    task = bar.add_task(label, total=total)
    bar.start()
    try:
        yield lambda done, of: bar.update(task, completed=done, total=of)
    finally:
        bar.stop()


def _announce(sc: "Scenario", workers: int = 1) -> None:
    """Say up front how long a large run will take (rough: see tpusim.config.build.Work), so that
    a fleet-decade does not start silently; nothing for a run of under two minutes."""
    from tpusim.config.build import expected_work

    work = expected_work(sc)
    seconds = work.seconds / max(1, min(workers, sc.replications * max(1, len(sc.policies))))
    if seconds < 120:
        return
    took = f"{seconds / 3600:.1f} hours" if seconds >= 5400 else f"{seconds / 60:.0f} minutes"
    jobs = f" and {work.job_runs:.2g} job runs" if work.job_runs else ""
    err_console.print(f"a large run: about {work.events:.2g} failures and repairs{jobs}; expect roughly {took} "
                      f"on {'one core' if workers == 1 else f'{workers} workers'} (a rough figure; the progress "
                      f"bar refines it)", highlight=False, markup=False)


def _load(path: str, overrides: list[str] | None, options: list[str] | None = None) -> "Scenario":
    from tpusim.config.load import load_scenario

    if not path.strip():
        _fail("SCENARIO '': give a scenario file")
    try:
        return load_scenario(path, overrides, options)
    except ScenarioError as exc:
        _fail(*exc.lines())


def _simulate_run(sc: "Scenario", out: Path, rows, **options):
    """``run_scenario`` for the CLI: a run that fails or is interrupted still leaves a
    summary.json saying why (and no half-written per-job files)."""
    from tpusim.api import run_scenario
    from tpusim.output.files import write_json

    try:
        return run_scenario(sc, rows=rows.add if rows is not None else None, **options)
    except Exception as exc:  # nothing was measured: still leave a summary saying why
        if rows is not None:
            rows.abort()
        payload = {"scenario": sc.resolved(), "seed": sc.seed, "error": f"{type(exc).__name__}: {exc}"}
        write_json(out / "summary.json", payload)
        _error(f"run failed: {payload['error']}; wrote {out / 'summary.json'}")
        raise typer.Exit(1) from None
    except (Interrupted, KeyboardInterrupt):  # the summary says that nothing was measured
        if rows is not None:
            rows.abort()
        write_json(out / "summary.json", {"scenario": sc.resolved(), "seed": sc.seed,
                                          "error": "interrupted (Ctrl-C) before the run ended: nothing measured"})
        raise


def _print_run(results, fmt: str, made: dict, written: list[Path], baseline: str | None = None) -> None:
    """What ``run`` prints on stdout, after its files are written (``fmt`` "none": nothing)."""
    import json

    from tpusim.output.tables import availability_markdown, render_table

    if fmt == "table":
        render_table(results, out_console, baseline)
        _plain(out_console, "wrote " + ", ".join(str(p) for p in written))
    elif fmt == "json":
        print(json.dumps({**results.summary(_command(), baseline), "provenance": made}, indent=2, allow_nan=False))
    elif fmt == "csv":
        print(results.availability_frame().to_csv(index=False), end="")
    elif fmt == "markdown":
        print(availability_markdown(results))


@app.command()
def run(
    scenario: Annotated[str, SCENARIO_ARG],
    out_given: Annotated[Optional[str], typer.Option("--out", "-o", metavar="DIR", help="Output directory [default: out/<scenario name>, made safe as a folder name].", show_default=False)] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", "-s", metavar="N", min=0, help="Root seed (overrides the scenario).")] = None,
    replications: Annotated[Optional[int], typer.Option("--replications", "-r", metavar="N", min=1, help="Replications (overrides the scenario).")] = None,
    set_: Annotated[Optional[list[str]], SET_OPT] = None,
    workers: Annotated[int, typer.Option("--workers", "-w", metavar="N", min=1, help="Local worker processes for replications.")] = 1,
    scheduler_address: Annotated[Optional[str], typer.Option(metavar="tcp://HOST:PORT", help="Run the replications on a Dask cluster you trust (tcp://HOST:PORT, or tls:// with Dask's TLS settings: see README).")] = None,
    plot: Annotated[bool, typer.Option(help="Write the plots (PNG).")] = True,
    write_trace: Annotated[bool, typer.Option(help="Write every replication's failure trace to failure_trace.csv (replay it with failures.trace).")] = False,
    jobs_csv: Annotated[bool, typer.Option(help="With a workload, also write the per-job rows as jobs.csv (they always go to jobs.parquet).")] = False,
    force: Annotated[bool, typer.Option(help="Overwrite the results of an earlier run in OUT.")] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", metavar="[table|markdown|csv|json]", help="What to print: table (every table, for people), markdown (the slice availability table alone, for documents), csv (availability.csv) or json (summary.json: everything).")] = "table",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors (the files are written as usual).")] = False,
    baseline: Annotated[Optional[str], typer.Option("--baseline", metavar="POLICY", help="The policy every other is compared with, as paired differences (table, summary.json, report.html) [default: the scenario's first policy].", show_default=False)] = None,
    precision: Annotated[Optional[list[str]], typer.Option("--precision", metavar="[METRIC[:KEY]=]VALUE", help="Run until the 95 % interval's half-width is at most VALUE x |mean| (0.1: 10 %), for METRIC (KEY: a slice shape or component class; none: every key) or, as a bare VALUE, for slice, system and useful availability (and goodput and lost chip-hours with jobs) under every policy. Repeatable. Replications run in blocks after a first stage of max(10, --replications); Chow and Robbins' rule (see README).", show_default=False)] = None,
    half_width: Annotated[Optional[list[str]], typer.Option("--half-width", metavar="[METRIC[:KEY]=]VALUE", help="As --precision, with an absolute half-width in the metric's unit (fractions as fractions: 0.0005 = 0.05 percentage points). Repeatable.", show_default=False)] = None,
    max_replications: Annotated[Optional[int], typer.Option("--max-replications", metavar="N", help="With --precision or --half-width: stop at N replications even if a target is not met (a relative target on a metric near 0 may never be) [default: 10 x the first stage].", show_default=False)] = None,
    estimator: Annotated[Optional[str], typer.Option("--estimator", metavar="[plain|importance]", help="importance: after the replications, also estimate each whole-cube slice's unavailability under the reconfigurable rule by importance sampling (as tpusim rare does; cycles and bias from estimation.importance), for outages too rare to see (overrides estimation.estimator) [default: the scenario's, plain].", show_default=False)] = None,
) -> None:
    """Simulate SCENARIO: print the table, write summary.json, availability.csv and a plot.

    \b
    Examples:
      tpusim run tpuv4_pod                      a shipped scenario, by name
      tpusim run my_pod.yaml -r 50 -w 2 -o out/mine
      tpusim run tpuv4_pod --set failures.ocs.repair.mean_hours=2 --format json
      tpusim run tpuv4_pod --half-width system_availability=0.00001 --max-replications 400
      tpusim run tpuv4_pod --estimator importance --set failures.ocs.daily_rate=0
    """
    if fmt not in ("table", "markdown", "csv", "json"):
        _fail(f"--format: must be table, markdown, csv or json, got {fmt!r}")
    if quiet:
        fmt = "none"
    from tpusim.output.artifacts import JobRows
    from tpusim.output.provenance import provenance

    overrides, options = _overrides(set_, seed=seed, replications=replications)
    if estimator is not None:
        overrides.append(f"estimation.estimator={estimator}")
        options.append("--estimator")
    sc = _load(scenario, overrides, options)
    if baseline is not None and baseline not in sc.policies:
        _fail(f"--baseline {baseline}: not a policy of this run (it has {', '.join(sc.policies)})")
    stopping = _stopping(sc, precision, half_width, max_replications, workers)
    if sc.estimation.estimator == "importance":
        _importance_applies(sc, "--estimator" if estimator is not None else "estimation.estimator")
    from tpusim.output.files import folder_name

    out = _out_dir(out_given, folder_name(sc.name), "summary.json", "" if force else
                   "holds the results of an earlier run; give --force to overwrite them, or another --out")
    _reachable(scheduler_address)
    _file_backend()
    if not quiet:
        _announce(sc, workers)
    # per-job rows go to jobs.parquet as replications finish: a long run never holds them all
    made = provenance(sc.resolved(), _command())  # the same block in summary.json and jobs.parquet
    rows = JobRows(out, sc.policies, jobs_csv, made) if sc.workload is not None else None
    # a bar for several replications, or for jobs (a fleet-year is minutes: it moves as they go)
    long = sc.replications > 1 or sc.workload is not None or stopping is not None
    with _progress("replications", sc.replications, show=long and not quiet) as callback:
        results = _simulate_run(sc, out, rows, workers=workers, scheduler_address=scheduler_address,
                                progress=callback, record_traces=write_trace, stopping=stopping)
    if sc.estimation.estimator == "importance" and results.replications:
        _estimate_rare(results, quiet)
    written = _write_run(results, out, rows, made, plot=plot, jobs_csv=jobs_csv, baseline=baseline)
    _print_run(results, fmt, made, written, baseline)
    if results.stopping is not None and not quiet:
        _print_stopping(results.stopping)
    if results.error:
        _error(f"run stopped part-way: {results.error}")
        if results.error.startswith("interrupted"):
            raise Interrupted  # Ctrl-C: what was measured is written; the shell gets 130
        raise typer.Exit(1)


def _stopping(sc: "Scenario", precision: list[str] | None, half_width: list[str] | None,
              max_replications: int | None, workers: int):
    """The stopping rule of ``run --precision/--half-width``, checked against the scenario's
    model before anything runs (exit 2 naming the option); None without a target."""
    from tpusim.config.build import build_model
    from tpusim.measure.sequential import plan, stopping_from

    try:
        stopping = stopping_from(precision, half_width, max_replications)
        if stopping is not None:
            plan(stopping, build_model(sc), workers)  # the targets name metrics and keys of this run
    except ValueError as exc:
        _fail(str(exc))
    return stopping


def _importance_applies(sc: "Scenario", key: str) -> None:
    """``estimation.estimator: importance`` on a scenario outside the estimator's model: exit 2
    naming the key (or ``--estimator``) and the reasons, before anything runs."""
    from tpusim.api import check_importance

    try:
        check_importance(sc)
    except ValueError as exc:
        _fail(f"{key} importance: {exc} (tpusim run without it measures this scenario by replications alone)")


def _estimate_rare(results, quiet: bool) -> None:
    """``estimation.estimator: importance``: each whole-cube slice's unavailability under the
    reconfigurable rule by the ``rare`` study, kept in ``results.importance`` (summary.json,
    the table, report.html)."""
    from tpusim.api import importance

    sc = results.scenario
    if not quiet:
        _plain(err_console, f"importance sampling: {len(sc.slices)} slice shape{'s' * (len(sc.slices) != 1)}, "
                            f"{sc.estimation.importance.cycles} cycles each")
    try:
        results.importance = importance(sc)
    except ValueError as exc:  # checked before the run: the files are written without the section
        _error(f"importance sampling: {exc}")


def _print_stopping(record: dict) -> None:
    """One line on stderr: how many replications the precision took, and what was not met."""
    n, targets = record["replications"], record["targets"]
    judged = [t for t in targets if t.get("judged", True)]
    missed = [t for t in judged if not t["met"]]
    unjudged = len(targets) - len(judged)
    aside = (f"; {unjudged} not judged (no interval: nothing observed; see summary.json)" if unjudged else "")
    if record["met"]:
        line = f"stopped after {n} replications: all {len(judged)} targets met{aside}"
    else:
        shown = "; ".join(f"{t['policy'] or ''} {t['metric']}{'[' + t['key'] + ']' if t['key'] else ''}"
                          f" ({t.get('note') or 'half-width ' + format(t['half_width'], '.3g')})" for t in missed[:3])
        line = (f"stopped after {n} replications ({record['stopped']}): {len(missed)} of {len(judged)} "
                f"targets not met: {shown}{' ...' if len(missed) > 3 else ''}{aside}")
    _plain(err_console, line)


def _write_run(results, out: Path, rows, made: dict, *, plot: bool, jobs_csv: bool,
               baseline: str | None = None) -> list[Path]:
    """``run``'s files (the paths written); the per-job rows are dropped if writing fails."""
    from tpusim.output.artifacts import write_outputs

    try:  # the files first: a reader that closes the pipe early (| head) must not cost the run
        return write_outputs(results, out, plot=plot, jobs_csv=jobs_csv, command=_command(), rows=rows,
                             provenance=made, baseline=baseline)
    finally:
        if rows is not None and not rows.closed:
            rows.abort()


@app.command()
def validate(
    scenario: Annotated[str, SCENARIO_ARG],
    set_: Annotated[Optional[list[str]], SET_OPT] = None,
) -> None:
    """Check SCENARIO; print its resolved form (every default filled in) or every error.

    \b
    Example:
      tpusim validate my_pod.yaml --set horizon_days=30
    """
    from tpusim.config.schema import assumption_value

    sc = _load(scenario, set_)
    _plain(out_console, f"# {scenario}: valid")
    out_console.print(yaml.safe_dump(sc.resolved(), sort_keys=False), markup=False, highlight=False, end="")
    if sc.assumptions:
        data = sc.model_dump(mode="json")
        _plain(out_console, f"# {len(sc.assumptions)} declared assumptions (value in [low, high]; tpusim sensitivity varies them):")
        for key, a in sc.assumptions.items():
            value = assumption_value(data, key)
            where = "in" if a.low <= value <= a.high else "OUTSIDE its range"
            _plain(out_console, f"#   {key} = {value:g} {where} [{a.low:g}, {a.high:g}]: {a.source}")
    if sc.workload is not None and sc.workload.hero:
        from tpusim.config.build import build_model
        from tpusim.scheduler.hero import never_placed

        model = build_model(sc)
        assert model.workload is not None
        for h in model.workload.heroes:
            if h.arrival >= model.horizon:
                _plain(out_console, f"# note: hero job {h.name} arrives at {h.arrival:g} h, at or after the horizon "
                                    f"({model.horizon:g} h): no run sees it")
        for hero, policy in never_placed(model.workload.heroes, model.machine, model.policies):
            _plain(out_console, f"# note: hero job {hero} fits no {policy} placement at any of its sizes: under "
                                f"{policy} it waits throughout (goodput 0 by construction)")


@app.command()
def analytic(
    scenario: Annotated[str, SCENARIO_ARG],
    set_: Annotated[Optional[list[str]], SET_OPT] = None,
) -> None:
    """Closed-form slice availability of each policy that has one (exact, or a bound). Closed
    forms need no simulation, so a machine too large to simulate is fine here.

    \b
    Example:
      tpusim analytic tpuv4_pod --set failures.ocs.repair.mean_hours=1
    """
    from tpusim.config.build import build_model, closed_forms_only
    from tpusim.output.tables import render_closed_forms

    with closed_forms_only():
        model = build_model(_load(scenario, set_))
    render_closed_forms(model, out_console)


@app.command()
def spares(
    scenario: Annotated[str, SCENARIO_ARG],
    target: Annotated[Optional[list[float]], typer.Option(metavar="FRACTION", help="Target availability of the promised slice, as a fraction; repeatable [default: 0.95, 0.99, 0.999].", show_default=False)] = None,
    lead_hours: Annotated[Optional[float], typer.Option(metavar="HOURS", help="Replacement lead time for Mist's rule [default: the mean time a terminated cube stayed unusable in the simulated trace].", show_default=False)] = None,
    safety: Annotated[float, typer.Option(metavar="FACTOR", help="Mist's safety factor over the worst burst.")] = 3.0,
    set_: Annotated[Optional[list[str]], SET_OPT] = None,
) -> None:
    """Spare cubes per pod each policy needs for a target availability: searched from the simulation
    (with its 95 % range), the binomial closed form, and Mist's rule (3 x the worst burst of cube
    terminations within the lead time).

    \b
    Example:
      tpusim spares tpuv4_pod --target 0.99 --target 0.999
    """
    import math

    targets = tuple(target) if target else (0.95, 0.99, 0.999)
    bad = [t for t in targets if not 0.0 < t < 1.0]
    if bad:
        _fail(f"--target {bad[0]:g}: must lie strictly between 0 and 1 (a fraction, e.g. 0.99)")
    if lead_hours is not None and not (0 < lead_hours < math.inf):  # nan and inf included
        _fail(f"--lead-hours {lead_hours:g}: must be a finite number > 0")
    if not 0 < safety < math.inf:
        _fail(f"--safety {safety:g}: must be a finite number > 0")
    sc = _load(scenario, set_)
    from tpusim.api import study
    from tpusim.output.tables import render_spares

    with _progress("replications", sc.replications) as callback:
        plan = study("spares", sc, targets=targets, lead_hours=lead_hours, safety=safety, progress=callback)
    n = plan.results.model.machine.cubes_per_pod
    render_spares(plan.frame, f"{sc.name}: spare cubes per pod of {n} for the largest slice "
                              f"({sc.replications} x {sc.horizon_days:g} days)", out_console)


@app.command()
def localise(
    scenario: Annotated[str, SCENARIO_ARG],
    set_: Annotated[Optional[list[str]], SET_OPT] = None,
    window_hours: Annotated[float, typer.Option(metavar="HOURS", help="Width of the localisers' sliding window of job records (hours, > 0).")] = 24.0,
    alpha: Annotated[float, typer.Option(metavar="ALPHA", help="Deepview's test level per window: chance of blaming some part when none is faulty.")] = 0.01,
    out_given: Annotated[Optional[str], typer.Option("--out", "-o", metavar="DIR", help="Also write localisation.csv (the table), blames.csv and episodes.csv here.", show_default=False)] = None,
    fmt: Annotated[str, typer.Option("--format", help="What to print: table or csv.", metavar="[table|csv]")] = "table",
    workers: Annotated[int, typer.Option("--workers", "-w", metavar="N", min=1, help="Local worker processes for replications (same rows as serial).")] = 1,
) -> None:
    """Localise gray faults from job records (Deepview's Lasso and a naive count), scored
    against the faults the simulator injected: precision of blames, recall per class, time
    and failed jobs to blame. SCENARIO needs a workload and gray faults (e.g. gray_failures).

    \b
    Example:
      tpusim localise gray_failures --set replications=4 --out out/localise
    """
    if fmt not in ("table", "csv"):
        _fail(f"--format: must be table or csv, got {fmt!r}")
    if not window_hours > 0 or window_hours == float("inf"):
        _fail(f"--window-hours: must be a finite number > 0, got {window_hours:g}")
    if not 0.0 < alpha < 1.0:
        _fail(f"--alpha: must be strictly between 0 and 1, got {alpha:g}")
    sc = _load(scenario, set_)
    if sc.workload is None:
        _fail(f"{scenario}: workload: localisation reads job records, so the scenario needs a workload")
    out = _out_dir(out_given, "", "", "") if out_given is not None else None
    from tpusim.api import study
    from tpusim.studies.localisation.methods import LocaliserParams
    from tpusim.output.files import write_atomic
    from tpusim.output.tables import render_localisation

    with _progress("replications", sc.replications) as callback:
        found = study("localisation", sc, params=LocaliserParams(window_hours=window_hours, alpha=alpha),
                      progress=callback, workers=workers)
    table = found.summary()
    if fmt == "csv":
        print(table.to_csv(index=False), end="")
    else:
        render_localisation(table, f"{sc.name}: localisation from job records ({sc.replications} x "
                                   f"{sc.horizon_days:g} days; 95 % intervals)", out_console)
    if out is not None:
        written = []
        for name, frame in (("localisation.csv", table), ("blames.csv", found.blames), ("episodes.csv", found.episodes)):
            write_atomic(out / name, frame.to_csv(index=False).encode())
            written.append(str(out / name))
        if fmt == "table":
            out_console.print("wrote " + ", ".join(written), highlight=False, markup=False)


def _grid(scenario: str, vary: list[str], set_: list[str], options: list[str]) -> dict:
    """The sweep's grid from its --vary options: every key must exist and every value must make
    a valid scenario, checked before anything runs."""
    import math

    from tpusim.config import overrides
    from tpusim.studies.sweep import MAX_POINTS, parse_vary

    grid: dict = {}
    for text in vary:
        try:
            key, values = parse_vary(text)
            _load(scenario, set_ + [f"{key}={v}" for v in values[:1]], options + ["--vary"])  # the key must exist
        except ValueError as exc:
            _fail(f"--vary: {exc}")
        points = math.prod(len(v) for v in grid.values()) * len(values)
        if points > MAX_POINTS:
            _fail(f"--vary {key}: the grid would have {points:,} points; a sweep has at most {MAX_POINTS:,}")
        for v in values:  # every value must make a valid scenario
            _load(scenario, set_ + [f"{key}={overrides.yaml_value(v)}"], options + ["--vary"])
        if key in grid:
            _fail(f"--vary {key}: given twice (give every value in one --vary)")
        grid[key] = values
    return grid


def _write_sweep(frame, keys: list[str], out: Path, plot: bool, differences=None) -> list[Path]:
    """sweep.csv, sweep.parquet, sweep_differences.csv (the paired differences against the
    baseline point, where there is another point) and (with ``plot``) a figure per metric; the
    paths written."""
    import io

    from tpusim.output.files import write_atomic
    from tpusim.output.plots import plot_sweep

    written = [out / "sweep.csv"]
    write_atomic(written[0], frame.to_csv(index=False).encode())
    if differences is not None and len(differences):
        written.append(out / "sweep_differences.csv")
        write_atomic(written[-1], differences.to_csv(index=False).encode())
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)  # pyarrow is a dependency
    written.append(out / "sweep.parquet")
    write_atomic(written[-1], buffer.getvalue())
    if plot:
        written += plot_sweep(frame, keys, out)
    return written


@app.command()
def sweep(
    scenario: Annotated[str, SCENARIO_ARG],
    vary: Annotated[list[str], typer.Option(metavar="KEY=V1,V2,...", help="KEY=V1,V2,...: a dotted key and its values (YAML). Repeatable: the grid is every combination.")],
    out_given: Annotated[Optional[str], typer.Option("--out", "-o", metavar="DIR", help="Output directory [default: out/<scenario name>-sweep, made safe as a folder name].", show_default=False)] = None,
    workers: Annotated[int, typer.Option("--workers", "-w", metavar="N", min=1, help="Local worker processes (one replication of one point each).")] = 1,
    resume: Annotated[bool, typer.Option(help="Keep the points already written in OUT and run the rest.")] = False,
    force: Annotated[bool, typer.Option(help="Start again in an OUT that holds an earlier sweep.")] = False,
    seed: Annotated[Optional[int], typer.Option("--seed", "-s", metavar="N", min=0, help="Root seed (overrides the scenario; the same at every point).")] = None,
    replications: Annotated[Optional[int], typer.Option("--replications", "-r", metavar="N", min=1, help="Replications per point (overrides the scenario).")] = None,
    scheduler_address: Annotated[Optional[str], typer.Option(metavar="tcp://HOST:PORT", help="Run the points on a Dask cluster you trust (tcp://HOST:PORT, or tls:// with Dask's TLS settings: see README).")] = None,
    target_ci: Annotated[Optional[float], typer.Option(metavar="HALF_WIDTH", min=0.0, help="Add replications to a point until every availability CI half-width is at most this.")] = None,
    max_replications: Annotated[int, typer.Option(metavar="N", min=2, help="Cap for --target-ci.")] = 1000,
    set_: Annotated[Optional[list[str]], SET_OPT] = None,
    plot: Annotated[bool, typer.Option(help="Write a plot per metric against the first varied key.")] = True,
    fmt: Annotated[str, typer.Option("--format", "-f", metavar="[table|csv|json]", help="What to print: table (slice and system availability, goodput; for people), csv (sweep.csv: every metric) or json (the same rows).")] = "table",
    baseline_point: Annotated[int, typer.Option(metavar="N", help="The point (its number in sweep.csv, 0 the first) every other is compared with, as paired differences (sweep_differences.csv and a second table).")] = 0,
) -> None:
    """Run SCENARIO at every combination of the varied keys; print the table, write sweep.csv
    and plots.

    \b
    Examples:
      tpusim sweep tpuv4_pod --vary failures.ocs.repair.mean_hours=1,4,12 -r 10
      tpusim sweep tpuv4_pod --vary pod_manager.spare_cubes=0,2,4 --vary horizon_days=90,365 -w 2
    """
    from tpusim.api import study

    if fmt not in ("table", "csv", "json"):
        _fail(f"--format: must be table, csv or json, got {fmt!r}")
    set_, options = _overrides(set_, seed=seed, replications=replications)
    sc = _load(scenario, set_, options)
    grid = _grid(scenario, vary, set_, options)
    import math

    points = math.prod(len(v) for v in grid.values())
    if not 0 <= baseline_point < points:
        _fail(f"--baseline-point {baseline_point}: the grid has points 0 to {points - 1}")
    from tpusim.output.files import folder_name

    out = _out_dir(out_given, folder_name(sc.name, "-sweep"), "sweep.csv", "" if resume or force else
                   "holds an earlier sweep; give --resume to add the missing points, --force to start again, "
                   "or another --out")
    _reachable(scheduler_address)
    _file_backend()
    with _progress("points", None) as callback:
        try:
            results = study("sweep", sc, vary=grid, out=out, resume=resume, progress=callback, target_ci=target_ci,
                            max_replications=max_replications, workers=workers, scheduler_address=scheduler_address)
        except ValueError as exc:
            _fail(str(exc))
    frame = results.to_frame()
    differences = results.differences(baseline_point)
    written = _write_sweep(frame, list(grid), out, plot, differences)
    _print_sweep(results, frame, fmt, sc, written, target_ci, max_replications, differences)


def _print_sweep(results, frame, fmt: str, sc: "Scenario", written: list[Path], target_ci: float | None,
                 max_replications: int, differences=None) -> None:
    """What ``sweep`` prints on stdout, after its files are written."""
    if fmt == "csv":
        print(frame.to_csv(index=False), end="")
    elif fmt == "json":
        print(frame.to_json(orient="records", indent=2))
    else:
        from tpusim.output.tables import render_sweep

        counts = sorted({int(n) for n in frame.replications}) if len(frame) else [sc.replications]
        reps = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
        render_sweep(frame, list(results.vary), f"{sc.name}: {len(results.points)} points x {reps} replications "
                                                f"(95 % intervals; every metric in sweep.csv)", out_console)
        if differences is not None and len(differences):
            from tpusim.output.tables import render_sweep_differences

            base = int(differences.baseline_point.iloc[0])
            values = ", ".join(f"{k}={v}" for k, v in results.points[base].point.items())
            render_sweep_differences(differences, list(results.vary), f"paired differences vs point {base} ({values}): "
                                     "each point - that point over the same replications, in percentage points "
                                     "(every metric in sweep_differences.csv)", out_console)
        if target_ci is not None and counts[-1] >= max_replications:
            _plain(err_console, f"--target-ci {target_ci:g}: some points stopped at --max-replications "
                                f"{max_replications} before every availability CI was that narrow")
        out_console.print("wrote " + ", ".join(str(p) for p in written), highlight=False, markup=False)


#: `tpusim sensitivity`'s defaults: small, so that the bundled scenario's default run takes a few
#: minutes on two cores (measured: README, "Which assumptions decide the answer").
SENSITIVITY_REPLICATIONS = 20


def _factors(sc: "Scenario", vary: list[str]) -> list:
    """The factors of ``--vary KEY=LOW:HIGH`` options (each key must name a number of the
    scenario, low < high, both ends valid), or the scenario's declared assumptions."""
    from tpusim.studies.sensitivity import Factor, check_factors, factors_of

    if not vary:
        factors = factors_of(sc)
        if not factors:
            _fail(f"{sc.name}: the scenario declares no assumptions (an assumptions: section with low and high); "
                  f"give the factors with --vary KEY=LOW:HIGH")
        return factors
    data = sc.model_dump(mode="json")
    from tpusim.config.schema import assumption_value

    factors = []
    for text in vary:
        key, sep, bounds = text.partition("=")
        low_text, colon, high_text = bounds.partition(":")
        key = key.strip()
        if not sep or not key or not colon:
            _fail(f"--vary {text}: expected KEY=LOW:HIGH (e.g. failures.ocs.repair.mean_hours=1:24)")
        try:
            low, high = float(low_text), float(high_text)
        except ValueError:
            _fail(f"--vary {text}: LOW and HIGH must be numbers (KEY=LOW:HIGH)")
        try:
            value = assumption_value(data, key)
        except KeyError:
            _fail(f"--vary {key}: names no key of the scenario (a dotted path such as "
                  f"failures.ocs.repair.mean_hours)")
        integer = isinstance(value, int) and not isinstance(value, bool)
        factors.append(Factor(key, low, high, integer))
    try:
        check_factors(sc, factors)
    except ValueError as exc:
        _fail(f"--vary {exc}")
    return factors


def _outputs(sc: "Scenario", metrics: list[str], differences: list[str]) -> list:
    """The outputs of ``--metric NAME[:KEY]`` and ``--difference A-B`` (the defaults without)."""
    from tpusim.studies.sensitivity import outputs_for

    chosen = []
    for text in metrics:
        name, _, key = text.partition(":")
        if not name.strip():
            _fail(f"--metric {text!r}: expected NAME or NAME:KEY (e.g. slice_availability:4x4x4)")
        chosen.append((name.strip(), key.strip() or None))
    pairs = []
    for text in differences:
        a, sep, b = text.partition("-")
        if not sep or not a.strip() or not b.strip():
            _fail(f"--difference {text!r}: expected A-B, two policies (e.g. reconfigurable-static)")
        pairs.append((a.strip(), b.strip()))
    try:
        return outputs_for(sc, chosen, pairs)
    except ValueError as exc:
        _fail(f"{'--difference' if 'policy' in str(exc) or 'minus itself' in str(exc) else '--metric'} {exc}")


@app.command()
def sensitivity(
    scenario: Annotated[str, SCENARIO_ARG],
    vary: Annotated[Optional[list[str]], typer.Option(metavar="KEY=LOW:HIGH", help="Vary this dotted key over [LOW, HIGH]; repeatable; replaces the scenario's declared assumptions [default: its assumptions: section].", show_default=False)] = None,
    method: Annotated[str, typer.Option(metavar="[morris|sobol]", help="morris: screening, trajectories x (k+1) points; sobol: first and total indices, samples x (k+2) points (many more).")] = "morris",
    trajectories: Annotated[int, typer.Option(metavar="R", min=2, help="Morris trajectories (each k+1 design points).")] = 10,
    levels: Annotated[int, typer.Option(metavar="P", min=2, help="Morris grid levels (even).")] = 4,
    samples: Annotated[int, typer.Option(metavar="N", min=2, help="Sobol base samples (a power of two).")] = 64,
    metric_: Annotated[Optional[list[str]], typer.Option("--metric", metavar="NAME[:KEY]", help="An output metric, for every policy (e.g. slice_availability:4x4x4, system_availability); repeatable [default: slice availability of the smallest and largest shape].", show_default=False)] = None,
    difference: Annotated[Optional[list[str]], typer.Option(metavar="A-B", help="A paired policy difference of each metric (e.g. reconfigurable-static); repeatable [default: the first OCS-wired policy minus the first static one].", show_default=False)] = None,
    replications: Annotated[Optional[int], typer.Option("--replications", "-r", metavar="N", min=1, help=f"Replications per design point [default: {SENSITIVITY_REPLICATIONS}].", show_default=False)] = None,
    horizon_days: Annotated[Optional[float], typer.Option(metavar="DAYS", help="Simulated days per replication [default: the scenario's].", show_default=False)] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", "-s", metavar="N", min=0, help="Root seed (the same at every design point).")] = None,
    workers: Annotated[int, typer.Option("--workers", "-w", metavar="N", min=1, help="Local worker processes (the defaults are sized for two cores: a few minutes on the bundled scenario).")] = 2,
    scheduler_address: Annotated[Optional[str], typer.Option(metavar="tcp://HOST:PORT", help="Run the design points on a Dask cluster you trust.")] = None,
    out_given: Annotated[Optional[str], typer.Option("--out", "-o", metavar="DIR", help="Output directory [default: out/<scenario name>-sensitivity].", show_default=False)] = None,
    set_: Annotated[Optional[list[str]], SET_OPT] = None,
    plot: Annotated[bool, typer.Option(help="Write a tornado plot per output.")] = True,
    fmt: Annotated[str, typer.Option("--format", "-f", metavar="[table|json]", help="What to print: table (indices per output, ranked, and the finding) or json (sensitivity.json).")] = "table",
    claim: Annotated[Optional[str], typer.Option(metavar="'A > B: METRIC KEY'", help="Also judge this conclusion about a paired difference at every design point and every corner of the box (2**k more points), with simultaneous 95 % intervals (Bonferroni): holds everywhere, fails at (the values), or cannot tell.", show_default=False)] = None,
    bisection_steps: Annotated[int, typer.Option(metavar="N", min=0, help="With --claim: runs that bisect each segment where the claim holds at one point and fails at a neighbour one assumption apart (0: none).")] = 4,
) -> None:
    """Which assumptions move each output most: global sensitivity (SALib's Morris screening,
    or Sobol indices) over the scenario's declared assumption ranges, every design point a run
    on common random numbers. Writes sensitivity.json, sensitivity_points.csv,
    sensitivity_indices.csv and a tornado plot per output.

    \b
    Examples:
      tpusim sensitivity tpuv4_pod
      tpusim sensitivity tpuv4_pod --vary failures.ocs.repair.mean_hours=1:24 --vary failures.ocs.daily_rate=0.00004:0.0004
      tpusim sensitivity tpuv4_pod --method sobol --samples 32 --metric slice_availability:4x4x4
    """
    import json

    if method not in ("morris", "sobol"):
        _fail(f"--method {method}: must be morris or sobol")
    if fmt not in ("table", "json"):
        _fail(f"--format: must be table or json, got {fmt!r}")
    if levels % 2:
        _fail(f"--levels {levels}: must be even (Morris's grid)")
    if samples & (samples - 1):
        _fail(f"--samples {samples}: must be a power of two (Sobol sequences), e.g. {1 << samples.bit_length()}")
    set_, options = _overrides(set_, seed=seed, replications=replications or SENSITIVITY_REPLICATIONS,
                               horizon_days=horizon_days)
    sc = _load(scenario, set_, options)
    outputs = _outputs(sc, metric_ or [], difference or [])
    factors = _factors(sc, vary or [])
    judged = None
    if claim is not None:
        from tpusim.studies.sensitivity import MAX_CORNER_FACTORS, Claim, check_claim

        try:
            judged = Claim.parse(claim)
            check_claim(sc, judged)
        except ValueError as exc:
            _fail(f"--claim {exc}")
        if len(factors) > MAX_CORNER_FACTORS:
            _fail(f"--claim: the box of {len(factors)} assumptions has 2**{len(factors)} corners; judge a claim "
                  f"over at most {MAX_CORNER_FACTORS} (choose them with --vary)")
    from tpusim.output.files import folder_name

    out = _out_dir(out_given, folder_name(sc.name, "-sensitivity"), "", "")
    _reachable(scheduler_address)
    _file_backend()
    from tpusim.api import study

    k = len(factors)
    points = trajectories * (k + 1) if method == "morris" else samples * (k + 2)
    corners = f" + up to {2 ** k} corners for --claim" if judged is not None else ""
    _plain(err_console, f"{sc.name}: {method}, {k} assumptions, {points} design points{corners} x {sc.replications} "
                        f"replications x {sc.horizon_days:g} days (the same seed at every point)")
    if judged is not None:
        points += 2 ** k
    with _progress("replications", points * sc.replications) as callback:
        found = study("sensitivity", sc, factors=tuple(factors), method=method, outputs=tuple(outputs),
                      trajectories=trajectories, levels=levels, samples=samples, progress=callback,
                      workers=workers, scheduler_address=scheduler_address, claim=judged,
                      bisection_steps=bisection_steps)
    written = _write_sensitivity(found, out, plot)
    if fmt == "json":
        print(json.dumps(found.to_dict(), indent=2, allow_nan=False))
        return
    from tpusim.core.metrics import metric
    from tpusim.output.tables import render_sensitivity

    scales = {o.label: (metric(o.metric).scale, "pp" if metric(o.metric).unit == "fraction" else metric(o.metric).unit)
              for o in found.outputs}
    what = (f"{trajectories} Morris trajectories x {k + 1} points" if method == "morris"
            else f"Sobol: {samples} x {k + 2} points")
    render_sensitivity(found.indices, found.findings(), method, scales,
                       f"{sc.name}: sensitivity over {k} assumptions ({what}; {sc.replications} replications x "
                       f"{sc.horizon_days:g} days per point, common random numbers; 95 % bootstrap intervals)",
                       out_console)
    if found.claim is not None:
        _plain(out_console, f"claim: {found.claim_finding()}")
    _plain(out_console, "wrote " + ", ".join(str(p) for p in written))


def _write_sensitivity(found, out: Path, plot: bool) -> list[Path]:
    """sensitivity.json, sensitivity_points.csv, sensitivity_indices.csv and (with ``plot``) a
    tornado plot per output; the paths written."""
    from tpusim.output.files import write_atomic, write_json
    from tpusim.output.plots import plot_tornados

    written = [out / "sensitivity.json", out / "sensitivity_points.csv", out / "sensitivity_indices.csv"]
    payload = found.to_dict()
    payload["command"] = _command()
    write_json(written[0], payload)
    write_atomic(written[1], found.design_frame().to_csv(index=False).encode())
    write_atomic(written[2], found.indices_frame().to_csv(index=False).encode())
    if found.claim_points is not None:
        written.append(out / "sensitivity_claim.csv")
        write_atomic(written[-1], found.claim_points.to_csv(index=False).encode())
    if found.flips is not None and len(found.flips):
        written.append(out / "sensitivity_flips.csv")
        write_atomic(written[-1], found.flips.assign(others=found.flips.others.map(str)).to_csv(index=False).encode())
    if plot:
        written += plot_tornados(found.plot(), out)
    return written


@app.command()
def check(
    scenario: Annotated[str, SCENARIO_ARG],
    baseline: Annotated[Path, typer.Option("--baseline", "-b", metavar="FILE", help="Baseline JSON file (made by this command with --update-baseline).")],
    update_baseline: Annotated[bool, typer.Option(help="Write the baseline from this run instead of checking.")] = False,
    alpha: Annotated[float, typer.Option(metavar="ALPHA", help="Family-wise significance: an unchanged model fails at most this often.")] = 0.01,
    seed: Annotated[Optional[int], typer.Option("--seed", "-s", metavar="N", min=0, help="Root seed [default: a fresh one, the baseline's + 1; with --update-baseline the scenario's].")] = None,
    set_: Annotated[Optional[list[str]], SET_OPT] = None,
    allow_other_scenario: Annotated[bool, typer.Option(help="Compare although the baseline was made from another scenario, or another version of this one (--set changes it too): to measure what a change does.")] = False,
    junit: Annotated[Optional[Path], typer.Option(metavar="FILE", help="Also write the check as JUnit XML to this file (for CI test reports).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="What to print: table (every metric, for people) or json (the report, for scripts).", metavar="[table|json]")] = "table",
) -> None:
    """Run SCENARIO and compare every metric with a baseline (exit 1 if one moved).

    \b
    Examples:
      tpusim check regression -b base.json --update-baseline     make a baseline
      tpusim check regression -b base.json --junit check.xml     the CI gate
    """
    from tpusim.api import study
    from tpusim.output.files import write_atomic
    from tpusim.studies.check import junit_xml

    if fmt not in ("table", "json"):
        _fail(f"--format: must be table or json, got {fmt!r}")
    if not 0.0 < alpha < 1.0:
        _fail(f"--alpha: must be strictly between 0 and 1, got {alpha:g}")
    overrides, options = _overrides(set_, seed=seed)
    sc = _load(scenario, overrides, options)
    if junit is not None:
        _writable_file(junit, "--junit")
    if sc.replications < 2:
        _fail(f"{scenario}: replications: a check needs at least 2, got {sc.replications}")
    if update_baseline:
        _update_baseline(sc, baseline, junit)
        return
    base = _read_baseline(baseline)  # read and checked before the run is spent on it
    other, sc = _against(base, baseline, sc, scenario, set_, seed, allow_other_scenario)
    report = study("check", sc, baseline=base, alpha=alpha)
    if junit is not None:
        write_atomic(junit, junit_xml(report, f"tpusim check {sc.name}"))
    if fmt == "json":
        _print_check_json(report, sc, baseline, base, other)
    else:
        _print_check(report, f"{sc.name}: {len(report.checks)} metrics against {baseline} (seed {sc.seed}; "
                             f"the baseline's {base.get('seed')}), family-wise alpha {alpha:g} (each at "
                             f"{report.per_metric_alpha:.2g}, Welch t-test)", other, junit)
    if report.failed:
        _check_failed(report)
    if fmt == "table":
        out_console.print(f"check passed: no metric moved at family-wise significance {alpha:g}")


def _update_baseline(sc: "Scenario", baseline: Path, junit: Path | None) -> None:
    """``check --update-baseline``: run ``sc`` and write its baseline."""
    from tpusim.api import run_scenario
    from tpusim.output.files import write_json
    from tpusim.studies.check import make_baseline

    if junit is not None:
        _fail("--junit: making a baseline checks nothing, so there is no report to write (drop --junit "
              "or --update-baseline)")
    _writable_file(baseline, "--baseline")
    results = run_scenario(sc)
    made = make_baseline(sc.name, sc.seed, results.samples, sc.resolved())
    write_json(baseline, made)
    _plain(out_console, f"wrote baseline {baseline} ({len(made['metrics'])} metrics)")


def _against(base: dict, path: Path, sc: "Scenario", scenario: str, set_: list[str] | None, seed: int | None,
             allow_other_scenario: bool) -> tuple[list[str], "Scenario"]:
    """Why ``base`` is not a baseline of ``sc`` (refused unless ``allow_other_scenario``), and
    the scenario to check: ``sc``, on a fresh seed when it would draw the baseline's own."""
    from tpusim.studies.check import fresh_seed, other_scenario

    other = other_scenario(base, sc.name, sc.resolved())
    if other and not allow_other_scenario:
        _fail(*(f"{path}: {p}; give --allow-other-scenario to compare anyway" for p in other))
    base_seed = base.get("seed")
    if seed is None and isinstance(base_seed, int) and base_seed == sc.seed:
        sc = _load(scenario, list(set_ or []) + [f"seed={fresh_seed(base_seed)}"])  # independent draws
    return other, sc


def _print_check_json(report, sc: "Scenario", baseline: Path, base: dict, other: list[str]) -> None:
    """The check's report as JSON on stdout (``--format json``)."""
    import json

    print(json.dumps({"scenario": sc.name, "seed": sc.seed, "replications": sc.replications,
                      "baseline": {"path": str(baseline), "seed": base.get("seed"), "scenario_differences": other},
                      **report.as_dict()}, indent=2, allow_nan=False, default=str))


def _check_failed(report) -> NoReturn:
    """One line per metric that moved, then exit 1."""
    for c in report.checks:
        if c.failed:
            direction = "up" if c.change > 0 else "down"
            _error(f"{c.name} moved {direction} by {abs(c.change):.3g} ({c.old['mean']:.6g} -> "
                   f"{c.new['mean']:.6g}, p = {c.p_value:.2g})", prefix="check failed:")
    raise typer.Exit(1)


def _read_baseline(baseline: Path) -> dict:
    """A baseline read and checked before the run is spent on it (one error line if it is none)."""
    import json

    from tpusim.config.strict_yaml import read_text
    from tpusim.studies.check import baseline_problems

    try:
        base = json.loads(read_text(baseline, str(baseline), kind="JSON"))
    except ScenarioError as exc:
        _fail(exc.lines()[0] + ("" if baseline.exists() else " (make one with --update-baseline)"))
    except json.JSONDecodeError as exc:
        _fail(f"{baseline}: not a JSON baseline: {exc.msg} at line {exc.lineno}, column {exc.colno}")
    except RecursionError:  # arrays nested 100,000 deep
        _fail(f"{baseline}: not a JSON baseline: nested too deeply")
    except ValueError as exc:  # an integer of 5,000 digits
        _fail(f"{baseline}: not a JSON baseline: {str(exc).split(';')[0]}")
    problems = baseline_problems(base)
    if problems:
        _fail(*(f"{baseline}: {p}" for p in problems))
    return base


def _print_check(report, title: str, other: list[str], junit: Path | None) -> None:
    """The check's table and what it can detect, for people (``--format table``)."""
    from tpusim.core.formatting import share
    from tpusim.output.tables import render_check

    render_check(report, title, out_console)
    if other:
        out_console.print(f"compared with another scenario (--allow-other-scenario): {'; '.join(other)}",
                          highlight=False, markup=False)
    relative = sorted(r for c in report.checks if (r := c.relative_detectable) is not None)
    if relative:
        out_console.print(f"smallest change found with 80 % power, as a share of the baseline's value (of its "
                          f"unavailability, for an availability): median {share(relative[len(relative) // 2])}, "
                          f"worst {share(relative[-1])}; more replications make it smaller",
                          highlight=False, markup=False, soft_wrap=True)
        blind = [c.name for c in report.checks if (r := c.relative_detectable) is not None and r > 1.0]
        if blind:
            _plain(out_console, f"caution: {len(blind)} of {len(report.checks)} metrics could more than double "
                                f"unnoticed at this size ({', '.join(blind[:3])}{' ...' if len(blind) > 3 else ''}): "
                                f"a pass says little about them; add replications or days")
    if junit is not None:
        out_console.print(f"wrote {junit}", highlight=False, markup=False)
    for name in report.missing:
        err_console.print(f"metric only on one side: {name}", highlight=False, markup=False)


#: A fit's input keys (tpusim.studies.fit.FitInputError.key) as the options that give them.
_FIT_OPTIONS = {"population": "--population", "log_end_hours": "--log-end-hours", "replication": "--replication"}


def _fit_populations(given: list[str]) -> dict[str, int]:
    """``--population CLASS=N`` options as a mapping (each class once, N a whole number > 0)."""
    from tpusim.topology.machine import COMPONENT_CLASSES

    out: dict[str, int] = {}
    for text in given:
        cls, sep, value = text.partition("=")
        cls, value = cls.strip(), value.strip()
        if not sep or cls not in COMPONENT_CLASSES:
            _fail(f"--population {text}: expected CLASS=N with CLASS one of {', '.join(COMPONENT_CLASSES)}")
        if not value.isascii() or not value.isdigit() or int(value) <= 0:
            _fail(f"--population {text}: N must be a whole number > 0 (units of {cls} in the machine)")
        if cls in out:
            _fail(f"--population {cls}: given twice")
        out[cls] = int(value)
    return out


@app.command()
def fit(
    incidents: Annotated[Path, typer.Argument(metavar="INCIDENTS.csv", help="Incident log: unit,class,down_hours,up_hours (hours from the log's start; up_hours empty = still open), or a failure trace as run --write-trace writes it.", show_default=False)],
    population: Annotated[Optional[list[str]], typer.Option("--population", "-p", metavar="CLASS=N", help="Units of a class in the machine (host, ici_link, ocs); repeatable. Required for every class in the log, unless --scenario gives it: a log lists only the units that failed.", show_default=False)] = None,
    scenario: Annotated[Optional[str], typer.Option("--scenario", metavar="SCENARIO", help="Read the populations from this scenario's machine (a given --population wins).", show_default=False)] = None,
    set_: Annotated[Optional[list[str]], SET_OPT] = None,
    log_end_hours: Annotated[Optional[float], typer.Option(metavar="HOURS", help="When the log ends; open incidents are right-censored there [default: the largest time in the log].", show_default=False)] = None,
    replication: Annotated[Optional[int], typer.Option(metavar="N", min=0, help="The replication to fit, for a log (a trace) holding several.", show_default=False)] = None,
    weekly: Annotated[bool, typer.Option(help="Also fit a weekly rate schedule (weekly_rates.csv, given as each class's schedule).")] = False,
    out_given: Annotated[Optional[str], typer.Option("--out", "-o", metavar="DIR", help="Output directory [default: out/<log name>-fit].", show_default=False)] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an earlier fit in OUT.")] = False,
    plot: Annotated[bool, typer.Option(help="Write a goodness-of-fit plot per class (fit_<class>.png).")] = True,
    fmt: Annotated[str, typer.Option("--format", "-f", metavar="[table|yaml|json]", help="What to print: table (and the YAML to paste), yaml (the failures: and assumptions: sections alone) or json (fit.json).")] = "table",
) -> None:
    """Fit failure rates and repair-time laws per component class from an incident log, with 95 %
    intervals; write a scenario failures: section and assumption ranges (failures.yaml), fit.json
    and a goodness-of-fit plot per class.

    \b
    Examples:
      tpusim fit incidents.csv --population host=1024 --population ocs=48
      tpusim fit incidents.csv --scenario tpuv4_pod --weekly
      tpusim run tpuv4_pod -r 1 --write-trace -o out/t && tpusim fit out/t/failure_trace.csv --scenario tpuv4_pod --log-end-hours 8760
    """
    import json
    import math

    if fmt not in ("table", "yaml", "json"):
        _fail(f"--format: must be table, yaml or json, got {fmt!r}")
    if log_end_hours is not None and not (0 < log_end_hours < math.inf):
        _fail(f"--log-end-hours {log_end_hours:g}: must be a finite number > 0")
    if set_ and scenario is None:
        _fail("--set: sets keys of the --scenario that gives the populations; give --scenario too")
    populations = _fit_populations(population or [])
    from tpusim.config.strict_yaml import MAX_CSV_BYTES, read_text
    from tpusim.studies.fit import FitInputError

    try:
        text = read_text(incidents, str(incidents), kind="CSV", limit=MAX_CSV_BYTES)
    except ScenarioError as exc:
        _fail(*exc.lines())
    sc = _load(scenario, set_) if scenario is not None else None
    from tpusim.output.files import folder_name, write_atomic, write_json
    from tpusim.output.plots import plot_fit
    from tpusim.output.tables import render_fit

    out = _out_dir(out_given, folder_name(incidents.stem, "-fit"), "fit.json", "" if force else
                   "holds an earlier fit; give --force to overwrite it, or another --out")
    from tpusim.api import study
    from tpusim.studies.fit import read_log

    try:
        log = read_log(text, str(incidents), log_end_hours=log_end_hours, replication=replication)
        fitted = study("fit", log, population=populations or None, population_from=sc, weekly=weekly)
    except ScenarioError as exc:  # the population's scenario does not build
        _fail(*exc.lines())
    except FitInputError as exc:
        _fail(f"{_FIT_OPTIONS.get(exc.key, exc.key)}: {exc.message}"
              + (" (--population CLASS=N, or --scenario SCENARIO)" if exc.key == "population" else ""))
    _file_backend()
    written = [out / "fit.json", out / "failures.yaml"]
    schedule = None
    if fitted.weekly is not None:
        schedule = "weekly_rates.csv"
        write_atomic(out / schedule, fitted.weekly.to_csv(index=False).encode())
        written.append(out / schedule)
    yaml_text = fitted.yaml_text(schedule)
    payload = fitted.as_dict()
    write_json(written[0], payload)
    write_atomic(written[1], yaml_text.encode())
    if plot:
        written += plot_fit(fitted, out)
    if fmt == "json":
        print(json.dumps(payload, indent=2, allow_nan=False))
    elif fmt == "yaml":
        print(yaml_text, end="")
    else:
        render_fit(fitted.frame(), f"{incidents.name}: {len(log)} incidents, {fitted.end_note}; rates per unit-day, "
                                   f"95 % intervals (rate: exact Poisson; mean: delta method on log(mean))", out_console)
        _plain(out_console, yaml_text.rstrip("\n"))
        _plain(out_console, "wrote " + ", ".join(str(p) for p in written))


@app.command()
def uncertainty(
    scenario: Annotated[str, SCENARIO_ARG],
    set_: Annotated[Optional[list[str]], SET_OPT] = None,
    blocks: Annotated[int, typer.Option(metavar="B", help="Draws of the uncertain inputs (>= 2); each runs its own replications.")] = 8,
    replications: Annotated[int, typer.Option("--replications", "-r", metavar="R", help="Replications per draw (>= 2).")] = 4,
    input_: Annotated[Optional[list[str]], typer.Option("--input", metavar="KEY", help="Draw only this assumption (repeatable) [default: every assumption with an interval].", show_default=False)] = None,
    out_given: Annotated[Optional[str], typer.Option("--out", "-o", metavar="DIR", help="Also write uncertainty.csv and draws.csv here.", show_default=False)] = None,
    workers: Annotated[int, typer.Option("--workers", "-w", metavar="N", min=1, help="Local worker processes for replications (same numbers as serial).")] = 1,
) -> None:
    """How much of each interval comes from uncertain inputs: the scenario's fitted assumptions
    (entries with an `interval`, as tpusim fit writes them) are drawn B times from their sampling
    distributions, each draw runs R replications, and a random-effects decomposition splits each
    output's variance into inputs and simulation.

    \b
    Example:
      tpusim uncertainty my_fitted_pod.yaml --blocks 10 -r 4 --workers 2
    """
    if blocks < 2:
        _fail(f"--blocks {blocks}: needs at least 2 (a variance between draws)")
    if replications < 2:
        _fail(f"--replications {replications}: needs at least 2 (a variance within a draw)")
    sc = _load(scenario, set_)
    out = _out_dir(out_given, "", "", "") if out_given is not None else None
    from tpusim.api import study
    from tpusim.core.errors import ScenarioError
    from tpusim.output.files import write_atomic
    from tpusim.output.tables import render_uncertainty

    try:
        with _progress("draws", blocks) as callback:
            found = study("uncertainty", sc, blocks=blocks, replications=replications,
                          keys=tuple(input_) if input_ else None, progress=callback, workers=workers)
    except ScenarioError as exc:
        _fail(*(f"{scenario}: {line}" for line in exc.lines()))
    _plain(err_console, "inputs drawn (median and 95 % range of each sampling distribution): " + "; ".join(
        f"{law.key} {law.value:g} [{law.low:g}, {law.high:g}] ({'lognormal' if law.lognormal else 'normal'})"
        for law in found.laws))
    render_uncertainty(found.frame, f"{sc.name}: input uncertainty ({blocks} draws x {replications} replications x "
                                    f"{sc.horizon_days:g} days; 95 % intervals, percent)", out_console)
    if out is not None:
        import pandas as pd

        write_atomic(out / "uncertainty.csv", found.frame.to_csv(index=False).encode())
        write_atomic(out / "draws.csv", pd.DataFrame(found.draws).to_csv(index_label="block").encode())
        _plain(err_console, f"wrote {out / 'uncertainty.csv'}, {out / 'draws.csv'}")


@app.command()
def reproduce(
    quick: Annotated[bool, typer.Option(help="The full form's first replications, judged at 99.9 % (what CI runs): 'inconclusive' where they cannot tell.")] = False,
    scenarios_dir: Annotated[Optional[Path], typer.Option("--scenarios", metavar="DIR", help="A folder holding your own tpuv4_pod.yaml, tpuv4_pod_jobs.yaml, maintenance.yaml, pod_buildout.yaml, superpod_144.yaml and superpod_hero.yaml [default: the shipped ones].", show_default=False)] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", metavar="FILE", help="Also write the rows to this JSON file.")] = None,
) -> None:
    """Reproduce the published TPU v4 figures: claim, simulated value, verdict, assumption.

    \b
    Examples:
      tpusim reproduce --quick                  fewer replications, verdicts at 99.9 %
      tpusim reproduce --json claims.json
    """
    from tpusim.api import study
    from tpusim.output.files import write_json
    from tpusim.output.tables import render_claims
    from tpusim.studies.reproduce import FULL, QUICK, scenario_files

    for path in scenario_files(scenarios_dir).values():
        if not path.is_file():
            _fail(f"{path}: no such scenario" + (" (give --scenarios DIR)" if scenarios_dir is None else ""))
    say = ((lambda message: err_console.print(Text(message, style="dim"), highlight=False))
           if err_console.is_terminal else None)
    try:
        claims = study("reproduce", scenarios_dir, quick=quick, progress=say)
    except ScenarioError as exc:
        _fail(*exc.lines())
    rows = [c.as_dict() for c in claims]
    plan = QUICK if quick else FULL
    form = "quick form (the full form's first replications)" if quick else "full form"
    render_claims(rows, f"published TPU v4 claims, reproduced: {form}", out_console, footnote=(
        f"Intervals [low, high] are {100 * plan.level:g} % intervals; a verdict is 'reproduced' or 'not "
        f"reproduced' only where the interval lies wholly inside or outside the claim's stated range, "
        f"otherwise 'inconclusive' (the quick form judges at 99.9 %, the full form at 95 %)."))
    if json_out is not None:
        write_json(json_out, {"quick": quick, "level": plan.level, "claims": rows})
        _plain(out_console, f"wrote {json_out}")


@app.command()
def rare(
    scenario: Annotated[str, SCENARIO_ARG],
    slice_: Annotated[Optional[list[str]], typer.Option("--slice", metavar="SHAPE", help="A slice shape in chips (16x16x12); repeatable [default: the scenario's slices].", show_default=False)] = None,
    cycles: Annotated[int, typer.Option(metavar="N", help="Biased regenerative cycles per shape (as many plain ones estimate the cycle length).")] = 20000,
    bias: Annotated[float, typer.Option(metavar="P", help="Total probability of a failure in a biased state (balanced failure biasing); 0: no biasing, plain regenerative cycles.")] = 0.5,
    seed: Annotated[Optional[int], typer.Option(metavar="N", help="Root seed [default: the scenario's].", show_default=False)] = None,
    set_: Annotated[Optional[list[str]], SET_OPT] = None,
) -> None:
    """Unavailability of slices too rarely down for a run to see ("none seen"), by importance
    sampling: regenerative cycles from the all-up state with balanced failure biasing, beside
    the binomial closed form. The reconfigurable rule (any k usable cubes of a pod, all its
    OCSes up) with independent units; scenarios outside it are refused with the reason.

    \b
    Example:
      tpusim rare tpuv4_pod --slice 12x16x20 --set failures.ocs.daily_rate=0
    """
    import math

    if cycles < 2:
        _fail(f"--cycles {cycles}: must be at least 2")
    if not 0.0 <= bias < 1.0:  # nan included
        _fail(f"--bias {bias:g}: must be at least 0 and below 1 (a probability, e.g. 0.5; 0: no biasing)")
    from tpusim.topology.shapes import SliceShape

    for text in slice_ or ():
        try:
            SliceShape.parse(text)
        except ValueError as exc:
            _fail(f"--slice {text}: {exc}")
    sc = _load(scenario, set_)
    from tpusim.api import study

    try:
        out = study("rare", sc, slices=tuple(slice_) if slice_ else None, cycles=cycles, bias=bias, seed=seed)
    except ValueError as exc:
        _fail(str(exc))
    how = f"importance sampling (bias {bias:g})" if bias > 0 else "plain regenerative cycles (bias 0)"
    _plain(out_console, f"{sc.name}: slice unavailability by {how}, reconfigurable rule; {cycles} cycles per shape")
    _plain(out_console, f"{'shape':<12} {'cubes':>5}  {'estimate (95 %)':<22} {'closed form':>11}  {'cycles':>7}  {'CPU s':>6}")
    for row in out.frame.itertuples():
        if row.unavailability > 0 and math.isfinite(row.relative_half_width):
            est = f"{row.unavailability:.3g} ± {row.relative_half_width:.1%}"
        else:
            est = "none reached (raise --bias)"
        _plain(out_console, f"{row.shape:<12} {row.cubes:>5}  {est:<22} {row.closed_form:>11.3g}  "
                            f"{row.cycles:>7}  {row.cpu_seconds:>6.2f}")
    for line in out.warnings:
        _plain(out_console, f"warning: {line}")
    for line in out.skipped:
        _plain(out_console, f"skipped: {line}")


@app.command()
def scenarios(
    directory: Annotated[Optional[Path], typer.Argument(metavar="DIR", help="A folder of scenario files to list instead [default: the scenarios shipped with tpusim].", show_default=False)] = None,
) -> None:
    """List the scenarios shipped with tpusim (or those in DIR) with their descriptions.
    A shipped scenario runs by name from any folder: tpusim run tpuv4_pod."""
    from tpusim.config.bundled import bundled

    if directory is None:
        files = list(bundled().items())
        if not files:
            _fail("no bundled scenarios found: tpusim's package data is missing (reinstall tpusim)")
    else:
        files = [(p.name, p) for p in sorted(directory.glob("*.yaml"))] if directory.is_dir() else []
        if not files:
            _fail(f"{directory}: no scenario files (*.yaml)")
    width = max(len(label) for label, _ in files)
    for label, path in files:
        try:
            sc = _load_quiet(path)
            first = sc.description.strip().splitlines()[0] if sc.description.strip() else ""
            out_console.print(f"{label:<{width}}  {first}", highlight=False, markup=False, soft_wrap=True)
        except ScenarioError as exc:
            out_console.print(f"{label:<{width}}  invalid: {exc.lines()[0]}", highlight=False, markup=False,
                              soft_wrap=True)


@app.command()
def init(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Name of the new scenario (and of its file, NAME.yaml).", show_default=False)],
    template: Annotated[str, typer.Option("--from", metavar="SCENARIO", help="Shipped scenario to start from (see `tpusim scenarios`).")] = "tpuv4_pod",
    directory: Annotated[Path, typer.Option("--dir", metavar="DIR", help="Where to write NAME.yaml.")] = Path("."),
    force: Annotated[bool, typer.Option(help="Overwrite an existing NAME.yaml.")] = False,
) -> None:
    """Start a scenario of your own from a shipped one (its comments say where each number comes from).

    \b
    Example:
      tpusim init my_pod --from tpuv4_pod_jobs && tpusim run my_pod.yaml
    """
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        _fail(f"{name!r}: a name is letters, digits, '_', '.' and '-' (it names a file and an output folder)")
    from tpusim.config.bundled import bundled

    shipped = bundled()
    source = shipped.get(template.removesuffix(".yaml"))
    if source is None:
        _fail(f"--from {template}: no such shipped scenario (there are: {', '.join(shipped) or 'none'})")
    target = directory / f"{name}.yaml"
    if target.exists() and not force:
        _fail(f"{target}: exists; give --force to overwrite it")
    _writable_file(target, "--dir")
    text = re.sub(r"(?m)^name:.*$", f"name: {name}", source.read_text(), count=1)
    from tpusim.output.files import write_atomic

    write_atomic(target, text.encode())
    _load_quiet(target)  # what we wrote is valid
    _plain(out_console, f"wrote {target} (from {template}); run it with: tpusim run {target}")


def _load_quiet(path: Path) -> "Scenario":
    from tpusim.config.load import load_scenario

    return load_scenario(path)


class _NeverRaised(Exception):
    """Stands for click's NoArgsIsHelpError where the click in use has none."""


class Interrupted(BaseException):
    """Ctrl-C, raised by the CLI's SIGINT handler (click would turn a KeyboardInterrupt into
    "Aborted!" and exit status 1; a shell expects 130)."""


def _on_sigint(signum, frame) -> None:
    raise Interrupted


def main() -> None:
    """The ``tpusim`` entry point: exit 130 on Ctrl-C; an unexpected error is one line (and a
    request to report it), with the traceback only when ``TPUSIM_DEBUG`` is set."""
    import signal

    global _ARGV
    _ARGV = sys.argv[1:]
    signal.signal(signal.SIGINT, _on_sigint)
    # click's exceptions, wherever this typer takes click from (newer ones vendor it)
    usage_error: Any = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
    no_args: Any = getattr(sys.modules[usage_error.__module__], "NoArgsIsHelpError", _NeverRaised)
    try:
        code = app(standalone_mode=False)  # usage errors come here, to be printed as one line
        sys.exit(code if isinstance(code, int) else 0)
    except no_args as exc:  # bare `tpusim`: the help, as click prints it
        print(exc.ctx.get_help() if exc.ctx is not None else exc.format_message())
        sys.exit(2)
    except usage_error as exc:  # one line, as every other bad input
        hint = f" (see {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
        _error(" ".join(exc.format_message().split()) + hint)
        sys.exit(2)
    except typer.Abort:  # Ctrl-C inside a click prompt
        err_console.print("interrupted")
        sys.exit(130)
    except BrokenPipeError:  # stdout closed early (| head): what was written is written
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
    except (Interrupted, KeyboardInterrupt):
        err_console.print("interrupted")
        sys.exit(130)
    except ScenarioError as exc:
        for line in exc.lines():
            _error(line)
        sys.exit(2)
    except Exception as exc:  # a bug: one line, not a traceback
        if os.environ.get("TPUSIM_DEBUG"):
            raise
        _error(f"{type(exc).__name__}: {exc} (set TPUSIM_DEBUG=1 for the traceback and please report it)",
               prefix="internal error:")
        sys.exit(1)


if __name__ == "__main__":
    main()
