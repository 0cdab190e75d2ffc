"""Sweeps: a grid of scenario variations, each point a full run with confidence intervals.

``sweep(scenario, {"failures.host.daily_rate": [0.0008, 0.0016], ...})`` runs every combination
of the values (each a dotted-key override, as ``--set``), with the scenario's seed and
replication count at every point: the points share their random streams (common random numbers
across the grid), so differences between points are due to the varied keys. A point's numbers
depend only on the scenario and its overrides, never on how the grid is executed.

The study is :class:`SweepStudy` (``sweep`` in :mod:`tpusim.studies.registry`). Execution goes
through its runner (:class:`~tpusim.studies.base.Runner`, the one executor of
:mod:`tpusim.engine.execution`) at replication granularity: every (point, replication) pair is
one task, so a grid spreads over all the workers of a process pool or a Dask cluster. With
``target_ci`` a point keeps doubling its replications until the 95 % CI half-width of every
availability metric is at most the target (or ``max_replications``); the added replications
run as further rounds of tasks through the same executor. Replication ``r`` always draws the
same streams, so the added replications extend, never change, the earlier ones.

With an output directory each finished point is written at once, atomically, as
``points/<n>.json`` (its samples, its overrides and its resolved scenario); a rerun with
``resume`` loads the points already there (after checking that they were made from the same
scenario and overrides) and runs only the others, so an interrupted sweep loses nothing. The
result is one tidy table: a row per point, policy, metric and breakdown key, with the mean, the
95 % CI and the replications behind it; :meth:`SweepResults.replications_frame` gives every
replication's value, and :meth:`SweepResults.save` keeps a sweep as JSON and Parquet (never
pickle) for :meth:`SweepResults.load`, which gives the same tables.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, ClassVar

import pandas as pd

from tpusim.config.build import build_model
from tpusim.config.load import ScenarioLike
from tpusim.config.overrides import override_strings
from tpusim.config.schema import Scenario
from tpusim.core.errors import ScenarioError
from tpusim.engine.execution import Task
from tpusim.core.metrics import Estimates, Sample
from tpusim.output.files import write_json
from tpusim.studies.base import Runner, ScenarioStudy
from tpusim.core.metrics import GOODPUT, SLICE_AVAILABILITY, SYSTEM_AVAILABILITY
from tpusim.core.units import hours


#: The most points one sweep may have: each is a full run, so more is a mistake (a value list
#: generated wrongly), and checking each point's scenario alone takes minutes beyond it.
MAX_POINTS = 10_000


def grid(vary: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the varied values, the last key varying fastest."""
    keys = list(vary)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(vary[k] for k in keys))]


@dataclass
class SweepPoint:
    index: int
    point: dict[str, Any]  # the varied keys and their values here
    scenario: Scenario  # the point's validated scenario (its final replication count)
    samples: list[Sample]

    @cached_property
    def estimates(self) -> Estimates:
        """The point's estimates (computed once: by :func:`sweep` as the point finishes, while
        the workers go on with the others, so that the table at the end is not a serial tail)."""
        return Estimates(self.samples, hours(self.scenario.horizon_days))

    @property
    def overrides(self) -> list[str]:
        return override_strings(self.point)

    def to_json(self) -> dict:
        return {"index": self.index, "point": self.point, "overrides": self.overrides,
                "scenario": self.scenario.resolved(),
                "samples": [[s.replication, s.policy, s.metric, s.key, None if math.isnan(s.value) else s.value]
                            for s in self.samples]}


def widest_availability_ci(estimates: Estimates, policies: tuple[str, ...], shapes: list[str]) -> float:
    """The largest 95 % CI half-width among the slice and system availabilities (inf if any
    interval is missing)."""
    widths = []
    for policy in policies:
        keyed = [(SLICE_AVAILABILITY, shape) for shape in shapes] + [(SYSTEM_AVAILABILITY, None)]
        for name, key in keyed:
            est = estimates.get(policy, name, key)
            widths.append(est.half_width if est is not None else None)
    return max(w if w is not None else math.inf for w in widths)


