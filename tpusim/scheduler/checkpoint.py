"""What a checkpoint costs, and the interval rules that trade that cost against failures.

A job writes a checkpoint each time its useful work reaches a multiple of its *interval* (hours
of useful work). Each write **stalls training** for its blocking part ``block``: the whole write
for a synchronous checkpoint, only the snapshot into host memory for an asynchronous one, whose
write then goes on in the background. A checkpoint is *durable* ``write`` hours after its write
starts (``block <= write``); a failure before then loses it, and the job falls back to the one
before. A job's timeline is therefore compute ``interval``, stall ``block``, compute, ... and
goodput against the interval has an interior optimum: short intervals pay many stalls, long
ones lose much work per failure.

Interval rules, from the blocking cost ``C = block`` and the mean time between the failures that
actually interrupt the job under its policy ``M`` (:meth:`tpusim.policies.Policy.interrupting_rate`):

- ``young``: ``sqrt(2 C M)`` (Young 1974, first order);
- ``daly``: ``sqrt(2 C M) (1 + sqrt(C / 2M) / 3 + (C / 2M) / 9) - C`` for ``C < 2M``, else ``M``
  (Daly 2006, higher order).

Either is raised to ``write`` where it would fall below it: an interval shorter than the write
would start a write before the last one is durable, which the scenario refuses for fixed
intervals (``workload.checkpoint.interval_hours``). With no interrupting failures (``M``
infinite) a job never checkpoints.

Planned stops (a migration, a drain, a preemption with notice) write a checkpoint on the spot at
no charged cost: they are rare beside the periodic writes, and the stall they would add sits in
the stop itself. Everything here is in hours.

**Restores.** Every (re)start pays ``restart`` (warm-up: load the program, compile, first step)
and, when it has progress to restore, the restore of the store it reads: ``restore`` from
storage (0 by default: ``restart`` then covers the load too, as it always did), or
``MemoryStore.restore`` from peers' RAM. A start from no progress restores nothing.

**The in-memory store** (:class:`MemoryStore`, ``workload.checkpoint.store: memory``, as Gemini
keeps checkpoints in the CPU memory of other machines). What is modelled:

- Each periodic checkpoint is copied into the job's hosts' RAM and replicated once: the
  timeline's ``block = write`` is that copy (a synchronous stall; durable in memory when done).
  Every ``every``-th checkpoint (index a multiple of ``every``) is also persisted to storage from
  RAM in the background, durable ``storage_write`` hours after the checkpoint started, with no
  further stall; a failure before then loses that storage copy (the job keeps the one before).
- **Placement**: the job's hosts are numbered cube by cube (the cubes in slice order, the hosts a
  slice uses in index order within each). Host ``h`` of cube ``n`` keeps its own shard, and its
  replica sits on host ``h`` of cube ``n + 1`` (mod the slice's cubes) - another failure domain,
  so a multi-cube slice survives a whole cube (a rack's power) going down; a slice within one
  cube replicates on the next host it uses (cyclically); a one-host slice has no peer (its copy
  sits in its own RAM only).
- **Loss rule**: a host that goes down loses its RAM (a repair reboots it). The in-memory
  checkpoint is lost when some shard lost both copies: a host and its replica's host both went
  down between the stall and the end of the restore that follows (a failure during that setup
  counts with the first; copies are rebuilt when a restore completes, from either store, and by
  a planned checkpoint). One host failure therefore never loses it; a second failure of the pair
  before the restore ends, or a domain holding both, does. Link and OCS faults and gray faults
  (a crash, no host down) lose no RAM. A cube swapped out for a failed host is out of service
  until repaired, so its healthy hosts' RAM is read by the restore like any peer's.
- **Leaving the hosts**: the in-memory copy lives in the job's hosts, so it survives only a
  restart on them (in place, or with broken cubes swapped for spares). A job that goes back to
  the queue (no spare, its pod down, a failed pre-flight) or is killed by a preemption restores
  from its last storage checkpoint, and the work since then is lost.
- When the in-memory copy is lost the job falls back to its last storage checkpoint and pays
  the storage restore. A planned stop's checkpoint (written on the spot, to both stores) is
  restored from storage: only a restart after a failure the in-memory copy survived reads RAM.

Not modelled: RAM capacity, the network traffic of replication (its cost is inside the
blocking write), more than one replica, failures of the storage service, and a storage flush of
the surviving copies when a job leaves its hosts. Young's and Daly's intervals use the blocking
cost of the store in use (the in-memory copy, under ``memory``); an interval is at least the
write, and under ``memory`` at least ``storage_write / every`` too (storage writes never overlap).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

RULES = ("fixed", "young", "daly")


def young_interval(block: float, mtbf: float) -> float:
    """Young's interval sqrt(2 C M)."""
    return math.sqrt(2.0 * block * mtbf)


