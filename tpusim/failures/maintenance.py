"""Planned maintenance and safe rollouts: campaigns that upgrade every unit of a class in waves.

A :class:`Campaign` upgrades every cube (host firmware, the ICI stack) or every OCS (software,
hardware) of the machine, ``wave_size`` units of each pod at a time (pods in parallel), in unit
order. Wave ``i`` of an occurrence starts at ``start + i * (wave_hours + bake_hours)`` and takes
its units out for ``wave_hours``; ``bake_hours`` is the wait before the next wave (where a
watchdog decides). A campaign may repeat every ``every`` hours.

**What a wave takes down depends on the policy's machine** (:func:`holds`, which each policy
applies to its own wiring), on the one wave schedule all policies share:

- a cube upgrade holds every host of the wave's cubes down (the cube is unusable, its chips
  unavailable); an OCS upgrade holds the switches down, dark (hardware: circuits go dark) or in
  control-plane mode (software: circuits stay lit, no cross-connect can change);
- a statically wired machine has no OCS, so OCS campaigns do not touch it; with
  ``static_scope == "pod"`` (an ICI-stack upgrade: a static pod cannot run two ICI software
  versions side by side, as the TPU v4 operators report) the static machine is upgraded in
  one machine-wide window of ``wave_hours`` at each occurrence's first wave - the best plan a
  static operator has - and later waves do not touch it.

**Releases.** A campaign may carry a :class:`Release` that is bad with probability
``bad_probability`` (one draw per occurrence, stream ``release.<name>``). Once a wave ends, its
units run the new release; under a bad one each unit of the release's class (hosts of an
upgraded cube for host firmware, its ICI links for the ICI stack, the OCS itself) fails at
``multiplier`` times its class's rate: the extra ``(multiplier - 1) x rate`` per unit is a
superposed Poisson process thinned to upgraded, up units (streams ``release_failures.<name>``,
``release_repairs.<name>``), repaired like any failure of the class. A bad release stays until
it is rolled back or the next occurrence replaces it. The hardware schedule (which units run
the release, when) is the staged one for every policy, so all policies share one trace.

**Watchdog** (in the style of Azure's Gandalf). At the end of each wave's bake, while units
remain to upgrade, the watchdog compares failures of the release's class (every transition to
down that telemetry sees) over the last ``window`` hours between upgraded units and the rest:
given ``n`` failures in the window, under "same rate" the upgraded group's count is
Binomial(``n``, E1 / (E1 + E0)) with E1, E0 the groups' unit-hours in the window. It stops the
rollout when the one-sided p-value is below ``alpha / checks`` (Bonferroni over the rollout's
``waves - 1`` checks, so a good release is stopped with probability at most ``alpha``), and with
``rollback`` the upgraded units return to the old release at once (no rollback downtime is
modelled). Waves after a stop never run.

Invariants: no randomness but the named streams above; campaigns without a release draw
nothing, so adding one never shifts another stream; the waves a :class:`CampaignDriver` ran
(``waves``, and its record :class:`MaintenanceLog`) are exactly what the job simulations replay.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Generator, NamedTuple

import numpy as np
import simpy

from tpusim.core.collect import Emit
from tpusim.failures.causes import DownCauses
from tpusim.failures.counts import FailureCounts
from tpusim.failures.health import HOST, ICI_LINK, OCS, HealthState
from tpusim.core.rng import generator
from tpusim.core.stats import excess_rate_p_value
from tpusim.topology.machine import COMPONENT_CLASSES, MachineLayout

#: What a campaign upgrades -> (the units its waves take: "cube" or "ocs", the class a release
#: multiplies, the static machine's scope by default, OCS maintenance dark?)
KINDS: dict[str, tuple[str, int, str, bool]] = {
    "host_firmware": ("cube", HOST, "units", False),
    "ici_stack": ("cube", ICI_LINK, "pod", False),
    "ocs_software": ("ocs", OCS, "none", False),
    "ocs_hardware": ("ocs", OCS, "none", True),
}


@dataclass(frozen=True)
class Release:
    bad_probability: float  # chance that an occurrence's release is bad
    multiplier: float  # a bad release multiplies the failure rate of what it touched by this


@dataclass(frozen=True)
class Watchdog:
    window: float  # hours of failures compared
    alpha: float  # false-stop probability of a whole rollout of a good release (at most)
    rollback: bool = True  # a stop returns the upgraded units to the old release


@dataclass(frozen=True)
class Campaign:
    name: str
    kind: str  # a key of KINDS
    start: float  # hours
    wave_size: int  # units of each pod per wave
    wave_hours: float  # downtime of a wave's units
    bake_hours: float = 0.0  # wait after a wave before the next
    every: float | None = None  # hours between occurrences; None: once
    static_scope: str | None = None  # "units", "pod" or "none"; None: the kind's default
    release: Release | None = None
    watchdog: Watchdog | None = None

    @property
    def target(self) -> str:
        return KINDS[self.kind][0]

    @property
    def release_class(self) -> int:
        return KINDS[self.kind][1]

    @property
    def scope(self) -> str:
        return self.static_scope if self.static_scope is not None else KINDS[self.kind][2]

    @property
    def dark(self) -> bool:
        return KINDS[self.kind][3]

    def units_per_pod(self, machine: MachineLayout) -> int:
        return machine.cubes_per_pod if self.target == "cube" else machine.ocs_per_pod

    def waves_per_occurrence(self, machine: MachineLayout) -> int:
        return -(-self.units_per_pod(machine) // self.wave_size)

    def duration(self, machine: MachineLayout) -> float:
        """Hours from an occurrence's first wave to the end of its last (no stop)."""
        n = self.waves_per_occurrence(machine)
        return n * self.wave_hours + (n - 1) * self.bake_hours

    def wave_units(self, machine: MachineLayout, index: int) -> tuple[int, ...]:
        """Global cube or OCS numbers of wave ``index``: the same local units of every pod."""
        per = self.units_per_pod(machine)
        local = range(index * self.wave_size, min((index + 1) * self.wave_size, per))
        return tuple(pod * per + u for pod in range(machine.pods) for u in local)


