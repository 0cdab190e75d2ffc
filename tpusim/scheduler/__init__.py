"""The control plane (DESIGN §3): jobs, the Borg-like scheduler and the Pod Manager.

- :mod:`~tpusim.scheduler.blocks`: aligned buddy blocks for sub-cube slices;
- :mod:`~tpusim.scheduler.pool`: cubes and chips held by jobs, and known to be usable;
- :mod:`~tpusim.scheduler.job`: a job's runs, checkpoints and accounting;
- :mod:`~tpusim.scheduler.borg`: priority-band queues, placement passes, preemption, defragmentation;
- :mod:`~tpusim.scheduler.pod_manager`: xconnects, pre-flight, failure recovery, spare swaps.
"""
