"""OCS failure modes: does a failure darken the switch's circuits, or only freeze them? (DESIGN §2)

An OCS failure is either a **data-plane** failure (the circuits through the switch go dark: every
slice wired through it loses those links) or a **control-plane** failure (existing circuits keep
carrying light, but no cross-connect through the switch can be made or changed until repair).
``failures.ocs_control_plane_share`` is the probability that a failure is of the second kind.

Each OCS failure's mode is drawn from the named stream ``ocs_mode`` of (seed, replication), one
uniform per OCS failure in trace order. The capacity run and every policy's job replay draw
afresh from the same stream and meet the OCS failures in the same order, so every policy sees the
same modes (common random numbers), also for a trace replayed from a file.
"""

from __future__ import annotations

from tpusim.core.rng import generator

_BLOCK = 256


class OcsModes:
    """The mode of each OCS failure of one replication, in trace order."""

    def __init__(self, control_share: float, seed: int, replication: int):
        self.share = control_share
        self._gen = generator(seed, replication, "ocs_mode") if 0.0 < control_share < 1.0 else None
        self._draws: list[float] = []

    def dark(self) -> bool:
        """Is the next OCS failure a data-plane one (its circuits go dark)?"""
        if self._gen is None:
            return self.share < 1.0
        if not self._draws:
            self._draws = self._gen.random(_BLOCK).tolist()[::-1]
        return self._draws.pop() >= self.share
