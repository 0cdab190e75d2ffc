"""Measurement: the results of a run (every replication's samples) and the estimates computed
once from them, read by every output and study.

Invariant: results hold data and estimates; they never import ``tpusim.output`` (plots, tables,
summary and persistence read results, never the reverse). Layer: above the engine and config,
below output and studies.
"""
