"""The engine: the frozen model a scenario builds (``model``), one replication of it
(``replication``: wiring the model's components on one SimPy environment and collecting their
samples) and the one executor that runs replications serially, on local processes or on Dask
(``execution``).

Invariants: a replication draws only from streams keyed by (seed, replication, name), so the
same seed gives the same samples wherever it runs; nothing here reads files, knows the CLI or
draws plots. Layer: above the model packages (topology, failures, policies, scheduler), below
config (which builds the model), measurement, output and studies.
"""
