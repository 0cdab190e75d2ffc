"""Dotted-key overrides: ``--set KEY=VALUE`` on the command line, ``with_overrides`` in code.

A key is a dotted path into the scenario mapping (``failures.host.daily_rate``); a value is YAML
text (``0.01``, ``[static]``, ``{dist: fixed, mean_hours: 3}``). Applying overrides edits a copy
of the raw mapping; validation happens afterwards, like for a loaded file.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from tpusim.config.strict_yaml import load_yaml
from tpusim.core.errors import Problem, ScenarioError


def parse_override(text: str) -> tuple[str, Any]:
    """``"failures.host.daily_rate=0.01"`` -> (key, YAML-parsed value)."""
    if "=" not in text:
        raise ScenarioError([Problem("--set", f"expected KEY=VALUE, got {text!r}")])
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ScenarioError([Problem("--set", f"bad key in {text!r}")])
    value = load_yaml(raw, None, f"--set {key}") if raw.strip() else None
    return key, value


def yaml_value(value: Any) -> str:
    """``value`` as the YAML text an override carries (the inverse of :func:`parse_override`)."""
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def plain(value: Any) -> Any:
    """``value`` with numpy scalars and arrays made plain Python (``np.int64(5)`` -> ``5``),
    tuples made lists, recursively: what a notebook computes is accepted where a number is."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    tolist = getattr(value, "tolist", None)  # numpy scalars and arrays, without importing numpy
    if tolist is not None and type(value).__module__ == "numpy":
        return plain(tolist())
    return value


def override_strings(overrides: dict[str, Any]) -> list[str]:
    """``{"a.b": 1}`` -> ``["a.b=1"]``."""
    return [f"{key}={yaml_value(plain(value))}" for key, value in overrides.items()]


def apply_overrides(data: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Set dotted keys in a raw scenario mapping (a copy), creating mappings on the way.

    Overriding a distribution (``...dist``) to one other than lognormal also drops the file's
    ``sigma`` beside it, which only a lognormal takes (``--set failures.host.repair.dist=
    exponential`` works on a scenario that gives a lognormal sigma); a sigma set by an override
    stays, and is then an error."""
    data = copy.deepcopy(data)
    parsed = [parse_override(text) for text in overrides or []]
    overridden = {key for key, _ in parsed}
    for key, value in parsed:
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
        sigma = ".".join(parts[:-1] + ["sigma"])
        if parts[-1] == "dist" and value != "lognormal" and sigma not in overridden:
            node.pop("sigma", None)
    return data
