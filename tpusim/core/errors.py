"""Errors a user can act on. Each names where the problem is (file and dotted key path)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    path: str  # dotted key path, e.g. "failures.host.repair.mean_hours"; "" for the whole file
    message: str
    #: where the value came from when not from the file (``--set failures.host.daily_rate``):
    #: said instead of the file and the path
    origin: str | None = None

    def render(self, source: str | None = None) -> str:
        if self.origin:
            return f"{self.origin}: {self.message}"
        where = ": ".join(part for part in (source, self.path) if part)
        return f"{where}: {self.message}" if where else self.message


class ScenarioError(Exception):
    """A scenario that cannot be run, with every problem found in it."""

    def __init__(self, problems: list[Problem], source: str | None = None):
        self.problems = problems
        self.source = source
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [p.render(self.source) for p in self.problems]
