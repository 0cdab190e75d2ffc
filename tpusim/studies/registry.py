"""The study registry: every study by its name (DESIGN §7).

A study is one module with a :class:`~tpusim.studies.base.Study` subclass, and one line in
:data:`STUDIES` below. The facade runs a registered study by its name
(:func:`tpusim.api.study`: ``tpusim.study("spares", "tpuv4_pod", targets=(0.99,))``) and the
CLI's study commands reach their studies through it, so a study registered here is usable by
name everywhere at once.

Invariants: names are unique; every concrete ``Study`` subclass in :mod:`tpusim.studies` is
registered, and every registered study runs its replications through the runner it is handed
(``tests/test_studies.py`` checks both).
"""

from __future__ import annotations

from typing import Any

from tpusim.studies.attribution import AttributionStudy, CampaignCostStudy
from tpusim.studies.base import Study
from tpusim.studies.check import CheckStudy
from tpusim.studies.fit import FitStudy
from tpusim.studies.localisation.study import LocalisationStudy
from tpusim.studies.rare import RareStudy
from tpusim.studies.reproduce import ReproduceStudy
from tpusim.studies.sensitivity import SensitivityStudy
from tpusim.studies.spares import SparesStudy
from tpusim.studies.sweep import SweepStudy
from tpusim.studies.uncertainty import InputUncertaintyStudy

#: Study name -> its class, in the order listings show them.
STUDIES: dict[str, type[Study]] = {study.name: study for study in (
    SweepStudy,
    SparesStudy,
    AttributionStudy,
    CampaignCostStudy,
    LocalisationStudy,
    ReproduceStudy,
    CheckStudy,
    FitStudy,
    InputUncertaintyStudy,
    SensitivityStudy,
    RareStudy,
)}


def get(name: str) -> type[Study]:
    try:
        return STUDIES[name]
    except KeyError:
        raise KeyError(f"no study named {name!r}; registered: {', '.join(names())}") from None


def names() -> tuple[str, ...]:
    """Registered study names, in listing order."""
    return tuple(STUDIES)


def create(name: str, **params: Any) -> Study:
    """The study ``name`` with its parameters (the fields of its class)."""
    return get(name)(**params)
