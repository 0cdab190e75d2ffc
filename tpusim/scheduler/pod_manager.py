"""The Pod Manager: turns allocations into running slices and keeps them running (DESIGN §3).

- **Start**: runs libtpunet's pre-flight check against the *true* health of every part the
  slice uses (an OCS whose control plane is down is a fault only where the start must change
  circuits through it); a failed check makes the faults it found known at once, holds and
  programs nothing, and hands the job back to the scheduler to pick other cubes. Otherwise it
  programs the circuits the slice needs (the policy says which:
  :meth:`~tpusim.policies.Policy.slice_circuits`, 48 per cube of a whole-cube slice on 4x4x4
  cubes; cables and sub-cube slices need none) that the switches do not already hold
  (:class:`~tpusim.scheduler.circuits.CircuitState`: an OCS keeps its circuits after a job
  ends). Those, and only those, are the *xconnects* counted; when there is at least one the
  start takes ``reconfigure_minutes`` plus ``reconfigure_seconds_per_circuit`` for each (0 by
  default: the mirrors of one reconfiguration move together, in one round, and the time
  modelled is the control plane's and the pre-flight check's), otherwise no reconfiguration time. Every other
  placement (restart in place or after requeue, spare swap, migration) is counted the same way,
  against the same state: a restart in place, or a re-start on the same cubes in the same
  slots, programs nothing.
- **Failure under a running slice**: the job stalls at the failure; after the detection delay the
  Pod Manager restarts it from its last checkpoint (under the in-memory store, from peers' RAM
  while every shard keeps a copy and the job stays on its hosts, else from storage:
  :mod:`tpusim.scheduler.checkpoint`). Where the policy swaps cubes
  (:meth:`~tpusim.policies.Policy.swaps_cubes`) and ``swap_spares`` is on, whole-cube slices get each
  broken cube swapped for a healthy free spare of the same pod (only the circuits touching
  the swapped cubes change); if no spare is free, or the policy has none, or for a
  sub-cube slice, the job restarts in place if its allocation is usable again, or else goes back
  to the queue (where it may preempt lower bands).
- **Preemptible spares** (``preemptible_spares``): when a swap finds too few free spares, it
  evicts best-effort (preemptible) work from usable cubes of the pod - the fewest, smallest jobs
  that free enough cubes - and swaps at the same instant: preemptible work never delays a swap.
  Evicted jobs are killed (a swap does not wait for their checkpoint), counted as
  ``spare_evictions`` and go back to the queue. Best-effort jobs themselves evict no one.
- **Stops** for preemption (the job is killed: work since its last checkpoint is lost) and for
  migration (planned: it checkpoints first and loses nothing but the restart).
- **Fault-tolerant routing** (where the policy routes a slice around faults,
  :meth:`~tpusim.policies.Policy.routes_around_faults`: whole-cube slices): link and OCS faults do
  not stop a slice whose chip graph stays connected with at most ``ft_routing.max_faults``
  faulty components. After the detection delay (the stall, while libtpunet notices the fault and
  reroutes) the job carries on from where it stood, with no lost work and no restart, at the
  speed :mod:`tpusim.topology.routing` computes from its graph; a repair speeds it up again.
  Host faults still need a cube swap. Pre-flight admits a slice with tolerable faults, degraded.

Collaborators, all explicit: the policy (the OCSes and circuits a slice is wired through, spare
swaps, the degraded-rate and rerouting rules), the
pool, the *true* health state (what pre-flight checks see), the SimPy environment, and three
callbacks: ``requeue`` (hand a job back to the scheduler's queue), ``detect`` (a pre-flight
check made a fault known) and ``request_pass``; optionally a
:class:`~tpusim.scheduler.runs.RunLog` told of every run's start and end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import simpy

from tpusim.core.metrics import FT_REROUTES, MAINTENANCE_DRAINS, PREFLIGHT_FAILURES, SPARE_EVICTIONS, SPARE_SWAPS
from tpusim.failures.health import HOST, ICI_LINK, OCS, OCS_PORT, HealthState
from tpusim.policies.base import Policy
from tpusim.scheduler.checkpoint import copies_lost
from tpusim.scheduler.circuits import CircuitState
from tpusim.scheduler.job import DONE, PENDING, RUNNING, Job
from tpusim.scheduler.pool import CubePool
from tpusim.scheduler.runs import RunLog
from tpusim.scheduler.scheduler import BEST_EFFORT
from tpusim.topology.allocation import Allocation
from tpusim.topology.graph import NO_CIRCUITS, SliceCircuits
from tpusim.topology.shapes import Dims
from tpusim.core.units import MINUTES_PER_HOUR


#: Why cross-connects are programmed: a job's first placement, a spare-cube swap, a migration
#: (defragmentation), a restart (on a new allocation after the job went back to the queue or an
#: elastic job shrank after a failure, or in place: which programs nothing, its circuits being
#: still set), or an elastic job's planned growth (resize).
XCONNECT_KINDS = ("first", "swap", "migration", "restart", "resize")


@dataclass(frozen=True)
class PodManagerParams:
    """The ``pod_manager`` section (less fault-tolerant routing, which the policy holds), in hours."""

    reconfigure: float = 1.0 / MINUTES_PER_HOUR  # hours to program xconnects and run the pre-flight check
    swap_spares: bool = True  # swap failed cubes for spares, where the policy can
    spare_cubes: int = 0  # per pod, usable cubes kept free of production and batch work (the pool's cap)
    preemptible_spares: bool = False  # best-effort work may use the spares; a swap evicts it
    per_circuit: float = 0.0  # hours more per circuit changed (0: the mirrors move together)


class PodManager:
    def __init__(self, params: PodManagerParams, policy: Policy, pool: CubePool, true: HealthState,
                 env: simpy.Environment, restart: float, requeue: Callable[[Job, float], None],
                 detect: Callable[[int, int, float], None], request_pass: Callable[[], None],
                 finished: Callable[[Job], None] = lambda job: None, runs: RunLog | None = None):
        self.policy = policy
        self.pool = pool
        self.true = true
        self.env = env
        self.machine = pool.machine
        self._links_per_cube = pool.machine.cube.links
        self.reconfigure = params.reconfigure
        self.per_circuit = params.per_circuit
        self.restart = restart  # hours from (re)start to the first useful step
        self.swap_spares = params.swap_spares  # the scenario allows swaps (the policy says where a cube can be swapped in)
        self.preemptible_spares = params.preemptible_spares
        self._requeue = requeue
        self._detect = detect
        self._request_pass = request_pass
        self._finished = finished  # told of every job that completes
        self.circuits = CircuitState(self.machine)  # what every OCS holds; kept after a job ends
        self.xconnects = 0  # circuits changed by placements
        self.xconnects_by = dict.fromkeys(XCONNECT_KINDS, 0)  # the same total, by why they were made
        self.circuits_used = 0  # circuits the started jobs' first slices use (changed or not)
        self._ocs_dim = tuple(self.machine.ocs_dp(u)[0] for u in range(self.machine.ocs_per_pod))
        self.preflight_failures = 0
        self.swaps = 0
        self.evictions = 0  # preemptible jobs evicted for a swap
        self.ft_reroutes = 0
        self.drains = 0  # jobs moved or stopped for planned maintenance
        self.runs = runs  # each run's parts and fate, when a localisation study asks

    def metrics(self) -> dict[str, float]:
        """What the Pod Manager counted over a run, by metric name (its cross-connects go to the
        outcome by why they were made, ``xconnects_by``, beside ``circuits_used``)."""
        return {PREFLIGHT_FAILURES: float(self.preflight_failures), SPARE_SWAPS: float(self.swaps),
                SPARE_EVICTIONS: float(self.evictions), MAINTENANCE_DRAINS: float(self.drains),
                FT_REROUTES: float(self.ft_reroutes)}

    # -- pre-flight ----------------------------------------------------------------------------
    def _true_faults(self, alloc: Allocation, needed: SliceCircuits = NO_CIRCUITS,
                     cube_dims: Dims | None = None) -> list[tuple[int, int]]:
        """Truly-down components a slice of ``cube_dims`` on the allocation uses (what libtpunet's
        BFS would find: the optical ports and OCSes as its torus or mesh is wired), with the
        circuits ``needed`` about to be programmed: an OCS through which some of them must change
        is a fault if it is down in either mode, any other only if dark (a control-plane failure
        leaves the circuits lit)."""
        true, cube = self.true, self.machine.cube
        whole = alloc.mask == self.pool.full_mask
        found: list[tuple[int, int]] = []
        cube_faults = true.cube_faults
        hosts, links, electrical = cube.hosts, self._links_per_cube, cube.electrical_count
        host_down, link_down, port_down = true.down[HOST], true.down[ICI_LINK], true.down[OCS_PORT]
        ports = true.ports_per_cube
        for c in [c for c in alloc.cubes if cube_faults[c]]:  # (most cubes have no fault)
            if whole and true.n_down[OCS_PORT]:
                found += [(OCS_PORT, c * ports + q) for q in range(ports)
                          if port_down[c * ports + q] and self.policy.uses_ocs_port(alloc, c, q, cube_dims)]
            for h in range(hosts):
                if host_down[c * hosts + h] and cube.host_masks[h] & alloc.mask:
                    found.append((HOST, c * hosts + h))
            for link in range(links):
                unit = c * links + link
                if link_down[unit]:
                    if link >= electrical:  # an optical port: used as the policy wires it
                        if whole and self.policy.uses_port(alloc, c, link - electrical, cube_dims):
                            found.append((ICI_LINK, unit))
                    elif whole or alloc.mask & cube.link_masks[link] == cube.link_masks[link]:
                        found.append((ICI_LINK, unit))
        if whole and true.ocs_down[alloc.pod]:
            dims = {face[0] for face in self.circuits.changes(needed)}  # whose OCSes are programmed
            per, dim = self.machine.ocs_per_pod, self._ocs_dim
            found += [(OCS, u) for u in self.policy.slice_ocses(alloc.pod, cube_dims)
                      if true.down[OCS][u] and (true.dark[u] or dim[u % per] in dims)]
        return found

    def preflight(self, job, alloc: Allocation, t: float, needed: SliceCircuits = NO_CIRCUITS) -> float | None:
        """libtpunet's check of the slice against the true health, with the circuits ``needed``
        about to be programmed: the speed it can run at (1.0 when healthy), or None - then the
        faults it found are known from now on."""
        faults = self._true_faults(alloc, needed, job.cube_dims)
        rate = self.policy.slice_rate(job, alloc, faults)
        if rate is not None:
            return rate
        self.preflight_failures += 1
        for k, unit in faults:  # the check has just detected them
            self._detect(k, unit, t)
        return None

    # -- running -------------------------------------------------------------------------------
    def start(self, job, alloc: Allocation, t: float, migration: bool = False, resize: bool = False) -> bool:
        """Start ``job`` on ``alloc`` (``migration``: moved there by defragmentation; ``resize``:
        an elastic job grown); False (nothing held) if the pre-flight check fails."""
        needed = self._needed(job, alloc)
        rate = self.preflight(job, alloc, t, needed)
        if rate is None:
            return False
        self.pool.take(job, alloc)
        job.alloc = alloc
        kind = ("migration" if migration else "resize" if resize else "first" if job.first_start is None
                else "restart")
        if job.first_start is None and needed.joins:
            self.circuits_used += self.circuits.count(needed)
        self._begin(job, t, needed, rate, kind)
        return True

    def _needed(self, job, alloc: Allocation) -> SliceCircuits:
        """The circuits ``job``'s slice on ``alloc`` uses, as its policy wires it (a sub-cube slice
        uses none, on any machine: the policy is not asked, for the most frequent start)."""
        return self.policy.slice_circuits(alloc, job.cube_dims) if job.cubes else NO_CIRCUITS

    def _begin(self, job, t: float, needed: SliceCircuits, rate: float = 1.0, kind: str = "restart") -> None:
        """Run ``job`` from ``t`` on its allocation: program the circuits ``needed`` that the
        switches do not hold (the xconnects, counted under ``kind``) and pay the setup
        (reconfiguration when any circuit changes, and the restart)."""
        xconnects = self.circuits.program(needed) if needed.joins else 0
        job.state = RUNNING
        job.run += 1
        job.stalled_at = None
        setup = (self.reconfigure + self.per_circuit * xconnects if xconnects else 0.0) + self.restart + job.restore_hours()
        job.begin_segment(t, setup, job.recovering, kind == "resize")
        job.recovering = False
        job.restore(t + setup)
        job.rate, job.rate_since = rate * job.scale, t  # (an elastic job runs at its size's share)
        if job.first_start is not None and job.cubes != job.ran_cubes:
            job.resizes += 1  # an elastic job started at another size than it last ran at
        job.ran_cubes = job.cubes
        job.xconnects += xconnects
        self.xconnects += xconnects
        self.xconnects_by[kind] += xconnects
        if job.first_start is None:
            job.first_start = t
        if self.runs is not None:
            self.runs.open(job, t)
        self._schedule_completion(job, t)

    def _schedule_completion(self, job, t: float) -> None:
        """(Re)schedule the end of the current run; earlier completions become stale."""
        finish = job.finish_time()
        done = self.env.timeout(max(0.0, finish - t), (job, job.run))
        done.callbacks.append(self._completed)

    def _completed(self, event) -> None:
        job, run = event.value
        if job.run != run or job.state != RUNNING or job.stalled_at is not None:
            return  # a stale completion: the job was stopped, stalled or moved since
        t = self.env.now
        self._end_run(job, t)
        job.progress = job.work
        job.state = DONE
        job.finish = t
        self._finished(job)
        self._request_pass()

    def _end_run(self, job, t: float) -> None:
        if self.runs is not None:
            self.runs.close(job, t, interrupted=False)
        job.settle_rate(t)
        job.close_segment(t)
        self.pool.give_back(job, job.alloc)
        job.alloc = None
        job.run += 1
        if job.ram_down is not None:
            job.ram_down.clear()  # its next hosts start with their RAM whole

    def stop(self, job, t: float, planned: bool) -> None:
        """Stop a running job for preemption (killed) or migration (planned: checkpoint first)."""
        job.settle_rate(t)  # (accounted on the run's state, before it changes)
        if not planned:  # killed: the work since its last checkpoint is lost (it leaves its hosts:
            # under the in-memory store, the last one on storage)
            job.preempt_lost += job.work_chips * (job.progress_at(t) - job.last_storage_checkpoint(t))
        job.progress = job.progress_at(t) if planned else job.last_storage_checkpoint(t)
        if job.stalled_at is not None:  # stopped while stalled: the failure's recovery is moot
            job.lost += job.chips * (t - job.stalled_at)  # (the stall was the failure's)
            job.abandon_setup(job.stalled_at)
            job.stalled_at = None
        self._end_run(job, t)
        job.state = PENDING

    def requeue(self, job, t: float) -> None:
        if job.gang is not None:
            return job.gang.requeue(self, t)  # all slices together
        self._leave_hosts(job)
        self._end_run(job, t)
        job.state = PENDING
        self._requeue(job, t)

    def _leave_hosts(self, job) -> None:
        """``job`` leaves its hosts after an interruption, and its in-memory checkpoint with them:
        it will restore from storage."""
        if job.from_memory:
            job.lost += job.work_chips * (job.progress - job.saved_storage)
            job.progress = job.saved_storage
            job.from_memory = False

    def can_start(self, job, alloc: Allocation, t: float) -> bool:
        """Would ``job`` (at its size now) pass the pre-flight check on ``alloc``? The faults a
        failed check finds are known from now on, as after any pre-flight check."""
        return self.preflight(job, alloc, t, self._needed(job, alloc)) is not None

    def resize(self, job, alloc: Allocation, t: float) -> bool:
        """Start an elastic job that the scheduler has just stopped (planned: it checkpointed)
        on ``alloc``, a larger slice it is resized to already, paying a setup; False if the
        pre-flight check fails (then it is the queue's, PENDING, at its preferred size)."""
        if self.start(job, alloc, t, resize=True):
            return True
        job.set_size(job.sizes[0], self.machine.cube.chips)
        return False

    # -- failures ------------------------------------------------------------------------------
    def recover(self, job, t: float) -> None:
        """The failure under ``job`` has been detected: route around it (FT), or restart the
        job from its last checkpoint."""
        if job.gang is not None:
            return job.gang.recover(self, job, t)  # every slice of a multislice job (tpusim.scheduler.gang)
        if self.policy.routes_around_faults(job):
            rate = self.policy.slice_rate(job, job.alloc, self._true_faults(job.alloc, cube_dims=job.cube_dims))
            if rate is not None:
                return self._reroute(job, t, rate)
        self._interrupt(job, t)
        self._resume(job, t)

    def crash(self, job, t: float) -> float:
        """A gray fault has just failed ``job`` (:mod:`tpusim.failures.gray`): nothing is known to
        be down, so the job restarts from its last checkpoint where the known health lets it
        (in place, mostly: on the same gray part). Returns the chip-hours of the work it lost and of
        the restore its restart pays (at the size it ran at; for a gang, every slice's)."""
        if job.gang is not None:  # (rigid: its chips are its preferred slice's)
            return job.chips * job.slices * job.gang.crash(self, job, t)
        job.settle_rate(t)
        job.stall(t)
        done = job.progress_at(t)
        chips = job.chips
        self._interrupt(job, t)
        restore = job.restore_hours()
        self._resume(job, t)
        if job.state != RUNNING:  # back to the queue: it will restore from storage
            restore = job.restore_hours()
        return job.work_chips * (done - job.progress) + chips * restore

    def _interrupt(self, job, t: float) -> None:
        """Account a hardware interruption of a stalled job: back to its last checkpoint."""
        stalled = job.stalled_at
        job.settle_rate(t)  # (accounted on the run's state, before it changes)
        done = job.progress_at(stalled)
        saved = job.last_checkpoint(stalled)
        if job.ram_down is not None:  # the in-memory store: RAM, unless a shard lost both copies
            storage = job.last_storage_checkpoint(stalled)
            if self._copies_lost(job):
                saved = storage
            else:
                job.from_memory = True
                job.saved_storage = storage
        job.lost += job.work_chips * (done - saved) + job.chips * (t - stalled)
        job.abandon_setup(stalled)
        job.progress = saved
        job.stalled_at = None
        job.interruptions += 1
        job.recovering = True
        if self.runs is not None:
            self.runs.close(job, stalled, interrupted=True)

    def _copies_lost(self, job) -> bool:
        """Has some shard of ``job``'s in-memory checkpoint lost both copies (its RAM slots lost)?"""
        alloc, cube = job.alloc, self.machine.cube
        if not job.ram_down:
            return False
        if job.cubes:
            return copies_lost(job.ram_down, len(alloc.cubes), tuple(range(cube.hosts)))
        hosts = tuple(h for h in range(cube.hosts) if cube.host_masks[h] & alloc.mask)
        return copies_lost(job.ram_down, 1, hosts)

    def _resume(self, job, t: float, kind: str = "swap") -> None:
        """Restart an interrupted job: swap its broken cubes for spares (a swap, or under
        ``kind`` "migration" a drain's move), restart in place, or send it back to the queue."""
        alloc = job.alloc
        pool = self.pool
        health = pool.health
        if job.cubes and not health.pod_runs(alloc.pod, job.cube_dims):
            return self.requeue(job, t)  # no slice of whole cubes runs in this pod until repair
        if job.cubes:
            bad = [n for n, c in enumerate(alloc.cubes) if not health.cube_usable(c)]
        else:
            bad = [0] if alloc.mask & health.fault[alloc.cubes[0]] else []
        if bad and job.cubes and self._swaps(job) and health.pod_usable(alloc.pod, job.cube_dims):
            return self._swap(job, alloc, bad, t, kind)  # (a swap programs cross-connects)
        if bad or (job.cubes and not self.policy.links_usable(pool, alloc)):
            return self.requeue(job, t)  # (an elastic job restarts smaller at once, if it can: the scheduler's)
        self._restart_in_place(job, t)

    def _reroute(self, job, t: float, rate: float) -> None:
        """FT routing: resume a stalled job where it stood, at the speed its faults allow."""
        stalled = job.stalled_at
        job.lost += job.chips * max(0.0, t - max(stalled, job.compute_start))  # the stall until the reroute
        job.rebase(stalled, t)
        job.stalled_at = None
        job.rate, job.rate_since = rate * job.scale, t
        job.run += 1
        self.ft_reroutes += 1
        self._schedule_completion(job, t)

    def rerate(self, job, t: float) -> bool:
        """The faults under a running FT job changed (a repair, a planned outage): recompute its
        speed. False if its slice cannot run with them at all (the speed is then left alone)."""
        if job.gang is not None:
            return job.gang.rerate(self, t)
        rate = self.policy.slice_rate(job, job.alloc, self._true_faults(job.alloc, cube_dims=job.cube_dims))
        if rate is None:
            return False
        rate *= job.scale
        if rate != job.rate:
            job.set_rate(t, rate)
            job.run += 1
            self._schedule_completion(job, t)
        return True

    def _restart_in_place(self, job, t: float) -> None:
        job.close_segment(t)
        needed = self._needed(job, job.alloc)  # all set: a held slice's circuits stay as they are
        rate = self.preflight(job, job.alloc, t, needed)
        if rate is None:
            return self.requeue(job, t)
        self._begin(job, t, needed, rate)

    # -- planned maintenance -------------------------------------------------------------------
    def drain(self, job, t: float) -> None:
        """Planned maintenance has just taken parts of ``job``'s slice (known at once, being
        planned). A slice the policy routes around keeps running (degraded); otherwise the job
        checkpoints at ``t`` and loses no work: a whole-cube slice moves its affected cubes to
        free spares where the policy swaps them (a migration), else it goes back to the queue."""
        if job.gang is not None:
            return job.gang.drain(self, job, t)
        if job.stalled_at is not None:
            return  # a failure got there first: its recovery will see the maintenance too
        if self.policy.routes_around_faults(job) and self.rerate(job, t):
            return  # routed around the parts under maintenance
        alloc = job.alloc
        self.drains += 1
        job.settle_rate(t)
        job.progress = job.progress_at(t)  # the checkpoint written before the parts go
        job.restore(t)
        health = self.pool.health
        if job.cubes and self._swaps(job) and health.pod_usable(alloc.pod, job.cube_dims):
            bad = [n for n, c in enumerate(alloc.cubes) if not health.cube_usable(c)]
            if bad:
                return self._swap(job, alloc, bad, t, "migration")
        self.requeue(job, t)

    def _swaps(self, job) -> bool:
        """Are broken cubes under ``job``'s slice of whole cubes swapped for spares? Where the
        scenario lets the Pod Manager swap and the policy's wiring lets a cube be swapped in."""
        return self.swap_spares and self.policy.swaps_cubes(job)

    def _free_spares(self, pod: int) -> list[int]:
        pool = self.pool
        base = pod * pool.cubes_per_pod
        usable, reserved = pool.health.cube_usable, pool.reservations.is_reserved
        return [base + c for c in sorted(pool.holdings.free[pod]) if usable(base + c) and not reserved(base + c)]

    def _evict_for(self, job, pod: int, need: int, t: float) -> None:
        """Free ``need`` usable cubes of ``pod`` for ``job``'s swap by evicting preemptible
        (best-effort) work, choosing as the scheduler chooses victims: the fewest, smallest jobs."""
        pool = self.pool
        usable = pool.usable_bits(pod)
        bands = pool.holdings.band_bits[pod]
        only_preemptible = usable & ~(bands[0] | bands[1])  # free, or held by best-effort work only
        found = next(iter(self.policy.places_with_victims(pool, _Need(need), pod, usable, only_preemptible)), None)
        if found is None:
            return
        for victim in found[1]:
            self.stop(victim, t, planned=False)
            victim.evicted += 1
            self.evictions += 1
            self._requeue(victim, t)

    def _swap(self, job, alloc: Allocation, bad_slots: list[int], t: float, kind: str = "swap") -> None:
        pool = self.pool
        spares = self._free_spares(alloc.pod)
        if len(spares) < len(bad_slots) and self.preemptible_spares and job.band < BEST_EFFORT:
            self._evict_for(job, alloc.pod, len(bad_slots), t)
            spares = self._free_spares(alloc.pod)
        spares = spares[: len(bad_slots)]
        if len(spares) < len(bad_slots):
            return self.requeue(job, t)
        job.close_segment(t)
        if self.runs is not None:
            self.runs.close(job, t, interrupted=False)  # (a failure's swap closed it already)
        broken = [alloc.cubes[n] for n in bad_slots]
        pool.give_back(job, alloc, broken)
        for n, spare in zip(bad_slots, spares):
            alloc.cubes[n] = spare
        pool.take(job, Allocation(alloc.pod, spares, alloc.mask))
        needed = self._needed(job, alloc)  # those touching the spares change
        rate = self.preflight(job, alloc, t, needed)
        if rate is None:
            return self.requeue(job, t)
        if kind == "swap":
            self.swaps += 1
        else:
            job.migrated += 1
        self._begin(job, t, needed, rate, kind)


class _Need:
    """What a swap asks of the policy's victim search (a :class:`~tpusim.policies.SliceHolder`
    of ``cubes`` whole cubes, held nowhere): that many usable cubes of one pod."""

    __slots__ = ("id", "chips", "cubes", "cube_dims", "pattern", "alloc")
    cube_dims: Dims | None
    alloc: Allocation | None

    def __init__(self, cubes: int):
        self.id = -1
        self.chips = 0
        self.cubes = cubes
        self.cube_dims = None
        self.pattern = ""
        self.alloc = None
