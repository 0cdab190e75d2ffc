"""Outputs: atomic files, summary.json, terminal tables and plots (DESIGN §7).

- :mod:`~tpusim.output.files`: atomic writes (a reader never sees half a file);
- :mod:`~tpusim.output.summary`: the DESIGN §5 summary.json mapping;
- :mod:`~tpusim.output.tables`: terminal tables (rich);
- :mod:`~tpusim.output.plots`: matplotlib figures, built on ``matplotlib.figure.Figure`` so
  that library code never selects a backend (a notebook keeps its inline plots);
- :mod:`~tpusim.output.artifacts`: the set of files a run writes.

Every number here is read from the run's estimates (:class:`tpusim.metrics.Estimates`); nothing
is recomputed or read back from a file. Model code never imports this package.
"""
