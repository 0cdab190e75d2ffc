"""The machine's OCS cross-connect state: which circuit each OCS port holds now (DESIGN §1).

OCS ``(d, p)`` of a pod holds, for every cube of the pod, its ``+d`` port ``p`` and its ``-d``
port ``p``; a *circuit* (cross-connect) through it joins cube A's ``+d`` port ``p`` to cube B's
``-d`` port ``p`` (B may be A: the wraparound of a slice one cube long in ``d``). Each port is in
at most one circuit at a time.

An OCS keeps its circuits until they are changed: a job's end leaves its circuits set, and a
later slice that needs one of them finds it made. An **xconnect** is a mirror move: a circuit a
placement makes that the switch did not already hold. Setting a circuit breaks whatever circuit
held either of its two ports (their mirrors turn away); a broken circuit is no xconnect of its
own.

The Pod Manager keeps one state per machine (one per policy and replication) and, at every
placement (first start, restart after requeue or in place, spare swap, migration), asks which
of the circuits the slice needs (:meth:`tpusim.policies.Policy.slice_circuits`) differ from what
the switches hold: only those are programmed and counted, and reconfiguration time is paid only
when there is at least one.

Assumptions (no publication fixes them):

- a machine starts with **no circuit set** (every mirror parked): the first slice on a cube
  programs all of its circuits, a steady-state machine would find some already made;
- only placements change circuits: nothing tears them down when a job ends, and nothing sets
  them ahead of a placement;
- an OCS failure and its repair leave the switch's cross-connect state as it was (a
  control-plane failure leaves the circuits lit; a repaired switch is given back the control
  plane's circuits without a placement asking);
- a pre-flight check that refuses a placement leaves the switches as they were (the refused
  start takes no time in the model: nothing is programmed).

Storage, by face: every slice joins a cube's whole ``+d`` face to one cube's ``-d`` face, port
``p`` to port ``p`` through each OCS ``(d, p)`` (:data:`~tpusim.topology.graph.FaceCircuits`), so
the OCSes of one dimension of a pod always hold the same circuits and the state of OCS ``(d, p)``
is the face map of ``d``: ``plus[d][A]``, the cube A's ``+d`` face was last joined to, and
``minus[d][B]``, the cube last joined to B's ``-d`` face (global cubes, -1 for never). A wiring
that sent the ports of one face to several cubes (a twisted torus) would need one map per OCS.

Invariants:

- the circuits of ``d`` joining A to B are set exactly when ``plus[d][A] == B`` and
  ``minus[d][B] == A``. Setting them writes both entries; the circuits that held those two ports
  are thereby left one-sided, which is how they are broken: each port is in at most one circuit,
  and a placement costs a read or two per face join it needs and two writes per one it changes,
  nothing per circuit it breaks (this runs at every start);
- while a slice holds its cubes every circuit it uses stays set. A placement sets circuits on
  its own cubes' ports only, so the circuits it breaks had a port on one of its cubes, and no
  other held slice has a circuit there (a held slice's circuits join its own cubes, and cubes
  of whole-cube slices are held by one slice). A restart in place therefore changes nothing.
"""

from __future__ import annotations

from tpusim.topology.graph import FaceCircuits, SliceCircuits
from tpusim.topology.machine import MachineLayout


class CircuitState:
    """The cross-connects every OCS of a machine holds now; initially none."""

    __slots__ = ("machine", "_weight", "_same", "_plus", "_minus")

    def __init__(self, machine: MachineLayout):
        self.machine = machine
        self._weight = tuple(machine.cube.face_positions(d) for d in range(3))  # circuits per face join
        self._same = self._weight[0] if len(set(self._weight)) == 1 else 0  # that number, if the same for all d
        self._plus = [[-1] * machine.cubes for _ in range(3)]  # [d][A]: the cube A's +d face was joined to
        self._minus = [[-1] * machine.cubes for _ in range(3)]  # [d][B]: the cube last joined to B's -d face

    @property
    def circuits(self) -> int:
        """Circuits set now, over every OCS of the machine (counted when asked: not per start)."""
        total = 0
        for d in range(3):
            plus, minus = self._plus[d], self._minus[d]
            total += self._weight[d] * sum(1 for a, b in enumerate(plus) if b >= 0 and minus[b] == a)
        return total

    def circuit(self, ocs: int, plus_cube: int) -> int | None:
        """The cube whose ``-d`` port ``p`` OCS ``ocs`` (global number, OCS ``(d, p)`` of its pod)
        joins ``plus_cube``'s ``+d`` port ``p`` to, or None where that port holds no circuit."""
        machine = self.machine
        pod, local = divmod(ocs, machine.ocs_per_pod)
        if plus_cube // machine.cubes_per_pod != pod:
            raise ValueError(f"cube {plus_cube} has no port on OCS {ocs} (pod {pod})")
        d = machine.ocs_dp(local)[0]
        minus = self._plus[d][plus_cube]
        return minus if minus >= 0 and self._minus[d][minus] == plus_cube else None

    def count(self, needed: SliceCircuits) -> int:
        """Circuits a slice needing ``needed`` uses: ``face_positions(d)`` per face join."""
        if self._same:  # a cube with equal extents (every preset's)
            return self._same * len(needed.joins)
        weight = self._weight
        return sum(weight[d] for d, _, _ in needed.joins)

    def changes(self, needed: SliceCircuits) -> list[FaceCircuits]:
        """The face joins of ``needed`` whose circuits the switches do not hold now: what
        :meth:`program` would change (nothing is changed here)."""
        cubes, plus, minus = needed.cubes, self._plus, self._minus
        return [(d, cubes[a], cubes[b]) for d, a, b in needed.joins
                if plus[d][cubes[a]] != cubes[b] or minus[d][cubes[b]] != cubes[a]]

    def program(self, needed: SliceCircuits) -> int:
        """Set the circuits ``needed`` (a slice's: no two share a port), breaking those that held
        their ports. Returns the circuits changed, the xconnects made (those already set count
        nothing)."""
        cubes, plus, minus, weight = needed.cubes, self._plus, self._minus, self._weight
        made = 0
        for d, a, b in needed.joins:
            a, b = cubes[a], cubes[b]
            to_minus = plus[d]
            if to_minus[a] != b:
                to_minus[a] = b
                minus[d][b] = a
                made += weight[d]
            else:
                to_plus = minus[d]
                if to_plus[b] != a:
                    to_plus[b] = a
                    made += weight[d]
        return made
