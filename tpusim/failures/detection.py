"""Detection: how long healthd / libtpunet take to notice each failure of a trace.

Every failure gets a delay (hours) drawn once per replication, so that every policy replaying
the trace sees the same delays (common random numbers). ``fixed``: each failure takes its
class's mean delay; ``exponential``: drawn with that mean from the ``detection`` stream.
Repairs are noticed at once (delay 0). Capacity availability is a property of the true health
state and never uses these delays; the scheduler and the Pod Manager react only after them.
"""

from __future__ import annotations

from tpusim.failures.params import FailureParams
from tpusim.core.rng import generator
from tpusim.topology.machine import COMPONENT_CLASSES


def detection_delays(failures: FailureParams, trace, seed: int, replication: int) -> list[float]:
    """Detection delay (hours) of every transition of ``trace`` (0 for repairs)."""
    mean = {c: failures.of(c).detection_hours for c in COMPONENT_CLASSES}
    if failures.detection_dist == "fixed":
        return [mean[cls] if down else 0.0 for _, cls, _, down in trace]
    gen = generator(seed, replication, "detection")
    draws = gen.standard_exponential(len(trace)).tolist()
    return [mean[cls] * x if down else 0.0 for (_, cls, _, down), x in zip(trace, draws)]
