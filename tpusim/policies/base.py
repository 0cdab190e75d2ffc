"""The ``Policy`` interface: everything that differs between ways of wiring a pod.

A policy is a strategy object (as Ciw injects routing and distributions). It owns, for its
machine:

- **capacity**: its availability tracker (:meth:`Policy.capacity_tracker`), whether a shape can
  ever be placed (:meth:`Policy.grid_fits`), and its closed form where one exists;
- **usability**: when a cube can hold a slice of whole cubes given its faults
  (:meth:`Policy.cube_usable`), and when a pod's OCS layer allows any (:meth:`Policy.pod_usable`);
- **placement**: where a slice of whole cubes goes (:meth:`Policy.find_whole`) and which places
  preemption or defragmentation may clear for it (:meth:`Policy.places_with_victims`);
- **wiring**: the parts a slice uses (the OCSes it is wired through, :meth:`Policy.slice_ocses`;
  the rate of the failures that interrupt it, :meth:`Policy.interrupting_rate`), the ports an OCS needs
  (:meth:`Policy.ocs_ports_needed`), what a maintenance wave takes from its machine
  (:meth:`Policy.maintenance_holds`) and its chips' hardware availability
  (:meth:`Policy.chip_availability`);
- **circuits**: the OCS circuits a slice uses (:meth:`Policy.slice_circuits`; the Pod Manager
  counts as xconnects those its switches must change);
- **spares**: whether a broken cube under a running slice can be swapped for a spare
  (:meth:`Policy.swaps_cubes`), and so how many spares a pod keeps (:meth:`Policy.spare_cubes`);
- **degraded rate**: how fast a slice runs with faults inside it (:meth:`Policy.slice_rate`):
  1.0 when healthy, ``None`` when it cannot run; and whether a slice keeps running through
  faults, rerouted, instead of restarting (:meth:`Policy.routes_around_faults`).

The base class gives the answers of an OCS machine with plain routing and no spare swaps;
a policy overrides the questions its rules answer differently (SimPy's resources: the control
plane runs the loop, the policy answers). Nothing outside :mod:`tpusim.policies` branches on a
policy's name or traits (:attr:`Policy.wiring`, :attr:`Policy.ici_routing`: descriptions for
studies that look a policy up by what it is): the scheduler, the Pod Manager, the replication
and the outputs ask the policy object. A new policy is one new module that subclasses
:class:`Policy` (or an existing policy) and registers itself (:mod:`tpusim.policies.registry`).

The policy sees the control plane's state only through :class:`PoolView` and
:class:`SliceHolder`, two protocols that :class:`tpusim.scheduler.pool.CubePool` and
:class:`tpusim.scheduler.job.Job` satisfy; this module never imports the scheduler.

Invariant: a policy object is immutable after construction and picklable (it travels inside
the built model to worker processes).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Iterable, Iterator, Protocol, Sequence

from tpusim.failures.health import HealthState
from tpusim.failures.maintenance import Campaign, Hold, Wave, holds
from tpusim.failures.params import FailureParams
from tpusim.policies.capacity import CapacityTracker
from tpusim.topology.allocation import Allocation
from tpusim.topology.graph import NO_CIRCUITS, SliceCircuits, face_joins
from tpusim.topology.machine import COMPONENT_CLASSES, MachineLayout
from tpusim.topology.shapes import Dims, SliceShape


#: The values of :attr:`Policy.wiring` and :attr:`Policy.ici_routing` (named once: studies look
#: policies up by them).
STATIC_WIRING, OCS_WIRING = "static", "ocs"
PLAIN_ROUTING, FT_ROUTING = "plain", "ft"


@dataclass(frozen=True)
class RoutingParams:
    """libtpunet's fault-tolerant routing (``pod_manager.ft_routing``): used by policies that
    route around faults."""

    max_faults: int = 4  # faulty links and OCSes a slice may run through
    # CALIBRATED (tpusim.topology.routing.calibrate_comm_fraction on the shipped slice mix, rounded)
    comm_fraction: tuple[tuple[str, float], ...] = (("allreduce", 0.198), ("alltoall", 0.465))

    def fraction(self, pattern: str) -> float:
        return dict(self.comm_fraction)[pattern]


@dataclass(frozen=True)
class ClosedForm:
    """A closed-form slice availability and what it is: ``exact`` or a ``lower bound``."""

    value: float
    kind: str  # "exact" or "lower bound"
    formula: str  # how it is computed, for tables and legends


class SliceHolder(Protocol):
    """What a policy reads of a job holding (or asking for) a slice."""

    id: int
    chips: int
    cubes: int  # whole cubes; 0 for a sub-cube slice
    cube_dims: Dims | None
    pattern: str
    alloc: Allocation | None


class PoolView(Protocol):
    """What a policy reads of the control plane's cube pool (known health, holdings)."""

    cubes_per_pod: int
    pods: int
    full_mask: int

    def free_count(self, pod: int) -> int: ...
    def blocked_bits(self, pod: int) -> int: ...
    def usable_bits(self, pod: int) -> int: ...
    def held_bits(self, pod: int) -> int: ...
    def holders(self, cube: int) -> Sequence[SliceHolder]: ...
    def whole_cubes(self, job: SliceHolder) -> int: ...
    def link_faults(self, cube: int) -> int: ...
    def electrical_down(self, cube: int) -> Iterable[int]: ...
    def down_ports(self, pod: int) -> Iterable[tuple[int, int]]: ...
    def ocs_down(self, pod: int, cube_dims: Dims | None = None) -> int: ...
    def open_counts(self, cube_dims: Dims | None = None) -> Sequence[int]: ...


