"""Fault localisation from job records: the methods (``methods``: Deepview's sparse Lasso with
a one-sided test, the naive count, and their score against the ground truth) and the study
that runs a scenario and applies them (``study``: :func:`localise`)."""
