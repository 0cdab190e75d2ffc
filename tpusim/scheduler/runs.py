"""Run records: what each run of a job used and how it ended - the evidence a localiser sees.

A *run* is a job's stretch on one allocation, from a (re)start to its end: completion, a stop
(preemption, migration, drain), the horizon, or a hardware interruption (a failure under it, or a
gray fault failing it). One row per run: start, end, whether it was interrupted, and the *parts*
it used, as an operator's job records name them:

- a sub-cube slice names its hosts;
- a whole-cube slice names its cubes (each cube stands for its hosts and ICI links: a record of
  a whole-cube job cannot tell them apart), and its pod's OCS layer where the policy wires the
  slice through OCSes (:meth:`~tpusim.policies.Policy.slice_ocses`: every whole-cube torus of a
  pod holds ports on every switch of the pod, so no record can tell one switch from another
  either; a mesh, ``topology.sub_pod_slices: mesh``, names the layer when it uses any switch,
  and a one-cube mesh uses none).

Parts are numbered ``[0, H)`` hosts, ``[H, H + C)`` cubes, ``[H + C, H + C + P)`` OCS layers,
for ``H`` hosts, ``C`` cubes and ``P`` pods of the machine (:func:`part_names` names them).

Invariant: a job has at most one open run; every run that is opened is closed exactly once (the
job simulation closes the open ones at the horizon, not interrupted).
"""

from __future__ import annotations

from array import array

import numpy as np

from tpusim.policies.base import Policy
from tpusim.topology.machine import MachineLayout


#: The kinds of part, in numbering order.
PART_KINDS = ("host", "cube", "ocs_layer")


def part_count(machine: MachineLayout) -> int:
    return machine.population("host") + machine.cubes + machine.pods


def part_kind(machine: MachineLayout, part: int) -> str:
    hosts = machine.population("host")
    return "host" if part < hosts else "cube" if part < hosts + machine.cubes else "ocs_layer"


def part_name(machine: MachineLayout, part: int) -> str:
    """``host:<unit>``, ``cube:<cube>`` or ``ocs_layer:<pod>``."""
    hosts = machine.population("host")
    kind = part_kind(machine, part)
    return f"{kind}:{part - (0 if kind == 'host' else hosts if kind == 'cube' else hosts + machine.cubes)}"


def parts_holding(machine: MachineLayout, k: int, unit: int) -> tuple[int, ...]:
    """The parts whose records stand for component ``unit`` of class ``k`` (0 host, 1 ICI link,
    2 OCS): a host is its own part and within its cube; a link is within its cube; an OCS within
    its pod's layer."""
    hosts = machine.population("host")
    if k == 0:
        return (unit, hosts + unit // machine.cube.hosts)
    if k == 1:
        return (hosts + unit // machine.cube.links,)
    return (hosts + machine.cubes + unit // machine.ocs_per_pod,)


class RunLog:
    """The runs of one job simulation, as columns."""

    def __init__(self, machine: MachineLayout, policy: Policy):
        self.machine = machine
        self.policy = policy  # which OCSes a slice is wired through
        self._hosts = machine.population("host")
        self._layer_base = self._hosts + machine.cubes
        self.start, self.end = array("d"), array("d")
        self.job, self.interrupted = array("q"), array("b")
        self.indptr, self.parts = array("q", [0]), array("q")
        self._open: dict[int, tuple[float, tuple[int, ...]]] = {}

    def __len__(self) -> int:
        return len(self.start)

    def _parts(self, alloc, whole_cube: bool, cube_dims=None) -> tuple[int, ...]:
        m = self.machine
        if not whole_cube:
            cube = alloc.cubes[0]
            masks = m.cube.host_masks
            return tuple(cube * m.cube.hosts + h for h in range(m.cube.hosts) if masks[h] & alloc.mask)
        out = tuple(self._hosts + c for c in alloc.cubes)
        if self.policy.slice_ocses(alloc.pod, cube_dims):
            out += (self._layer_base + alloc.pod,)
        return out

    def open(self, job, t: float) -> None:
        assert job.id not in self._open, "a job has one open run"
        self._open[job.id] = (t, self._parts(job.alloc, bool(job.cubes), job.cube_dims))

    def close(self, job, t: float, interrupted: bool) -> None:
        """End ``job``'s open run at ``t`` (nothing if it has none)."""
        opened = self._open.pop(job.id, None)
        if opened is None:
            return
        start, parts = opened
        self.start.append(start)
        self.end.append(max(start, t))
        self.job.append(job.id)
        self.interrupted.append(1 if interrupted else 0)
        self.parts.extend(parts)
        self.indptr.append(len(self.parts))

    def close_all(self, t: float, jobs) -> None:
        for job in jobs:
            self.close(job, t, interrupted=False)

    def columns(self) -> dict[str, np.ndarray]:
        """The runs in the order they ended: ``start``, ``end``, ``job``, ``interrupted`` and the
        parts of run ``r`` as ``parts[indptr[r]:indptr[r + 1]]``."""
        return {"start": np.frombuffer(self.start, np.float64).copy(),
                "end": np.frombuffer(self.end, np.float64).copy(),
                "job": np.frombuffer(self.job, np.int64).copy(),
                "interrupted": np.frombuffer(self.interrupted, np.int8).astype(bool),
                "indptr": np.frombuffer(self.indptr, np.int64).copy(),
                "parts": np.frombuffer(self.parts, np.int64).copy()}
