"""Gray failures: parts that keep working well enough to pass health checks but kill jobs.

A component class may have gray faults (:class:`GrayParams`). While a unit is *gray* it is not
down - capacity, placement and pre-flight checks see a healthy part - but it *glitches*: at the
instants of a Poisson process of rate ``kills_per_hour`` it fails every job using it at that
instant (a flaky link drops a collective, a degraded host crashes its worker). A job that uses a
gray part therefore fails with probability ``1 - exp(-kills_per_hour * hours)`` over ``hours``
of use; one glitch of a shared part (an OCS) fails every slice through it at once.

Episodes start at ``rate`` per unit-hour on units that are not already gray (a superposed
Poisson process thinned against gray units, like :mod:`tpusim.failures.injector`). Each episode,
drawn whole when it starts:

- lasts an exponential time of mean ``mean_hours`` if nobody notices it (it clears by itself, or
  is fixed in passing);
- is noticed by healthd with probability ``detection_probability``, after an exponential delay of
  mean ``detection_hours``; if that comes before the episode would have cleared, the unit is then
  taken out as an ordinary failure (down until a repair drawn from the class's repair law) and
  the episode ends;
- glitches at the Poisson instants of rate ``kills_per_hour`` within it (drawn at once, so the
  glitch times are the same under every policy: common random numbers).

Planted episodes (:class:`PlantedGray`) start at a given time on a given unit and are never
noticed: the ground truth of a localisation study.

Streams: ``gray.<class>``, ``gray_episodes.<class>`` (durations, detection, glitches) and
``gray_repairs.<class>``: a scenario with gray faults has the same hard-failure draws as one
without, so their difference is the gray faults' alone.

Invariant: a unit has at most one episode at a time; every glitch lies inside its episode.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import numpy as np
import simpy

from tpusim.core.collect import Emit
from tpusim.failures.counts import FailureCounts
from tpusim.failures.injector import superposed
from tpusim.failures.params import GrayParams, PlantedGray
from tpusim.core.rng import generator
from tpusim.topology.machine import COMPONENT_CLASSES

class GrayEpisode(NamedTuple):
    k: int  # class id
    unit: int
    start: float
    end: float  # when the unit stopped glitching (noticed, cleared, or the episode's end)
    detected: bool  # healthd noticed it and the unit was taken out at ``end``
    glitches: tuple[float, ...]  # glitch instants, start <= t < end
    planted: bool = False


class GrayInjector:
    """Draws the gray episodes of every class with gray faults, in SimPy, beside the failure
    injector. A noticed episode becomes an ordinary failure through ``fail(k, unit, t) ->
    bool`` (the injector's :class:`~tpusim.failures.causes.DownCauses`) and a repair through
    ``schedule_repair(k, unit, after)``."""

    def __init__(self, env: simpy.Environment, population: list[int], gray: tuple[GrayParams | None, ...],
                 planted: tuple[PlantedGray, ...], repairs: tuple, seed: int, replication: int,
                 fail: Callable[[int, int, float], bool], schedule_repair: Callable[[int, int, float], None]):
        self.env = env
        self.episodes: list[GrayEpisode] = []
        self.detected = [0] * len(COMPONENT_CLASSES)  # episodes turned into failures, per class
        self._gray = [bytearray(n) for n in population]
        self._fail, self._schedule_repair = fail, schedule_repair
        for k, params in enumerate(gray):
            if params is None or params.rate <= 0 or population[k] == 0:
                continue
            name = COMPONENT_CLASSES[k]
            draws = generator(seed, replication, f"gray_episodes.{name}")
            repair_time = _sampler(repairs[k], generator(seed, replication, f"gray_repairs.{name}"))
            env.process(self._onsets(k, population[k], params, generator(seed, replication, f"gray.{name}"),
                                     draws, repair_time))
        for p in planted:
            gen = generator(seed, replication, f"gray_planted.{p.component_class}.{p.unit}")
            env.timeout(p.start).callbacks.append(
                functools.partial(self._plant, COMPONENT_CLASSES.index(p.component_class), p, gen))

    def _onsets(self, k: int, population: int, params: GrayParams, gen: np.random.Generator,
                draws: np.random.Generator, repair_time: Callable[[], float]):
        env, gray = self.env, self._gray[k]
        for gap, unit in superposed(gen, population, params.rate):
            yield env.timeout(gap)
            if gray[unit]:
                continue  # thinning: this unit is gray already
            self._episode(k, unit, params, draws, repair_time)

    def _episode(self, k: int, unit: int, params: GrayParams, draws: np.random.Generator,
                 repair_time: Callable[[], float]) -> None:
        start = self.env.now
        length = float(draws.exponential(params.mean_hours))
        noticed = float(draws.random()) < params.detection_probability
        delay = float(draws.exponential(params.detection_hours)) if params.detection_hours > 0 else 0.0
        detected = noticed and delay < length
        if detected:
            length = delay
        self._begin(GrayEpisode(k, unit, start, start + length, detected,
                                _glitches(draws, start, length, params.kills_per_hour)), repair_time)

    def _plant(self, k: int, p: PlantedGray, gen: np.random.Generator, _event=None) -> None:
        if self._gray[k][p.unit]:
            return  # a drawn episode holds the unit already
        start = self.env.now
        self._begin(GrayEpisode(k, p.unit, start, start + p.hours, False,
                                _glitches(gen, start, p.hours, p.kills_per_hour), planted=True), None)

    def _begin(self, episode: GrayEpisode, repair_time: Callable[[], float] | None) -> None:
        k, unit = episode.k, episode.unit
        self._gray[k][unit] = 1
        self.episodes.append(episode)

        def ended(_event) -> None:
            self._gray[k][unit] = 0
            if episode.detected and repair_time is not None and self._fail(k, unit, self.env.now):
                self.detected[k] += 1
                self._schedule_repair(k, unit, repair_time())

        self.env.timeout(episode.end - episode.start).callbacks.append(ended)

    @property
    def counts(self) -> FailureCounts:
        """The noticed episodes (ordinary failures from then on) and the events simulated so far:
        episode starts and ends, and glitches."""
        return FailureCounts(failures=tuple(self.detected), events=sum(2 + len(e.glitches) for e in self.episodes))

    def collect(self, horizon: float, emit: Emit) -> tuple[GrayEpisode, ...]:
        """The episodes that started before ``horizon`` (the ground truth; no sample)."""
        return tuple(self.episodes)


def _sampler(repair, gen: np.random.Generator) -> Callable[[], float]:
    """One repair time of ``repair`` per call, from ``gen``."""
    return lambda: float(repair.sample(gen, 1)[0])


def _glitches(gen: np.random.Generator, start: float, length: float, rate: float) -> tuple[float, ...]:
    """The instants of a Poisson process of ``rate`` on [start, start + length)."""
    if rate <= 0 or length <= 0:
        return ()
    count = int(gen.poisson(rate * length))
    return tuple(sorted((start + gen.random(count) * length).tolist()))


def glitch_events(episodes, horizon: float) -> list[tuple[float, int, int]]:
    """Every glitch before ``horizon`` as ``(time, class id, unit)``, in time order."""
    return sorted((t, e.k, e.unit) for e in episodes for t in e.glitches if t < horizon)
