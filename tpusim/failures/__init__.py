"""Failures and repair: per-class superposed Poisson failure processes, repair distributions,
and the health state they drive (DESIGN §2)."""

from tpusim.failures.distributions import RepairDistribution
from tpusim.failures.health import HOST, ICI_LINK, OCS, HealthState
from tpusim.failures.injector import FailureInjector
from tpusim.failures.trace import TraceRecorder, TraceReplayer, read_trace_csv, trace_csv

__all__ = ["HOST", "ICI_LINK", "OCS", "FailureInjector", "HealthState", "RepairDistribution", "TraceRecorder", "TraceReplayer", "read_trace_csv", "trace_csv"]
