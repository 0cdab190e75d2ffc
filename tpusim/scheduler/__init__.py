"""The control plane (DESIGN §3): the workload, jobs, the Borg-like scheduler and the Pod Manager.

- :mod:`~tpusim.scheduler.workload`: job specs, their generation and the workload parameters;
- :mod:`~tpusim.scheduler.blocks`: aligned buddy blocks for sub-cube slices;
- :mod:`~tpusim.scheduler.job`: a job's runs, checkpoints and accounting;
- :mod:`~tpusim.scheduler.pool`: cubes and chips held by jobs, and known to be usable: a composition of
  :mod:`~tpusim.scheduler.holdings`, :mod:`~tpusim.scheduler.known_health`,
  :mod:`~tpusim.scheduler.reservations`, :mod:`~tpusim.scheduler.spare_cap`,
  :mod:`~tpusim.scheduler.best_fit` and :mod:`~tpusim.scheduler.stamps`;
- :mod:`~tpusim.scheduler.scheduler`: priority-band queues, placement passes, preemption, defragmentation;
- :mod:`~tpusim.scheduler.pod_manager`: xconnects, pre-flight, failure recovery, spare swaps;
- :mod:`~tpusim.scheduler.circuits`: the OCSes' cross-connect state (what a placement changes is its xconnects);
- :mod:`~tpusim.scheduler.outcome`: a run's job metrics and per-job rows;
- :mod:`~tpusim.scheduler.simulation`: the composition root that wires them for one policy.

Layer: above policies (which it asks, never names); below the replication.
"""
