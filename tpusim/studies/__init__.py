"""Studies: everything that runs scenarios and interprets them - sweeps (``sweep``), spare
planning (``spares``), paired attribution of domains and campaigns (``attribution``), fault
localisation (``localisation``), the published claims (``reproduce``) and the regression gate
(``check``). Each runs its replications through the one executor of :mod:`tpusim.engine` and
reads results and estimates from :mod:`tpusim.measure`.

Layer: above measurement and output (studies write their own files through output), below the
facade (:mod:`tpusim.api`) and the CLI.
"""
