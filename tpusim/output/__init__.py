"""Outputs: atomic files, summary.json, terminal tables and plots (DESIGN §7).

- :mod:`~tpusim.output.files`: atomic writes (a reader never sees half a file);
- :mod:`~tpusim.output.summary`: the DESIGN §5 summary.json mapping;
- :mod:`~tpusim.output.views`: a run's tables as text cells (labels, units, marks and footnotes
  by :mod:`tpusim.core.formatting`), read by both the terminal and the report;
- :mod:`~tpusim.output.tables`: terminal tables (rich);
- :mod:`~tpusim.output.report`: report.html, the same views and the plots in one file;
- :mod:`~tpusim.output.plots`: matplotlib figures, built on a ``matplotlib.figure.Figure``
  subclass that displays itself in IPython, so that library code never selects a backend and a
  fresh kernel shows images without ``%matplotlib``;
- :mod:`~tpusim.output.artifacts`: the set of files a run writes.

Every number here is read from the run's estimates (:class:`tpusim.core.metrics.Estimates`); nothing
is recomputed or read back from a file. Model code never imports this package.
"""