def daly_interval(block: float, mtbf: float) -> float:
    """Daly's higher-order interval; ``mtbf`` when the cost reaches twice the MTBF."""
    if block >= 2.0 * mtbf:
        return mtbf
    x = block / (2.0 * mtbf)
    return math.sqrt(2.0 * block * mtbf) * (1.0 + math.sqrt(x) / 3.0 + x / 9.0) - block


@dataclass(frozen=True)
class MemoryStore:
    """Checkpoints kept in peer hosts' RAM (``store: memory``), in hours."""

    restore: float  # from peers' RAM at a (re)start
    every: int  # every n-th checkpoint is also persisted to storage ...
    storage_write: float  # ... durable there this long after the checkpoint started

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"storage_every must be at least 1, got {self.every}")
        if self.restore < 0 or self.storage_write < 0:
            raise ValueError("restore and storage write times cannot be negative")


@dataclass(frozen=True)
class Checkpointing:
    """The ``workload.checkpoint`` section, in hours. ``write`` and ``block`` are those of the
    store the periodic checkpoints go to (the in-memory copy under ``memory``)."""

    rule: Literal["fixed", "young", "daly"]
    interval: float | None  # the fixed interval (hours of useful work); None under a rule
    write: float  # from the start of a write until the checkpoint is durable
    block: float  # training stalls this long per write (= write when synchronous)
    restore: float = 0.0  # reading a checkpoint back from storage at a (re)start
    memory: MemoryStore | None = None  # the in-memory store, when checkpoints go to peers' RAM

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"unknown checkpoint rule {self.rule!r}")
        if (self.interval is None) != (self.rule != "fixed"):
            raise ValueError("a fixed rule needs an interval, and only it")
        if not 0.0 <= self.block <= self.write:
            raise ValueError(f"blocking part {self.block} must lie in [0, write = {self.write}]")
        if self.interval is not None and self.interval < self.floor:
            raise ValueError(f"interval {self.interval} is shorter than the write {self.floor}")
        if self.memory is not None and self.memory.storage_write < self.write:
            raise ValueError(f"storage write {self.memory.storage_write} ends before the in-memory copy {self.write}")

    @property
    def floor(self) -> float:
        """The shortest interval: the write (and, under ``memory``, the storage write spread over
        ``every`` intervals), so a write never starts before the last one is durable."""
        if self.memory is None:
            return self.write
        return max(self.write, self.memory.storage_write / self.memory.every)

    def interval_for(self, mtbf: float) -> float:
        """The interval of a job whose interrupting failures come every ``mtbf`` hours on average."""
        if self.interval is not None:
            return self.interval
        if math.isinf(mtbf):
            return math.inf
        rule = young_interval if self.rule == "young" else daly_interval
        return max(self.floor, rule(self.block, mtbf)) or math.inf  # (the build refuses a free write here)


def replica_slot(slot: tuple[int, int], cubes: int, hosts: tuple[int, ...]) -> tuple[int, int]:
    """Where the in-memory replica of the shard of host ``slot = (cube position, host)`` sits, for
    a slice of ``cubes`` cubes using ``hosts`` (ascending) in each: the same host of the next cube,
    or within one cube the next host of the slice (itself, for a one-host slice)."""
    n, h = slot
    if cubes > 1:
        return ((n + 1) % cubes, h)
    return (0, hosts[(hosts.index(h) + 1) % len(hosts)])


def copies_lost(down: set[tuple[int, int]], cubes: int, hosts: tuple[int, ...]) -> bool:
    """Has some shard lost both its copies, given the host slots whose RAM was lost?"""
    return any(replica_slot(slot, cubes, hosts) in down for slot in down)
