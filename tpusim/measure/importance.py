"""Rare slice outages by importance sampling: regenerative simulation with balanced failure biasing.

Where a slice's unavailability is far rarer than a plain run can observe (the run prints "none
seen: outages rarer than X per day are not excluded"), this module estimates it with a bounded
relative error: the same number of cycles gives about the same relative half-width at 1e-4 and
at 1e-8 (DESIGN §9, issue 33 point 2).

**The model it is exact for.** A reconfigurable machine's capacity as a continuous-time Markov
chain of independent units: every unit of a class fails at the class's rate while up and is
repaired after an *exponential* time with the class's repair mean, each repair on its own (no
shared repair crew). A cube is usable while all its hosts, ICI links and OCS ports are up; a
slice of ``k`` whole cubes can be placed while some pod has its OCSes all up and at least ``k``
usable cubes (the reconfigurable rule: any ``k`` usable cubes are wired into a torus through
every OCS of their pod, DESIGN §1). The unavailability is the long-run fraction of time no pod
can place it. The chain is simulated at the unit level, exactly: the state is the set of down
units, kept sparsely (in a cycle from the all-up state only a handful are down at once).

**What it does not cover** (callers refuse or warn, :mod:`tpusim.studies.rare`):
- *non-exponential repairs* (lognormal, fixed, mixtures): the estimate is then that of the
  Markov model with exponential repairs of the same means. For independent units this is still
  the right answer: a unit's stationary availability depends only on its repair mean (an
  alternating renewal process), units are independent at a random instant, and a k-of-n outage
  is a function of the units' states only, so its long-run probability is insensitive to the
  repair law. It is *not* insensitive once repairs share resources, rates follow a schedule,
  maintenance waves take units out, failure domains couple units, or a workload's state matters;
- fault-tolerant routing (the usable-cube rule changes), static wiring (a slice needs a box),
  mesh sub-pod slices, sub-cube slices, correlated domains, rate schedules, planned maintenance,
  build-outs, gray faults: none of these is this chain;
- a machine where the all-up state is not dominant (many pods, tens of thousands of links with
  day-long repairs, an OCS repair long enough for other units to fail and be repaired many
  times meanwhile): the estimator stays unbiased but the likelihood ratio of a cycle that
  wanders grows with its length, the weights become heavy-tailed and the printed interval can
  be too narrow. Measured: two pods at the canonical rates with exponential repairs (all-up
  14 % of the time), a 60-cube slice (closed form 6.0e-5), 6000 cycles at four seeds: relative
  half-widths of 31-79 % and point estimates 0.43x-0.97x the closed form (the rare large weights
  that make up the mean were not drawn). :attr:`RareOutage.all_up` reports P(all up) so a caller can say
  so (:mod:`tpusim.studies.rare` warns below 0.8).

**The estimator** (Goyal, Shahabuddin, Heidelberger, Nicola & Glynn, "A unified framework for
simulating Markovian models of highly dependable systems", IEEE Trans. Computers 41(1), 1992;
Shahabuddin, "Importance sampling for the simulation of highly reliable Markovian systems",
Management Science 40(3), 1994). Regenerative cycles start and end at the all-up state; by the
renewal-reward theorem the unavailability is ``U = E[Z] / E[tau]``, ``Z`` the time the slice
is unplaceable within a cycle and ``tau`` the cycle's length.

- The numerator is estimated with *balanced failure biasing* inside cycles (Shahabuddin 1994):
  the failure transitions are one per component class with units up ("a unit of class c
  fails"; the unit itself is uniform among the class's up units, as in the true chain). In the
  all-up state every transition is a failure and the classes are balanced; in a state with
  units down where the slice can still be placed and failures are rarer than ``bias``, failures
  get probability ``bias`` in total and repairs share ``1 - bias`` in proportion to their rates.
  Among the classes a failure picks one half evenly (the balanced part, which gives bounded
  relative error when classes fail at rates of different orders) and one half in proportion to
  the true rates (a defensive mixture, Hesterberg, Technometrics 37(2), 1995: no class's
  probability falls below half its true one, so no single step's likelihood ratio exceeds 2).
  Where the slice is unplaceable, or failures are already at least as likely as ``bias``, the
  true transition probabilities are used (a state-dependent change of measure stays unbiased;
  switching the biasing off in unplaceable states keeps cycles from wandering: with
  ``bias = 0.5`` the count of down units would otherwise be a symmetric random walk). Each
  visited state contributes ``L / q(x)`` to ``Z`` when the slice is unplaceable there, ``L``
  the likelihood ratio of the path so far and ``q(x)`` the state's total rate (conditional Monte
  Carlo: the embedded jump chain with expected holding times ``1 / q(x)`` instead of sampled
  exponentials, which only lowers the variance).
- The denominator ``E[tau]`` is estimated by plain (unbiased) simulation of separate,
  independent cycles: cycle lengths are not rare (Goyal et al. 1992; Shahabuddin 1994, the
  "measure-specific" ratio estimator with independent numerator and denominator samples).
- The interval is the delta-method interval of that ratio of independent means:
  ``var(U) ~ (s_Z^2 / n_Z + U^2 s_tau^2 / n_tau) / mean(tau)^2``, 95 % normal quantile.

Balanced failure biasing has bounded relative error in the rarity (rates small against repair
rates) for fixed structure; its constant grows with the number of failures an outage needs
(each failure on the way costs a factor ``bias``): a 48-of-64-cube slice that needs 17 cubes
down to fail is unbiased but slow; raise ``bias`` then.

Layer: measurement (estimates); reads failure parameters and the machine layout only.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from tpusim.failures.params import FailureParams
from tpusim.topology.machine import MachineLayout

if TYPE_CHECKING:  # annotations only
    from tpusim.engine.model import Model

#: 95 % two-sided normal quantile (cycles number in the thousands).
Z95 = 1.959963984540054


@dataclass(frozen=True)
class UnitClass:
    """A class of identical independent units: ``per_group`` of them in every cube (``group``
    ``"cube"``: a down one makes its cube unusable) or in every pod (``"pod"``: a down one makes
    its pod unable to place any whole-cube slice, as an OCS does)."""

    name: str
    group: str  # "cube" or "pod"
    per_group: int
    rate: float  # failures per unit-hour while up
    mean_repair: float  # hours (exponential)


@dataclass(frozen=True)
class CapacityChain:
    """The reconfigurable capacity model of the module docstring: ``pods`` pods of ``cubes``
    cubes each and the classes of units (only those that can fail)."""

    pods: int
    cubes: int  # per pod
    classes: tuple[UnitClass, ...]

    def __post_init__(self) -> None:
        if self.pods < 1 or self.cubes < 1:
            raise ValueError("a machine needs at least one pod of one cube")
        for c in self.classes:
            if c.group not in ("cube", "pod"):
                raise ValueError(f"class {c.name}: group must be 'cube' or 'pod', got {c.group!r}")
            if c.rate < 0 or c.mean_repair <= 0 or c.per_group < 0:
                raise ValueError(f"class {c.name}: needs rate >= 0, mean_repair > 0, per_group >= 0")

    @classmethod
    def of(cls, machine: MachineLayout, failures: FailureParams) -> "CapacityChain":
        """The chain of a built scenario's machine and failures (rates at their long-run mean,
        repairs taken as exponential with their means; the caller says when that is exact)."""
        per_cube = {"host": machine.cube.hosts, "ici_link": machine.cube.links,
                    "ocs_port": len(machine.cube.ports)}
        classes = []
        for name, group, n in (("host", "cube", per_cube["host"]), ("ici_link", "cube", per_cube["ici_link"]),
                               ("ocs_port", "cube", per_cube["ocs_port"]), ("ocs", "pod", machine.ocs_per_pod)):
            cfg = failures.of(name)
            if cfg.mean_rate > 0 and n > 0:
                classes.append(UnitClass(name, group, n, cfg.mean_rate, cfg.repair.mean))
        return cls(machine.pods, machine.cubes_per_pod, tuple(classes))

    def population(self, c: UnitClass) -> int:
        return c.per_group * (self.pods * self.cubes if c.group == "cube" else self.pods)

    def unit_availability(self, c: UnitClass) -> float:
        return 1.0 / (1.0 + c.rate * c.mean_repair)

    def binomial_unavailability(self, k: int) -> float:
        """The closed form (independent units, any repair law): per pod, one minus all its
        pod-level units up times P(Binomial(cubes, q) >= k), q a cube's availability; the
        machine is down when every pod is. Computed as a complement without cancellation."""
        from scipy import stats

        log_q = sum(c.per_group * math.log(self.unit_availability(c)) for c in self.classes if c.group == "cube")
        log_pod = sum(c.per_group * math.log(self.unit_availability(c)) for c in self.classes if c.group == "pod")
        q = math.exp(log_q)
        short = float(stats.binom.cdf(k - 1, self.cubes, q))  # fewer than k usable
        pod_up = math.exp(log_pod)
        per_pod = -math.expm1(log_pod) + pod_up * short
        return per_pod ** self.pods

    def all_up_probability(self) -> float:
        """P(every unit up) = prod a_c^n_c: with the all-up exit rate, ``E[tau] = 1 / (rate x
        this)`` exactly (a check on the simulated denominator)."""
        return math.exp(sum(self.population(c) * math.log(self.unit_availability(c)) for c in self.classes))


@dataclass
class RareOutage:
    """One importance-sampling estimate of a slice's unavailability."""

    k: int  # cubes of the slice
    bias: float
    cycles: int  # biased cycles (numerator); as many plain cycles estimate the denominator
    unavailability: float
    half_width: float  # 95 %
    numerator: float  # E[Z], hours unplaceable per cycle
    numerator_sd: float
    cycle_hours: float  # E[tau]
    cycle_sd: float
    hit_fraction: float  # biased cycles that reached an unplaceable state
    steps: int  # transitions simulated, both kinds of cycle
    cpu_seconds: float
    all_up: float = 1.0  # P(every unit up), prod a_c^n_c: the method's efficiency needs it near 1
    #: (cycles, relative half-width) along the run, at powers of two and the end
    trajectory: list[tuple[int, float]] = field(default_factory=list)

    @property
    def relative_half_width(self) -> float:
        return self.half_width / self.unavailability if self.unavailability > 0 else math.inf

    @property
    def interval(self) -> tuple[float, float]:
        return (max(0.0, self.unavailability - self.half_width), self.unavailability + self.half_width)


