"""What one part of a scenario costs each policy, as paired differences on common random numbers.

A scenario is run again without the part (a correlated failure domain, a maintenance campaign,
a rollout's watchdog) on the same seed. Every random stream is named apart from the part's own
(``domain.<name>``, ``release.<name>``, ... ), so the two runs see the same part failures, the
same other domains and the same jobs: common random numbers, paired by replication. The cost is
the mean, over replications, of ``value without - value with`` (for availabilities and
delivered chip-hours: what the part takes away), with a Student-t 95 % interval of those paired
differences (much narrower than the difference of two independent estimates). Parts interact
(two domains down at once cost less than the sum), so costs need not add up to the total.

Two studies: :class:`AttributionStudy` (``attribution``: failure domains) and
:class:`CampaignCostStudy` (``campaign_cost``: maintenance campaigns and watchdogs), each running
the scenario and its variants through the runner it is handed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pandas as pd

from tpusim.config.load import ScenarioLike
from tpusim.engine.execution import Progress
from tpusim.config.schema import Scenario
from tpusim.measure.results import Results
from tpusim.core.stats import UNBOUNDED
from tpusim.measure.paired import CANNOT_TELL, HIGHER, LOWER, PairedDifference, paired
from tpusim.studies.base import Runner, ScenarioStudy
from tpusim.core.metrics import (
    GOODPUT,
    MAINTENANCE_CHIP_HOURS,
    MAINTENANCE_DRAINS,
    QUEUE_WAIT_P95_HOURS,
    SLICE_AVAILABILITY,
    SYSTEM_AVAILABILITY,
    USEFUL_CHIP_HOURS,
)


def paired_difference(with_part: Results, without: Results, policy: str, metric: str,
                      key: str | None = None, missing: float | None = None) -> dict[str, float]:
    """Mean of ``metric`` with the part, and the mean and 95 % interval of the paired
    differences ``without - with`` over replications (``missing``: the value of a run that
    does not measure the metric, e.g. maintenance chip-hours without any campaign); the
    :class:`~tpusim.measure.paired.PairedDifference` behind them is :func:`part_difference`."""
    d = part_difference(with_part, without, policy, metric, key, missing)
    cost = _cost_columns(d)
    return {"with": d.mean_b, "cost": cost["cost"], "ci95_low": cost["ci95_low"], "ci95_high": cost["ci95_high"]}


def part_difference(with_part: Results, without: Results, policy: str, metric: str, key: str | None = None,
                    missing: float | None = None) -> PairedDifference:
    """``without - with`` of one policy's ``metric`` over the replications both runs share
    (common random numbers pair them), as a :class:`~tpusim.measure.paired.PairedDifference`
    (``a`` "without", ``b`` "with"; unbounded: a cost may have either sign)."""
    def values(results: Results) -> dict[int, float]:
        out = {}
        for r in results.replications:
            try:
                out[r.replication] = r.value(policy, metric, key)
            except KeyError:
                if missing is None:
                    raise
                out[r.replication] = missing
        return out

    return paired(values(without), values(with_part), a_name="without", b_name="with", metric=metric, key=key,
                  bounds=UNBOUNDED)


def domain_attribution(scenario: "ScenarioLike", overrides: "list[str] | dict[str, Any] | None" = None, **options: Any) -> pd.DataFrame:
    """One row per domain, policy and slice shape: the slice unavailability with every domain
    (``unavailability``), the part this domain causes (``caused``, mean of the paired
    differences, with ``ci95_low`` and ``ci95_high``), ``share`` = caused / unavailability and
    ``verdict`` (``"> 0"`` where the interval lies above 0, ``"cannot tell"`` where it holds 0).
    ``overrides`` (dotted keys, as :func:`tpusim.run` takes them) are set on the scenario first;
    ``options`` are ``workers``, ``scheduler_address`` and ``progress`` (as
    :func:`~tpusim.api.run_scenario` takes them)."""
    return AttributionStudy(options.pop("progress", None)).on(scenario, overrides, **options)


@dataclass(frozen=True)
class AttributionStudy(ScenarioStudy[pd.DataFrame]):
    """:func:`domain_attribution`: each failure domain's share of the slice unavailability."""

    name: ClassVar[str] = "attribution"
    summary: ClassVar[str] = "the slice unavailability each failure domain causes, as paired differences"

    progress: Progress | None = None  # of each run's replications

    def run(self, scenario: Scenario, runner: Runner) -> pd.DataFrame:
        domains = scenario.failures.domains
        if not domains:
            raise ValueError("the scenario has no failures.domains to attribute unavailability to")
        base = runner.run(scenario, progress=self.progress)
        rows = []
        for i, domain in enumerate(domains):
            others = [d.model_dump(mode="json") for j, d in enumerate(domains) if j != i]
            without = runner.run(scenario.with_overrides({"failures.domains": others}), progress=self.progress)
            for policy in base.model.policy_names:
                for shape in (s.label for s in base.model.shapes):
                    d = part_difference(base, without, policy, SLICE_AVAILABILITY, shape)
                    unavailability = 1.0 - d.mean_b
                    cost = _cost_columns(d)
                    rows.append({"domain": domain.name, "policy": policy, "shape": shape,
                                 "unavailability": unavailability, "caused": cost["cost"],
                                 "ci95_low": cost["ci95_low"], "ci95_high": cost["ci95_high"],
                                 "share": d.mean / unavailability if unavailability > 0 else float("nan"),
                                 "verdict": cost["verdict"]})
        return pd.DataFrame(rows)