Placement = tuple[Allocation, list]  # an allocation and the running jobs in its way


class Policy(ABC):
    #: registry key and the name scenarios use (``policies: [...]``).
    name: ClassVar[str]
    #: one line for listings and reports.
    summary: ClassVar[str]
    #: how the pod is wired, :data:`STATIC_WIRING` (cables between neighbouring cubes) or
    #: :data:`OCS_WIRING`: a description for studies and reports that look a policy up, never a
    #: switch for behaviour (the methods below answer for the wiring).
    wiring: ClassVar[str] = OCS_WIRING
    #: ICI routing, :data:`PLAIN_ROUTING` or :data:`FT_ROUTING` (fault-tolerant): a
    #: description, as :attr:`wiring` is.
    ici_routing: ClassVar[str] = PLAIN_ROUTING
    #: :meth:`places_with_victims` is exact: it offers a place in a pod whenever the pod's
    #: movable cubes (free, or held only by jobs that may move) hold one and its free cubes alone
    #: do not, so its answer changes only when cubes become movable or usable. The scheduler
    #: then skips victim searches that only a lower band's take or release came between.
    exact_victim_search: ClassVar[bool] = True

    def __init__(self, machine: MachineLayout, routing: RoutingParams = RoutingParams()):
        self.machine = machine
        self.routing = routing

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def __eq__(self, other: object) -> bool:
        return (type(self) is type(other) and self.machine == other.machine
                and self.routing == other.routing)

    def __hash__(self) -> int:
        return hash((type(self), self.machine, self.routing))

    # -- capacity --------------------------------------------------------------------------
    @abstractmethod
    def capacity_tracker(self, shapes_in_cubes: list[Dims], health: HealthState,
                         record: bool = False) -> CapacityTracker:
        """A tracker of this policy's slice availability, subscribed to ``health``
        (``record``: keep the intervals a time series needs)."""

    def grid_fits(self, cube_dims: Dims) -> bool:
        """Can a slice of ``cube_dims`` be placed at all on a healthy, empty pod?"""
        return cube_dims[0] * cube_dims[1] * cube_dims[2] <= self.machine.cubes_per_pod

    def closed_form(self, failures: FailureParams, cube_dims: Dims) -> ClosedForm | None:
        """This policy's closed-form slice availability, if it has one."""
        return None

    def capacity_closed_form(self, failures: FailureParams, cubes: int) -> float | None:
        """Closed-form probability that some pod can place one slice of ``cubes`` cubes (any
        shape the policy accepts), if the policy has an exact one."""
        return None

    # -- usability -------------------------------------------------------------------------
    def cube_usable(self, hosts_down: int, electrical_down: int, ports_down: int) -> bool:
        """Can a cube with these known faults (hosts, electrical links, optical port links)
        hold part of a slice of whole cubes?"""
        return hosts_down == 0 and electrical_down == 0 and ports_down == 0

    def links_usable(self, pool: PoolView, alloc: Allocation) -> bool:
        """Are the links *between* the cubes of ``alloc`` known-usable? (Policies whose cube
        rule already covers every link a slice uses need not look.)"""
        return True

    def uses_port(self, alloc: Allocation, cube: int, port: int, cube_dims: Dims | None = None) -> bool:
        """Does a slice of ``cube_dims`` on ``alloc`` use optical port link ``port`` of its
        (global) ``cube``? A torus of whole cubes on an OCS machine uses every port of every
        cube; a mesh (``topology.sub_pod_slices: mesh``) only the ports facing a neighbour in
        the slice (:meth:`~tpusim.topology.machine.MachineLayout.uses_port`)."""
        if alloc.mask != (1 << self.machine.cube.chips) - 1:
            return False
        if all(self.machine.slice_wrap(cube_dims)):
            return True
        assert cube_dims is not None
        return self.machine.uses_port(cube_dims, alloc.cubes.index(cube), port)

    def port_users(self, pool: PoolView, cube: int, port: int) -> list:
        """The running slices that use optical port link ``port`` of ``cube``."""
        if self.machine.sub_pod_slices == "torus":  # every whole-cube slice uses every port
            return [job for job in pool.holders(cube) if job.cubes]
        return [job for job in pool.holders(cube)
                if job.cubes and job.alloc is not None and self.uses_port(job.alloc, cube, port, job.cube_dims)]

    def uses_ocs_port(self, alloc: Allocation, cube: int, port: int, cube_dims: Dims | None = None) -> bool:
        """Does a slice on ``alloc`` use the OCS port facing optical port ``port`` of ``cube``?
        On an OCS machine exactly when it uses that port's link (the circuit runs through both)."""
        return self.uses_port(alloc, cube, port, cube_dims)

    def ocs_port_users(self, pool: PoolView, cube: int, port: int) -> list:
        """The running slices wired through the OCS port facing ``port`` of ``cube``."""
        return self.port_users(pool, cube, port)

    def pod_usable(self, ocs_down: int) -> bool:
        """Can slices of whole cubes run in a pod with this many OCSes down among those they are
        wired through (:meth:`slice_ocs_down`)?"""
        return ocs_down == 0

    def slice_ocs_down(self, down_by_dim: Sequence[int], cube_dims: Dims | None) -> int:
        """Of a pod's OCSes down, counted per dimension (``down_by_dim[d]``: OCSes ``(d, p)``
        down), those a slice of ``cube_dims`` is wired through (``None``: a slice of any shape,
        every OCS: a torus uses them all)."""
        used = self.machine.ocs_dims(cube_dims)
        return (down_by_dim[0] if used[0] else 0) + (down_by_dim[1] if used[1] else 0) + \
            (down_by_dim[2] if used[2] else 0)

    # -- wiring ----------------------------------------------------------------------------
    @classmethod
    def ocs_ports_needed(cls, cubes_per_pod: int) -> int:
        """Ports each OCS of a pod of ``cubes_per_pod`` cubes needs: the ``+d`` and the ``-d``
        port of every cube (0 where no slice uses an OCS). Asked of the class: the scenario's
        build checks it before it makes the machine."""
        return 2 * cubes_per_pod

    def slice_ocses(self, pod: int, cube_dims: Dims | None = None) -> Sequence[int]:
        """The OCSes (global numbers) a slice of whole cubes of ``cube_dims`` in ``pod`` is wired
        through: a torus, every OCS of the pod (each cube's ``+d`` port ``p`` is cross-connected
        through OCS ``(d, p)``); a mesh (``topology.sub_pod_slices: mesh``), those of the
        dimensions it spans (none for one cube). Their faults touch such a slice, and its run
        records name the pod's OCS layer where there is one. ``None``: every OCS."""
        per = self.machine.ocs_per_pod
        if all(self.machine.slice_wrap(cube_dims)):
            return range(pod * per, (pod + 1) * per)
        return [pod * per + u for u in self.machine.local_ocses(cube_dims)]

    def interrupting_rate(self, failures: FailureParams, shape: SliceShape) -> float:
        """Failures per hour that interrupt a slice of ``shape`` under this policy (their mean
        time between sets the ``young`` and ``daly`` checkpoint intervals): a slice of whole
        cubes stops for a failure of its cubes' hosts and ICI links and for a data-plane failure
        of an OCS it is wired through (:meth:`slice_ocses`, the same number in every pod; a
        control-plane failure leaves its circuits lit) or of a switch port facing one of its cubes'
        ports; a sub-cube slice for its hosts and the
        links between its chips."""
        cube = self.machine.cube
        host, link, ocs, ocs_port = (failures.of(c).rate for c in COMPONENT_CLASSES)
        if shape.chips >= cube.chips and not all(self.machine.slice_wrap(shape.cube_dims(cube.shape))):
            # a mesh: its cubes' hosts and electrical links, the ports it joins (each a port link
            # and the switch port facing it) and the OCSes of the dimensions it spans
            cube_dims = shape.cube_dims(cube.shape)
            k = shape.cubes(cube.shape)
            joins = face_joins(cube_dims, self.machine.slice_wrap(cube_dims))
            joined = sum(2 * cube.face_positions(d) for d, _, _ in joins)  # both ends of every circuit
            wired = len(self.machine.local_ocses(cube_dims))
            dark = ocs * (1.0 - failures.ocs_control_share)
            return (k * (cube.hosts * host + cube.electrical_count * link) + joined * (link + ocs_port)
                    + wired * dark)
        if shape.chips >= cube.chips:
            cubes = shape.cubes(cube.shape)
            dark = ocs * (1.0 - failures.ocs_control_share)
            wired = len(self.slice_ocses(0))  # OCSes it is wired through: each holds 2 of a cube's ports
            ports = 2 * wired * ocs_port  # the switch ports facing its cubes' ports, per cube
            return cubes * (cube.hosts * host + cube.links * link + ports) + wired * dark
        hosts = max(1, shape.chips // cube.chips_per_host)
        x, y, z = shape.dims
        links = (x - 1) * y * z + x * (y - 1) * z + x * y * (z - 1)
        return hosts * host + links * link

    def maintenance_holds(self, campaign: Campaign, wave: Wave) -> list[Hold]:
        """What ``wave`` of ``campaign`` takes down on this policy's machine: ``(class, units,
        dark)`` triples (:func:`~tpusim.failures.maintenance.holds`; on an OCS machine OCS
        campaigns take their switches, and cube campaigns their cubes wave by wave)."""
        return holds(campaign, wave, self.machine, wired_statically=False)

    def chip_availability(self, health: HealthState, t: float) -> float:
        """Fraction of chip-time over ``[0, t]`` on healthy hardware in ``health``: every chip's
        host and links, and the OCS circuits that carry its ports."""
        return health.chip_availability(t, with_ocs=True)

    def useful_availability(self, system: float, health: HealthState, t: float) -> float:
        """Fraction of chip-time over ``[0, t]`` able to do useful work under this policy, given
        its ``system`` availability (chip-time on healthy hardware): the same figure unless the
        policy keeps chips behind a fault working (fault-tolerant routing)."""
        return system

    # -- placement -------------------------------------------------------------------------
    @abstractmethod
    def find_whole(self, pool: PoolView, cube_dims: Dims) -> Allocation | None:
        """Free, usable cubes for a slice of ``cube_dims``, or None."""

    @abstractmethod
    def places_with_victims(self, pool: PoolView, job: SliceHolder, pod: int, usable: int,
                            movable: int) -> Iterator[Placement]:
        """Places for ``job`` in ``pod`` that clearing running jobs would open, each with the
        jobs in its way. ``usable``: known-usable local cubes; ``movable``: those whose holders
        may all be moved (free cubes included). What it offers must depend on ``pod``'s state in
        the pool (its holdings, known health, reservations) and the job's shape alone: the
        scheduler reuses a pod's offers for a shape while the pod has not changed."""

    # -- circuits --------------------------------------------------------------------------
    def slice_circuits(self, alloc: Allocation, cube_dims: Dims | None) -> SliceCircuits:
        """The OCS circuits a slice of ``cube_dims`` on ``alloc`` uses, by face join
        (:class:`~tpusim.topology.graph.SliceCircuits`; a face join is one circuit through each
        OCS ``(d, p)``). A slice of whole cubes is a torus: the cube of each slot has its ``+d``
        face joined to the ``-d`` face of the next slot's cube along ``d``, wraparounds included
        (one slot long in ``d``: to its own); 48 circuits per cube on 4x4x4 cubes. A mesh
        (``topology.sub_pod_slices: mesh``, a slice smaller than a pod) has no wraparound: 16
        circuits for a 1x1x2 slice, none for one cube. A sub-cube
        slice uses none. The Pod Manager programs those its switches do not already hold
        (:mod:`tpusim.scheduler.circuits`): they are the xconnects."""
        if cube_dims is None or alloc.mask != (1 << self.machine.cube.chips) - 1:
            return NO_CIRCUITS
        return SliceCircuits(alloc.cubes, face_joins(cube_dims, self.machine.slice_wrap(cube_dims)))

    # -- spares ----------------------------------------------------------------------------
    def swaps_cubes(self, job: SliceHolder) -> bool:
        """May the Pod Manager swap a broken cube under ``job``'s running slice of whole cubes
        for a healthy free spare of its pod (reprogramming only the cross-connects touching
        it)? Here never: the slice waits for the repair or goes back to the queue."""
        return False

    def spare_cubes(self, requested: int) -> int:
        """Usable cubes each pod keeps free of capped work for spare swaps, of the
        ``requested`` (``pod_manager.spare_cubes``): none where no cube is ever swapped in."""
        return 0

    # -- degraded running ------------------------------------------------------------------
    def slice_rate(self, job: SliceHolder, alloc: Allocation, faults: list[tuple[int, int]]) -> float | None:
        """Speed of ``job`` on ``alloc`` with these truly-down components ``(class, unit)``:
        1.0 when there are none, None when it cannot run."""
        return 1.0 if not faults else None

    def routes_around_faults(self, job: SliceHolder) -> bool:
        """Does ``job``'s slice keep running through the faults under it, routed around them at
        the speed :meth:`slice_rate` gives, instead of restarting (the Pod Manager then re-rates
        it as faults come and go)? Here never."""
        return False
