"""Named random streams (DESIGN §6).

One root seed. Each replication ``r`` and each named stream (``"failures.host"``,
``"repairs.ocs"``, later ``"workload"``, ``"scheduler"``) gets its own
``numpy.random.SeedSequence(root, spawn_key=(r, <stable id of the name>))``. A stream depends only
on (seed, replication, name): adding a stream, a policy or a replication never shifts another
stream's numbers, and a replication gives the same bytes whether it runs alone, in a process
pool or on a cluster. There is no global RNG anywhere in tpusim.
"""

from __future__ import annotations

import zlib

import numpy as np


def stream_key(name: str) -> int:
    """A stable 32-bit id for a stream name (CRC-32: identical on every platform and run)."""
    return zlib.crc32(name.encode("utf-8"))


def generator(seed: int, replication: int, name: str) -> np.random.Generator:
    seq = np.random.SeedSequence(seed, spawn_key=(replication, stream_key(name)))
    return np.random.Generator(np.random.PCG64(seq))
