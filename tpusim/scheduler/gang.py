"""Multislice jobs: one job of N slices in N pods, joined over the data-center network (DESIGN §3).

A multislice hero job (``workload.hero[].slices`` = N > 1) is a *gang* of N member jobs, each a
slice of the hero's shape in a pod of its own (a slice never spans pods). The slices talk over
the data-center network, which no OCS switches: nothing between pods is programmed, and that
network is not modelled to fail. The members share one timeline - progress, checkpoints, speed
and the instant compute resumes are equal at every moment - while each holds, and accounts, its
own chips, so the gang's useful chip-hours are N x chips x work. Semantics:

- **Gang placement** (:meth:`Gang.find`, :meth:`Gang.start`): only the leader (member 0) waits
  in the scheduler's queue. A pass looks for N allocations in N distinct pods: each one found
  has its pod reserved whole (inside a stamps trial, as defragmentation plans its moves) while
  the next is searched, then the reservations are lifted; pods being independent, this finds N whenever
  N pods can each hold a slice. All N start at the same instant or none does: the pre-flight
  check of every member runs first, and a failed one starts nobody (the faults it found become
  known; the leader waits for the next pass). **Preemption**: where free cubes hold fewer than
  N slices, each missing slice takes a place with victims of strictly lower bands in another
  pod (:meth:`~tpusim.scheduler.scheduler.Scheduler._place_gang`: in each pod the scheduler's
  own victim choice; across pods, those whose victims are of the lowest band, then fewest,
  then hold the fewest chips), the victims stopped as for any preemption; if too few pods
  offer one, nobody is stopped. A multislice job is production (the build refuses another
  band), and production is never preempted, moved by defragmentation or evicted, so the
  scheduler never stops a member.
- **It stops when any slice stops** (:meth:`Gang.stall`): a failure under one member stalls
  every member at that instant. On detection (:meth:`Gang.recover`) every member is interrupted
  back to the common last durable checkpoint: the members without a failure lose the same work
  as the hit one, and their chips' time from the stall is lost to hardware too (``lost``). Then
  each member, the hit one first, recovers as a single slice would
  (:meth:`~tpusim.scheduler.pod_manager.PodManager._resume`: a spare swap in its pod, a restart
  in place, else the queue), all at the same instant and from the same checkpoint. Under the
  in-memory store, if any member must restore from storage, all do. Under FT routing, if every
  member's slice can run around its faults, all carry on where they stood, at the slowest
  member's speed (a repair re-rates the gang the same way, :meth:`Gang.rerate`).
- **Together again** (:meth:`Gang._together`): compute resumes for every member when the
  slowest member's setup ends (a swap programs circuits and pays the reconfiguration; a restart
  in place does not). A member ready earlier waits, and its wait is charged as the rest of its
  own setup, to the same account: ``lost`` (and ``recovery_setup``) after a failure,
  ``setup_held`` at a first start, after the queue or after a drain.
- **All or nothing** (:meth:`Gang.requeue`): if any member cannot run (no spare, its pod cannot
  place it, a failed pre-flight check), every member lets its cubes go and the gang goes back
  to the queue together (restoring from storage at its next start).
- Planned maintenance (:meth:`Gang.drain`): every member checkpoints at once (losing nothing);
  the drained member moves to spares (a migration) or the gang goes back to the queue, and the
  others restart from that checkpoint. A gray fault under one member fails the gang
  (:meth:`Gang.crash`).
- A hero with ``slices: 1`` makes no gang: it is the single slice it always was.

Accounting: each member is a :class:`~tpusim.scheduler.job.Job` (and a row of the job records:
machine-level job counts count a gang's N slices). A gang presents its members' sums under the
job's names (``held``, ``useful``, ``lost``, ...) with ``work_chips`` = N x the slice's chips,
so that :func:`~tpusim.scheduler.hero.hero_metrics` reports it as one job: its preferred
chip-time is N x the slice's chips; its interruptions are the gang's (once per stop); its time
at the preferred size is the time all N were held.
"""

from __future__ import annotations

from typing import Any, Callable

from tpusim.scheduler.job import PENDING, RUNNING, Job
from tpusim.scheduler.workload import JobSpec
from tpusim.topology.allocation import Allocation

#: Member ``m`` of a gang has the id of its leader plus ``m`` times this (hero ids are small
#: offsets from :data:`~tpusim.scheduler.workload.HERO_ID_BASE`, so no two jobs share an id).
GANG_ID_STRIDE = 1 << 32


