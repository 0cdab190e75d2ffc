"""Foundations every other package may use, and that use no other tpusim package.

- ``errors``: problems a user can act on, with the file and key path;
- ``rng``: named random streams per (seed, replication, name);
- ``stats``: interval statistics (Student-t, the outage interval, proportions);
- ``metrics``: the registry of reported metrics (name, label, unit, bounds), tidy samples and
  their estimates;
- ``collect``: the result hook by which each component of a replication emits its own samples;
- ``formatting``: how an estimate is written wherever it is shown;
- ``csvrows``: CSV rows checked against their header, with line and column in every error;
- ``version``: the package version.

Invariant: nothing here imports a tpusim module outside ``tpusim.core``.
"""
