"""How much of each policy's unavailability each correlated failure domain causes.

For every domain ``d`` of a scenario, the scenario is run again without ``d`` on the same seed.
Every other random stream is named apart from ``d``'s (``domain.<name>`` and its repairs), so the
two runs see the same part failures and the same other domains: common random numbers, paired
by replication. The unavailability ``d`` causes is the mean, over replications, of
``availability without d - availability with d``, with a Student-t 95 % interval of those paired
differences (much narrower than the difference of two independent estimates). Domains interact
(two down at once cost less than the sum), so the shares need not add up to the total.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from tpusim.api import run_scenario
from tpusim.config.schema import Scenario
from tpusim.stats import UNBOUNDED, estimate


def domain_attribution(scenario: Scenario, **options: Any) -> pd.DataFrame:
    """One row per domain, policy and slice shape: the slice unavailability with every domain
    (``unavailability``), the part this domain causes (``caused``, mean of the paired
    differences, with ``ci95_low`` and ``ci95_high``) and ``share`` = caused / unavailability.
    ``options`` go to :func:`~tpusim.api.run_scenario` (``workers``, ``scheduler_address``)."""
    domains = scenario.failures.domains
    if not domains:
        raise ValueError("the scenario has no failures.domains to attribute unavailability to")
    base = run_scenario(scenario, **options)
    rows = []
    for i, domain in enumerate(domains):
        others = [d.model_dump(mode="json") for j, d in enumerate(domains) if j != i]
        without = run_scenario(scenario.with_overrides({"failures.domains": others}), **options)
        for policy in base.model.policy_names:
            for shape in (s.label for s in base.model.shapes):
                with_d = [r.value(policy, "slice_availability", shape) for r in base.replications]
                without_d = [r.value(policy, "slice_availability", shape) for r in without.replications]
                diffs = [0.0 if abs(b - a) < 1e-12 else b - a for a, b in zip(with_d, without_d)]  # float noise
                est = estimate(diffs, bounds=UNBOUNDED)
                unavailability = 1.0 - sum(with_d) / len(with_d)
                lo, hi = est.ci95 if est.ci95 is not None else (float("nan"), float("nan"))
                rows.append({"domain": domain.name, "policy": policy, "shape": shape,
                             "unavailability": unavailability, "caused": est.mean, "ci95_low": lo,
                             "ci95_high": hi,
                             "share": est.mean / unavailability if unavailability > 0 else float("nan")})
    return pd.DataFrame(rows)
