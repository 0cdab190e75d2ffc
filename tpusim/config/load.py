"""Loading scenarios: YAML files, mappings and ``--set`` overrides, with key-path errors.

:func:`load_scenario` reads a file (a path, or a bundled scenario by name), applies ``--set``-style overrides (dotted key = YAML value),
resolves the CSV paths it names relative to the file, and validates everything at once:
:func:`~tpusim.config.schema.scenario_from_dict` checks each key (pydantic) and then every
cross-key rule (by building the model, :func:`tpusim.config.build.build_model`). The returned
:class:`Scenario` is known to be runnable, and a bad one raises
:class:`~tpusim.errors.ScenarioError` listing *every* problem with its key path (``failures.host.repair.mean_hours: must be > 0, got -3``).
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
from tpusim.errors import Problem, ScenarioError

#: Keys that name files, resolved relative to the scenario file that gives them.
FILE_KEYS = [("workload", "mix"), ("workload", "trace"), ("failures", "trace")] + [
    (f"failures.{c}.schedule", "csv") for c in ("host", "ici_link", "ocs")
]


def load_scenario(path: str | Path, overrides: list[str] | None = None) -> Scenario:
    """Read, override and validate a scenario file: a path, or the name of a bundled scenario
    (``"tpuv4_pod"``; see :mod:`tpusim.config.bundled`)."""
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
    except ScenarioError as exc:
        raise ScenarioError(exc.problems, source) from None
    for section, key in FILE_KEYS:
        block: Any = data
        for part in section.split("."):
            block = block.get(part) if isinstance(block, dict) else None
        if isinstance(block, dict) and isinstance(block.get(key), str) and not Path(block[key]).is_absolute():
            block[key] = str((path.parent / block[key]).resolve())  # beside the scenario file
    return scenario_from_dict(data, source)


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