class _Walker:
    """The sparse unit-level state of a :class:`CapacityChain` and its transitions."""

    def __init__(self, chain: CapacityChain, k: int, seed: np.random.SeedSequence):
        self.chain = chain
        self.spare = chain.cubes - k  # a pod places the slice while unusable cubes <= spare
        self.classes = chain.classes
        self.n = [chain.population(c) for c in chain.classes]
        self.lam = [c.rate for c in chain.classes]
        self.mu = [1.0 / c.mean_repair for c in chain.classes]
        self.per = [c.per_group for c in chain.classes]
        self.pod_level = [c.group == "pod" for c in chain.classes]
        self.gen = np.random.default_rng(seed)
        self._buf = self.gen.random(1 << 16)
        self._i = 0
        self.reset()

    def reset(self) -> None:
        m = len(self.classes)
        self.down: list[list[int]] = [[] for _ in range(m)]
        self.down_set: list[set[int]] = [set() for _ in range(m)]
        self.cube_down: dict[int, int] = {}
        self.unusable = [0] * self.chain.pods
        self.pod_down = [0] * self.chain.pods
        self.pods_ok = self.chain.pods
        self.total_down = 0

    def u(self) -> float:
        i = self._i
        if i == len(self._buf):
            self._buf = self.gen.random(1 << 16)
            i = 0
        self._i = i + 1
        return float(self._buf[i])

    def _ok(self, pod: int) -> bool:
        return self.pod_down[pod] == 0 and self.unusable[pod] <= self.spare

    def fail(self, c: int) -> None:
        """A uniformly chosen up unit of class ``c`` fails."""
        n, taken = self.n[c], self.down_set[c]
        while True:
            unit = min(int(self.u() * n), n - 1)
            if unit not in taken:
                break
        taken.add(unit)
        self.down[c].append(unit)
        self.total_down += 1
        self._touch(c, unit, +1)

    def repair(self, c: int) -> None:
        """A uniformly chosen down unit of class ``c`` is repaired."""
        units = self.down[c]
        j = min(int(self.u() * len(units)), len(units) - 1)
        unit = units[j]
        units[j] = units[-1]
        units.pop()
        self.down_set[c].discard(unit)
        self.total_down -= 1
        self._touch(c, unit, -1)

    def _touch(self, c: int, unit: int, delta: int) -> None:
        group = unit // self.per[c]
        if self.pod_level[c]:
            pod = group
            before = self._ok(pod)
            self.pod_down[pod] += delta
        else:
            pod = group // self.chain.cubes
            before = self._ok(pod)
            was = self.cube_down.get(group, 0)
            now = was + delta
            if now:
                self.cube_down[group] = now
            else:
                del self.cube_down[group]
            if was == 0 and now > 0:
                self.unusable[pod] += 1
            elif was > 0 and now == 0:
                self.unusable[pod] -= 1
        after = self._ok(pod)
        if before != after:
            self.pods_ok += 1 if after else -1

    def cycle(self, bias: float | None) -> tuple[float, float, bool, int]:
        """One regenerative cycle from all-up back to all-up. Returns ``(weighted time
        unplaceable, cycle length, reached unplaceable, steps)``; with ``bias`` None the true
        chain (then the weight is 1 and the cycle length is what the denominator needs)."""
        m = len(self.classes)
        n, lam, mu, down = self.n, self.lam, self.mu, self.down
        L = 1.0
        z = 0.0
        length = 0.0
        hit = False
        steps = 0
        while True:
            fr = [(n[c] - len(down[c])) * lam[c] for c in range(m)]
            rr = [len(down[c]) * mu[c] for c in range(m)]
            q_fail = sum(fr)
            q_rep = sum(rr)
            q = q_fail + q_rep
            failed = self.pods_ok == 0
            if failed:
                hit = True
                z += L / q
            length += 1.0 / q
            steps += 1
            if bias is None or failed or (self.total_down and q_fail >= bias * q):  # the true transition
                x = self.u() * q
                if x < q_fail:
                    self.fail(_pick(fr, x))
                else:
                    self.repair(_pick(rr, x - q_fail))
            else:  # balanced failure biasing, with a defensive share of the true split
                active = sum(1 for c in range(m) if fr[c] > 0)
                p_fail = (bias if self.total_down else 1.0) if active else 0.0
                if self.u() < p_fail:
                    c = _pick(fr, self.u() * q_fail) if self.u() < 0.5 else _nth_positive(fr, self.u() * active)
                    chosen = p_fail * (0.5 / active + 0.5 * fr[c] / q_fail)  # biased P(class c fails)
                    L *= (fr[c] / q) / chosen
                    self.fail(c)
                else:
                    c = _pick(rr, self.u() * q_rep)
                    L *= (q_rep / q) / (1.0 - p_fail)
                    self.repair(c)
            if self.total_down == 0:
                return z, length, hit, steps