def gang_members(spec: JobSpec, slices: int, make: Callable[[JobSpec], Job]) -> list[Job]:
    """The jobs of a hero of ``slices`` slices (``make`` builds one from its spec): one job, or
    the members of a new :class:`Gang`, the leader (with ``spec``'s id) first."""
    leader = make(spec)
    if slices == 1:
        return [leader]
    members = [leader] + [make(spec._replace(id=spec.id + m * GANG_ID_STRIDE)) for m in range(1, slices)]
    Gang(members)
    return members


def _sum(name: str) -> Any:
    """A property of a :class:`Gang`: the sum of its members' ``name``."""
    return property(lambda self: sum(getattr(m, name) for m in self.members))


class Gang:
    """A multislice job: its member jobs, which it keeps on one timeline, and their sums."""

    def __init__(self, members: list[Any]):
        self.members = members
        self.leader = members[0]
        self.arrival = self.leader.arrival
        self.sizes = self.leader.sizes  # (one slice's; a gang is rigid)
        for m in members:
            m.gang = self

    # -- the gang as one job (what hero_metrics reads) -----------------------------------------
    @property
    def slices(self) -> int:
        return len(self.members)

    @property
    def work_chips(self) -> float:
        return sum(m.work_chips for m in self.members)

    held, useful, lost, recovery_setup = _sum("held"), _sum("useful"), _sum("lost"), _sum("recovery_setup")
    setup_held, resize_held, ckpt_stall = _sum("setup_held"), _sum("resize_held"), _sum("ckpt_stall")
    slow_lost, preempt_lost, short = _sum("slow_lost"), _sum("preempt_lost"), _sum("short")
    @property
    def finish(self) -> float | None:
        return self.leader.finish

    @property
    def at_full(self) -> float:
        return min(m.at_full for m in self.members)

    @property
    def interruptions(self) -> int:
        return max(m.interruptions for m in self.members)

    @property
    def resizes(self) -> int:
        return max(m.resizes for m in self.members)

    # -- placement -----------------------------------------------------------------------------
    def find(self, pool) -> list[Allocation] | None:
        """An allocation for every member, in distinct pods, or None (the pool as it was)."""
        found = self.free_places(pool)
        return found if len(found) == len(self.members) else None

    def free_places(self, pool) -> list[Allocation]:
        """Allocations on free cubes for as many members as there are pods to hold them (at most
        all), in distinct pods (the pool as it was)."""
        found: list[Allocation] = []
        per = pool.cubes_per_pod
        with pool.stamps.trial():
            for m in self.members:
                alloc = pool.find(m)
                if alloc is None:
                    break
                found.append(alloc)
                pool.reserve(Allocation(alloc.pod, list(range(alloc.pod * per, (alloc.pod + 1) * per)), pool.full_mask))
            for alloc in found:
                pool.unreserve(alloc.pod)
        return found

    def start(self, pm, allocs: list[Allocation], t: float) -> bool:
        """Start every member on its allocation at ``t`` (the scheduler's pass has just taken the
        leader off the queue); False, holding nothing, if a pre-flight check fails."""
        needs = [pm._needed(m, a) for m, a in zip(self.members, allocs)]
        rates = []
        for m, a, needed in zip(self.members, allocs, needs):
            rate = pm.preflight(m, a, t, needed)
            if rate is None:
                return False
            rates.append(rate)
        for m, a, needed, rate in zip(self.members, allocs, needs, rates):
            if m is not self.leader:
                m.waited += t - m.queued_since  # (the scheduler counted the leader's wait)
            pm.pool.take(m, a)
            m.alloc = a
            if m.first_start is None and needed.joins:
                pm.circuits_used += pm.circuits.count(needed)
            pm._begin(m, t, needed, rate, "first" if m.first_start is None else "restart")
        self._together(pm, t)
        return True

    def _together(self, pm, t: float) -> None:
        """Every member has just (re)started at ``t``: compute resumes for all when the slowest
        setup ends (the others' setups extended to it), at the slowest member's speed."""
        members = self.members
        resume = max(m.compute_start for m in members)
        rate = min(m.rate for m in members)
        for m in members:
            m.setup_end = m.compute_start = resume
            m.rate = rate
            m.run += 1  # (the completion _begin scheduled is stale)
            pm._schedule_completion(m, t)

    def requeue(self, pm, t: float) -> None:
        """Every member lets its cubes go at ``t``; the leader goes back to the queue."""
        for m in self.members:
            if m.alloc is not None:
                pm._leave_hosts(m)
                pm._end_run(m, t)
            m.state = PENDING
            m.queued_since = t
        pm._requeue(self.leader, t)

    # -- failures ------------------------------------------------------------------------------
    def stall(self, t: float) -> None:
        """A failure under one member at ``t``: every running member stalls with it."""
        for m in self.members:
            if m.state == RUNNING and m.stalled_at is None:
                m.settle_rate(t)
                m.stall(t)

    def recover(self, pm, job, t: float) -> None:
        """The failure under member ``job`` has been detected at ``t``: route every member
        around its faults (FT, if all can), or interrupt all and restart them together."""
        members = self.members
        if pm.policy.routes_around_faults(job):
            rates = [pm.policy.slice_rate(m, m.alloc, pm._true_faults(m.alloc, cube_dims=m.cube_dims))
                     for m in members]
            if None not in rates:
                for m in members:
                    pm._reroute(m, t, min(rates))
                return
        for m in members:
            pm._interrupt(m, t)
        self._common_checkpoint(pm)
        self._restart(pm, job, t)

    def crash(self, pm, job, t: float) -> float:
        """A gray fault failed member ``job`` at ``t``: the gang restarts from its last
        checkpoint. Returns the hours of work lost and the restore paid (by each member)."""
        self.stall(t)
        done = job.progress_at(t)
        for m in self.members:
            pm._interrupt(m, t)
        self._common_checkpoint(pm)
        restore = job.restore_hours()
        self._restart(pm, job, t)
        if job.state != RUNNING:
            restore = job.restore_hours()
        return done - job.progress + restore

    def _common_checkpoint(self, pm) -> None:
        """Under the in-memory store: if some member must restore from storage, all do."""
        members = self.members
        if any(m.from_memory for m in members) and not all(m.from_memory for m in members):
            for m in members:
                pm._leave_hosts(m)

    def _restart(self, pm, first, t: float, kind: str = "swap") -> None:
        """Every member, ``first`` first, recovers as a single slice would; if one cannot run,
        the gang is requeued (each member keeping what its next setup is charged to)."""
        members = [first] + [m for m in self.members if m is not first]
        recovering = [m.recovering for m in members]
        for m in members:
            pm._resume(m, t, kind)
            if m.state != RUNNING:  # it went back to the queue, and the gang with it
                for other, flag in zip(members, recovering):
                    other.recovering = flag
                return
        self._together(pm, t)

    def drain(self, pm, job, t: float) -> None:
        """Planned maintenance took parts of member ``job``'s slice (see
        :meth:`~tpusim.scheduler.pod_manager.PodManager.drain`): every member checkpoints at
        ``t``; ``job`` moves its affected cubes to spares, or the gang goes back to the queue."""
        members = self.members
        if any(m.stalled_at is not None for m in members):
            return  # a failure got there first: its recovery will see the maintenance too
        if pm.policy.routes_around_faults(job) and self.rerate(pm, t):
            return
        pm.drains += 1
        for m in members:
            m.settle_rate(t)
            m.progress = m.progress_at(t)  # the checkpoint written before the parts go
            m.restore(t)
        alloc, health = job.alloc, pm.pool.health
        if not (job.cubes and pm._swaps(job) and health.pod_usable(alloc.pod, job.cube_dims)
                and any(not health.cube_usable(c) for c in alloc.cubes)):
            return self.requeue(pm, t)
        if pm.runs is not None:
            for m in members:
                pm.runs.close(m, t, interrupted=False)
        self._restart(pm, job, t, "migration")

    def rerate(self, pm, t: float) -> bool:
        """The faults under a member changed: every member runs at the slowest one's speed.
        False (speeds left alone) if some member's slice cannot run with its faults."""
        rates = [pm.policy.slice_rate(m, m.alloc, pm._true_faults(m.alloc, cube_dims=m.cube_dims))
                 for m in self.members]
        if None in rates:
            return False
        rate = min(rates)
        for m in self.members:
            if rate != m.rate:
                m.set_rate(t, rate)
                m.run += 1
                pm._schedule_completion(m, t)
        return True
