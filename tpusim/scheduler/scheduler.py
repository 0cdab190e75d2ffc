"""The Borg-like scheduler (DESIGN §3).

Pending jobs wait in one queue per priority band (production > batch > best-effort), in arrival
order within a band (a requeued job keeps its arrival). A *scheduling pass* walks the bands from
the highest and, inside a band, the jobs in arrival order, and places every job that the
policy's placement rule (:class:`~tpusim.scheduler.pool.CubePool`) can fit on cubes that are
known-healthy and free. There is no head-of-line reservation: a small job may pass a big one
that does not fit, and the big one is helped by preemption and defragmentation instead.

- **Preemption**: a production or batch job that does not fit may evict jobs of strictly lower
  bands (so production never preempts production), choosing among candidate places the one
  whose victims have the lowest priority (best-effort only, if that suffices), then are fewest,
  then hold the fewest chips. Victims go back to the queue. With ``preemption_notice`` (the
  default) they get a notice and checkpoint before stopping, losing only their restart;
  without it they are killed and lose the work since their last checkpoint.
- **Spare cubes** (:class:`~tpusim.scheduler.spare_cap.SpareCap`): where a pod keeps spares, a job of
  a capped band is placed, with or without victims, only within the pod's allowance as it
  stands before any victim leaves (a victim of a capped band would give some back: the rule
  is conservative there).
- **Defragmentation**: a whole-cube job that has waited longer than ``defrag_wait_hours`` may
  have smaller jobs of strictly lower bands moved out of the way (never its own band or a
  higher one, so production jobs are never moved for anyone). Every mover's new place is found
  first, with the target held back; only if all of them have one do they checkpoint and restart
  there (a migration, never counted as a preemption); otherwise nobody moves. Like a real Pod
  Manager it does this on a cadence: a fruitless attempt is retried after
  ``defrag_retry_minutes``, or sooner if a place may have opened. Its movers are a subset of
  the victims preemption may take, so it acts only with preemption off.

Passes are requested by any change (arrival, completion, repair, detection) and run once per
instant. Inside a pass, a shape that does not fit is skipped for the rest of the pass; across
passes, it is not searched again until capacity for it may have grown (the pool's stamps
(:mod:`tpusim.scheduler.stamps`): ``epoch``, or ``whole_epoch`` for whole-cube shapes), nor are
victims looked for again until the ``movable_since`` stamp for the job's band changes (where the policy's victim search is exact:
only a release by that band or a higher one, or a change of known health, can make cubes
movable), nor (on several pods) in a pod whose own stamp is unchanged since it offered none; a pod whose
state has not changed at all since it last made offers for a shape under a rule makes them
again without asking the policy (a policy's offers depend on the pod and the shape alone).
Every such skip is exact: the tests re-run each skipped search.

Collaborators, all explicit: the :class:`~tpusim.scheduler.pool.CubePool` (holdings, known
health, reservations, the spare cap and the stamps, each read directly), the policy (where slices of whole cubes may go, via the pool), a :class:`Starter`
(the Pod Manager: starts and stops jobs) and ``request_pass`` (asks the simulation for a pass at
the current instant). Where the scheduler places jobs is decided by the policy
(:meth:`~tpusim.policies.Policy.places_with_victims` for preemption and defragmentation).
"""

from __future__ import annotations

import bisect
import heapq
from dataclasses import dataclass
from typing import Callable, Protocol

from tpusim.core.metrics import MEAN_QUEUE_LENGTH, MIGRATIONS, PREEMPTIONS
from tpusim.policies.base import Policy
from tpusim.scheduler.job import DONE, PENDING, RUNNING, Job
from tpusim.scheduler.pool import CubePool
from tpusim.topology.allocation import Allocation

BEST_EFFORT = 2


def _key(job) -> tuple:
    return job.key


