"""Results of a run: the scenario and its model, every replication's samples, and estimates.

:class:`Results` is what :func:`tpusim.run` returns. Estimates are computed once from the tidy
samples (:class:`~tpusim.core.metrics.Estimates`) and read by everything: summary.json, the terminal
tables, the plots, ``check`` and sweep rows. For notebooks it offers tidy frames
(:meth:`Results.to_frame` covers every metric) and figures (:meth:`Results.plot`).

:meth:`Results.save` / :func:`tpusim.load_results` keep results as JSON and Parquet
(:mod:`tpusim.output.persist`), never pickle; a loaded run gives the same estimates and tables.

Layer: measurement, above the engine and config. Results hold data and estimates only, and never
import :mod:`tpusim.output` (not lazily, not for type checking). What they show - ``summary()``,
``plot()``, ``save()`` - is done by a :class:`Presenter` that the output package installs
(:func:`install_presenter`; :mod:`tpusim.api` and ``tpusim.load_results`` do it):
the output depends on results, never the reverse.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

import numpy as np
import pandas as pd

from tpusim.config.schema import Scenario
from tpusim.core.metrics import SAMPLE_COLUMNS, Estimates, Sample
from tpusim.core.metrics import HERO_MEAN_CUBES
from tpusim.core.metrics import metric as lookup
from tpusim.engine.model import Model
from tpusim.engine.replication import ReplicationResult
from tpusim.scheduler.outcome import JobOutcome
from tpusim.core.stats import Estimate
from tpusim.measure.controls import MIN_CONTROLLED, ControlledEstimate, controlled, model_control_means, order_controls
from tpusim.measure.controls import label as control_label
from tpusim.measure.paired import PAIRED_COLUMNS, PairedDifference, paired, with_outage_caveat
from tpusim.core.metrics import (
    CAPACITY_FRACTION,
    COMPONENT_AVAILABILITY,
    GOODPUT,
    HERO_GOODPUT,
    HERO_MEAN_CUBES,
    HERO_METRICS,
    HERO_PROGRAM_GOODPUT,
    JOBS_INTERRUPTED,
    LOST_CHIP_HOURS,
    QUEUE_WAIT_P50_BY_CHIPS_HOURS,
    QUEUE_WAIT_P95_BY_CHIPS_HOURS,
    QUEUE_WAIT_P95_HOURS,
    SLICE_AVAILABILITY,
    SLICE_OUTAGES,
    SYSTEM_AVAILABILITY,
    USEFUL_AVAILABILITY,
)


@dataclass(frozen=True)
class CapacityAtConfidence:
    """How many cubes can we promise a job? (DESIGN §4)"""

    level: float  # e.g. 0.95
    cubes: int  # the most cubes placeable as one slice at least ``level`` of the time (mean)
    cubes_low: int | None  # the same, read from the lower ends of the 95 % CIs (None: no CIs)
    cubes_high: int | None  # ... and from their upper ends
    availability: Estimate | None  # the fraction of time ``cubes`` were placeable
    closed_form_cubes: int | None  # the closed form's answer, where the policy has one
    closed_form_availability: float | None

    def as_dict(self) -> dict:
        return {"level": self.level, "cubes": self.cubes,
                "cubes_range": [self.cubes_low, self.cubes_high] if self.cubes_low is not None else None,
                "availability": self.availability.as_dict() if self.availability else None,
                "closed_form": {"cubes": self.closed_form_cubes, "availability": self.closed_form_availability}
                if self.closed_form_cubes is not None else None}


#: The columns every frame of estimates ends with (metrics, availability, sweep).
ESTIMATE_COLUMNS = ("mean", "ci95_low", "ci95_high", "replications", "reliable", "note")


def estimate_columns(est: Estimate | None) -> dict:
    """An estimate as the :data:`ESTIMATE_COLUMNS` of a frame row (NaN where there is none)."""
    nan = float("nan")
    if est is None:
        return {"mean": nan, "ci95_low": nan, "ci95_high": nan, "replications": 0, "reliable": False,
                "note": "undefined in every replication"}
    lo, hi = est.ci95 if est.ci95 is not None else (nan, nan)
    return {"mean": est.mean, "ci95_low": lo, "ci95_high": hi, "replications": est.n, "reliable": est.reliable,
            "note": est.note}


class Presenter(Protocol):
    """What the output package does with results (implemented by
    :class:`tpusim.output.presenter.OutputPresenter`)."""

    def summary(self, results: "Results", command: list[str] | None, baseline: str | None = None) -> dict: ...

    def plot(self, results: "Results", kind: str, ax: Any) -> Any: ...

    def save(self, results: "Results", directory: Path) -> Path: ...


_presenter: Presenter | None = None


def install_presenter(presenter: Presenter) -> None:
    """Let ``presenter`` show results (the output package calls this when it is imported
    through the facade)."""
    global _presenter
    _presenter = presenter


def _shown() -> Presenter:
    if _presenter is None:
        raise RuntimeError("results are shown by tpusim's output package: import tpusim.api (or use "
                           "tpusim.run) before calling summary(), plot() or save()")
    return _presenter


def job_frames(result: ReplicationResult, policies: Sequence[str]) -> Iterator[pd.DataFrame]:
    """One replication's per-job rows, one pandas frame per policy (of ``policies``, in that
    order), with ``replication`` and ``policy`` columns and ``band`` by name: what
    ``jobs.parquet`` holds, one row group each."""
    from tpusim.scheduler.workload import BANDS

    assert result.jobs is not None, "this replication kept no per-job rows"
    for policy in policies:
        columns = result.jobs[policy].rows
        frame = pd.DataFrame({"replication": result.replication, "policy": policy, **columns})
        frame["replication"] = frame["replication"].astype("int64")
        frame["band"] = pd.Categorical.from_codes(columns["band"], categories=pd.Index(list(BANDS)))
        yield frame



@dataclass
class Results:
    """Every replication of one scenario, and the estimates computed from them.

    Attributes
    ----------
    scenario : Scenario
        The validated scenario (what summary.json records as ``scenario``).
    model : Model
        The built, hours-only model that was simulated.
    replications : list of ReplicationResult
        In replication order; each holds its tidy samples and its event counts.
    wall_seconds : float
        Wall-clock time of the run.
    error : str or None
        Set when a run stopped part-way; the replications done are kept.
    rows_streamed : bool
        The per-job rows were handed to a sink as the run went (the CLI's ``jobs.parquet``)
        and are not kept here.
    stopping : dict or None
        A run that stopped at a precision (:mod:`tpusim.measure.sequential`): the rule, the
        targets, whether each was met, and the replications run (summary.json's ``stopping``).
    importance : dict or None
        A run with ``estimation.estimator: importance``: each whole-cube slice shape's
        unavailability under the reconfigurable rule by importance sampling (the ``rare``
        study), as summary.json's ``importance`` records it (``method``, ``rows``, ``warnings``,
        ``skipped``). None: the replications alone (the default).
    """

    scenario: Scenario
    model: Model
    replications: list[ReplicationResult]
    wall_seconds: float
    error: str | None = None
    rows_streamed: bool = False
    stopping: dict | None = None
    importance: dict | None = None

    def __repr__(self) -> str:
        return (f"Results({self.scenario.name!r}: {len(self.replications)} replications x "
                f"{self.scenario.horizon_days:g} days, policies {list(self.model.policy_names)}"
                f"{', error: ' + self.error if self.error else ''})")

    def _repr_html_(self) -> str:
        """What a notebook shows: the run in one line, the warning for few replications, slice
        availability per policy and, with a workload, the job metrics that matter most, each
        with its 95 % CI and marks written as the terminal writes them (:mod:`tpusim.core.formatting`),
        then the footnotes those marks need."""
        import html

        from tpusim.core.formatting import Marks, label

        head = html.escape(repr(self))
        if not self.replications:
            return f"<p><b>{head}</b></p>"
        marks = Marks()
        policies = list(self.model.policy_names)

        def table(header: list[str], rows: list[list[str]]) -> str:
            cells = "".join(f"<th>{html.escape(h)}</th>" for h in header)
            body = "".join("<tr>" + "".join(f"<td style='text-align:{'left' if i == 0 else 'right'}'>"
                                            f"{html.escape(c)}</td>" for i, c in enumerate(row)) + "</tr>"
                           for row in rows)
            return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"

        avail = [[shape, *(marks.cell(self.estimates.get(p, SLICE_AVAILABILITY, shape), SLICE_AVAILABILITY)
                           for p in policies)] for shape in (s.label for s in self.model.shapes)]
        parts = [f"<p><b>{head}</b></p>",
                 "<p>slice availability, % (mean ± 95 % CI half-width, or mean [95 % CI])</p>",
                 table(["slice", *policies], avail)]
        names = [SYSTEM_AVAILABILITY] + ([GOODPUT, JOBS_INTERRUPTED, QUEUE_WAIT_P95_HOURS]
                                           if self.has_jobs else [])
        rows = [[label(n), *(marks.cell(self.estimates.get(p, n), n) for p in policies)] for n in names]
        parts += ["<p>other metrics (<code>metrics_frame()</code> has every one)</p>", table(["metric", *policies], rows)]
        marks.rare = self.rare_hint()
        parts += [f"<p style='font-size:0.85em'>{html.escape(line)}</p>"
                  for line in marks.footnotes(len(self.replications))]
        return "\n".join(parts)

    def rare_hint(self) -> str | None:
        """What the "(none seen)" footnote adds about importance sampling, only where it would
        estimate what was not seen: some whole-cube slice shape that fits a pod was never down
        under the ``reconfigurable`` policy itself (the estimator's rule; fault-tolerant routing
        and static wiring are other chains), and the scenario is in the estimator's model
        (:func:`tpusim.measure.importance.refusals`; something can fail). None otherwise."""
        from tpusim.measure.importance import CapacityChain, refusals
        from tpusim.policies.reconfigurable import ReconfigurablePolicy

        model = self.model
        rule = next((p for p in model.policies if type(p) is ReconfigurablePolicy), None)
        if rule is None or not self.replications:
            return None
        cube_shape, per_pod = model.machine.cube.shape, model.machine.cubes_per_pod
        unseen = []
        for shape in model.shapes:
            try:
                cubes = math.prod(shape.cube_dims(cube_shape))
            except ValueError:  # smaller than a cube or not whole cubes: not the chain's
                continue
            est = self.estimates.get(rule.name, SLICE_AVAILABILITY, shape.label)
            if (cubes <= per_pod and est is not None and est.ci95 is None and est.note
                    and est.note.startswith("no outage")):
                unseen.append(shape.label)
        if not unseen or refusals(model) or not CapacityChain.of(model.machine, model.failures).classes:
            return None
        which = ", ".join(unseen)
        if self.importance is not None:
            return (f"{rule.name} {which}: estimated by importance sampling instead (the rare slice outages "
                    "table; the reconfigurable rule)")
        return (f"{rule.name} {which}: `--estimator importance` (or `tpusim rare SCENARIO`) would estimate "
                "it by importance sampling (the reconfigurable rule)")

    def metrics_frame(self) -> pd.DataFrame:
        """Every estimate, long form: policy (categorical, in the scenario's order; missing for
        machine-wide metrics), metric, key (slice shape, size, class; missing when none),
        label, unit, mean, ci95_low, ci95_high (NaN without an interval), replications (behind
        the estimate), reliable (False: the interval may cover well under 95 %) and note (why
        there is no interval, or why it is not reliable; the detection limit where none was seen)."""
        from tpusim.core.metrics import metric

        rows = []
        for (policy, name, key), est in self.estimates.items():
            m = metric(name)
            rows.append({"policy": policy, "metric": name, "key": key, "label": m.label.strip(), "unit": m.unit,
                         **estimate_columns(est)})
        frame = pd.DataFrame(rows, columns=["policy", "metric", "key", "label", "unit", *ESTIMATE_COLUMNS])
        frame["policy"] = pd.Categorical(frame["policy"], categories=list(self.model.policy_names))
        frame["mean"] = frame["mean"].astype(float)
        return frame

    # -- saving --------------------------------------------------------------------------------
    def save(self, directory: "str | Path") -> "Path":
        """Keep these results to reload with :func:`tpusim.load_results`, in data formats:
        ``results.json`` (the resolved scenario, counts and records), Parquet for the samples,
        per-job rows and traces (:mod:`tpusim.output.persist`), plus the human-readable ``summary.json``.
        A run's per-job rows that went to ``jobs.parquet`` as it ran (``rows_streamed``) are not
        here to keep; localisation run records are never kept."""
        return _shown().save(self, Path(directory))

    # -- samples and estimates -------------------------------------------------------------
    @property
    def samples(self) -> list[Sample]:
        return [s for r in self.replications for s in r.samples]

    @cached_property
    def plain_estimates(self) -> Estimates:
        """Every metric's Student-t estimate over the replications (the control-variate ones
        are :meth:`controlled`); a hero job's mean cubes is clipped at the most it can hold."""
        plain = Estimates(self.samples, self.model.horizon)
        return plain.replaced(self._clip_hero_cubes) if self.heroes else plain

    def _clip_hero_cubes(self, group, est):
        """``hero_mean_cubes`` of a hero cannot exceed its preferred cubes x its slices: an
        interval reaching past that is clipped there (printed ``[low, high]``, as any bound)."""
        policy, name, key = group
        if name != HERO_MEAN_CUBES or est is None or est.ci95 is None:
            return est
        cube_shape = self.model.machine.cube.shape
        most = next((h.shape.cubes(cube_shape) * h.slices for h in self.heroes if h.name == key), None)
        if most is None or est.ci95[1] <= most:
            return est
        return replace(est, ci95=(est.ci95[0], float(most)))

    @cached_property
    def estimates(self) -> Estimates:
        """The estimates every table, plot and file reports: the plain ones, or, with
        ``estimation.control_variates: headline``, the control-variate one wherever there is
        one (its ``controlled`` field holds the variance-reduction factor)."""
        plain = self.plain_estimates
        if self.scenario.estimation.control_variates != "headline" or len(self.replications) < MIN_CONTROLLED:
            return plain

        def swap(group, est):
            policy, name, key = group
            if est is None or lookup(name).group == "controls":
                return est
            ce = self.controlled(policy, name, key)
            if ce is None or ce.controlled is None:
                return est
            return replace(ce.controlled, controlled=ce.variance_reduction)

        return plain.replaced(swap)

    def estimate(self, policy: str | None, metric: str, key: str | None = None) -> Estimate | None:
        """The estimate of one metric (see :mod:`tpusim.core.metrics` for the names)."""
        return self.estimates.get(policy, metric, key)

    def slice_availability(self, policy: str) -> list[tuple[str, int, int, Estimate]]:
        """(shape, cubes, chips, estimate) per slice shape, in scenario order."""
        cube_shape = self.model.machine.cube.shape
        out = []
        for shape in self.model.shapes:
            est = self.estimates.get(policy, SLICE_AVAILABILITY, shape.label)
            assert est is not None
            out.append((shape.label, shape.cubes(cube_shape), shape.chips, est))
        return out

    def system_availability(self, policy: str) -> Estimate:
        est = self.estimates.get(policy, SYSTEM_AVAILABILITY)
        assert est is not None
        return est

    def component_availability(self, component_class: str) -> Estimate | None:
        """None when the class has no units."""
        return self.estimates.get(None, COMPONENT_AVAILABILITY, component_class)

    def job_metric(self, policy: str, name: str) -> Estimate | None:
        return self.estimates.get(policy, name)

    def queue_wait_by_chips(self, policy: str) -> list[tuple[int, Estimate, Estimate]]:
        """(chips, p50, p95) of the wait before a job first starts, per slice size."""
        out = []
        for key in self.estimates.keys(policy, QUEUE_WAIT_P50_BY_CHIPS_HOURS):
            p50 = self.estimates.get(policy, QUEUE_WAIT_P50_BY_CHIPS_HOURS, key)
            p95 = self.estimates.get(policy, QUEUE_WAIT_P95_BY_CHIPS_HOURS, key)
            assert p50 is not None and p95 is not None
            out.append((int(key), p50, p95))
        return out

    def capacity_at_confidence(self, policy: str, level: float | None = None) -> "CapacityAtConfidence":
        """The most cubes ``policy`` could place as one slice at least ``level`` of the time
        (default: the scenario's ``capacity_confidence``, DESIGN §4), with the range the 95 % CIs
        allow and the closed form."""
        level = self.model.capacity_confidence if level is None else level
        n = self.model.machine.cubes_per_pod
        fractions = [self.estimates.get(policy, CAPACITY_FRACTION, str(k)) for k in range(n + 1)]

        def largest(ok) -> int:
            return max((k for k, est in enumerate(fractions) if est is not None and ok(est)), default=0)

        def bounds(e) -> tuple[float, float] | None:  # the same in every replication: the value itself
            return e.ci95 if e.ci95 is not None else (e.mean, e.mean) if e.n > 1 else None

        cubes = largest(lambda e: e.mean >= level)
        with_ci = all(e is not None and bounds(e) is not None for e in fractions)
        low = largest(lambda e: bounds(e)[0] >= level) if with_ci else None  # type: ignore[index]
        high = largest(lambda e: bounds(e)[1] >= level) if with_ci else None  # type: ignore[index]
        p = self.model.policy(policy)
        forms = [p.capacity_closed_form(self.model.failures, k) for k in range(1, n + 1)]
        closed = None
        if all(f is not None for f in forms):
            closed = max((k for k, f in enumerate(forms, start=1) if f >= level), default=0)  # type: ignore[operator]
        return CapacityAtConfidence(level, cubes, low, high, fractions[cubes], closed,
                                    forms[closed - 1] if closed else None)

    # -- control variates -------------------------------------------------------------------
    @cached_property
    def control_means(self) -> dict[tuple[str, str | None], float]:
        """The exact means of the controls this run recorded, by ``(metric, key)``
        (:func:`tpusim.measure.controls.model_control_means`; none for replayed traces)."""
        return {k: m for k, m in model_control_means(self.model).items() if (None, k[0], k[1]) in self._values}

    def controlled(self, policy: str | None, metric: str, key: str | None = None,
                   level: float = 0.95) -> ControlledEstimate | None:
        """``metric``'s estimate adjusted by control variates (:mod:`tpusim.measure.controls`):
        the plain Student-t estimate, the controlled one (None, with a note, where too few
        replications or no control apply), the controls used, the variance-reduction factor and
        R². None where the run measured no such value. A slice availability whose estimate is
        unreliable (few outages) keeps that caveat on its controlled estimate. Raises
        ``KeyError`` for an unknown metric."""
        m = lookup(metric)
        values = self._values.get((policy, metric, key))
        if not values or m.group == "controls":
            return None
        if all(math.isnan(v) for v in values.values()):
            return None
        means = self.control_means
        columns = {k: self._values[(None, k[0], k[1])] for k in means}
        spread = {k: float(np.std(list(col.values()), ddof=1)) if len(col) > 1 else 0.0 for k, col in columns.items()}
        order = order_controls(means, spread, job_metric=m.group == "jobs")
        reps = sorted(values)
        nan = float("nan")
        rows = [[columns[k].get(r, nan) for k in order] for r in reps]
        out = controlled([values[r] for r in reps], np.array(rows, dtype=float).reshape(len(reps), len(order)),
                         [means[k] for k in order], level, m.bounds, [control_label(*k) for k in order])
        shown = self.plain_estimates.get(policy, metric, key)
        if out.controlled is not None and shown is not None and not shown.reliable and out.controlled.reliable:
            out = replace(out, controlled=replace(out.controlled, reliable=False, note=shown.note))
        return out

    def controlled_metrics(self, policy: str | None) -> list[tuple[str, str | None]]:
        """The ``(metric, key)`` the ``controlled`` section of summary.json reports for
        ``policy``: every metric it measured that is neither internal nor a control, nor broken
        down by cube count or slice size (component availability for the machine, None)."""
        from tpusim.core.metrics import REGISTRY

        out = []
        for (p, name, key) in self._values:
            m = REGISTRY[name]
            if p == policy and not m.internal and m.group != "controls" and m.breakdown not in ("cubes", "chips") \
                    and (policy is not None or name == COMPONENT_AVAILABILITY):
                out.append((name, key))
        return out

    def control_frame(self) -> pd.DataFrame:
        """Every metric's plain and controlled estimates, one row per policy (missing for the
        machine's), metric and key: ``plain_mean``, ``plain_ci95_low``/``high``, ``mean``,
        ``ci95_low``/``high`` (controlled; NaN where not applied), ``variance_reduction``,
        ``r_squared``, ``df``, ``controls`` (comma-separated) and ``note``."""
        nan = float("nan")
        rows = []
        for policy in [*self.model.policy_names, None]:
            for name, key in self.controlled_metrics(policy):
                ce = self.controlled(policy, name, key)
                if ce is None:
                    continue
                plo, phi = ce.plain.ci95 if ce.plain.ci95 is not None else (nan, nan)
                c = ce.controlled
                lo, hi = c.ci95 if c is not None and c.ci95 is not None else (nan, nan)
                rows.append({"policy": policy, "metric": name, "key": key, "replications": ce.plain.n,
                             "plain_mean": ce.plain.mean, "plain_ci95_low": plo, "plain_ci95_high": phi,
                             "mean": c.mean if c is not None else nan, "ci95_low": lo, "ci95_high": hi,
                             "variance_reduction": nan if ce.variance_reduction is None else ce.variance_reduction,
                             "r_squared": nan if ce.r_squared is None else ce.r_squared,
                             "df": ce.df, "controls": ", ".join(ce.controls),
                             "note": ce.note if c is None else c.note})
        columns = ["policy", "metric", "key", "replications", "plain_mean", "plain_ci95_low", "plain_ci95_high", "mean",
                   "ci95_low", "ci95_high", "variance_reduction", "r_squared", "df", "controls", "note"]
        frame = pd.DataFrame(rows, columns=columns)
        frame["policy"] = pd.Categorical(frame["policy"], categories=list(self.model.policy_names))
        return frame

    # -- paired comparisons ------------------------------------------------------------------
    @cached_property
    def _values(self) -> dict[tuple[str | None, str, str | None], dict[int, float]]:
        """Every sample by (policy, metric, key), then by replication."""
        out: dict[tuple[str | None, str, str | None], dict[int, float]] = {}
        for s in self.samples:
            out.setdefault((s.policy, s.metric, s.key), {})[s.replication] = s.value
        return out

    def compare(self, a: str, b: str, metric: str, key: str | None = None, level: float = 0.95) -> PairedDifference:
        """``E[a - b]`` of ``metric`` (breakdown ``key``: a slice shape, ...) for policies ``a``
        and ``b``, from the per-replication differences: both policies replay the same failure
        trace and workload in each replication (common random numbers), so the replications pair
        (:mod:`tpusim.measure.paired`). With the mean and Student-t interval of the differences
        come the unpaired half-width, the variance reduction pairing bought and the verdict
        (``"a > b"``, ``"a < b"`` or ``"cannot tell"`` when the interval holds 0 or there is none).
        A slice availability with fewer than 10 outages in the two policies together is marked
        unreliable, as its estimate is. Raises ``KeyError`` for an unknown metric or policy, and
        ``ValueError`` when the run measured no such value for both."""
        m = lookup(metric)
        for policy in (a, b):
            if policy not in self.model.policy_names:
                raise KeyError(f"no policy named {policy!r} in this run (it has {', '.join(self.model.policy_names)})")
        if m.breakdown is not None and key is None:
            raise ValueError(f"{metric} is broken down by {m.breakdown}: give key")
        values = self._values
        if (a, metric, key) not in values or (b, metric, key) not in values:
            raise ValueError(f"this run measured no {metric}{f' [{key}]' if key else ''} for both {a} and {b}")
        d = paired(values[(a, metric, key)], values[(b, metric, key)], a_name=a, b_name=b, metric=metric, key=key,
                   level=level, bounds=m.bounds)
        if metric == SLICE_AVAILABILITY:
            d = with_outage_caveat(d, sum(sum(values.get((p, SLICE_OUTAGES, key), {}).values()) for p in (a, b)))
        return d

    def comparison_metrics(self) -> list[tuple[str, str | None]]:
        """What :meth:`comparisons` compares: slice availability per shape, system and useful
        availability and, when jobs ran, goodput and lost chip-hours, and each hero job's goodput
        and mean cubes held (keyed by its name)."""
        out: list[tuple[str, str | None]] = [(SLICE_AVAILABILITY, s.label) for s in self.model.shapes]
        out += [(SYSTEM_AVAILABILITY, None), (USEFUL_AVAILABILITY, None)]
        if self.has_jobs:
            out += [(GOODPUT, None), (LOST_CHIP_HOURS, None)]
        out += [(name, h.name) for h in self.heroes for name in (HERO_GOODPUT, HERO_MEAN_CUBES)]
        return out

    def baseline_policy(self, baseline: str | None = None) -> str:
        """``baseline`` checked (``KeyError`` naming the policies), or the scenario's first policy."""
        names = self.model.policy_names
        if baseline is None:
            return names[0]
        if baseline not in names:
            raise KeyError(f"no policy named {baseline!r} in this run (it has {', '.join(names)})")
        return baseline

    def paired_differences(self, baseline: str | None = None,
                           level: float = 0.95) -> list[tuple[str, list[PairedDifference]]]:
        """Every other policy against ``baseline`` (default: the scenario's first policy): per
        policy, in scenario order, its :class:`PairedDifference` for each of
        :meth:`comparison_metrics` (policy - baseline); a metric not measured for both is left out."""
        base = self.baseline_policy(baseline)
        if not self.replications:
            return []
        out = []
        for policy in self.model.policy_names:
            if policy == base:
                continue
            diffs = []
            for name, key in self.comparison_metrics():
                try:
                    diffs.append(self.compare(policy, base, name, key, level))
                except ValueError:
                    continue
            out.append((policy, diffs))
        return out

    def comparisons(self, baseline: str | None = None, level: float = 0.95) -> pd.DataFrame:
        """Every other policy against ``baseline`` (default: the scenario's first policy) as
        paired differences, one row per policy, metric and key: ``policy`` - ``baseline`` with
        the columns of :data:`tpusim.measure.paired.PAIRED_COLUMNS` (``mean_a`` is the policy's,
        ``mean_b`` the baseline's; ``difference`` with ``ci95_low``/``ci95_high``, NaN without an
        interval; ``unpaired_half_width``; ``variance_reduction``; ``verdict``) and ``conclusion``
        (``"reconfigurable > static"`` or ``"cannot tell"``)."""
        rows = [{"policy": policy, "baseline": d.b, "metric": d.metric, "key": d.key, **d.columns(),
                 "conclusion": d.conclusion}
                for policy, diffs in self.paired_differences(baseline, level) for d in diffs]
        return pd.DataFrame(rows, columns=["policy", "baseline", "metric", "key", *PAIRED_COLUMNS, "conclusion"])

    @property
    def has_jobs(self) -> bool:
        """Did the run simulate jobs (the scenario has a workload) and measure something?"""
        return bool(self.replications) and self.model.workload is not None

    @property
    def heroes(self) -> tuple:
        """The hero jobs of the run (``workload.hero``: :class:`~tpusim.scheduler.workload.HeroSpec`,
        in scenario order), whose figures are keyed by name; () without them or with nothing measured."""
        workload = self.model.workload
        return tuple(workload.heroes) if self.has_jobs and workload is not None else ()

    def heroes_never_placed(self, policy: str) -> list[str]:
        """The hero jobs ``policy`` can never place at any of their sizes (no slice of them fits
        a healthy, empty pod under it, as for :meth:`never_placeable`): rejected on arrival, each
        waits from its arrival to the horizon, so its goodput is 0 and its waiting share 1 by
        construction (:func:`tpusim.scheduler.hero.never_placed`, which ``tpusim validate`` says too)."""
        from tpusim.scheduler.hero import never_placed

        return [h for h, p in never_placed(self.heroes, self.model.machine, [self.model.policy(policy)])]

    @property
    def events(self) -> int:
        return sum(r.counts.events for r in self.replications)

    def never_placeable(self, policy: str) -> list[str]:
        """Shapes the policy can never place, whatever the health state (e.g. longer than the grid)."""
        p = self.model.policy(policy)
        cube_shape = self.model.machine.cube.shape
        return [s.label for s in self.model.shapes if not p.grid_fits(s.cube_dims(cube_shape))]

    # -- frames ----------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """Every sample, tidy: replication, policy, metric, key, value (one row per number)."""
        return pd.DataFrame(self.samples, columns=list(SAMPLE_COLUMNS))

    def availability_frame(self) -> pd.DataFrame:
        """One row per policy and slice shape: mean availability, its 95 % CI (NaN without one),
        replications, reliable and note, as in :meth:`metrics_frame`."""
        rows = []
        for policy in self.model.policy_names:
            for shape, cubes, chips, est in self.slice_availability(policy):
                rows.append({"policy": policy, "shape": shape, "cubes": cubes, "chips": chips,
                             **estimate_columns(est)})
        return pd.DataFrame(rows, columns=["policy", "shape", "cubes", "chips", *ESTIMATE_COLUMNS])

    def hero_frame(self) -> pd.DataFrame:
        """The hero jobs' figures (:mod:`tpusim.scheduler.hero`), one row per policy, hero and
        metric (in the registry's order: goodput, its eight other parts, then the rest): policy,
        hero, metric, label, unit, the :data:`ESTIMATE_COLUMNS`, ``never_fits`` (the policy can
        never place the hero: goodput 0 and waiting 1 by construction, not measured) and
        ``simulated`` (False for the program goodput, an input of the scenario). Empty (with
        these columns) for a run without hero jobs."""
        from tpusim.core.metrics import metric

        rows = []
        for policy in self.model.policy_names if self.heroes else ():
            never = set(self.heroes_never_placed(policy))
            for h in self.heroes:
                for name in HERO_METRICS:
                    m = metric(name)
                    rows.append({"policy": policy, "hero": h.name, "metric": name, "label": m.label.strip(),
                                 "unit": m.unit, **estimate_columns(self.estimates.get(policy, name, h.name)),
                                 "never_fits": h.name in never, "simulated": name != HERO_PROGRAM_GOODPUT})
        return pd.DataFrame(rows, columns=["policy", "hero", "metric", "label", "unit", *ESTIMATE_COLUMNS,
                                           "never_fits", "simulated"])

    def availability_series_frame(self) -> pd.DataFrame | None:
        """Slice availability per time bucket: policy, shape, bucket start (days), mean, CI."""
        from tpusim.core.stats import estimate

        s = self.scenario
        if not self.replications or self.replications[0].series is None:
            return None
        rows = []
        for policy in self.model.policy_names:
            for i, shape in enumerate(s.slices):
                buckets = len(self.replications[0].series[policy][i])
                for b in range(buckets):
                    est = estimate([r.series[policy][i][b] for r in self.replications])  # type: ignore[index]
                    lo, hi = est.ci95 if est.ci95 else (None, None)
                    rows.append({"policy": policy, "shape": shape, "start_days": b * s.timeseries_days,  # type: ignore[operator]
                                 "mean": est.mean, "ci95_low": lo, "ci95_high": hi})
        return pd.DataFrame(rows)

    def jobs_frame(self) -> pd.DataFrame:
        """One row per job, replication and policy (what ``jobs.parquet`` holds): ``band`` and
        ``state`` by name, times in hours, NaN where a time does not apply (never started,
        not finished)."""
        frames = list(self.job_frames())
        if not frames:
            return pd.DataFrame(columns=("replication", "policy") + JobOutcome.COLUMNS)
        return pd.concat(frames, ignore_index=True)

    def job_frames(self):
        """The per-job rows, one frame per (replication, policy) in run order: what the output
        streams to ``jobs.parquet`` without holding the whole run's rows as one table."""
        if self.rows_streamed:
            raise ValueError("this run's per-job rows went to jobs.parquet as it ran and were not kept: "
                             "read that file (pandas.read_parquet), or run without a rows sink")
        for r in self.replications:
            yield from job_frames(r, self.model.policy_names)

    def rollouts_frame(self) -> pd.DataFrame:
        """One row per occurrence of a campaign with a release: whether the release was bad,
        whether the watchdog stopped it, ``hours`` from its first wave to its last wave's end or
        its stop (NaN: cut by the horizon), the units that received a bad release before the
        stop (``exposed_units``), the checks made and, for a stopped bad release, the
        ``detection_hours`` (first wave to stop)."""
        columns = ["replication", "campaign", "occurrence", "bad", "halted", "start", "end", "hours",
                   "exposed_units", "checks", "detection_hours"]
        rows = []
        for r in self.replications:
            for rollout in r.maintenance.rollouts:
                end = rollout.end
                hours = float("nan") if end is None else end - rollout.start
                rows.append({"replication": r.replication, **asdict(rollout), "end": float("nan") if end is None else end,
                             "hours": hours, "detection_hours": hours if rollout.bad and rollout.halted else float("nan")})
        return pd.DataFrame(rows, columns=columns)

    def rollout_summary(self) -> dict[str, dict]:
        """Per campaign with a release, for good and for bad releases: occurrences, stops (for a
        good release: false stops) with their rate and exact 95 % interval, and the means (with
        Student-t intervals over occurrences) of the hours to finish or stop, the units exposed
        to the release and, for bad ones, the detection delay."""
        from tpusim.core.stats import NON_NEGATIVE, estimate, proportion_interval

        frame = self.rollouts_frame()
        out: dict[str, dict] = {}
        for c in self.model.maintenance:
            if c.release is None:
                continue
            block = {}
            for label, bad in (("good", False), ("bad", True)):
                rows = frame[(frame.campaign == c.name) & (frame.bad == bad)]
                n, stops = len(rows), int(rows.halted.sum())

                def mean(column: str, rows=rows) -> dict | None:
                    v = [x for x in rows[column].tolist() if x == x]
                    return estimate(v, bounds=NON_NEGATIVE).as_dict() if v else None

                block[label] = {
                    "occurrences": n, "stops": stops,
                    "stop_rate": {"mean": stops / n, "ci95": list(proportion_interval(stops, n))} if n else None,
                    "hours": mean("hours"), "exposed_units": mean("exposed_units"),
                    "detection_hours": mean("detection_hours") if bad else None,
                }
            out[c.name] = block
        return out

    # -- outputs ---------------------------------------------------------------------------
    def summary(self, command: list[str] | None = None, baseline: str | None = None) -> dict:
        """The DESIGN §5 summary.json mapping (``command``: what made the run, for its provenance;
        ``baseline``: the policy its ``comparisons`` are against, default the first)."""
        return _shown().summary(self, command, baseline)

    def trace_csv(self) -> str | None:
        """The failure traces of the run as CSV, if they were recorded."""
        from tpusim.failures.trace import format_trace

        if not self.replications or self.replications[0].trace is None:
            return None
        return format_trace({r.replication: r.trace for r in self.replications})  # type: ignore[misc]

    def plot(self, kind: str = "availability", ax=None):
        """A matplotlib figure that a notebook shows as an image (no ``%matplotlib`` needed):
        ``availability`` (against slice size), ``queue_wait`` or ``goodput`` (with a workload),
        ``hero`` (with hero jobs: where each one's time went, per policy), ``timeseries`` (with
        ``timeseries_days``). ``ax``: draw into these matplotlib axes
        instead (not for ``timeseries``, which has two) and return their figure."""
        return _shown().plot(self, kind, ax)
