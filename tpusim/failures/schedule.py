"""Time-varying failure rates: a class's daily rate read from a schedule, one value per period.

The schedule repeats after its last period. The failure process stays a thinned Poisson
process (see :mod:`tpusim.failures.injector`): candidates arrive at the schedule's highest
rate and one at time ``t`` is accepted with probability ``rate(t) / max rate`` (and only if it
picks a unit that is up), which gives every up unit exactly the hazard ``rate(t)``.
"""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path


def read_schedule(schedule) -> list[float]:
    """Daily rates (fractions of the population per day), one per period."""
    if schedule.csv is None:
        text = resources.files("tpusim").joinpath("data/weekly_failure_rates.csv").read_text()
        where = "the shipped TPU v4 weekly rates"
    else:
        text = Path(schedule.csv).read_text()
        where = schedule.csv
    rows = list(csv.DictReader(line for line in text.splitlines() if line.strip() and not line.startswith("#")))
    if not rows or schedule.column not in rows[0]:
        have = ", ".join(rows[0]) if rows else "none"
        raise ValueError(f"{where} has no column {schedule.column!r} (columns: {have})")
    factor = schedule.scale / (100.0 if schedule.unit == "percent" else 1.0)
    rates = []
    for line, row in enumerate(rows, start=2):
        value = float(row[schedule.column])
        if value < 0:
            raise ValueError(f"{where} line {line}: a rate must be >= 0, got {value}")
        rates.append(value * factor)
    return rates


class Schedule:
    """``rate(t)``: per unit-hour hazard at time ``t`` (hours)."""

    def __init__(self, daily_rates: list[float], period_hours: float):
        self.hourly = [r / 24.0 for r in daily_rates]
        self.period = period_hours
        self.peak = max(self.hourly)

    def rate(self, t: float) -> float:
        return self.hourly[int(t // self.period) % len(self.hourly)]

    def mean_daily(self) -> float:
        return 24.0 * sum(self.hourly) / len(self.hourly)
