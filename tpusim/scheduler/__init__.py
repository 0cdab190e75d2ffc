"""Borg-like scheduler and Pod Manager (DESIGN §3).

Not built yet: jobs, queues, preemption and the Pod Manager arrive with the scheduler issue.
The placement rules they will use already live in :mod:`tpusim.topology.placement`.
"""
