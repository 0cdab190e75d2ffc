"""What a machine's work is worth and what the machine costs: the cost model of spare capacity.

Prices are per chip-hour, in any one currency (the bundled scenario states its figures and where
they come from). The machine costs ``chip_hour`` for every chip and every hour, busy or idle, up
or down, spare or not: owning capacity is what costs. Work is paid for by the *useful*
chip-hours it delivers (:mod:`tpusim.scheduler.outcome`; work lost to failures, restarts and
evictions earns nothing): production and batch work at ``reserved_price``, best-effort work -
preemptible, run on spare and idle cubes and evicted when a spare is needed - at
``preemptible_price``. Per replication and policy:

- ``revenue_per_day``: useful chip-hours x their price, per day;
- ``preemptible_revenue_per_day``: the best-effort part of it (what selling the spares earns);
- ``margin_per_day``: revenue less the machine's cost;
- ``goodput_per_cost``: useful chip-hours (every band) per unit of the machine's cost.

Layer: the control plane (reads the per-job rows of an outcome).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tpusim.core.collect import Emit
from tpusim.core.metrics import COST_METRICS
from tpusim.scheduler.job import REJECTED
from tpusim.scheduler.scheduler import BEST_EFFORT
from tpusim.core.metrics import (
    GOODPUT_PER_COST,
    MARGIN_PER_DAY,
    PREEMPTIBLE_REVENUE_PER_DAY,
    REVENUE_PER_DAY,
    USEFUL_CHIP_HOURS,
)
from tpusim.core.units import HOURS_PER_DAY


@dataclass(frozen=True)
class CostParams:
    chip_hour: float  # what one chip-hour of the machine costs
    reserved_price: float  # paid per useful chip-hour of production and batch work
    preemptible_price: float  # paid per useful chip-hour of best-effort (preemptible) work


def preemptible_useful(rows: dict[str, np.ndarray]) -> float:
    """Useful chip-hours delivered to best-effort jobs."""
    admitted = rows["state"] != REJECTED
    return float(rows["useful_chip_hours"][admitted & (rows["band"] == BEST_EFFORT)].sum())


@dataclass(frozen=True, eq=False)
class JobCosts:
    """The cost model applied to one job outcome's rows on a machine of ``chips`` chips: a
    component of the replication whose result hook emits the cost metrics (in ``COST_METRICS``
    order; see :mod:`tpusim.core.collect`)."""

    rows: dict[str, np.ndarray]
    chips: int
    params: CostParams

    def collect(self, horizon: float, emit: Emit) -> None:
        rows, params = self.rows, self.params
        admitted = rows["state"] != REJECTED
        useful = float(rows["useful_chip_hours"][admitted].sum())
        preemptible = preemptible_useful(rows)
        days = horizon / HOURS_PER_DAY
        revenue = (useful - preemptible) * params.reserved_price + preemptible * params.preemptible_price
        cost = self.chips * horizon * params.chip_hour
        out = {
            REVENUE_PER_DAY: revenue / days,
            PREEMPTIBLE_REVENUE_PER_DAY: preemptible * params.preemptible_price / days,
            MARGIN_PER_DAY: (revenue - cost) / days,
            GOODPUT_PER_COST: useful / cost if cost else float("nan"),
        }
        assert tuple(out) == COST_METRICS
        for name, value in out.items():
            emit(name, None, value)
