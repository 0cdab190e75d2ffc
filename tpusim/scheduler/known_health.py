"""Known health: what the scheduler knows to be broken, and so which cubes and pods it may use.

The scheduler sees the *known* health state (failures after their detection delay, or found by
a pre-flight check), never the true one. Per cube this keeps the known-faulty chips (hosts and
electrical-link ends that are known down, a bitmask over the cube's chips); per pod the local
cubes known-unusable for slices of whole cubes (a bitmask) and the known-down optical port
links. Whether a cube or a pod can take a slice of whole cubes is the policy's rule
(:meth:`~tpusim.policies.Policy.cube_usable`, :meth:`~tpusim.policies.Policy.pod_usable`).

Invariants: ``fault[cube]`` has a bit for exactly the chips of ``cube`` that the known health
state marks faulty; ``unusable[pod]`` has a bit for exactly the local cubes whose known faults
fail the policy's cube rule; ``down_ports(pod)`` holds exactly the known-down optical port
links of ``pod``. They are updated by the pool's health listeners, which also advance its
stamps.
"""

from __future__ import annotations

from tpusim.failures.health import ICI_LINK, OCS, OCS_PORT, HealthState
from tpusim.policies.base import Policy
from tpusim.topology.machine import MachineLayout
from tpusim.topology.shapes import Dims


class KnownHealth:
    def __init__(self, machine: MachineLayout, policy: Policy, known: HealthState):
        self.machine = machine
        self.policy = policy
        self.known = known
        self.fault = [0] * machine.cubes  # known-faulty chips, per cube
        self.unusable = [0] * machine.pods  # local cubes known-unusable for whole-cube slices, per pod
        self._down_ports: list[set[tuple[int, int]]] = [set() for _ in range(machine.pods)]

    # -- news ----------------------------------------------------------------------------------
    def component_changed(self, k: int, unit: int, down: bool) -> int:
        """Component ``unit`` of class ``k`` is known ``down`` (or up again): keep the cube's
        faulty chips and the pod's down ports. Returns the pod it belongs to."""
        if k == OCS:
            return unit // self.machine.ocs_per_pod
        if k == OCS_PORT:  # a dark switch port: counted in the cube's faults, no chip's own fault
            return unit // self.known.ports_per_cube // self.machine.cubes_per_pod
        per = self.known.units_per_cube[k]
        cube = unit // per
        pod, local = divmod(cube, self.machine.cubes_per_pod)
        chips = self.machine.cube.chips
        base = cube * chips
        faults = self.known.chip_faults
        self.fault[cube] = sum(1 << c for c in range(chips) if faults[base + c])
        port = unit - cube * per - self.known.electrical
        if k != 0 and port >= 0:
            (self._down_ports[pod].add if down else self._down_ports[pod].discard)((local, port))
        return pod

    def cube_faults_changed(self, pod: int, local: int, hosts: int, electrical: int, ports: int) -> None:
        """A cube's known faults are now these counts: is it usable for whole-cube slices?"""
        if self.policy.cube_usable(hosts, electrical, ports):
            self.unusable[pod] &= ~(1 << local)
        else:
            self.unusable[pod] |= 1 << local

    # -- reading -------------------------------------------------------------------------------
    def cube_usable(self, cube: int) -> bool:
        """Known-usable for a whole-cube slice under the policy (ignoring the OCS layer)."""
        known = self.known
        hosts, ports = known.cube_host_faults[cube], known.cube_port_faults[cube]
        return self.policy.cube_usable(hosts, known.cube_faults[cube] - hosts - ports, ports)

    def pod_usable(self, pod: int, cube_dims: Dims | None = None) -> bool:
        """Can whole-cube slices of ``cube_dims`` be wired in ``pod`` (placed, swapped, moved) as
        far as its OCS layer goes? Every known-down OCS the slice is wired through counts
        (:meth:`~tpusim.policies.Policy.slice_ocs_down`; a torus: every OCS of the pod; ``None``:
        a slice of any shape): none can program a cross-connect."""
        return self.policy.pod_usable(self.ocs_down(pod, cube_dims))

    def pod_runs(self, pod: int, cube_dims: Dims | None = None) -> bool:
        """Can slices of ``cube_dims`` already wired in ``pod`` keep running? Only dark OCSes
        they are wired through count: a control-plane failure leaves the existing circuits lit."""
        if self.policy.machine.sub_pod_slices == "torus":
            return self.policy.pod_usable(self.known.ocs_dark[pod])
        return self.policy.pod_usable(self.policy.slice_ocs_down(self.known.ocs_dark_dim[pod], cube_dims))

    def link_faults(self, cube: int) -> int:
        """Known-down links of a cube (what fault-tolerant routing has to route around)."""
        return self.known.cube_faults[cube] - self.known.cube_host_faults[cube]

    def electrical_down(self, cube: int) -> list[int]:
        """Known-down electrical links of a cube, by their number in the cube (which links a
        fault-tolerant slice routes around)."""
        known = self.known
        per = known.units_per_cube[ICI_LINK]
        down, first = known.down[ICI_LINK], cube * per
        return [link for link in range(known.electrical) if down[first + link]]

    def ocs_down(self, pod: int, cube_dims: Dims | None = None) -> int:
        """Known-down OCSes of ``pod`` that a slice of ``cube_dims`` is wired through (``None``:
        every OCS of the pod)."""
        if cube_dims is None or self.policy.machine.sub_pod_slices == "torus":
            return self.known.ocs_down[pod]
        return self.policy.slice_ocs_down(self.known.ocs_down_dim[pod], cube_dims)

    def down_ports(self, pod: int) -> set[tuple[int, int]]:
        """Known-down optical port links of ``pod``, as ``(local cube, port)``."""
        return self._down_ports[pod]
