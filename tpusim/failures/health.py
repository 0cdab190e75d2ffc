"""Health state: which components are down, folded into what the policies read.

Components are ``host``, ``ici_link``, ``ocs`` and ``ocs_port`` (class ids 0 to 3; see
:mod:`tpusim.topology.machine` for the numbering). From their up/down flags this module keeps,
incrementally and in O(1) per event (O(cubes per pod) for an OCS):

- per class, the number of units down and its time integral (component availability);
- per cube, the number of its hosts and links that are down: a cube is *usable* by a slice of
  whole cubes exactly when that count is 0 (without fault-tolerant routing a cube needs all of
  its hosts and links, DESIGN §1);
- per pod, the number of OCSes down (in all, and per dimension ``d`` of OCS ``(d, p)``: a mesh
  slice uses only the OCSes of the dimensions it spans);
- per chip, the number of down parts touching it (its host, its ICI links) and, separately, of
  down OCSes holding one of its ports; with their time integrals this gives the fraction of
  chip-time on healthy hardware, with and without the OCS layer (the static pod has none).

Consumers subscribe: ``cube_listeners`` are called as ``f(t, pod, local_cube, usable)`` when a
cube's usability flips, ``ocs_listeners`` as ``f(t, pod, all_ocs_up)`` when a pod's OCS layer
flips, ``component_listeners`` as ``f(t, class_id, unit, down)`` on every component change.
Finer news: ``fault_listeners`` get ``f(t, pod, local_cube, hosts_down, electrical_down,
ports_down)`` (the cube's down hosts, electrical links and optical port links) on every host or
link change of a cube, ``ocs_count_listeners`` get
``f(t, pod, ocs_down)`` on every OCS change.
Every policy's tracker listens to the same state, which is how all policies see one trace.

An OCS failure has a mode (:mod:`tpusim.failures.ocs_modes`): a *dark* (data-plane) failure
takes the switch's circuits down; a control-plane one leaves them lit but freezes them. Both
count in ``ocs_down`` (no cross-connect can be programmed through either); only dark ones count
in ``ocs_dark`` and make chips sick.

An OCS *port* failure (``ocs_port``, DESIGN §2) darkens one circuit end: the cube port it faces
counts in that cube's ``cube_faults`` and ``cube_port_faults`` (the reconfigurable pod's cube
rules see a dark port, whether the fibre or the switch port failed) and makes the port's chip
sick in the OCS layer only (``chip_ocs``), never in ``chip_faults``: the static pod, which reads
cables through ``component_listeners`` and ignores port counts, does not have these parts.

Invariant: ``cube_faults[c] == number of down hosts, links and OCS ports of cube c``; a listener is told
only about real transitions, in time order.
"""

from __future__ import annotations

from typing import Callable

from tpusim.failures.ocs_modes import OcsModes
from tpusim.topology.machine import COMPONENT_CLASSES, MachineLayout

HOST, ICI_LINK, OCS, OCS_PORT = 0, 1, 2, 3
assert COMPONENT_CLASSES == ("host", "ici_link", "ocs", "ocs_port")

CubeListener = Callable[[float, int, int, bool], None]
OcsListener = Callable[[float, int, bool], None]
ComponentListener = Callable[[float, int, int, bool], None]


