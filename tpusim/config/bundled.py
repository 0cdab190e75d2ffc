"""The scenarios shipped with tpusim, and finding a scenario given as a path or a bundled name.

The repository's top-level ``scenarios/`` directory is installed as the package data
``tpusim.scenarios`` (pyproject maps it). A scenario argument (``tpusim run X``,
``tpusim.run(X)``, ``tpusim.load_scenario(X)``) is a path, or the name of a bundled scenario
(``tpuv4_pod`` or ``tpuv4_pod.yaml``), so that a pip user can run one from any folder.

Invariants:
- An existing path always wins: a file ``tpuv4_pod.yaml`` in the current folder is read, not
  the bundled one. A name is looked up in the bundle only when no such file exists and the
  argument has no directory part.
- The bundle is read through :mod:`importlib.resources` as a ``Traversable`` (a wheel's
  folder, or the source tree's ``scenarios/`` in a development install), never through
  ``str()`` of it: that of a namespace package is a ``MultiplexedPath`` text, no folder at all.
- Nothing here reads a scenario's contents: :mod:`tpusim.config.load` does.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

SUFFIX = ".yaml"


def bundle() -> Traversable | None:
    """The folder of bundled scenarios, or None where the package data cannot be found."""
    try:
        folder = resources.files("tpusim.scenarios")
    except ModuleNotFoundError:  # a source tree on sys.path without an install
        source = Path(__file__).resolve().parents[2] / "scenarios"
        return source if source.is_dir() else None
    return folder


def bundled() -> dict[str, Path]:
    """Every bundled scenario: its name (the file's stem) -> its file, in name order."""
    folder = bundle()
    if folder is None:
        return {}
    found = {}
    for entry in folder.iterdir():
        if entry.name.endswith(SUFFIX) and entry.is_file():
            found[entry.name[: -len(SUFFIX)]] = _on_disk(entry)
    return dict(sorted(found.items()))


def _on_disk(entry: Traversable) -> Path:
    """The file behind a bundled scenario (the wheel is installed unpacked, as pip does; a
    scenario names CSV files relative to its own folder, so it must be a real file)."""
    with resources.as_file(entry) as path:
        return Path(path)


def bundled_name(text: str) -> str | None:
    """The bundled scenario ``text`` names (``tpuv4_pod`` or ``tpuv4_pod.yaml``), if any."""
    if not text or Path(text).name != text:  # a directory part: a path, never a name
        return None
    name = text[: -len(SUFFIX)] if text.endswith(SUFFIX) else text
    return name if name in bundled() else None


def locate(scenario: str | Path) -> Path:
    """The file a scenario argument stands for: the path itself when it exists (or when it
    names no bundled scenario: reading it then says what is wrong), else the bundled file."""
    path = Path(scenario)
    if exists(path):
        return path
    name = bundled_name(str(scenario))
    return bundled()[name] if name is not None else path


def exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a name too long, a NUL byte: reading it says so
        return True


def hint(scenario: str | Path) -> str:
    """What to say when ``scenario`` is neither a file nor a bundled name."""
    names = list(bundled())
    if not names:
        return ""
    import difflib

    close = difflib.get_close_matches(Path(str(scenario)).stem, names, n=1)
    near = f"did you mean {close[0]}? " if close else ""
    return f" ({near}a bundled scenario is named without a folder: {', '.join(names)}; `tpusim scenarios` describes them)"
