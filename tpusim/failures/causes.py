"""Why a unit is down: its own failure, or a hold (a correlated domain, a cube not yet installed,
planned maintenance), kept apart on top of one :class:`~tpusim.failures.health.HealthState`.

A unit is down in the health state exactly when it has failed itself (``own``) or at least one
hold is on it (``held`` counts them). The causes come and go independently: a unit's own failure
may start and end while it is held, a hold may start and end while it has failed, and the health
state sees a transition only when the unit goes from no cause to some or back. ``own`` is what a
failure process thins against (a unit that failed cannot fail again before its repair) and what
healthd detects; a hold is planned or correlated and carries its own bookkeeping.

An OCS's failure mode (dark or control plane, :mod:`tpusim.failures.ocs_modes`) is that of the
cause that took it down first; a later cause does not change it while the first lasts.

Invariant: ``health.down[k][u] == (own[k][u] or held[k][u] > 0)`` for every unit.
"""

from __future__ import annotations

from typing import Iterable

from tpusim.failures.health import HealthState


class DownCauses:
    def __init__(self, health: HealthState):
        self.health = health
        self.own = [bytearray(n) for n in health.population]  # failed itself
        self.held = [[0] * n for n in health.population]  # holds on the unit

    def fail(self, k: int, unit: int, t: float, dark: bool | None = None) -> bool:
        """The unit fails itself; False (nothing happens) if it already has."""
        if self.own[k][unit]:
            return False
        self.own[k][unit] = 1
        if not self.held[k][unit]:
            self.health.set_down(k, unit, t, dark)
        return True

    def repair(self, k: int, unit: int, t: float) -> None:
        self.own[k][unit] = 0
        if not self.held[k][unit]:
            self.health.set_up(k, unit, t)

    def hold(self, k: int, units: Iterable[int], t: float, dark: bool | None = None) -> None:
        held, own, health = self.held[k], self.own[k], self.health
        for unit in units:
            held[unit] += 1
            if held[unit] == 1 and not own[unit]:
                health.set_down(k, unit, t, dark)

    def release(self, k: int, units: Iterable[int], t: float) -> None:
        held, own, health = self.held[k], self.own[k], self.health
        for unit in units:
            held[unit] -= 1
            if not held[unit] and not own[unit]:
                health.set_up(k, unit, t)
