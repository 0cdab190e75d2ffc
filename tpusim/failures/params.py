"""Parameters of the failure model, in hours: what the failure injector, the detection model and
the closed forms receive (built from a scenario's ``failures`` section by :mod:`tpusim.config`).

Invariants: every rate is a per-unit hazard per hour while up (``rate == 0`` and no schedule:
the class never fails); every time is in hours; a schedule or trace is already parsed and
checked, so model code never touches a file. Frozen and picklable: one object serves every
replication, in any process.
"""

from __future__ import annotations

from dataclasses import dataclass

from tpusim.failures.distributions import MixtureRepair, RepairDistribution
from tpusim.failures.schedule import Schedule
from tpusim.topology.machine import COMPONENT_CLASSES

#: One failure trace: ``(time_hours, class name, unit, down)`` in time order.
Trace = tuple[tuple[float, str, int, bool], ...]


@dataclass(frozen=True)
class GrayParams:
    """Gray faults of one component class (times in hours)."""

    rate: float  # episodes per unit-hour
    kills_per_hour: float  # glitches per hour while gray; each fails every job using the unit
    mean_hours: float  # mean length of an episode nobody notices
    detection_probability: float  # share of episodes healthd notices at all
    detection_hours: float  # mean delay until it does


@dataclass(frozen=True)
class PlantedGray:
    """A gray episode put on one unit on purpose (never detected)."""

    component_class: str
    unit: int
    start: float  # hours
    hours: float  # length
    kills_per_hour: float


@dataclass(frozen=True)
class ClassFailures:
    """Failure, repair and detection of one component class."""

    rate: float  # per unit-hour while up (the schedule's, when there is one)
    repair: RepairDistribution
    detection_hours: float  # mean healthd/libtpunet detection delay
    schedule: Schedule | None = None
    gray: GrayParams | None = None  # gray faults (none by default)

    @property
    def enabled(self) -> bool:
        """Can a unit of this class fail at all?"""
        if self.schedule is not None:
            return self.schedule.peak > 0
        return self.rate > 0

    @property
    def mean_rate(self) -> float:
        """The long-run hazard per unit-hour (a schedule's average over its periods)."""
        return self.schedule.mean_hourly() if self.schedule is not None else self.rate


@dataclass(frozen=True)
class DomainFailures:
    """A correlated failure domain: instances of ``units`` consecutive units of one class (16
    hosts: one cube's rack power; 64 hosts: a PDU row of four cubes; n OCSes: a power supply
    feeding n switches) that fail together. Each instance fails at ``rate`` per hour while up
    and takes every member down until its repair; members' own failures go on independently,
    so a member is up exactly when it and its domain are up."""

    name: str
    component_class: str  # "host" or "ocs"
    units: int
    rate: float  # per instance-hour while up
    repair: "RepairDistribution | MixtureRepair"

    def instances(self, population: int) -> int:
        return -(-population // self.units)


@dataclass(frozen=True)
class FailureParams:
    classes: tuple[ClassFailures, ...]  # in COMPONENT_CLASSES order
    detection_dist: str = "fixed"  # "fixed" or "exponential" (mean: the class's detection_hours)
    initial_state: str = "steady"  # "steady" (stationary start) or "all_up"
    #: replayed traces by replication (key None: one trace for every replication); None: draw.
    traces: dict[int | None, Trace] | None = None
    #: share of OCS failures that only freeze the switch's circuits (control plane) instead of
    #: darkening them (data plane); see :mod:`tpusim.failures.ocs_modes`
    ocs_control_share: float = 0.0
    #: correlated failure domains (none by default)
    domains: tuple[DomainFailures, ...] = ()
    #: partial deployment: per global cube, the hour it is installed (all its hosts are held
    #: down until then, like a domain); empty: every cube is there from the start. The
    #: steady-state closed forms do not apply to a build-out (policies then give none).
    install_hours: tuple[float, ...] = ()
    #: planned maintenance takes units out too (see :mod:`tpusim.failures.maintenance`): the
    #: steady-state closed forms of slice availability then do not apply either
    planned_outages: bool = False
    #: gray episodes put on chosen units (a localisation study's ground truth)
    planted_gray: tuple[PlantedGray, ...] = ()

    @property
    def steady(self) -> bool:
        """Do the steady-state closed forms of slice availability apply (no build-out, no
        planned outages, no gray faults that healthd turns into extra failures)?"""
        noticed = any(c.gray is not None and c.gray.detection_probability > 0 and c.gray.rate > 0
                      for c in self.classes)
        return not self.install_hours and not self.planned_outages and not noticed

    @property
    def has_gray(self) -> bool:
        """Are there gray faults to draw or planted ones?"""
        return bool(self.planted_gray) or any(c.gray is not None and c.gray.rate > 0 for c in self.classes)

    def of(self, component_class: str) -> ClassFailures:
        return self.classes[COMPONENT_CLASSES.index(component_class)]

    def trace_for(self, replication: int) -> Trace:
        """The replayed trace of ``replication`` (checked to exist when the model was built)."""
        assert self.traces is not None
        return self.traces[None] if None in self.traces else self.traces[replication]
