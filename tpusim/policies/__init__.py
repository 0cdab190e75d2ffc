"""Policies: the ways a pod can be wired and operated, behind one :class:`Policy` interface.

One module per policy (:mod:`~tpusim.policies.static`, :mod:`~tpusim.policies.reconfigurable`,
:mod:`~tpusim.policies.reconfigurable_ft`), the shared interface (:mod:`~tpusim.policies.base`),
what capacity trackers share (:mod:`~tpusim.policies.capacity`) and the registry
(:mod:`~tpusim.policies.registry`). Importing this package registers the built-ins.

Layer: above topology, failures and :mod:`tpusim.policies.analytic`; below the control plane, which asks
the policy instead of branching on its name.
"""

# Registration order is the order of names(): the baseline first.
from tpusim.policies import static  # noqa: F401, I001  (registers the built-ins)
from tpusim.policies import reconfigurable  # noqa: F401
from tpusim.policies import reconfigurable_ft  # noqa: F401
from tpusim.policies.base import (
    FT_ROUTING,
    OCS_WIRING,
    PLAIN_ROUTING,
    STATIC_WIRING,
    ClosedForm,
    Policy,
    PoolView,
    RoutingParams,
    SliceHolder,
)
from tpusim.policies.capacity import CapacityTracker, PolicyOutcome
from tpusim.policies.registry import DEFAULT, get, names, register, unregister

__all__ = ["DEFAULT", "FT_ROUTING", "OCS_WIRING", "PLAIN_ROUTING", "STATIC_WIRING", "CapacityTracker", "ClosedForm",
           "Policy", "PolicyOutcome", "PoolView", "RoutingParams", "SliceHolder", "get", "names", "register",
           "unregister"]
