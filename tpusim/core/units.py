"""Units: the hour is the model's time unit everywhere (DESIGN §6); days and minutes appear only
at the edges (scenario keys, reports). These are the factors, named once, that turn one into the
other wherever a number crosses an edge.

Invariant: a model quantity is in hours; a quantity in days or minutes is converted with these,
never with a bare 24 or 60.
"""

HOURS_PER_DAY = 24.0
MINUTES_PER_HOUR = 60.0


def days(hours: float) -> float:
    """``hours`` in days."""
    return hours / HOURS_PER_DAY


def hours(days: float) -> float:
    """``days`` in hours."""
    return days * HOURS_PER_DAY
