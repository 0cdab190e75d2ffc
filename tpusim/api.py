"""The facade that the CLI and notebooks share: ``tpusim.run`` (a scenario in any form, with
overrides), ``tpusim.run_scenario`` (:mod:`tpusim.measure.runner`) and ``tpusim.study`` (any
registered study by its name, :mod:`tpusim.studies.registry`; the CLI's study commands run
theirs through it) and ``tpusim.fit`` (failure rates and repair laws from an incident log). Each study's own function (``tpusim.sweep``, ``plan_spares``, ...) is
reached from the package (``tpusim/__init__.py``).

Importing the facade installs the output package's presenter, so that results show themselves
(``results.summary()``, ``.plot()``, ``.save()``) while the measurement layer never imports
the output (:mod:`tpusim.output.presenter`).
"""

from __future__ import annotations

from typing import Any

from tpusim.config.load import ScenarioLike, as_scenario
from tpusim.config.overrides import override_strings
from tpusim.measure.results import Results
from tpusim.measure.runner import run_scenario
from tpusim.measure.sequential import stopping_from
from tpusim.output.presenter import install

install()

__all__ = ["check_importance", "fit", "importance", "run", "run_scenario", "study"]


RUN_OPTIONS = ("workers", "scheduler_address", "progress", "record_traces")
#: The options of a run that stops at a precision (:mod:`tpusim.measure.sequential`).
STOP_OPTIONS = ("precision", "half_width", "max_replications")


def run(scenario: ScenarioLike, overrides: "list[str] | dict[str, Any] | None" = None,
        **options: Any) -> Results:
    """Run a scenario given as a YAML path, a bundled scenario's name, a mapping or a :class:`Scenario`.

    Parameters
    ----------
    scenario : Scenario, str, Path or dict
        What to simulate (``"tpuv4_pod"`` names a bundled scenario; see ``tpusim scenarios``).
    overrides : list of str or dict, optional
        Dotted-key overrides, as ``--set`` takes them (``["failures.host.daily_rate=0.01"]``)
        or as a mapping (``{"failures.host.daily_rate": 0.01}``).
    **options
        ``workers``, ``scheduler_address``, ``progress`` and ``record_traces`` go to
        :func:`run_scenario`. ``precision`` (relative half-width, half-width / |mean|) and
        ``half_width`` (absolute, in the metric's unit) make a run that stops when its intervals
        are narrow enough (:mod:`tpusim.measure.sequential`): a number for the default metrics,
        ``"metric[:key]=value"`` texts, or a mapping ``{"slice_availability:12x16x16": 0.05}``;
        ``max_replications`` bounds it [default: 10 x the first stage of max(10, replications)].
        Bad values raise ``ValueError``. Any other keyword sets that top-level scenario key
        (``tpusim.run("scenarios/tpuv4_pod.yaml", replications=5, horizon_days=90)``). Numpy
        numbers are accepted wherever a number is.

    Returns
    -------
    Results
        Every replication and the estimates computed from them.

    Examples
    --------
    >>> results = tpusim.run("scenarios/tpuv4_pod.yaml", replications=4)  # doctest: +SKIP
    >>> results.metrics_frame().query("metric == 'system_availability'")  # doctest: +SKIP
    >>> tpusim.run("tpuv4_pod", half_width={"system_availability": 2e-5}).stopping["replications"]  # doctest: +SKIP
    """
    texts: list[str] = override_strings(overrides) if isinstance(overrides, dict) else list(overrides or [])
    keys = {k: v for k, v in options.items() if k not in RUN_OPTIONS + STOP_OPTIONS}
    texts += override_strings(keys)
    run_options = {k: v for k, v in options.items() if k in RUN_OPTIONS}
    stopping = stopping_from(**{k: v for k, v in options.items() if k in STOP_OPTIONS})
    sc = as_scenario(scenario, texts)
    if sc.estimation.estimator == "importance":
        check_importance(sc)  # before anything runs: ValueError with the reasons
    results = run_scenario(sc, stopping=stopping, **run_options)
    if sc.estimation.estimator == "importance":
        results.importance = importance(sc)
    return results


def check_importance(scenario: ScenarioLike) -> None:
    """ValueError, with the reasons, where ``estimation.estimator: importance`` does not apply
    to ``scenario`` (the ``rare`` study's scope: :meth:`tpusim.studies.rare.RareStudy.check`)."""
    from tpusim.studies.rare import RareStudy

    RareStudy.check(as_scenario(scenario))