@dataclass(repr=False)
class SweepResults:
    """Every point of a sweep: ``vary`` (the grid's keys and values) and ``points`` (each with
    its overrides, scenario and samples), with :meth:`to_frame` (estimates),
    :meth:`replications_frame` (every replication's value), :meth:`plot` (figures by metric),
    a notebook view and :meth:`save` / :meth:`load` (JSON and Parquet, never pickle)."""

    vary: dict[str, list[Any]]
    points: list[SweepPoint]  # in grid order

    def to_frame(self) -> pd.DataFrame:
        """One row per point, policy, metric and breakdown key: mean, 95 % CI, replications,
        reliable and note (the columns of :meth:`tpusim.measure.results.Results.metrics_frame`)."""
        from tpusim.config.overrides import yaml_value

        from tpusim.measure.results import estimate_columns

        rows = []
        for p in self.points:
            # a varied list or mapping is shown as the YAML that --vary takes ("[4x4x4]")
            point = {k: yaml_value(v) if isinstance(v, (list, dict)) else v for k, v in p.point.items()}
            for (policy, metric, key), est in p.estimates.items():
                rows.append({"point": p.index, **point, "policy": policy, "metric": metric, "key": key,
                             **estimate_columns(est)})
        return pd.DataFrame(rows)

    def replications_frame(self) -> pd.DataFrame:
        """One row per point, replication, policy, metric and breakdown key: the value that
        replication gave (NaN where undefined), beside the point's varied keys; the numbers
        behind every mean and interval of :meth:`to_frame`, e.g. for paired differences."""
        from tpusim.config.overrides import yaml_value
        from tpusim.output.persist import samples_frame

        frames = []
        for p in self.points:
            point = {k: yaml_value(v) if isinstance(v, (list, dict)) else v for k, v in p.point.items()}
            frames.append(samples_frame(p.samples, point=p.index, **point))
        if not frames:
            return pd.DataFrame(columns=["point", *self.vary, "replication", "policy", "metric", "key", "value"])
        return pd.concat(frames, ignore_index=True)

    def differences(self, baseline_point: int = 0, level: float = 0.95) -> pd.DataFrame:
        """Every other point against ``baseline_point`` (an index of :attr:`points`, the first by
        default) as paired differences: the points share their random streams, replication ``r``
        of each drawing the same failures and jobs, so they pair by replication
        (:mod:`tpusim.measure.paired`). One row per point, policy, metric and breakdown key
        (internal metrics left out): ``point`` and its varied values, ``baseline_point``,
        ``policy``, ``metric``, ``key``, then point - baseline as
        :data:`~tpusim.measure.paired.PAIRED_COLUMNS` (``mean_a`` the point's, ``mean_b`` the
        baseline's; ``verdict`` ``"a > b"``, ``"a < b"`` or ``"cannot tell"``). Points with
        different replication counts (``target_ci``) pair over the replications both ran.
        Raises ``IndexError`` for a point that is not in the sweep."""
        from tpusim.config.overrides import yaml_value
        from tpusim.core.metrics import REGISTRY
        from tpusim.core.metrics import SLICE_OUTAGES
        from tpusim.measure.paired import PAIRED_COLUMNS, paired, with_outage_caveat

        if not 0 <= baseline_point < len(self.points):
            raise IndexError(f"no point {baseline_point} in this sweep (it has points 0 to {len(self.points) - 1})")

        def by_replication(p: SweepPoint) -> dict[tuple[str | None, str, str | None], dict[int, float]]:
            out: dict[tuple[str | None, str, str | None], dict[int, float]] = {}
            for s in p.samples:
                if not REGISTRY[s.metric].internal:
                    out.setdefault((s.policy, s.metric, s.key), {})[s.replication] = s.value
            return out

        base = self.points[baseline_point]
        base_values = by_replication(base)
        rows = []
        for p in self.points:
            if p.index == base.index:
                continue
            point = {k: yaml_value(v) if isinstance(v, (list, dict)) else v for k, v in p.point.items()}
            values_of = by_replication(p)
            for (policy, name, key), values in values_of.items():
                other = base_values.get((policy, name, key))
                if other is None:
                    continue
                try:
                    d = paired(values, other, a_name=f"point {p.index}", b_name=f"point {base.index}", metric=name,
                               key=key, level=level, bounds=REGISTRY[name].bounds)
                except ValueError:  # undefined in every replication of one of them
                    continue
                if name == SLICE_AVAILABILITY:
                    d = with_outage_caveat(d, sum(values_of.get((policy, SLICE_OUTAGES, key), {}).values())
                                           + sum(base_values.get((policy, SLICE_OUTAGES, key), {}).values()))
                rows.append({"point": p.index, **point, "baseline_point": base.index, "policy": policy,
                             "metric": name, "key": key, **d.columns()})
        return pd.DataFrame(rows, columns=["point", *self.vary, "baseline_point", "policy", "metric", "key",
                                           *PAIRED_COLUMNS])

    def __repr__(self) -> str:
        reps = sorted({p.scenario.replications for p in self.points})
        return (f"SweepResults({len(self.points)} points over {', '.join(self.vary)}; "
                f"{'/'.join(map(str, reps))} replications per point)")

    def _repr_html_(self) -> str:
        """What a notebook shows: the grid, then per point and policy the availability of the
        largest slice and the system availability (and goodput with a workload), in percent
        with their 95 % CIs, marks and footnotes (:mod:`tpusim.core.formatting`)."""
        import html

        from tpusim.core.formatting import Marks, unit_suffix
        from tpusim.core.metrics import metric
        from tpusim.topology.shapes import SliceShape

        head = f"<p><b>{html.escape(repr(self))}</b></p>"
        if not self.points:
            return head
        marks = Marks()
        first = self.points[0]
        policies = list(dict.fromkeys(p for (p, _, _), _ in first.estimates.items() if p is not None))
        largest = max(first.scenario.slices, key=lambda s: SliceShape.parse(s).chips) if first.scenario.slices else None
        def short(name: str) -> str:  # the label without its parenthesis, and the unit
            return metric(name).label.split(" (")[0] + unit_suffix(metric(name))

        columns: list[tuple[str, str | None, str]] = (
            [(SLICE_AVAILABILITY, largest, f"{largest} availability %")] if largest else [])
        columns += [(SYSTEM_AVAILABILITY, None, short(SYSTEM_AVAILABILITY))]
        if any(k[1] == GOODPUT for k, _ in first.estimates.items()):
            columns.append((GOODPUT, None, short(GOODPUT)))
        header = [*self.vary, *(f"{policy}: {title}" for name, key, title in columns for policy in policies)]
        rows = []
        for p in self.points:
            cells = [str(v) for v in p.point.values()]
            for name, key, _ in columns:
                cells += [marks.cell(p.estimates.get(policy, name, key), name) for policy in policies]
            rows.append(cells)
        th = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td style='text-align:right'>{html.escape(c)}</td>" for c in row) + "</tr>"
                       for row in rows)
        n = min(p.scenario.replications for p in self.points)
        notes = "".join(f"<p style='font-size:0.85em'>{html.escape(line)}</p>" for line in marks.footnotes(n))
        return (f"{head}<p>mean ± 95 % CI half-width, or mean [95 % CI]; <code>to_frame()</code> has every metric, "
                f"<code>replications_frame()</code> every replication's value</p>"
                f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>{notes}")

    # -- saving --------------------------------------------------------------------------------
    def save(self, directory: "str | Path") -> Path:
        """Keep this sweep in data formats (never pickle): ``sweep.json`` (the grid and each
        point's overrides and resolved scenario), ``sweep.samples.parquet`` (every sample, by
        point) and, for people, ``sweep.csv`` (:meth:`to_frame`). :meth:`load` reads it back."""
        from tpusim.output.persist import FORMAT, samples_frame, write_file, write_json_file, write_parquet
        from tpusim.core.version import __version__

        directory = Path(directory)
        samples = pd.concat([samples_frame(p.samples, point=p.index) for p in self.points], ignore_index=True) \
            if self.points else samples_frame([], point=0)
        write_parquet(directory / "sweep.samples.parquet", samples)
        frame = self.to_frame()
        write_file(directory / "sweep.csv", lambda path: frame.to_csv(path, index=False))
        write_json_file(directory / "sweep.json", {
            "format": FORMAT, "tpusim_version": __version__, "vary": self.vary, "samples": len(samples),
            "points": [{"index": p.index, "point": p.point, "overrides": p.overrides,
                        "scenario": p.scenario.resolved()} for p in self.points]})
        return directory

    @classmethod
    def load(cls, directory: "str | Path") -> "SweepResults":
        """A sweep kept with :meth:`save` (JSON and Parquet only; the scenarios validated again)."""
        from tpusim.config.schema import scenario_from_dict
        from tpusim.core.errors import Problem
        from tpusim.output.persist import FORMAT, read_samples

        directory = Path(directory)
        try:
            meta = json.loads((directory / "sweep.json").read_text())
        except FileNotFoundError:
            raise ScenarioError([Problem("", "no sweep.json here (keep sweeps with SweepResults.save)")],
                                str(directory)) from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ScenarioError([Problem("", f"sweep.json is not a saved sweep of format {FORMAT}")], str(directory))
        frame = pd.read_parquet(directory / "sweep.samples.parquet", engine="pyarrow")
        if len(frame) != meta["samples"]:
            raise ScenarioError([Problem("", f"sweep.samples.parquet: {len(frame)} rows, sweep.json says "
                                             f"{meta['samples']} (an incomplete save)")], str(directory))
        by_point = {int(i): read_samples(part) for i, part in frame.groupby("point", sort=False)}  # type: ignore[arg-type]
        points = [SweepPoint(p["index"], p["point"], scenario_from_dict(p["scenario"]), by_point.get(p["index"], []))
                  for p in meta["points"]]
        return cls(meta["vary"], points)

    def plot(self) -> dict:
        """One matplotlib figure per metric against the first varied key, keyed by metric name
        (``swept.plot()["slice_availability"]``); a notebook shows each as an image."""
        from tpusim.output.plots import sweep_figures

        return sweep_figures(self.to_frame(), list(self.vary))


def load_sweep(directory: "str | Path") -> SweepResults:
    """A sweep kept with :meth:`SweepResults.save` (``tpusim.load_sweep``)."""
    return SweepResults.load(directory)


def _widest(scenario: Scenario, samples: list[Sample]) -> float:
    model = build_model(scenario)
    return widest_availability_ci(Estimates(samples, model.horizon), model.policy_names, scenario.slices)


def _load_point(path: Path, index: int, point: dict[str, Any], scenario: Scenario, target_ci: float | None,
                max_replications: int) -> SweepPoint:
    """A point written by an earlier run of the same sweep (``ValueError`` naming ``path`` if it
    is not one). Its replication count must be the one asked for now (with ``target_ci``: at
    least that, at most ``max_replications``): the points of one sweep are compared with each
    other, which intervals over different counts would not allow without a word, and rerunning
    the point instead would silently throw away the work it holds, so the user chooses."""
    def bad(what: str) -> ValueError:
        return ValueError(f"{path}: not a point of a sweep ({what}); delete it to run the point again, or start "
                          f"again with --force")

    try:
        saved = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise bad(f"cannot read it: {exc}") from None
    except json.JSONDecodeError as exc:
        raise bad(f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    if not (isinstance(saved, dict) and isinstance(saved.get("scenario"), dict)
            and isinstance(saved.get("overrides"), list) and isinstance(saved.get("samples"), list)):
        raise bad("expected a JSON object with scenario, overrides and samples")
    made = {k: v for k, v in saved["scenario"].items() if k != "replications"}
    have, overrides = saved["scenario"].get("replications"), saved["overrides"]
    samples = []
    for i, row in enumerate(saved["samples"]):
        try:
            r, p, m, k, v = row
            samples.append(Sample(r, p, m, k, math.nan if v is None else float(v)))
        except (ValueError, TypeError):
            raise bad(f"samples[{i}] is not [replication, policy, metric, key, value]: {str(row)[:60]}") from None
    want = {k: v for k, v in scenario.resolved().items() if k != "replications"}
    if overrides != override_strings(point) or made != want:
        raise ValueError(f"{path} was made from another scenario or grid; rerun without --resume")
    asked = scenario.replications
    fits = (isinstance(have, int) and not isinstance(have, bool)
            and (have == asked if target_ci is None else asked <= have <= max_replications))
    if not fits:
        wanted = f"{asked}" if target_ci is None else f"{asked} to {max_replications} (--target-ci)"
        raise ValueError(f"{path}: this point was run with {have!r} replications, this sweep asks for {wanted}; "
                         f"give --replications {have} to resume it, or --force to run every point again")
    final = scenario.with_overrides({"replications": have})
    return SweepPoint(index, point, final, samples)


def sweep(scenario: "ScenarioLike", vary: dict[str, list[Any]], *, workers: int = 1, out: Path | None = None,
          resume: bool = False, progress: Callable[[int, int], None] | None = None,
          scheduler_address: str | None = None, target_ci: float | None = None,
          max_replications: int = 1000,
          overrides: "list[str] | dict[str, Any] | None" = None) -> SweepResults:
    """Run ``scenario`` at every combination of ``vary`` (dotted key -> values).

    Parameters
    ----------
    scenario : Scenario, str, Path or dict
        The base scenario (any form :func:`tpusim.run` takes; ``overrides`` as its dotted keys,
        ``{"replications": 3}``, applied first); every point is ``scenario.with_overrides(point)``, validated, with the
        same seed (common random numbers across the grid).
    vary : dict
        Dotted key -> list of values, e.g. ``{"failures.host.daily_rate": [0.0004, 0.0008],
        "topology.cube_grid": [[48, 1, 1], [56, 1, 1]]}``; the grid is every combination.
    workers, scheduler_address
        A local process pool, or a Dask cluster (``tcp://HOST:PORT``); the numbers are the same.
    out, resume
        With ``out``, each point is written to ``out/points/`` as it finishes; ``resume`` keeps
        the points already there.
    target_ci, max_replications
        Double a point's replications until every availability CI half-width is at most
        ``target_ci`` (up to ``max_replications``).
    progress
        Called with (points done, points in all).

    Returns
    -------
    SweepResults
        ``to_frame()`` (one row per point, policy, metric and key, with CI and replications) and
        ``plot()`` (one figure per metric).

    Examples
    --------
    >>> base = tpusim.load_scenario("tpuv4_pod")  # doctest: +SKIP
    >>> swept = tpusim.sweep(base, {"failures.host.daily_rate": [0.0004, 0.0016]})  # doctest: +SKIP
    >>> swept.to_frame().query("metric == 'system_availability'")  # doctest: +SKIP
    """
    study = SweepStudy(vary, out=out, resume=resume, progress=progress, target_ci=target_ci,
                       max_replications=max_replications)
    return study.on(scenario, overrides, workers=workers, scheduler_address=scheduler_address)


Round = dict[int, tuple[Scenario, range]]  # point -> its scenario and the replications to run now


@dataclass(frozen=True)
class SweepStudy(ScenarioStudy[SweepResults]):
    """A scenario at every combination of ``vary`` (:func:`sweep` says what each field does)."""

    name: ClassVar[str] = "sweep"
    summary: ClassVar[str] = "every combination of the varied keys, each point a full run with 95 % intervals"

    vary: dict[str, list[Any]]
    out: Path | None = None
    resume: bool = False
    progress: Callable[[int, int], None] | None = None  # (points done, points in all)
    target_ci: float | None = None
    max_replications: int = 1000

    def run(self, scenario: Scenario, runner: Runner) -> SweepResults:
        points = grid(self.vary)
        scenarios = [scenario.with_overrides(point) for point in points]
        folder = self.out / "points" if self.out is not None else None
        done = self._saved_points(folder, points, scenarios) if self.resume else {}
        if self.progress:
            self.progress(len(done), len(points))

        def finished(i: int, sc: Scenario, samples: list[Sample]) -> None:
            p = SweepPoint(i, points[i], sc, samples)
            p.estimates  # noqa: B018 - computed now, while the workers run the other points
            done[p.index] = p
            if folder is not None:
                write_json(folder / f"{p.index}.json", p.to_json())
            if self.progress:
                self.progress(len(done), len(points))

        wanted = {i: (scenarios[i], range(scenarios[i].replications)) for i in range(len(points)) if i not in done}
        self._run_rounds(wanted, finished, runner)
        return SweepResults(self.vary, [done[i] for i in range(len(points))])

    def _saved_points(self, folder: Path | None, points: list[dict[str, Any]],
                      scenarios: list[Scenario]) -> dict[int, SweepPoint]:
        """The points an earlier run of this sweep wrote to ``folder`` (:func:`_load_point`), by index."""
        if folder is None or not folder.is_dir():
            return {}
        done = {}
        for index, point in enumerate(points):
            path = folder / f"{index}.json"
            if path.exists():
                done[index] = _load_point(path, index, point, scenarios[index], self.target_ci, self.max_replications)
        return done

    def _run_rounds(self, wanted: Round, finished: Callable[[int, Scenario, list[Sample]], None],
                    runner: Runner) -> None:
        """Rounds of (point, replication) tasks through ``runner``: a point that misses its
        precision target gets its replications doubled in the next round; ``finished(point,
        scenario, samples)`` as each point is final, its samples in replication order."""
        collected: dict[int, list[Sample]] = {i: [] for i in wanted}
        while wanted:
            tasks, owner = _round_tasks(wanted)
            left = {i: len(reps) for i, (_, reps) in wanted.items()}
            by_point: dict[int, dict[int, list[Sample]]] = {i: {} for i in wanted}
            next_round: Round = {}
            for t, result in runner.execute(tasks):
                i = owner[t]
                by_point[i][result.replication] = result.samples
                left[i] -= 1
                if left[i]:
                    continue
                for r in sorted(by_point[i]):
                    collected[i] += by_point[i][r]
                sc = wanted[i][0]
                more = self._more_replications(sc, collected[i])
                if more is not None:
                    next_round[i] = more
                else:
                    finished(i, sc, collected[i])
            wanted = next_round

    def _more_replications(self, sc: Scenario, samples: list[Sample]) -> tuple[Scenario, range] | None:
        """A point's next round (twice its replications, at most ``max_replications``) while an
        availability CI is wider than ``target_ci``; None when the point is final."""
        have = sc.replications
        if self.target_ci is not None and have < self.max_replications and _widest(sc, samples) > self.target_ci:
            more = min(self.max_replications, 2 * have)
            return sc.with_overrides({"replications": more}), range(have, more)
        return None


def _round_tasks(wanted: Round) -> tuple[list[Task], list[int]]:
    """A round's tasks (samples only: a sweep keeps nothing else) and the point of each."""
    tasks, owner = [], []
    for i, (sc, reps) in wanted.items():
        model = build_model(sc)
        for r in reps:
            tasks.append(Task(model, r, samples_only=True))
            owner.append(i)
    return tasks, owner


def parse_vary(text: str) -> tuple[str, list[Any]]:
    """``"failures.host.daily_rate=0.0008,0.0016"`` -> (key, [values parsed as YAML]).

    The values are one YAML flow sequence without its brackets, so a value may itself be a
    list or a mapping: ``topology.cube_grid=[4,4,4],[8,4,4]`` varies the grid over two values.
    A value given twice is an error (it would run the same point twice)."""
    from tpusim.config.strict_yaml import load_yaml

    key, sep, values = text.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise ValueError(f"expected KEY=V1,V2,..., got {text!r}")
    try:
        parsed = load_yaml(f"[{values}]")
    except ScenarioError as exc:
        raise ValueError(f"{key.strip()}: the values are not a YAML list ({exc.problems[0].message})") from None
    if not isinstance(parsed, list) or not parsed:
        raise ValueError(f"expected KEY=V1,V2,..., got {text!r}")
    if len(parsed) > MAX_POINTS:
        raise ValueError(f"{key.strip()}: {len(parsed):,} values; a sweep has at most {MAX_POINTS:,} points")
    if any(parsed[i] in parsed[:i] for i in range(len(parsed))):
        raise ValueError(f"{key.strip()}: a value is given twice in {values!r}")
    return key.strip(), parsed
