"""Repair-time distributions (hours), drawn in vectorised blocks.

Each distribution gives two samplers:
- ``sample``: a repair time;
- ``sample_residual``: the *equilibrium residual* repair time, i.e. the time left on a repair in
  progress when a long-running system is observed at a random instant. Its density is
  ``(1 - F(x)) / mean``. Starting a replication with the down units' remaining repairs drawn
  from it (and up units' remaining up times exponential, by memorylessness) starts the system
  exactly in its stationary state, so time averages are unbiased from ``t = 0``.

Residual sampling: a length-biased draw ``L`` (density ``x f(x) / mean``) times an independent
``U(0, 1)``. For the exponential, the residual is the exponential itself; for the fixed time ``m``,
it is ``U(0, m)``; for the lognormal ``LN(mu, sigma)``, the length-biased law is ``LN(mu + sigma², sigma)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RepairDistribution:
    dist: str
    mean: float  # hours
    sigma: float = 1.0  # lognormal only

    @property
    def _mu(self) -> float:
        return math.log(self.mean) - self.sigma**2 / 2.0

    def sample(self, gen: np.random.Generator, n: int) -> np.ndarray:
        if self.dist == "exponential":
            return gen.exponential(self.mean, n)
        if self.dist == "lognormal":
            return gen.lognormal(self._mu, self.sigma, n)
        if self.dist == "fixed":
            return np.full(n, self.mean)
        raise ValueError(f"unknown repair distribution {self.dist!r}")

    def sample_residual(self, gen: np.random.Generator, n: int) -> np.ndarray:
        if self.dist == "exponential":
            return gen.exponential(self.mean, n)
        if self.dist == "lognormal":
            return gen.random(n) * gen.lognormal(self._mu + self.sigma**2, self.sigma, n)
        if self.dist == "fixed":
            return gen.random(n) * self.mean
        raise ValueError(f"unknown repair distribution {self.dist!r}")


@dataclass(frozen=True)
class MixtureRepair:
    """A repair law that is a mixture: with probability ``share`` the repair follows that part
    (e.g. 90 % soft failures fixed by a reboot in about 20 minutes, 10 % hard ones needing about
    2 hours). Shares are normalised. The equilibrium residual of a mixture picks a part with
    probability proportional to ``share x mean`` (a repair in progress at a random instant is
    more likely a long one), then that part's residual."""

    parts: tuple[tuple[float, RepairDistribution], ...]

    @property
    def mean(self) -> float:
        total = sum(s for s, _ in self.parts)
        return sum(s * d.mean for s, d in self.parts) / total

    def _pick(self, gen: np.random.Generator, n: int, weights: list[float]) -> np.ndarray:
        cum = np.cumsum(weights) / sum(weights)
        return np.minimum(np.searchsorted(cum, gen.random(n), side="right"), len(weights) - 1)

    def sample(self, gen: np.random.Generator, n: int) -> np.ndarray:
        which = self._pick(gen, n, [s for s, _ in self.parts])
        draws = [d.sample(gen, n) for _, d in self.parts]  # every part drawn: a fixed number of draws
        return np.choose(which, draws)

    def sample_residual(self, gen: np.random.Generator, n: int) -> np.ndarray:
        which = self._pick(gen, n, [s * d.mean for s, d in self.parts])
        draws = [d.sample_residual(gen, n) for _, d in self.parts]
        return np.choose(which, draws)