class Wave(NamedTuple):
    """One wave that ran: its units are out over [start, end)."""

    start: float
    end: float
    campaign: int  # index into the model's campaigns
    occurrence: int
    number: int  # within its occurrence
    units: tuple[int, ...]  # global cubes or OCSes


@dataclass(frozen=True)
class Rollout:
    """One occurrence of a campaign with a release, as far as it ran."""

    campaign: str  # the campaign's name
    occurrence: int
    bad: bool  # the release was bad
    start: float  # its first wave's start, hours
    end: float | None = None  # its last wave's end or the watchdog's stop (None: cut by the horizon)
    halted: bool = False  # the watchdog stopped it
    exposed_units: int = 0  # units (cubes or OCSes) that received a bad release
    checks: int = 0  # watchdog checks made


@dataclass(frozen=True)
class MaintenanceLog:
    """What a :class:`CampaignDriver` ran: every wave that began, and every rollout."""

    waves: tuple[Wave, ...] = ()
    rollouts: tuple[Rollout, ...] = ()


#: What a wave holds down: ``(class, units, dark)``, ``dark`` only for OCSes.
Hold = tuple[int, range | tuple[int, ...], bool | None]


def holds(campaign: Campaign, wave: Wave, machine: MachineLayout, wired_statically: bool) -> list[Hold]:
    """What ``wave`` takes down under a policy: ``(class, units, dark)`` triples (``dark`` only
    for OCSes). Empty where the wave does not touch the policy's machine."""
    hosts = machine.cube.hosts
    if campaign.target == "ocs":
        return [] if wired_statically else [(OCS, wave.units, campaign.dark)]
    if wired_statically and campaign.scope == "none":
        return []
    if wired_statically and campaign.scope == "pod":
        return [(HOST, range(machine.cubes * hosts), None)] if wave.number == 0 else []
    return [(HOST, tuple(h for c in wave.units for h in range(c * hosts, (c + 1) * hosts)), None)]


def planned_waves(campaigns: tuple[Campaign, ...], machine: MachineLayout, horizon: float) -> list[Wave]:
    """Every wave that starts before ``horizon`` when no watchdog stops a rollout (what a
    :class:`CampaignDriver` runs for campaigns without one), in campaign order."""
    out = []
    for index, c in enumerate(campaigns):
        occurrence, at = 0, c.start
        while at < horizon:
            for i in range(c.waves_per_occurrence(machine)):
                start = at + i * (c.wave_hours + c.bake_hours)
                if start < horizon:
                    out.append(Wave(start, start + c.wave_hours, index, occurrence, i, c.wave_units(machine, i)))
            occurrence += 1
            if c.every is None:
                break
            at = c.start + occurrence * c.every
    return out


