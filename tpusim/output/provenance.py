"""Provenance: what produced a run's numbers, so that a reader can reproduce or question them.

The ``provenance`` block of summary.json (DESIGN §5) and the key-value metadata of
jobs.parquet: when the run was made and by which command, a hash of the resolved scenario
(every default filled in: two runs with the same hash and seed give the same numbers), the
tpusim version and the git revision of its source tree when it runs from a checkout, and the
versions of Python and of every library that computes something.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from tpusim.core.version import __version__

LIBRARIES = ("simpy", "numpy", "scipy", "pandas", "networkx", "pydantic", "pyarrow", "matplotlib", "distributed")


def scenario_hash(resolved: dict) -> str:
    """SHA-256 of the resolved scenario as canonical JSON."""
    return hashlib.sha256(json.dumps(resolved, sort_keys=True, default=str).encode()).hexdigest()


@lru_cache(maxsize=1)
def _git_revision() -> str | None:
    """The commit of the source tree tpusim runs from (with ``+dirty`` if it has changes), or
    None when it is an installed package or git is not at hand."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
        return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def provenance(resolved: dict, command: list[str] | None = None) -> dict[str, Any]:
    """The provenance block for a run of the resolved scenario ``resolved``."""
    return {
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "scenario_sha256": scenario_hash(resolved),
        "tpusim_version": __version__,
        "git_revision": _git_revision(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": _versions(),
    }
