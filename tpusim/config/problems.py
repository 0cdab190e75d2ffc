"""pydantic's validation errors, translated into :class:`~tpusim.core.errors.Problem` lines with
dotted key paths and messages a user can act on (``failures.host.repair.mean_hours: must be > 0,
got -3``)."""

from __future__ import annotations

import difflib
from typing import Any, get_args

from pydantic import ValidationError

from tpusim.core.errors import Problem


def _path_of(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not (str(part).startswith(("function-", "tuple[", "literal[", "constrained-"))
                  or part in ("float", "int", "str", "bool")):  # union members' tags
            out += ("." if out else "") + str(part)
    return out


#: Errors raised by tpusim's own validators, whose message already says what was given.
COMPLETE = {"bool_number", "extents_length", "horizon_short", "control_character"}


def _fields_at(model: Any, loc: tuple[Any, ...]) -> list[str]:
    """The keys the section at ``loc`` takes (walking ``model``'s fields; [] if unknown)."""
    for part in loc:
        if isinstance(part, int):
            continue  # an item of a list
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            continue  # a union member's tag
        model = _model_in(field.annotation)
        if model is None:
            return []
    return list(getattr(model, "model_fields", {}))


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def unknown_key(key: Any, known: list[str]) -> str:
    """"unknown key", with the closest known key when one is close (the same words for a key
    in a YAML file, a ``--set`` key and a key inside a ``--set`` value)."""
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
    return f"unknown key (did you mean {close[0]}?)" if close else "unknown key"


def _describe(error: Any, root: Any = None) -> str:
    kind, ctx, got = error["type"], error.get("ctx", {}), error.get("input")
    if kind in COMPLETE:
        return error["msg"]
    if kind == "extra_forbidden":
        return unknown_key(error["loc"][-1], _fields_at(root, error["loc"][:-1]) if root is not None else [])
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
    if kind == "finite_number":
        return f"must be a finite number, got {got!r}"
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


def problems_of(exc: ValidationError, root: Any = None) -> list[Problem]:
    """One problem per key path: a value that fits no member of a union (a number > 0 or
    'young') gets one line naming every way it could have been right. With ``root`` (the model
    validated), an unknown key comes with the closest key of its section."""
    merged: dict[str, list[str]] = {}
    for e in exc.errors():
        messages = merged.setdefault(_path_of(e["loc"]), [])
        message = _describe(e, root)
        if message not in messages:
            messages.append(message)
    return [Problem(path, " or ".join(messages)) for path, messages in merged.items()]