@dataclass(frozen=True)
class SchedulerParams:
    """The ``scheduler`` section, in hours."""

    preemption: bool = True
    preemption_notice: bool = True
    defrag_wait: float | None = 6.0  # hours a whole-cube job waits before defragmentation; None: off
    defrag_retry: float = 0.25  # hours before a fruitless defragmentation attempt is retried


class Starter(Protocol):
    """What the scheduler asks of the Pod Manager."""

    def start(self, job: Job, alloc: Allocation, t: float, migration: bool = False) -> bool: ...
    def stop(self, job: Job, t: float, planned: bool) -> None: ...
    def resize(self, job: Job, alloc: Allocation, t: float) -> bool: ...
    def can_start(self, job: Job, alloc: Allocation, t: float) -> bool: ...


class Scheduler:
    reuse_offers = True  # False: every victim search asks the policy afresh (the oracle test's straight search)

    def __init__(self, params: SchedulerParams, pool: CubePool, policy: Policy, starter: Starter,
                 request_pass: Callable[[], None]):
        self.pool = pool
        self.policy = policy
        self.starter = starter
        self.request_pass = request_pass
        self.preemption = params.preemption
        self.notice = params.preemption_notice
        self.defrag_wait = params.defrag_wait
        self.defrag_retry = params.defrag_retry
        self.queues: list[dict] = [{}, {}, {}]  # band -> shape extents -> jobs sorted by key (never empty)
        self.length = 0
        self._area = 0.0  # time integral of the queue length
        self._since = 0.0
        self._infeasible: dict = {}  # (shape, capped) -> pool epoch when it last did not fit
        self._no_victims: dict = {}  # (band, shape) -> pool stamp when preemption found none
        self._no_defrag: dict = {}  # (band, shape) -> (pool stamp, time) of a fruitless attempt
        self._quiet_pods: dict = {}  # (band, shape, rule) -> {pod: its change count when it offered nothing}
        # (pod, shape, rule, capped) -> (the pod's change count, its places with victims): a
        # policy's offers in a pod depend on that pod's state and the job's shape alone
        self._offers: dict = {}
        self.preemptions = 0
        self.migrations = 0
        self.elastic: dict[int, Job] = {}  # elastic jobs admitted, by id (few: hero jobs)
        self._elastic_tried: dict[int, tuple] = {}  # id -> the pool's stamps when it last found nothing

    # -- queue ---------------------------------------------------------------------------------
    def _count(self, t: float, delta: int) -> None:
        self._area += self.length * (t - self._since)
        self._since = t
        self.length += delta

    def enqueue(self, job, t: float) -> None:
        if job.elastic:
            self.elastic[job.id] = job
        job.state = PENDING
        job.queued_since = t
        queue = self.queues[job.band].setdefault(job.queue, [])
        bisect.insort(queue, job, key=_key)
        self._count(t, +1)
        self.request_pass()

    def _dequeue(self, job, t: float) -> None:
        queues = self.queues[job.band]
        queue = queues[job.queue]  # (Job.queue: one per shape, or a hero job's own)
        del queue[bisect.bisect_left(queue, job.key, key=_key)]
        if not queue:
            del queues[job.queue]
        job.waited += t - job.queued_since
        self._count(t, -1)

    def mean_length(self, horizon: float) -> float:
        return (self._area + self.length * (horizon - self._since)) / horizon

    def metrics(self, horizon: float) -> dict[str, float]:
        """What the scheduler counted over a run that ends at ``horizon``, by metric name."""
        return {PREEMPTIONS: float(self.preemptions), MIGRATIONS: float(self.migrations),
                MEAN_QUEUE_LENGTH: self.mean_length(horizon)}

    # -- the pass ------------------------------------------------------------------------------
    def run_pass(self, t: float) -> None:
        pm = self.starter
        for band, queues in enumerate(self.queues):
            if self.elastic:  # a shrunk elastic job grows before its band's queue is served
                self._grow_elastic(t, band)
            if not queues:
                continue
            heads = [(q[0].key, shape) for shape, q in queues.items()]
            heapq.heapify(heads)
            while heads:
                _, shape = heapq.heappop(heads)
                job = queues[shape][0]
                alloc = self._place(job, t)
                if alloc is None:
                    continue  # the shape does not fit in this pass: its later jobs neither
                self._dequeue(job, t)
                before = self.pool.stamps.version
                # (a multislice job's places are a list: tpusim.scheduler.gang)
                started = job.gang.start(pm, alloc, t) if isinstance(alloc, list) else pm.start(job, alloc, t)
                if not started:  # pre-flight found a fault: back in line
                    bisect.insort(queues.setdefault(shape, []), job, key=_key)
                    job.queued_since = t
                    self._count(t, +1)
                    if self.pool.stamps.version != before:  # it detected something: look again now
                        self.request_pass()
                    continue  # else wait for the next event (no retry loop at one instant)
                queue = queues.get(shape)
                if queue:
                    heapq.heappush(heads, (queue[0].key, shape))

    def infeasible_key(self, job) -> tuple:
        """What a placement's outcome depends on besides the pool: the shape, and whether the
        spare-cube cap binds the job's band."""
        return job.spec.shape.dims, self.pool.cap.capped_by_band[job.band] and not job.spare_exempt

    def _place(self, job, t: float) -> Allocation | list[Allocation] | None:
        pool = self.pool
        if job.elastic:
            return self._place_elastic(job, t)
        if job.gang is not None:
            return self._place_gang(job, t)
        key = self.infeasible_key(job)
        epoch = pool.stamps.whole_epoch if job.cubes else pool.stamps.epoch  # has capacity for it grown?
        if self._infeasible.get(key) != epoch:
            alloc = pool.find(job)
            if alloc is not None:
                return alloc
            self._infeasible[key] = epoch
        if self.preemption and job.band < BEST_EFFORT:
            alloc = self._preempt_for(job, t)
            if alloc is not None:
                return alloc
        # With preemption on, defragmentation can never act: its movers (strictly lower bands and
        # smaller than the job) are a subset of the victims preemption may take, and preemption
        # has just found none; a best-effort job has no lower band to move. So it runs only
        # with preemption off (skipping it is exact: the oracle test checks every skipped search).
        if (self.defrag_wait is not None and not self.preemption and job.cubes
                and t - job.arrival >= self.defrag_wait):
            return self._defrag_for(job, t)
        return None

    def _place_gang(self, job, t: float) -> list[Allocation] | None:
        """A multislice job's places: one per slice, in distinct pods (:mod:`tpusim.scheduler.gang`),
        on free cubes; failing that (with preemption on) each slice that free cubes cannot hold
        takes a place with victims of strictly lower bands in another pod, the pods whose victims
        are of the lowest band, then fewest, then hold the fewest chips. Searched again only when
        whole-cube capacity, or what may be preempted, may have grown."""
        pool = self.pool
        key = ("gang", job.slices, *self.infeasible_key(job))
        epoch = pool.stamps.whole_epoch
        if self._infeasible.get(key) != epoch:
            found = job.gang.find(pool)
            if found is not None:
                return found
            self._infeasible[key] = epoch
        if not (self.preemption and job.band < BEST_EFFORT):
            return None
        stamp = (epoch, pool.stamps.movable_since(job.band))
        if self._no_victims.get(key) == stamp:
            return None
        free = job.gang.free_places(pool)
        used = {alloc.pod for alloc in free}
        offers = []
        for pod in range(pool.pods):
            if pod not in used:
                choice = self._search(job, job.band + 1, pods=[pod])
                if choice is not None:
                    victims = choice[1]
                    rank = (-min(v.band for v in victims), len(victims), sum(v.chips for v in victims), pod)
                    offers.append((rank, choice))
        need = job.slices - len(free)
        if len(offers) < need:
            self._no_victims[key] = stamp
            return None
        offers.sort(key=lambda offer: offer[0])
        places = list(free)
        for _, (target, victims) in offers[:need]:
            for victim in victims:
                self.starter.stop(victim, t, planned=self.notice)
                victim.preempted += 1
                self.preemptions += 1
                self.enqueue(victim, t)
            places.append(target)
        return places

    # -- elastic jobs --------------------------------------------------------------------------
    def _elastic_stamp(self, job) -> tuple:
        stamps = self.pool.stamps
        return stamps.whole_epoch, stamps.movable_since(job.band), stamps.version

    def _reach(self, job, sizes) -> tuple[Allocation, list] | None:
        """The largest of ``sizes`` that ``job`` can take on free, known-usable cubes or, failing
        that for a size, by preempting strictly lower bands: (the place, the victims), ``job``
        resized to it; None (the size left as it was) if none."""
        before, chips = job.cube_dims, self.pool.machine.cube.chips
        preempt = self.preemption and job.band < BEST_EFFORT
        for dims in sizes:
            job.set_size(dims, chips)
            alloc = self.pool.find(job)
            if alloc is not None:
                return alloc, []
            if preempt:
                choice = self._search(job, job.band + 1)
                if choice is not None:
                    return choice
        job.set_size(before, chips)
        return None

    def _preempt_victims(self, victims, t: float) -> None:
        for victim in victims:
            self.starter.stop(victim, t, planned=self.notice)
            victim.preempted += 1
            self.preemptions += 1
            self.enqueue(victim, t)

    def _place_elastic(self, job, t: float) -> Allocation | None:
        """A waiting elastic job starts at the largest of its sizes that free usable cubes and
        preemption of strictly lower bands make room for."""
        stamp = self._elastic_stamp(job)
        if self._elastic_tried.get(job.id) == stamp:
            return None  # nothing has changed since it last found no place
        found = self._reach(job, job.sizes)
        if found is None:
            self._elastic_tried[job.id] = self._elastic_stamp(job)
            return None
        self._preempt_victims(found[1], t)
        return found[0]

    def _grow_elastic(self, t: float, band: int) -> None:
        """Before its band's queue is served (after the higher bands'), each running elastic job
        of ``band`` below its preferred size grows to the largest size that free cubes, its own
        and (by preemption) those of strictly lower bands hold, if the pre-flight check of the
        larger slice passes: it checkpoints, lets its cubes go and restarts on the larger slice."""
        pool = self.pool
        for job in list(self.elastic.values()):
            if job.state == DONE:
                del self.elastic[job.id]
                continue
            if job.band != band or job.state != RUNNING or job.stalled_at is not None or job.cube_dims == job.sizes[0]:
                continue
            stamp = self._elastic_stamp(job)
            if self._elastic_tried.get(job.id) == stamp:
                continue
            larger = [d for d in job.sizes if d[0] * d[1] * d[2] > job.cubes]
            current, alloc = job.cube_dims, job.alloc
            assert alloc is not None  # (a running job holds its slice)
            with pool.stamps.trial():  # as if it had let its cubes go (it has not, yet)
                pool.give_back(job, alloc)
                found = self._reach(job, larger)
                grown = job.cube_dims
                job.set_size(current, pool.machine.cube.chips)
                pool.take(job, alloc)
            if found is None:
                self._elastic_tried[job.id] = self._elastic_stamp(job)
                continue
            target, victims = found
            job.set_size(grown, pool.machine.cube.chips)
            passes = self.starter.can_start(job, target, t)  # (a fault it finds is known from now)
            job.set_size(current, pool.machine.cube.chips)
            if not passes:  # it runs on as it is (its slice's circuits unchanged)
                self._elastic_tried[job.id] = self._elastic_stamp(job)
                continue
            self._preempt_victims(victims, t)
            self.starter.stop(job, t, planned=True)
            job.set_size(grown, pool.machine.cube.chips)
            if not self.starter.resize(job, target, t):
                self.enqueue(job, t)

    # -- preemption ----------------------------------------------------------------------------
    def _preempt_for(self, job, t: float) -> Allocation | None:
        key, stamp = (job.band, job.spec.shape.dims, self.pool.cap.capped(job)), self.pool.stamps.movable_since(job.band)
        if self._no_victims.get(key) == stamp:
            return None
        choice = self._choose(job, job.band + 1)
        if choice is None:
            self._no_victims[key] = stamp
            return None
        target, victims = choice
        self._preempt_victims(victims, t)
        return target

    def _choose(self, job, min_band: int, smaller_than: int | None = None) -> tuple[Allocation, list] | None:
        """:meth:`_search`, for a whole-cube job only in the pods that changed since they last
        offered it nothing under the same rule (a pod's candidates depend on that pod alone)."""
        pool = self.pool
        if not job.cubes or pool.pods == 1:  # one pod: the search itself is the check
            return self._search(job, min_band, smaller_than)
        key = (job.band, job.spec.shape.dims, min_band, smaller_than, pool.cap.capped(job))
        quiet = self._quiet_pods.setdefault(key, {})
        band = job.band if min_band == job.band + 1 and smaller_than is None else None  # preemption's rule
        stamps = pool.stamps.pod_stamps(band)
        pods = [pod for pod in range(pool.pods) if quiet.get(pod) != stamps[pod]]
        if not pods:
            return None
        found = self._search(job, min_band, smaller_than, pods)
        if found is None:
            for pod in pods:
                quiet[pod] = stamps[pod]
        return found

    def _search(self, job, min_band: int, smaller_than: int | None = None,
                pods: list[int] | None = None) -> tuple[Allocation, list] | None:
        """A place for ``job`` and the jobs in its way, which may be of bands ``>= min_band``
        (and hold fewer than ``smaller_than`` chips): victims of the lowest priority first
        (only best-effort ones if that suffices), then the fewest, then the fewest chips.
        A whole-cube job looks in ``pods`` (default: all), a sub-cube job everywhere."""
        for lowest in range(BEST_EFFORT, min_band - 1, -1):
            best, best_key = None, None
            for target, victims in self._candidate_places(job, (lowest, smaller_than), pods):
                if not victims:
                    continue
                key = (len(victims), sum(v.chips for v in victims))
                if best_key is None or key < best_key:
                    best, best_key = (target, victims), key
            if best is not None:
                return best
        return None

    def _movable(self, pod: int, rule: tuple[int, int | None]) -> int:
        """``pod``'s usable local cubes whose holders all obey ``rule`` (free ones included), as
        a bitmask."""
        pool = self.pool
        lowest, smaller_than = rule
        bands = pool.holdings.band_bits[pod]
        stuck = 0
        for b in range(lowest):
            stuck |= bands[b]
        ok = pool.usable_bits(pod) & ~stuck
        if smaller_than is not None:  # also every holder smaller than the job
            base, m = pod * pool.cubes_per_pod, ok & pool.held_bits(pod)
            while m:
                low = m & -m
                c = low.bit_length() - 1
                if any(j.chips >= smaller_than for j in pool.holders(base + c)):
                    ok &= ~low
                m ^= low
        return ok

    @staticmethod
    def _rule(rule: tuple[int, int | None]):
        lowest, smaller_than = rule
        if smaller_than is None:
            return lambda j: j.band >= lowest
        return lambda j: j.band >= lowest and j.chips < smaller_than

    def _candidate_places(self, job, rule, pods=None):
        """Each place ``job`` could take (an allocation) with the running jobs in the way,
        for the places where all of those obey ``rule`` (they may be moved); a whole-cube job
        looks only in ``pods`` (default all), in ascending order."""
        pool = self.pool
        may_move = self._rule(rule)
        cap, fault = pool.cap, pool.health.fault
        capped = cap.capped(job)  # the spare-cube cap, counted before any victim leaves
        if not job.cubes:
            for cube in range(pool.machine.cubes):
                if pool.reservations.is_reserved(cube) or (capped and cap.counts_against(cube)
                                                           and cap.allowance(cube // pool.cubes_per_pod) < 1):
                    continue
                holders = pool.holders(cube)
                stuck = 0  # chips held by jobs that may not move
                for j in holders:
                    if not may_move(j):
                        stuck |= j.alloc.mask
                for mask in pool.fit.blocks[job.level]:
                    if not mask & (fault[cube] | stuck):
                        yield (Allocation(cube // pool.cubes_per_pod, [cube], mask),
                               [j for j in holders if j.alloc.mask & mask])
            return
        dims = job.cube_dims  # (one per shape, but for an elastic job's sizes)
        for pod in range(pool.pods) if pods is None else pods:
            key = (pod, dims, rule, capped)
            stamp = pool.stamps.pod_changes[pod]
            known = self._offers.get(key) if self.reuse_offers else None
            if known is not None and known[0] == stamp:  # the pod is as it was: so are its offers
                yield from known[1]
                continue
            offers: list = []
            ok = self._movable(pod, rule)
            if (pool.health.pod_usable(pod, job.cube_dims) and ok.bit_count() >= job.cubes  # ok includes the free cubes
                    and not (capped and cap.allowance(pod) < job.cubes)):
                offers = list(self.policy.places_with_victims(pool, job, pod, pool.usable_bits(pod), ok))
            self._offers[key] = (stamp, offers)
            yield from offers

    # -- defragmentation -----------------------------------------------------------------------
    def _defrag_for(self, job, t: float) -> Allocation | None:
        key, stamp = (job.band, job.spec.shape.dims, self.pool.cap.capped(job)), self.pool.stamps.movable_since()
        last = self._no_defrag.get(key)
        if last is not None and (last[0] == stamp or t < last[1] + self.defrag_retry):
            return None
        choice = self._choose(job, job.band + 1, smaller_than=job.chips)  # strictly lower bands only
        plan = self._plan_moves(*choice) if choice is not None else None
        if choice is None or plan is None:
            self._no_defrag[key] = (stamp, t)
            return None
        target, movers = choice
        pm = self.starter
        for m in movers:
            pm.stop(m, t, planned=True)
        for m, alloc in zip(movers, plan):
            m.migrated += 1
            self.migrations += 1
            if not pm.start(m, alloc, t, migration=True):  # its pre-flight found a fault
                self.enqueue(m, t)
        return target

    def _plan_moves(self, target: Allocation, movers: list) -> list[Allocation] | None:
        """A new place outside ``target`` for every mover, or None if some mover has none (then
        nothing changes). Places are searched as if the movers had already left, each one held
        by a stand-in while the next is placed; the pool ends as it started."""
        plan: list[Allocation] = []
        pool = self.pool
        with pool.stamps.trial():
            for m in movers:
                pool.give_back(m, m.alloc)
            pool.reserve(target)  # the movers must land outside the target
            for m in movers:
                alloc = pool.find(m)
                if alloc is None:
                    break
                pool.take(_StandIn(m), alloc)
                plan.append(alloc)
            for m, alloc in zip(movers, plan):
                pool.give_back(_StandIn(m), alloc)
            pool.unreserve(target.pod)
            for m in movers:
                pool.take(m, m.alloc)
        return plan if len(plan) == len(movers) else None


class _StandIn:
    """Holds a mover's planned place in the pool while the other movers are placed."""

    __slots__ = ("id", "band", "chips", "cubes", "alloc")

    def __init__(self, job):
        self.id = -1 - job.id  # never a real job's id
        self.band = job.band
        self.chips = job.chips
        self.cubes = job.cubes
        self.alloc = None