def importance(scenario: ScenarioLike) -> dict[str, Any]:
    """What ``estimation.estimator: importance`` adds to a run (``Results.importance``,
    summary.json's ``importance``): each of the scenario's whole-cube slice shapes'
    unavailability under the reconfigurable rule by the ``rare`` study, with the scenario's
    seed and ``estimation.importance`` cycles and bias; the study's warnings, and the shapes it
    skipped with the reason. ValueError where the estimator does not apply."""
    import math

    from tpusim.policies.reconfigurable import ReconfigurablePolicy

    sc = as_scenario(scenario)
    params = sc.estimation.importance
    out = study("rare", sc, cycles=params.cycles, bias=params.bias)
    rows = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
            for row in out.frame.to_dict("records")]
    how = (f"regenerative importance sampling, balanced failure biasing (bias {params.bias:g})" if params.bias > 0
           else "plain regenerative cycles (bias 0)")
    return {"method": how, "rule": ReconfigurablePolicy.name, "cycles": params.cycles, "bias": params.bias, "seed": sc.seed,
            "rows": rows, "warnings": list(out.warnings), "skipped": list(out.skipped)}


def study(name: str, scenario: Any = None, overrides: "list[str] | dict[str, Any] | None" = None, *,
          workers: int = 1, scheduler_address: str | None = None, **params: Any) -> Any:
    """Run the study registered as ``name`` (:func:`tpusim.studies.registry.names`: ``sweep``,
    ``spares``, ``attribution``, ``campaign_cost``, ``localisation``, ``reproduce``, ``check``, ``fit``,
    ``sensitivity``, ``uncertainty``).

    Parameters
    ----------
    name : str
        The study.
    scenario : Scenario, str, Path or dict
        What it runs on: a scenario in any form :func:`run` takes (``reproduce``: a folder of
        the scenarios it needs, or None for the shipped ones).
    overrides : list of str or dict, optional
        Dotted-key overrides, set on the scenario first.
    workers, scheduler_address
        A local process pool, or a Dask cluster (``tcp://HOST:PORT``); the numbers are the same.
    **params
        The study's parameters: the fields of its class (``vary`` for ``sweep``, ``targets``
        for ``spares``, ``baseline`` for ``check``, ...).

    Returns
    -------
    The study's result (``SweepResults``, ``SparePlan``, a DataFrame, ``Localisation``, ...).

    Examples
    --------
    >>> plan = tpusim.study("spares", "tpuv4_pod", targets=(0.99,), workers=2)  # doctest: +SKIP
    """
    from tpusim.studies import registry

    return registry.create(name, **params).on(scenario, overrides, workers=workers,
                                              scheduler_address=scheduler_address)


def fit(incidents: Any, population: "dict[str, int] | None" = None, scenario: Any = None, *,
        log_end_hours: float | None = None, replication: int | None = None, weekly: bool = False) -> Any:
    """Failure rate and repair law per component class from an operator's incident log, with
    95 % intervals (:mod:`tpusim.studies.fit`; the study ``fit``).

    Parameters
    ----------
    incidents : str, Path or IncidentLog
        A CSV file (or its text) with ``unit, class, down_hours, up_hours`` per incident
        (``up_hours`` empty: still open, right-censored at the log's end), or a failure trace as
        ``tpusim run --write-trace`` writes it.
    population : dict, optional
        Units per class (``{"host": 1024}``): a log lists only the units that failed, so every
        class in it needs one, given here or read from ``scenario``.
    scenario : Scenario, str, Path or dict, optional
        A scenario whose machine gives the populations (a given ``population`` wins).
    log_end_hours : float, optional
        When the log ends [default: the largest time in it].
    replication : int, optional
        The replication to fit, for a log with a ``replication`` column holding several.
    weekly : bool
        Also estimate a weekly rate schedule (``FitResults.weekly``).

    Returns
    -------
    FitResults
        ``.classes`` (per class: the rate, every repair law, the one written),
        ``.yaml_text()`` (``failures:`` and ``assumptions:`` to paste), ``.as_dict()``, ``.frame()``.

    Examples
    --------
    >>> fitted = tpusim.fit("incidents.csv", scenario="tpuv4_pod")  # doctest: +SKIP
    >>> print(fitted.yaml_text())  # doctest: +SKIP
    """
    from tpusim.studies.fit import FitStudy

    return FitStudy(population, scenario, log_end_hours, replication, weekly).on(incidents)  # scenario: population_from
