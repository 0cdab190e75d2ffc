"""Time-varying failure rates: a class's rate read from a schedule, one value per period.

The schedule repeats after its last period. The failure process stays a thinned Poisson
process (see :mod:`tpusim.failures.injector`): candidates arrive at the schedule's highest
rate and one at time ``t`` is accepted with probability ``rate(t) / max rate`` (and only if it
picks a unit that is up), which gives every up unit exactly the hazard ``rate(t)``.

:func:`parse_schedule` turns the text of a schedule CSV into daily rates; reading the file is
the config layer's job, so this module never touches one.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass


def parse_schedule(text: str, column: str, factor: float, where: str) -> list[float]:
    """Daily rates (fractions of the population per day), one per period: the values of
    ``column`` times ``factor`` (``scale / 100`` for percent). ``where`` names the source in
    errors (``ValueError`` naming the column or the line)."""
    rows = list(csv.DictReader(line for line in text.splitlines() if line.strip() and not line.startswith("#")))
    if not rows or column not in rows[0]:
        have = ", ".join(rows[0]) if rows else "none"
        raise ValueError(f"{where} has no column {column!r} (columns: {have})")
    rates = []
    for line, row in enumerate(rows, start=2):
        value = float(row[column])
        if value < 0:
            raise ValueError(f"{where} line {line}: a rate must be >= 0, got {value}")
        rates.append(value * factor)
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
