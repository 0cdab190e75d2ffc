"""Studies: everything that runs scenarios and interprets them - sweeps (``sweep``), spare
planning (``spares``), paired attribution of domains and campaigns (``attribution``), fault
localisation (``localisation``), the published claims (``reproduce``) and the regression gate
(``check``). Every study is a :class:`~tpusim.studies.base.Study` (``base``: its name, summary,
parameters, what it runs on and how), registered by name in ``registry``; each runs its
replications through the :class:`~tpusim.studies.base.Runner` it is handed (the one executor
of :mod:`tpusim.engine`) and reads results and estimates from :mod:`tpusim.measure`. A new
study is one module and one line in ``registry``.

Layer: above measurement and output (studies write their own files through output), below the
facade (:mod:`tpusim.api`) and the CLI.
"""