WaveListener = Callable[[float, Wave, bool], None]


class CampaignDriver:
    """Runs a model's campaigns in SimPy on the shared failure trace: starts and ends waves
    (telling ``listeners`` ``f(t, wave, begins)``), draws each release, injects a bad release's
    extra failures through ``fail`` / ``schedule_repair`` (the failure injector's; None when a
    trace is replayed: then no release may be set) and runs the watchdogs.

    ``waves`` lists every wave that began; ``rollouts`` one record per occurrence of a campaign
    with a release; its result hook returns both (:class:`MaintenanceLog`)."""

    def __init__(self, env: simpy.Environment, campaigns: tuple[Campaign, ...], machine: MachineLayout,
                 health: HealthState, class_rates: tuple[float, ...], repair_sample, seed: int, replication: int,
                 fail: Callable[[int, int, float], bool] | None = None,
                 schedule_repair: Callable[[int, int, float], None] | None = None):
        self.env = env
        self.machine = machine
        self.campaigns = campaigns
        self.listeners: list[WaveListener] = []
        self.waves: list[Wave] = []
        self.rollouts: list[Rollout] = []
        self.release_failures = 0
        self._rates = class_rates
        self._fail, self._schedule_repair = fail, schedule_repair
        self._down_log: dict[int, tuple[list[float], list[int]]] = {}  # class -> (times, units)
        for index, c in enumerate(campaigns):
            if c.release is not None:
                assert fail is not None, "a release needs drawn failures"
                self._down_log.setdefault(c.release_class, ([], []))
                env.process(self._campaign(index, c, seed, replication, repair_sample))
            else:
                env.process(self._campaign(index, c, seed, replication, None))
        if self._down_log:
            health.component_listeners.append(self._on_change)

    def _on_change(self, t: float, k: int, unit: int, down: bool) -> None:
        log = self._down_log.get(k)
        if log is not None and down:
            log[0].append(t)
            log[1].append(unit)

    def _members(self, c: Campaign, units: tuple[int, ...]) -> list[int]:
        """The units of the release's class that ``units`` (cubes or OCSes) carry."""
        if c.target == "ocs":
            return list(units)
        per = self.machine.cube.hosts if c.release_class == HOST else self.machine.cube.links
        return [u for cube in units for u in range(cube * per, (cube + 1) * per)]

    def _campaign(self, index: int, c: Campaign, seed: int, replication: int, repair_sample):
        env, machine = self.env, self.machine
        n_waves = c.waves_per_occurrence(machine)
        draws = generator(seed, replication, f"release.{c.name}") if c.release else None
        extra = None
        if c.release is not None:
            population = machine.population(COMPONENT_CLASSES[c.release_class])
            upgraded = np.full(population, math.inf)  # when each unit got the current release
            bad_since = np.full(population, math.inf)  # ... if it is bad (inf: runs a good one)
            extra = (upgraded, bad_since)
            if c.release.multiplier > 1 and self._rates[c.release_class] > 0:
                env.process(self._extra_failures(c, bad_since, seed, replication, repair_sample))
        occurrence, at = 0, c.start
        while True:
            if at > env.now:
                yield env.timeout(at - env.now)
            bad = bool(draws.random() < c.release.bad_probability) if draws is not None and c.release else False
            rollout, slot = Rollout(c.name, occurrence, bad, at), None  # kept in rollouts[slot] with a release
            if extra is not None:
                extra[0][:] = math.inf  # a new occurrence replaces the last release everywhere
                extra[1][:] = math.inf
                slot = len(self.rollouts)
                self.rollouts.append(rollout)
            for i in range(n_waves):
                wave = Wave(env.now, env.now + c.wave_hours, index, occurrence, i, c.wave_units(machine, i))
                self.waves.append(wave)
                for listener in self.listeners:
                    listener(env.now, wave, True)
                yield env.timeout(c.wave_hours)
                for listener in self.listeners:
                    listener(env.now, wave, False)
                if extra is not None:
                    members = self._members(c, wave.units)
                    extra[0][members] = env.now
                    if bad:
                        extra[1][members] = env.now
                        rollout = self._update(slot, rollout, exposed_units=rollout.exposed_units + len(wave.units))
                if i == n_waves - 1:
                    rollout = self._update(slot, rollout, end=env.now)
                    break
                if c.bake_hours:
                    yield env.timeout(c.bake_hours)
                if c.watchdog is not None and extra is not None:
                    rollout = self._update(slot, rollout, checks=rollout.checks + 1)
                    if self._stop(c, extra[0], n_waves - 1):
                        rollout = self._update(slot, rollout, halted=True, end=env.now)
                        if c.watchdog.rollback:
                            extra[0][:] = math.inf
                            extra[1][:] = math.inf
                        break
            occurrence += 1
            if c.every is None:
                return
            at = c.start + occurrence * c.every

    def _update(self, slot: int | None, rollout: Rollout, **changes: Any) -> Rollout:
        """``rollout`` with ``changes``, kept as ``rollouts[slot]`` (None: kept nowhere)."""
        rollout = replace(rollout, **changes)
        if slot is not None:
            self.rollouts[slot] = rollout
        return rollout

    @property
    def counts(self) -> FailureCounts:
        """A bad release's extra failures, counted as events (its repairs are the injector's)."""
        return FailureCounts(events=self.release_failures)

    def collect(self, horizon: float, emit: Emit) -> MaintenanceLog:
        """The waves and rollouts that ran (no sample: what maintenance cost each policy is
        measured on its maintained health)."""
        return MaintenanceLog(tuple(self.waves), tuple(self.rollouts))

    def _stop(self, c: Campaign, upgraded: np.ndarray, checks: int) -> bool:
        """The watchdog's test at ``now``: are upgraded units failing more often than the rest?"""
        assert c.watchdog is not None
        t = self.env.now
        a = max(0.0, t - c.watchdog.window)
        since = np.maximum(upgraded, a)
        treated = float(np.sum(np.clip(t - since, 0.0, None)))
        control = len(upgraded) * (t - a) - treated
        times, units = self._down_log[c.release_class]
        lo = bisect.bisect_left(times, a)
        n1 = sum(1 for s, u in zip(times[lo:], units[lo:]) if upgraded[u] <= s)
        n = len(times) - lo
        p_value = excess_rate_p_value(n1, treated, n - n1, control)
        return p_value < c.watchdog.alpha / checks

    def _extra_failures(self, c: Campaign, bad_since: np.ndarray, seed: int, replication: int,
                        repair_sample) -> Generator:
        """The extra failures of a bad release: each unit running it fails at (multiplier - 1) x
        its class's rate on top of its own failures (thinned superposition over the class)."""
        assert c.release is not None and self._fail is not None and self._schedule_repair is not None
        env, k = self.env, c.release_class
        population = len(bad_since)
        mean_gap = 1.0 / (population * (c.release.multiplier - 1.0) * self._rates[k])
        gen = generator(seed, replication, f"release_failures.{c.name}")
        repairs = generator(seed, replication, f"release_repairs.{c.name}")
        block = 256
        while True:
            gaps = (gen.standard_exponential(block) * mean_gap).tolist()
            picks = (gen.random(block) * population).astype(np.int64).tolist()
            for gap, unit in zip(gaps, picks):
                yield env.timeout(gap)
                if bad_since[unit] <= env.now and self._fail(k, unit, env.now):
                    self.release_failures += 1
                    self._schedule_repair(k, unit, float(repair_sample(k, repairs)))


class MaintainedHealth:
    """One policy's health under maintenance, for the capacity engine: the shared trace (every
    change of ``base``, each OCS failure in the mode ``base`` drew) plus the holds of the waves
    that touch the policy's machine, as ``held(campaign, wave)`` says (the policy's
    :meth:`~tpusim.policies.Policy.maintenance_holds`). Create it before the failure injector
    starts, so that the faults present at t = 0 reach it."""

    def __init__(self, base: HealthState, campaigns: tuple[Campaign, ...],
                 held: Callable[[Campaign, Wave], list[Hold]]):
        self.base = base
        self.campaigns = campaigns
        self.held = held
        self.health = HealthState(base.machine)
        self.causes = DownCauses(self.health)
        base.component_listeners.append(self._on_base)

    def _on_base(self, t: float, k: int, unit: int, down: bool) -> None:
        if down:
            self.causes.fail(k, unit, t, bool(self.base.dark[unit]) if k == OCS else None)
        else:
            self.causes.repair(k, unit, t)

    def on_wave(self, t: float, wave: Wave, begins: bool) -> None:
        for k, units, dark in self.held(self.campaigns[wave.campaign], wave):
            if begins:
                self.causes.hold(k, units, t, dark)
            else:
                self.causes.release(k, units, t)