class HealthState:
    def __init__(self, machine: MachineLayout, ocs_modes: OcsModes | None = None):
        self.machine = machine
        self.ocs_modes = ocs_modes  # None: every OCS failure is dark
        cube = machine.cube
        self.cubes_per_pod = machine.cubes_per_pod
        self.chips_per_cube = cube.chips
        self.ocs_per_pod = machine.ocs_per_pod
        self.population = [machine.population(c) for c in COMPONENT_CLASSES]
        # Local chips touched by each local unit of the cube-resident classes.
        self.units_per_cube = [cube.hosts, cube.links]
        self.unit_chips = [
            tuple(cube.host_chips(h) for h in range(cube.hosts)),
            cube.link_chips,
        ]
        self.ocs_chips = machine.ocs_chips
        self.ports_per_cube = len(cube.ports)
        self.port_chips = tuple(cube.port_chip(port) for port in cube.ports)  # local chip per port

        self.down = [bytearray(n) for n in self.population]
        self.n_down = [0] * len(COMPONENT_CLASSES)
        self._down_area = [0.0] * len(COMPONENT_CLASSES)
        self._down_since = [0.0] * len(COMPONENT_CLASSES)

        self.cube_faults = [0] * machine.cubes
        self.cube_host_faults = [0] * machine.cubes  # the hosts among cube_faults
        self.cube_port_faults = [0] * machine.cubes  # the optical port links and OCS ports among cube_faults
        self.electrical = cube.electrical_count  # local links below this are electrical
        self.ocs_down = [0] * machine.pods  # OCSes down, either mode
        self.ocs_dark = [0] * machine.pods  # the data-plane (dark) failures among them
        self.dark = bytearray(self.population[OCS])  # per OCS: is its current failure dark?
        self.ocs_dim = machine.ocs_dim  # the dimension d of each local OCS (d, p)
        self.ocs_down_dim = [[0, 0, 0] for _ in range(machine.pods)]  # ocs_down split by dimension
        self.ocs_dark_dim = [[0, 0, 0] for _ in range(machine.pods)]  # ocs_dark split by dimension

        self.chip_faults = [0] * machine.chips  # down host / links touching the chip
        self.chip_ocs = [0] * machine.chips  # down OCSes holding one of the chip's ports
        self.sick_chips = 0  # chips with chip_faults > 0
        self.sick_chips_ocs = 0  # chips with chip_faults > 0 or chip_ocs > 0
        self._sick_area = 0.0
        self._sick_area_ocs = 0.0
        self._chips_since = 0.0

        self.cube_listeners: list[CubeListener] = []
        self.ocs_listeners: list[OcsListener] = []
        self.component_listeners: list[ComponentListener] = []
        self.fault_listeners: list = []
        self.ocs_count_listeners: list = []

    # -- transitions ---------------------------------------------------------------------------
    def set_down(self, k: int, unit: int, t: float, dark: bool | None = None) -> bool:
        """Mark ``unit`` of class ``k`` down at time ``t``; False (and no change) if it already was.
        For an OCS, ``dark`` is the failure's mode (None: the next draw of ``ocs_modes``)."""
        flags = self.down[k]
        if flags[unit]:
            return False
        flags[unit] = 1
        if k == OCS:
            if dark is None:
                dark = self.ocs_modes.dark() if self.ocs_modes is not None else True
            self.dark[unit] = dark
        self._change(k, unit, t, 1)
        return True

    def set_up(self, k: int, unit: int, t: float) -> None:
        """Mark ``unit`` of class ``k`` repaired at time ``t``."""
        flags = self.down[k]
        assert flags[unit], "repair of a unit that is not down"
        flags[unit] = 0
        self._change(k, unit, t, -1)

    def _change(self, k: int, unit: int, t: float, delta: int) -> None:
        # Hot path (every failure and repair): plain locals, no helper calls for host/link.
        n_down = self.n_down
        self._down_area[k] += n_down[k] * (t - self._down_since[k])
        self._down_since[k] = t
        n_down[k] += delta
        elapsed = t - self._chips_since  # integrate the sick-chip counts up to t
        self._sick_area += self.sick_chips * elapsed
        self._sick_area_ocs += self.sick_chips_ocs * elapsed
        self._chips_since = t
        if k == OCS:
            self._ocs_change(unit, t, delta)
        elif k == OCS_PORT:
            self._ocs_port_change(unit, t, delta)
        else:
            per = self.units_per_cube[k]
            cube = unit // per
            base = cube * self.chips_per_cube
            faults, ocs = self.chip_faults, self.chip_ocs
            for c in self.unit_chips[k][unit - cube * per]:
                g = base + c
                before = faults[g]
                faults[g] = before + delta
                if before == 0 or before == -delta:  # the chip's own hardware flips
                    self.sick_chips += delta
                    if ocs[g] == 0:
                        self.sick_chips_ocs += delta
            count = self.cube_faults[cube] + delta
            self.cube_faults[cube] = count
            if k == HOST:
                self.cube_host_faults[cube] += delta
            elif unit - cube * per >= self.electrical:
                self.cube_port_faults[cube] += delta
            if count == (delta > 0):  # usability flips: 0 -> 1 fault or 1 -> 0
                pod, local = divmod(cube, self.cubes_per_pod)
                usable = count == 0
                for listener in self.cube_listeners:
                    listener(t, pod, local, usable)
            if self.fault_listeners:
                pod, local = divmod(cube, self.cubes_per_pod)
                hosts, ports = self.cube_host_faults[cube], self.cube_port_faults[cube]
                for listener in self.fault_listeners:
                    listener(t, pod, local, hosts, count - hosts - ports, ports)
        if self.component_listeners:
            for listener in self.component_listeners:
                listener(t, k, unit, delta > 0)

    def _ocs_port_change(self, unit: int, t: float, delta: int) -> None:
        cube, port = divmod(unit, self.ports_per_cube)
        g = cube * self.chips_per_cube + self.port_chips[port]
        ocs = self.chip_ocs
        before = ocs[g]
        ocs[g] = before + delta
        if (before == 0 or before == -delta) and self.chip_faults[g] == 0:
            self.sick_chips_ocs += delta
        count = self.cube_faults[cube] + delta
        self.cube_faults[cube] = count
        self.cube_port_faults[cube] += delta
        pod, local = divmod(cube, self.cubes_per_pod)
        if count == (delta > 0):  # usability flips
            for listener in self.cube_listeners:
                listener(t, pod, local, count == 0)
        if self.fault_listeners:
            hosts, ports = self.cube_host_faults[cube], self.cube_port_faults[cube]
            for listener in self.fault_listeners:
                listener(t, pod, local, hosts, count - hosts - ports, ports)

    def _ocs_change(self, unit: int, t: float, delta: int) -> None:
        pod, local = divmod(unit, self.ocs_per_pod)
        d = self.ocs_dim[local]
        self.ocs_down_dim[pod][d] += delta
        if self.dark[unit]:  # only dark circuits make chips sick
            self.ocs_dark[pod] += delta
            self.ocs_dark_dim[pod][d] += delta
            plus, minus = self.ocs_chips[local]
            faults, ocs = self.chip_faults, self.chip_ocs
            first = pod * self.cubes_per_pod * self.chips_per_cube
            for base in range(first, first + self.cubes_per_pod * self.chips_per_cube, self.chips_per_cube):
                for g in (base + plus, base + minus):
                    before = ocs[g]
                    ocs[g] = before + delta
                    if (before == 0 or before == -delta) and faults[g] == 0:
                        self.sick_chips_ocs += delta
        count = self.ocs_down[pod] + delta
        self.ocs_down[pod] = count
        if count == (1 if delta > 0 else 0):
            for listener in self.ocs_listeners:
                listener(t, pod, count == 0)
        for listener in self.ocs_count_listeners:
            listener(t, pod, count)

    # -- read-outs -----------------------------------------------------------------------------
    def component_availability(self, t: float) -> list[float | None]:
        """Time-averaged fraction of each class's units that were up over ``[0, t]``."""
        out: list[float | None] = []
        for k, n in enumerate(self.population):
            area = self._down_area[k] + self.n_down[k] * (t - self._down_since[k])
            out.append(1.0 - area / (n * t) if n else None)
        return out

    def chip_availability(self, t: float, with_ocs: bool) -> float:
        """Fraction of chip-time over ``[0, t]`` on healthy hardware (optionally counting OCSes)."""
        if with_ocs:
            area = self._sick_area_ocs + self.sick_chips_ocs * (t - self._chips_since)
        else:
            area = self._sick_area + self.sick_chips * (t - self._chips_since)
        return 1.0 - area / (self.machine.chips * t)
