"""Closed forms for capacity availability, to validate the simulator against.

Every unit alternates between up periods, exponential with mean ``MTBF = 1 / rate`` hours,
and repairs of mean ``MTTR``; units are independent. The long-run fraction of time a unit is up
is therefore ``a = MTBF / (MTBF + MTTR)`` for any repair distribution (an alternating renewal
process), and at a random instant the units are independent with these probabilities.

- A cube is usable when its ``H`` hosts and ``L`` links are up: ``q = a_host^H · a_link^L``.
- ``k`` usable cubes among the ``N`` of a pod whose ``O`` OCSes are all up (the rule of a
  machine that may wire any cubes together): ``a_ocs^O · P(Binomial(N, q) >= k)``; with several
  pods, ``1 - (1 - P)^pods``.
- One *fixed* box of ``k`` cubes is up with probability ``q^k``: a lower bound for a machine
  that may use any box of its grid.
- One fixed *static* box (:func:`static_box`) needs its cubes' hosts and electrical links and
  the cables between its cubes: ``a_host^(H k) · a_link^(E k + ends · C)`` for ``C`` cables of
  ``ends`` parts each, counted from the box's extents (:func:`static_box`).
- ``system_availability`` (chip level) has no simple form once a chip's host and links overlap;
  :func:`class_availability` gives the per-class form the simulator's component availability
  is tested against.

Which policy a form belongs to is the policy's business (:meth:`tpusim.policies.Policy.closed_form`);
this module knows machines and failure rates only. With a rate schedule the forms use the
schedule's mean rate, an approximation (availability is not linear in the rate).
"""

from __future__ import annotations

from tpusim.failures.params import FailureParams
from tpusim.topology.machine import MachineLayout
from tpusim.topology.shapes import Dims, unique_permutations


def unit_availability(rate: float, mean_repair_hours: float) -> float:
    """MTBF / (MTBF + MTTR) for a unit failing at ``rate`` per hour; 1 if it never fails."""
    if rate == 0:
        return 1.0
    mtbf = 1.0 / rate
    return mtbf / (mtbf + mean_repair_hours)


def _own(failures: FailureParams, component_class: str) -> float:
    """A unit's availability from its own failures alone."""
    cfg = failures.of(component_class)
    return unit_availability(cfg.mean_rate, cfg.repair.mean)


def domain_availability(domain) -> float:
    """Probability that one instance of a correlated failure domain is up."""
    return unit_availability(domain.rate, domain.repair.mean)


def class_availability(failures: FailureParams, component_class: str) -> float:
    """Probability that a unit of the class is up (at a schedule's mean rate): its own
    MTBF/(MTBF+MTTR) times that of every domain holding it (the causes are independent)."""
    value = _own(failures, component_class)
    for d in failures.domains:
        if d.component_class == component_class:
            value *= domain_availability(d)
    return value


