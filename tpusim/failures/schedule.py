"""Time-varying failure rates: a class's rate read from a schedule, one value per period.

The schedule repeats after its last period. The failure process stays a thinned Poisson
process (see :mod:`tpusim.failures.injector`): candidates arrive at the schedule's highest
rate and one at time ``t`` is accepted with probability ``rate(t) / max rate`` (and only if it
picks a unit that is up), which gives every up unit exactly the hazard ``rate(t)``.

:func:`parse_schedule` turns the text of a schedule CSV into daily rates; reading the file is
the config layer's job, so this module never touches one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tpusim.core import csvrows


def parse_schedule(text: str, column: str, factor: float, where: str) -> list[float]:
    """Daily rates (fractions of the population per day), one per period: the values of
    ``column`` times ``factor`` (``scale / 100`` for percent). ``where`` names the source in
    errors (``ValueError`` naming the line and the column): every value must be a finite
    number >= 0, and so must its product with ``factor``; a schedule has at least one row."""
    rates = []
    try:
        for row in csvrows.rows(text, (column,), any_other=True):
            value = row.number(column, low=0.0)
            rate = value * factor
            if not math.isfinite(rate):
                raise row.error(column, f"{value!r} x {factor!r} (scale / unit) is not a finite rate")
            rates.append(rate)
    except csvrows.CsvError as exc:
        raise ValueError(f"{where}: {exc}") from None
    if not rates:
        raise ValueError(f"{where}: no rows: a schedule needs at least one period's rate")
    return rates


@dataclass(frozen=True)
class Schedule:
    """``rate(t)``: per unit-hour hazard at time ``t`` (hours); one value per period, repeating."""

    hourly: tuple[float, ...]
    period: float  # hours

    @property
    def peak(self) -> float:
        return max(self.hourly)

    def rate(self, t: float) -> float:
        return self.hourly[int(t // self.period) % len(self.hourly)]

    def mean_hourly(self) -> float:
        return sum(self.hourly) / len(self.hourly)
