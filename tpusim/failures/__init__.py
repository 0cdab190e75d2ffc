"""Failures and repair: per-class superposed Poisson failure processes, repair distributions,
detection delays, failure traces, and the health state they drive (DESIGN §2).

Layer: above :mod:`tpusim.topology`; below policies, the control plane and everything else.
Nothing here reads a file or knows a policy.
"""

from tpusim.failures.distributions import RepairDistribution
from tpusim.failures.health import HOST, ICI_LINK, OCS, OCS_PORT, HealthState
from tpusim.failures.injector import FailureInjector
from tpusim.failures.params import ClassFailures, FailureParams
from tpusim.failures.schedule import Schedule
from tpusim.failures.trace import TraceRecorder, TraceReplayer, format_trace, parse_trace

__all__ = ["HOST", "ICI_LINK", "OCS", "OCS_PORT", "ClassFailures", "FailureInjector", "FailureParams", "HealthState",
           "RepairDistribution", "Schedule", "TraceRecorder", "TraceReplayer", "format_trace", "parse_trace"]
