"""Dotted-key overrides: ``--set KEY=VALUE`` on the command line, ``with_overrides`` in code.

A key is a dotted path into the scenario mapping (``failures.host.daily_rate``); a value is YAML
text (``0.01``, ``[static]``, ``{dist: fixed, mean_hours: 3}``). Applying overrides edits a copy
of the raw mapping; validation happens afterwards, like for a loaded file.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

import yaml

from tpusim.config.strict_yaml import load_yaml
from tpusim.core.errors import Problem, ScenarioError


def parse_override(text: str) -> tuple[str, Any]:
    """``"failures.host.daily_rate=0.01"`` -> (key, YAML-parsed value). A list entry is named by
    its index as a part (``workload.hero.0.min_cubes``) or, as error messages write it, in
    brackets (``workload.hero[0].min_cubes``)."""
    if "=" not in text:
        raise ScenarioError([Problem("--set", f"expected KEY=VALUE, got {text!r}")])
    key, raw = text.split("=", 1)
    key = re.sub(r"\[(\d+)\]", r".[\1]", key.strip())  # (an index, never a name: see entry_of)
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


def entry_of(items: list, part: str) -> int | None:
    """The index of the entry of ``items`` that ``part`` names: the entry whose ``name`` it is
    (a campaign's, a domain's), else a 0-based index (``repair_mix.1``), or only an index when
    written in brackets (``[1]``, as error messages write it); None if neither."""
    if part.startswith("[") and part.endswith("]"):
        index = part[1:-1]
        return int(index) if index.isascii() and index.isdigit() and int(index) < len(items) else None
    for i, item in enumerate(items):
        if isinstance(item, Mapping) and item.get("name") == part:
            return i
    if part.isascii() and part.isdigit() and int(part) < len(items):
        return int(part)
    return None


def value_at(data: Any, key: str) -> Any:
    """The value at dotted ``key`` of a scenario mapping (raw or ``model_dump``), or KeyError; in
    a list a part names an entry (:func:`entry_of`: ``maintenance.ici_stack.wave_size``)."""
    node = data
    for part in key.split("."):
        if isinstance(node, list) and (i := entry_of(node, part)) is not None:
            node = node[i]
        elif isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            raise KeyError(key)
    return node


def _shown(parts: list[str]) -> str:
    """A key path as messages write it (``workload.hero[0].min_cubes``)."""
    return ".".join(parts).replace(".[", "[")


def _entry(items: list, part: str, parts: list[str], key: str) -> int:
    i = entry_of(items, part)
    if i is None:
        which = (f"give an entry's name or its index, 0 to {len(items) - 1}" if items else "the list is empty")
        raise ScenarioError([Problem(_shown(parts), f"names no entry of {_shown(parts[:-1])} ({which}), "
                                                    f"cannot set {_shown(key.split('.'))}")])
    return i


def _number(data: Any, key: str) -> bool:
    try:
        value = value_at(data, key)
    except KeyError:
        return False
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def apply_overrides(data: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Set dotted keys in a raw scenario mapping (a copy), creating mappings on the way; in a
    list a part names an entry by its name or index (``maintenance.ici_stack.wave_size``,
    ``failures.domains.rack_power.repair_mix.0.mean_hours``).

    An override that replaces what a declared assumption is about (``failures.domains`` without
    the domain, ``workload: null``) drops that assumption: a key it named as a number before
    names none after (an ``assumptions`` override itself is kept as given).

    Overriding a distribution (``...dist``) to one other than lognormal also drops the file's
    ``sigma`` beside it, which only a lognormal takes (``--set failures.host.repair.dist=
    exponential`` works on a scenario that gives a lognormal sigma); a sigma set by an override
    stays, and is then an error."""
    data = copy.deepcopy(data)
    parsed = [parse_override(text) for text in overrides or []]
    overridden = {key for key, _ in parsed}
    declared = data.get("assumptions") if isinstance(data, dict) else None
    numbers = ({a for a in declared if isinstance(a, str) and _number(data, a)}
               if isinstance(declared, dict) else set())
    for key, value in parsed:
        node: Any = data
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            if isinstance(node, list):
                child = node[_entry(node, part, parts[: i + 1], key)]
            else:
                child = node.get(part)
                if child is None:
                    child = node[part] = {}
            if not isinstance(child, (dict, list)):
                raise ScenarioError([Problem(_shown(parts[: i + 1]), f"is not a mapping, cannot set {_shown(parts)}")])
            node = child
        if isinstance(node, list):
            node[_entry(node, parts[-1], parts, key)] = value
        else:
            node[parts[-1]] = value
        sigma = ".".join(parts[:-1] + ["sigma"])
        if isinstance(node, dict) and parts[-1] == "dist" and value != "lognormal" and sigma not in overridden:
            node.pop("sigma", None)
    if numbers and not any(k == "assumptions" or k.startswith("assumptions.") for k in overridden):
        gone = [a for a in numbers if any(a == k or a.startswith(k + ".") for k in overridden)
                and not _number(data, a)]
        for a in gone:
            del data["assumptions"][a]
    return data