def cube_availability(machine: MachineLayout, failures: FailureParams, within_cube_only: bool = False,
                      ocs_ports: bool = False) -> float:
    """Probability that a cube's hosts and links are all up at a random instant (with
    ``ocs_ports``, also the OCS ports facing its optical ports: a cube of the reconfigurable
    pod). A host domain inside a cube counts once per instance in the cube; one spanning several
    cubes counts once (its marginal), or not at all with ``within_cube_only`` (:func:`any_k_cubes`
    then groups the cubes it spans)."""
    hosts = machine.cube.hosts
    value = _own(failures, "host") ** hosts * _own(failures, "ici_link") ** machine.cube.links
    if ocs_ports:
        value *= _own(failures, "ocs_port") ** len(machine.cube.ports)
    for d in failures.domains:
        if d.component_class == "host":
            if d.units <= hosts:
                value *= domain_availability(d) ** (hosts // d.units)
            elif not within_cube_only:
                value *= domain_availability(d)
    return value


def ocs_layer_availability(machine: MachineLayout, failures: FailureParams) -> float:
    """Probability that every OCS of a pod is up (each OCS domain counts once per instance)."""
    n = machine.ocs_per_pod
    value = _own(failures, "ocs") ** n
    for d in failures.domains:
        if d.component_class == "ocs":
            value *= domain_availability(d) ** -(-n // d.units)
    return value


def _usable_at_least(machine: MachineLayout, failures: FailureParams, k: int) -> float:
    """Probability that a pod has at least ``k`` usable cubes (hosts, links and the OCS ports
    facing them up). A host domain spanning ``m`` cubes makes the pod's cubes groups of ``m``: a
    group has no usable cube while its domain is down, else a Binomial(m, q) of them; the pod's
    count is the convolution."""
    import numpy as np
    from scipy import stats

    n = machine.cubes_per_pod
    wide = [d for d in failures.domains if d.component_class == "host" and d.units > machine.cube.hosts]
    if not wide:
        return float(stats.binom.sf(k - 1, n, cube_availability(machine, failures, ocs_ports=True)))
    q = cube_availability(machine, failures, within_cube_only=True, ocs_ports=True)
    m = wide[0].units // machine.cube.hosts
    a = domain_availability(wide[0])
    group = a * stats.binom.pmf(np.arange(m + 1), m, q)
    group[0] += 1.0 - a
    pmf = np.array([1.0])
    for _ in range(n // m):
        pmf = np.convolve(pmf, group)
    return float(pmf[k:].sum())


def any_k_cubes(machine: MachineLayout, failures: FailureParams, k: int) -> float:
    """Probability that some pod has ``k`` usable cubes (hosts, links and the OCS ports facing
    them up) and all its OCSes up (exact): a torus of whole cubes uses every OCS of its pod."""
    per_pod = ocs_layer_availability(machine, failures) * _usable_at_least(machine, failures, k)
    return 1.0 - (1.0 - per_pod) ** machine.pods


def any_k_cubes_spanning(machine: MachineLayout, failures: FailureParams, k: int,
                         ocs_dims: tuple[bool, bool, bool]) -> float | None:
    """As :func:`any_k_cubes` for a slice wired through the OCSes of the dimensions in
    ``ocs_dims`` only (a mesh spanning them): ``a_ocs^(positions of those dimensions)`` x the
    binomial. None where OCS domains are modelled and the slice uses only some dimensions' OCSes
    (how a domain's switches fall across dimensions is no closed form's)."""
    if all(ocs_dims):
        return any_k_cubes(machine, failures, k)
    if any(d.component_class == "ocs" for d in failures.domains):
        return None
    ocs = _own(failures, "ocs") ** sum(machine.cube.face_positions(d) for d in range(3) if ocs_dims[d])
    per_pod = ocs * _usable_at_least(machine, failures, k)
    return 1.0 - (1.0 - per_pod) ** machine.pods


def any_k_cubes_mesh(machine: MachineLayout, failures: FailureParams, k: int) -> float | None:
    """Probability that some pod can place one slice of ``k`` cubes when slices smaller than a
    pod are meshes (``topology.sub_pod_slices: mesh``), of any shape: a full pod needs every OCS
    up; ``2 .. n-1`` cubes, a line along one dimension, need one dimension with all its OCSes up
    (``1 - prod_d (1 - a_ocs^positions(d))``); one cube needs none. None with OCS domains."""
    n = machine.cubes_per_pod
    if k >= n or k <= 0:
        return any_k_cubes(machine, failures, k) if k > 0 else 1.0
    if k == 1 or n <= 2:
        ocs = 1.0
    elif any(d.component_class == "ocs" for d in failures.domains):
        return None
    else:
        a = _own(failures, "ocs")
        none_up = 1.0
        for d in range(3):
            none_up *= 1.0 - a ** machine.cube.face_positions(d)
        ocs = 1.0 - none_up
    per_pod = ocs * _usable_at_least(machine, failures, k)
    return 1.0 - (1.0 - per_pod) ** machine.pods


def fixed_box(machine: MachineLayout, failures: FailureParams, k: int) -> float:
    """Probability that one fixed box of ``k`` cubes is usable (a lower bound for any-box rules)."""
    return cube_availability(machine, failures) ** k


def static_box(machine: MachineLayout, failures: FailureParams, cube_dims: Dims) -> float | None:
    """Probability that one fixed static box of ``cube_dims`` is usable: its cubes' hosts and
    electrical links and the cables between them up (None if no such box fits the grid).

    The box is the first axis order of ``cube_dims`` that fits the grid. Its cables follow from
    its extents alone (DESIGN §1): along dimension ``d`` each of its lines of ``n`` cubes holds
    ``n - 1`` connections, or ``n`` where it spans the grid of a torus of cubes (the wraparound
    closes the ring), none where the grid is one cube long; a connection is ``face_positions(d)``
    cables (counted here, not by the simulator's cabling, :mod:`tpusim.topology.cabling`)."""
    grid = machine.cube_grid
    fitting = [dims for dims in unique_permutations(cube_dims) if all(n <= g for n, g in zip(dims, grid))]
    if not fitting:
        return None
    dims = fitting[0]
    k = dims[0] * dims[1] * dims[2]
    cables = 0
    for d in range(3):
        n, g = dims[d], grid[d]
        per_line = 0 if g == 1 else n if (n == g and machine.static_wrap) else n - 1
        cables += per_line * (k // n) * machine.cube.face_positions(d)
    parts = machine.cube.electrical_count * k + machine.static_cable_ends * cables
    # hosts: a cube's marginal (own failures and every host domain); for a domain spanning
    # several cubes the product over the box's cubes is still a lower bound (it is shared)
    hosts = cube_availability(machine, failures) / _own(failures, "ici_link") ** machine.cube.links
    return hosts ** k * class_availability(failures, "ici_link") ** parts