def _nth_positive(weights: list[float], x: float) -> int:
    """The ``int(x)``-th index (from 0) among those with a positive weight."""
    n = int(x)
    for i, w in enumerate(weights):
        if w > 0:
            if n == 0:
                return i
            n -= 1
    return max(i for i, w in enumerate(weights) if w > 0)


def _pick(weights: list[float], x: float) -> int:
    """The index whose cumulative-weight slot holds ``x`` (0 <= x < sum)."""
    last = 0
    for i, w in enumerate(weights):
        if w > 0:
            last = i
            if x < w:
                return i
            x -= w
    return last  # rounding at the top end


def estimate_unavailability(chain: CapacityChain, k: int, cycles: int = 20000, bias: float = 0.5,
                            seed: int | tuple[int, ...] = 0, denominator_cycles: int | None = None) -> RareOutage:
    """Estimate the long-run fraction of time no pod of ``chain`` can place a slice of ``k``
    cubes, by ``cycles`` regenerative cycles with balanced failure biasing (failures' total
    probability ``bias`` outside the all-up and unplaceable states; 0: no biasing at all, the
    plain regenerative estimator, for comparison or where outages are not rare) for the numerator and
    ``denominator_cycles`` (default ``cycles``) plain cycles for the denominator. Same seed,
    same answer."""
    if not 1 <= k <= chain.cubes:
        raise ValueError(f"a slice of {k} cubes does not fit a pod of {chain.cubes}")
    if not 0.0 <= bias < 1.0:
        raise ValueError(f"bias must be at least 0 and below 1, got {bias}")
    if cycles < 2:
        raise ValueError(f"cycles must be at least 2, got {cycles}")
    if not chain.classes:
        raise ValueError("nothing can fail: the unavailability is 0")
    n_tau = cycles if denominator_cycles is None else denominator_cycles
    if n_tau < 2:
        raise ValueError(f"denominator cycles must be at least 2, got {n_tau}")
    start = time.process_time()
    num_seed, den_seed = np.random.SeedSequence(seed).spawn(2)
    walker = _Walker(chain, k, num_seed)
    zs = np.empty(cycles)
    hits = 0
    steps = 0
    for i in range(cycles):
        z, _, hit, s = walker.cycle(bias or None)  # 0: no biasing, plain regenerative cycles
        zs[i] = z
        hits += hit
        steps += s
    walker = _Walker(chain, k, den_seed)
    taus = np.empty(n_tau)
    for i in range(n_tau):
        _, tau, _, s = walker.cycle(None)
        taus[i] = tau
        steps += s
    cpu = time.process_time() - start

    def ratio(nz: int, nt: int) -> tuple[float, float]:
        mz, mt = float(zs[:nz].mean()), float(taus[:nt].mean())
        u = mz / mt
        var = (zs[:nz].var(ddof=1) / nz + u * u * taus[:nt].var(ddof=1) / nt) / (mt * mt)
        return u, Z95 * math.sqrt(var)

    trajectory = []
    n = 64
    while n < cycles:
        u, h = ratio(n, max(2, n * n_tau // cycles))
        trajectory.append((n, h / u if u > 0 else math.inf))
        n *= 2
    u, h = ratio(cycles, n_tau)
    trajectory.append((cycles, h / u if u > 0 else math.inf))
    return RareOutage(k=k, bias=bias, cycles=cycles, unavailability=u, half_width=h,
                      numerator=float(zs.mean()), numerator_sd=float(zs.std(ddof=1)),
                      cycle_hours=float(taus.mean()), cycle_sd=float(taus.std(ddof=1)),
                      hit_fraction=hits / cycles, steps=steps, cpu_seconds=cpu,
                      all_up=chain.all_up_probability(), trajectory=trajectory)


def refusals(model: "Model") -> list[str]:
    """Why the estimator's Markov chain is not this scenario's model (empty: it is): the
    scope of the module docstring, checked on a built model. The ``rare`` study refuses with
    these reasons, and a run's "none seen" footnote points to the estimator only where there
    are none."""
    f = model.failures
    out = []
    if f.traces is not None:
        out.append("failures are replayed from a trace, not drawn at constant rates")
    scheduled = [name for name, c in zip(("host", "ici_link", "ocs", "ocs_port"), f.classes) if c.schedule is not None]
    if scheduled:
        out.append(f"rate schedules ({', '.join(scheduled)}): rates that change over time have no regenerative all-up state")
    if f.domains:
        out.append("correlated failure domains couple units (the chain's units are independent)")
    if model.maintenance or f.planned_outages:
        out.append("planned maintenance takes units out on a schedule (not a Markov chain of independent units)")
    if f.install_hours:
        out.append("a build-out is not in steady state")
    if any(c.gray is not None and c.gray.rate > 0 and c.gray.detection_probability > 0 for c in f.classes):
        out.append("gray faults that healthd turns into failures are not in the chain")
    if model.machine.sub_pod_slices != "torus":
        out.append("mesh sub-pod slices need only some OCSes (the chain's rule is a torus through every OCS)")
    return out
