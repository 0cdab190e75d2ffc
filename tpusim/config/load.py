"""Loading scenarios: YAML files, mappings and ``--set`` overrides, with key-path errors.

:func:`load_scenario` reads a file (a path, or a bundled scenario by name), applies ``--set``-style overrides (dotted key = YAML value),
resolves the CSV paths it names relative to the file, and validates everything at once:
:func:`~tpusim.config.schema.scenario_from_dict` checks each key (pydantic) and then every
cross-key rule (by building the model, :func:`tpusim.config.build.build_model`). The returned
:class:`Scenario` is known to be runnable, and a bad one raises
:class:`~tpusim.core.errors.ScenarioError` listing *every* problem with its key path (``failures.host.repair.mean_hours: must be > 0, got -3``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union

from tpusim.config.bundled import exists, hint, locate
from tpusim.config.overrides import apply_overrides, override_strings
from tpusim.config.schema import Scenario, scenario_from_dict
from tpusim.config.strict_yaml import load_yaml, read_text
from tpusim.core.errors import Problem, ScenarioError
from tpusim.topology.machine import COMPONENT_CLASSES

#: Keys that name files, resolved relative to the scenario file that gives them.
FILE_KEYS = [("workload", "mix"), ("workload", "trace"), ("failures", "trace")] + [
    (f"failures.{c}.schedule", "csv") for c in COMPONENT_CLASSES
]


def _blame(problems: list[Problem], overrides: list[str] | None, options: list[str] | None) -> list[Problem]:
    """Problems at a key an override set (or inside it, or above it: ``failures.nosuch`` for
    ``--set failures.nosuch.daily_rate=1``) name the override, not the file: ``--set
    horizon_day: unknown key (did you mean horizon_days?)``. ``options`` gives, override by
    override, the CLI option that made it when not ``--set`` (``--seed``, ``--vary``); the
    last override of a key is the one that counts."""
    made = [(text.split("=", 1)[0].strip(), (options or [])[i] if i < len(options or []) else "--set")
            for i, text in enumerate(overrides or []) if "=" in text]
    out = []
    for p in problems:
        found = next(((k, option) for k, option in reversed(made) if p.path and (
            p.path == k or p.path.startswith((k + ".", k + "[")) or k.startswith(p.path + "."))), None)
        if found is None:
            out.append(p)
            continue
        option = found[1]
        named = option.lstrip("-") == p.path  # --seed for seed: the option says the key
        out.append(Problem(p.path, p.message, option if named else f"{option} {p.path}"))
    return out


def load_scenario(path: str | Path, overrides: list[str] | None = None,
                  options: list[str] | None = None) -> Scenario:
    """Read, override and validate a scenario file: a path, or the name of a bundled scenario
    (``"tpuv4_pod"``; see :mod:`tpusim.config.bundled`). A problem with a value an override set
    names the override (``options``: the CLI option behind each override, when not ``--set``)."""
    given = str(path)
    path = locate(path)
    source = str(path)
    if not exists(path):
        raise ScenarioError([Problem("", "no such file" + hint(given))], source)
    data = load_yaml(read_text(path, source), source)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenarioError([Problem("", f"a scenario must be a mapping of keys, got {type(data).__name__}")], source)
    try:
        data = apply_overrides(data, overrides)
    except ScenarioError as exc:  # the override's text is at fault, not the file: name the option alone
        raise ScenarioError(exc.problems) from None
    for section, key in FILE_KEYS:
        block: Any = data
        for part in section.split("."):
            block = block.get(part) if isinstance(block, dict) else None
        if isinstance(block, dict) and isinstance(block.get(key), str) and not Path(block[key]).is_absolute():
            block[key] = str((path.parent / block[key]).resolve())  # beside the scenario file
    try:
        return scenario_from_dict(data, source)
    except ScenarioError as exc:
        raise ScenarioError(_blame(exc.problems, overrides, options), source) from None


#: What every public entry point takes as a scenario: a :class:`Scenario`, a YAML path, the name
#: of a bundled scenario, or a mapping of keys as a scenario file holds them.
ScenarioLike = Union[Scenario, str, "os.PathLike[str]", Mapping[str, Any]]


def as_scenario(scenario: ScenarioLike, overrides: "list[str] | Mapping[str, Any] | None" = None) -> Scenario:
    """Any form of a scenario as a validated :class:`Scenario`, with dotted-key ``overrides``
    (``["failures.host.daily_rate=0.01"]`` as ``--set`` takes them, or a mapping) applied.
    Every study (``run``, ``sweep``, ``plan_spares``, ``campaign_cost``, ``domain_attribution``,
    ``localise``) reads its scenario argument through this one function."""
    texts = override_strings(dict(overrides)) if isinstance(overrides, Mapping) else list(overrides or [])
    if isinstance(scenario, Scenario):
        return scenario.with_overrides(texts) if texts else scenario
    if isinstance(scenario, (str, os.PathLike)):
        return load_scenario(os.fspath(scenario), texts)
    if isinstance(scenario, Mapping):
        return scenario_from_dict(apply_overrides(dict(scenario), texts))
    raise TypeError(f"scenario: expected a Scenario, a YAML path, the name of a bundled scenario or a mapping, "
                    f"got {type(scenario).__name__}")
