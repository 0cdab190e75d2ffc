"""What the fault-tolerant policies share: a slice's faults mapped onto its chip graph, and the
speed libtpunet's routing leaves it (:mod:`tpusim.topology.routing`).

Both ``reconfigurable_ft`` (a torus of cubes wired through the OCSes) and ``static_ft`` (a box
of the static pod: a torus along the dimensions it spans fully, a mesh along the others) name
the cubes of a slice by *slot* (0..k-1, x fastest) and ask the same questions of its graph:
which links the faults take down (:func:`slot_faults`), whether the rest still joins every chip,
and how much the detours slow a step (:func:`routed_rate`). Only whole-cube slices are routed
around faults; only host failures interrupt them (:func:`host_interrupting_rate`).

Invariants: with no fault the speed is exactly 1.0; a host among the faults, or a chip graph
cut apart, gives ``None`` (the slice cannot run); the answers depend only on the shape, the
wraparound of each dimension and the faults by slot, so they are remembered.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Mapping

from tpusim.failures.health import HOST, OCS, OCS_PORT, HealthState
from tpusim.failures.params import FailureParams
from tpusim.topology.cube import CubeLayout
from tpusim.topology.machine import MachineLayout
from tpusim.topology.routing import joined, lost_links, slice_topology, step_penalty
from tpusim.topology.shapes import Dims, SliceShape

#: Wraparound along every dimension: a slice wired through the OCSes.
TORUS = (True, True, True)

SlotFaults = tuple[frozenset, frozenset, frozenset]  # electrical, ports, OCSes, by slot


def host_availability(health: HealthState, t: float) -> float:
    """Chip-time over ``[0, t]`` whose host is up: what FT routing leaves able to do useful work
    (every link and OCS fault routed around; a slice cut apart, or with more faults than the
    budget, is rare at published rates and not subtracted, so this is an upper bound)."""
    host = health.component_availability(t)[HOST]
    assert host is not None, "a machine has hosts"
    return host


def slot_faults(machine: MachineLayout, slot: Mapping[int, int], faults: list[tuple[int, int]]) -> SlotFaults | None:
    """The faults ``(class, unit)`` of a slice whose global cube ``c`` fills slot ``slot[c]``, as
    :func:`~tpusim.topology.routing.lost_links` takes them: ``(slot, chip_a, chip_b)`` per
    electrical link, ``(slot, d, sign, p)`` per optical port link, ``(d, p)`` per OCS. None if a
    host is among them (a routed slice cannot run without one of its hosts)."""
    cube = machine.cube
    electrical, ports, ocs = set(), set(), set()
    for k, unit in faults:
        if k == HOST:
            return None
        if k == OCS:
            ocs.add(machine.ocs_dp(unit % machine.ocs_per_pod))
            continue
        if k == OCS_PORT:  # the switch port facing a cube port: that port link is dark
            c, q = divmod(unit, len(cube.ports))
            port = cube.ports[q]
            ports.add((slot[c], port.d, port.sign, port.p))
            continue
        c, link = divmod(unit, cube.links)
        if link < cube.electrical_count:
            a, b = cube.electrical_links[link]
            electrical.add((slot[c], a, b))
        else:
            port = cube.ports[link - cube.electrical_count]
            ports.add((slot[c], port.d, port.sign, port.p))
    return frozenset(electrical), frozenset(ports), frozenset(ocs)


@lru_cache(maxsize=4096)
def _routed(cube: CubeLayout, cube_dims: Dims, wrap: tuple[bool, bool, bool], pattern: str, fraction: float,
            electrical: frozenset, ports: frozenset, ocs: frozenset) -> tuple[float | None, int]:
    """:func:`step_penalty` of a slice shape with these faults (by slot), and how many links
    they take down: a slice meets the same faults at every pre-flight and repair until they
    change, so most calls are repeats."""
    topo = slice_topology(cube, cube_dims, wrap)
    lost = lost_links(topo, electrical, ports, ocs)
    return step_penalty(topo, lost, pattern, fraction), len(lost)


def routed_rate(cube: CubeLayout, cube_dims: Dims, wrap: tuple[bool, bool, bool], pattern: str, fraction: float,
                faults: SlotFaults, max_links: int | None = None) -> float | None:
    """Speed of a slice (1.0 healthy) with these faults by slot; None if its graph is cut apart,
    or (with ``max_links``) if they take down more than that many of its links."""
    penalty, lost = _routed(cube, cube_dims, wrap, pattern, fraction, *faults)
    if penalty is None or (max_links is not None and lost > max_links):
        return None
    return 1.0 / (1.0 + penalty)


@lru_cache(maxsize=4096)
def _joined(cube: CubeLayout, cube_dims: Dims, wrap: tuple[bool, bool, bool],
            electrical: frozenset, ports: frozenset, ocs: frozenset) -> bool:
    topo = slice_topology(cube, cube_dims, wrap)
    return joined(topo.graph, lost_links(topo, electrical, ports, ocs))


def connected(cube: CubeLayout, cube_dims: Dims, wrap: tuple[bool, bool, bool], faults: SlotFaults) -> bool:
    """Does the chip graph still join every chip with these faults? (Both traffic patterns have
    a penalty exactly when it does; :func:`~tpusim.topology.routing.joined` answers without
    computing one, and is remembered.)"""
    return _joined(cube, cube_dims, wrap, *faults)


def host_interrupting_rate(machine: MachineLayout, failures: FailureParams, shape: SliceShape) -> float:
    """Failures per hour that interrupt a routed slice of whole cubes: its hosts' alone (link,
    cable and OCS faults are routed around, up to ``max_faults`` at once, rarely exceeded at
    published rates)."""
    cube = machine.cube
    return shape.cubes(cube.shape) * cube.hosts * failures.of("host").rate
