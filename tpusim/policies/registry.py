"""The policy registry: policy names as scenarios spell them, mapped to their classes.

Built-in policies register themselves when :mod:`tpusim.policies` is imported; a new policy
registers with the :func:`register` decorator (a test or a notebook may define one in a few
lines). The scenario schema validates ``policies: [...]`` against :func:`names`, so a
registered policy is usable everywhere at once: runs, sweeps, checks, tables and plots.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # the interface module imports this one; annotations only
    from tpusim.policies.base import Policy

P = TypeVar("P", bound="type[Policy]")

_REGISTRY: dict[str, "type[Policy]"] = {}

#: What a scenario compares when it lists no policies: the baseline and the OCS machine.
DEFAULT = ("static", "reconfigurable")


def register(cls: P) -> P:
    """Class decorator: make ``cls`` available under ``cls.name``."""
    name = cls.name
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"a policy named {name!r} is already registered ({_REGISTRY[name].__qualname__})")
    _REGISTRY[name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove a policy (tests that register their own clean up with this)."""
    _REGISTRY.pop(name, None)


def get(name: str) -> "type[Policy]":
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no policy named {name!r}; registered: {', '.join(names())}") from None


def names() -> tuple[str, ...]:
    """Registered policy names, in registration order (built-ins first)."""
    return tuple(_REGISTRY)