#: metrics where the campaign's cost is what it adds (with - without), not what it takes away
_MORE_IS_WORSE = {MAINTENANCE_CHIP_HOURS, QUEUE_WAIT_P95_HOURS, MAINTENANCE_DRAINS}


def campaign_cost(scenario: "ScenarioLike", overrides: "list[str] | dict[str, Any] | None" = None, **options: Any) -> pd.DataFrame:
    """What each maintenance campaign costs each policy: one row per campaign, comparison,
    policy, metric and key. ``compare`` is ``"no campaign"`` (the run without it) or, for a
    rollout with a watchdog, ``"no watchdog"`` (the same rollout unwatched: a negative cost is
    what the watchdog saves). Metrics: slice availability per shape, system availability,
    maintenance chip-hours (as a cost: the negative of the extra chip-hours out) and, with a
    workload, useful chip-hours and goodput. ``with`` is the mean with everything; ``cost`` the
    mean paired difference (comparison - with) and its 95 % interval, ``verdict`` ``"> 0"``,
    ``"< 0"`` or ``"cannot tell"`` (the interval holds 0, or there is none). ``options`` as
    :func:`domain_attribution` takes them."""
    return CampaignCostStudy(options.pop("progress", None)).on(scenario, overrides, **options)


@dataclass(frozen=True)
class CampaignCostStudy(ScenarioStudy[pd.DataFrame]):
    """:func:`campaign_cost`: what each maintenance campaign (and its watchdog) costs."""

    name: ClassVar[str] = "campaign_cost"
    summary: ClassVar[str] = "what each maintenance campaign, and a rollout's watchdog, costs each policy"

    progress: Progress | None = None  # of each run's replications

    def run(self, scenario: Scenario, runner: Runner) -> pd.DataFrame:
        campaigns = scenario.maintenance
        if not campaigns:
            raise ValueError("the scenario has no maintenance campaigns to cost")
        base = runner.run(scenario, progress=self.progress)
        everything = [c.model_dump(mode="json") for c in campaigns]
        rows = []
        for i, campaign in enumerate(campaigns):
            comparisons = {"no campaign": [c for j, c in enumerate(everything) if j != i]}
            if campaign.watchdog is not None:
                comparisons["no watchdog"] = [dict(c, watchdog=None) if j == i else c for j, c in enumerate(everything)]
            for compare, kept in comparisons.items():
                other = runner.run(scenario.with_overrides({"maintenance": kept}), progress=self.progress)
                rows += [{"campaign": campaign.name, "compare": compare, **row} for row in _costs(base, other)]
        return pd.DataFrame(rows)


def _costs(base: Results, other: Results) -> list[dict]:
    """Per policy, metric and key: the mean with the campaign and what it costs against ``other``."""
    metrics: list[tuple[str, str | None]] = [(SLICE_AVAILABILITY, s.label) for s in base.model.shapes]
    metrics += [(SYSTEM_AVAILABILITY, None), (MAINTENANCE_CHIP_HOURS, None)]
    if base.has_jobs:
        metrics += [(USEFUL_CHIP_HOURS, None), (GOODPUT, None), (QUEUE_WAIT_P95_HOURS, None),
                    (MAINTENANCE_DRAINS, None)]
    rows = []
    for policy in base.model.policy_names:
        for metric, key in metrics:
            d = part_difference(base, other, policy, metric, key, missing=0.0)
            # a cost is what the campaign takes away (without - with), or for these what it adds
            rows.append({"policy": policy, "metric": metric, "key": key, "with": d.mean_b,
                         **_cost_columns(d, -1.0 if metric in _MORE_IS_WORSE else 1.0)})
    return rows


def _cost_columns(d: PairedDifference, sign: float = 1.0) -> dict[str, Any]:
    """``sign`` x the paired difference as a cost: its mean (``cost``), 95 % interval (NaN
    without one) and ``verdict``: ``"> 0"`` or ``"< 0"`` where the interval excludes 0, else
    ``"cannot tell"``."""
    lo, hi = d.ci if d.ci is not None else (float("nan"), float("nan"))
    if sign < 0:
        lo, hi = -hi, -lo
    verdict = {HIGHER: "> 0", LOWER: "< 0"}.get(d.verdict, CANNOT_TELL)
    if sign < 0:
        verdict = {"> 0": "< 0", "< 0": "> 0"}.get(verdict, verdict)
    return {"cost": sign * d.mean, "ci95_low": lo, "ci95_high": hi, "verdict": verdict}
