"""Loading scenarios: YAML files, mappings and ``--set`` overrides, with key-path errors.

:func:`load_scenario` reads a file, applies ``--set``-style overrides (dotted key = YAML value),
resolves the CSV paths it names relative to the file, and validates everything at once:
:func:`scenario_from_dict` checks each key (pydantic) and then every cross-key rule by building
the model (:func:`tpusim.config.build.build_model`). The returned :class:`Scenario` is known to
be runnable, and a bad one raises :class:`~tpusim.errors.ScenarioError` listing *every* problem
with its key path (``failures.host.repair.mean_hours: must be > 0, got -3``).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tpusim.config.schema import Scenario, defaults
from tpusim.errors import Problem, ScenarioError

#: Keys that name files, resolved relative to the scenario file that gives them.
FILE_KEYS = [("workload", "mix"), ("workload", "trace"), ("failures", "trace")] + [
    (f"failures.{c}.schedule", "csv") for c in ("host", "ici_link", "ocs")
]


def _merged(base: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` laid over ``base``, recursively for mappings present in both."""
    out = dict(base)
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def _path_of(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith(("function-", "tuple[", "literal[")):
            out += ("." if out else "") + str(part)
    return out


def _describe(error: Any) -> str:
    kind, ctx, got = error["type"], error.get("ctx", {}), error.get("input")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        op, bound = {"greater_than": (">", "gt"), "greater_than_equal": (">=", "ge"),
                     "less_than": ("<", "lt"), "less_than_equal": ("<=", "le")}[kind]
        limit = ctx[bound]
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)
        return f"must be {op} {limit}, got {got!r}"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}, got {got!r}"
    if kind in ("float_parsing", "float_type"):
        return f"must be a number, got {got!r}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"must be a whole number, got {got!r}"
    if kind in ("string_type",):
        return f"must be a string, got {got!r}"
    if kind in ("list_type", "tuple_type"):
        return f"must be a list, got {got!r}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a mapping of keys, got {got!r}"
    if kind == "too_short":
        return f"must not be empty, got {got!r}"
    if kind == "too_long":
        return f"has too many items, got {got!r}"
    return f"{error['msg']}, got {got!r}"


def parse_override(text: str) -> tuple[str, Any]:
    """``"failures.host.daily_rate=0.01"`` -> (key, YAML-parsed value)."""
    if "=" not in text:
        raise ScenarioError([Problem("--set", f"expected KEY=VALUE, got {text!r}")])
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ScenarioError([Problem("--set", f"bad key in {text!r}")])
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ScenarioError([Problem(key, f"--set value is not valid YAML: {exc}")]) from None
    return key, value


def yaml_value(value: Any) -> str:
    """``value`` as the YAML text an override carries (the inverse of :func:`parse_override`)."""
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def override_strings(overrides: dict[str, Any]) -> list[str]:
    """``{"a.b": 1}`` -> ``["a.b=1"]``."""
    return [f"{key}={yaml_value(value)}" for key, value in overrides.items()]


def apply_overrides(data: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Set dotted keys in a raw scenario mapping (a copy), creating mappings on the way."""
    data = copy.deepcopy(data)
    for text in overrides or []:
        key, value = parse_override(text)
        node = data
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ScenarioError([Problem(".".join(parts[: i + 1]), f"is not a mapping, cannot set {key}")])
            node = child
        node[parts[-1]] = value
    return data


def scenario_from_dict(data: Any, source: str | None = None) -> Scenario:
    """Validate a raw mapping into a :class:`Scenario`, or raise with every problem found."""
    from tpusim.config.build import build_model

    if not isinstance(data, dict):
        raise ScenarioError([Problem("", f"a scenario must be a mapping of keys, got {type(data).__name__}")], source)
    data = _merged(defaults(), data)  # a key left out, at any depth, takes its default
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems = [Problem(_path_of(e["loc"]), _describe(e)) for e in exc.errors()]
        raise ScenarioError(problems, source) from None
    build_model(scenario, source)  # every cross-key check; the model is kept with the scenario
    return scenario


def load_scenario(path: str | Path, overrides: list[str] | None = None) -> Scenario:
    """Read, override and validate a scenario file."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ScenarioError([Problem("", "no such file")], source) from None
    except OSError as exc:
        raise ScenarioError([Problem("", f"cannot read: {exc.strerror}")], source) from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ScenarioError([Problem("", f"YAML syntax error at {where}{exc.problem}")], source) from None
    except yaml.YAMLError as exc:
        raise ScenarioError([Problem("", f"YAML error: {exc}")], source) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenarioError([Problem("", f"a scenario must be a mapping of keys, got {type(data).__name__}")], source)
    try:
        data = apply_overrides(data, overrides)
    except ScenarioError as exc:
        raise ScenarioError(exc.problems, source) from None
    for section, key in FILE_KEYS:
        block = data
        for part in section.split("."):
            block = block.get(part) if isinstance(block, dict) else None
        if isinstance(block, dict) and isinstance(block.get(key), str) and not Path(block[key]).is_absolute():
            block[key] = str((path.parent / block[key]).resolve())  # beside the scenario file
    return scenario_from_dict(data, source)
