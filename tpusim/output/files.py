"""Atomic file writes: a temporary file in the same directory, then a rename, so that a reader
(or a run killed part-way) never leaves half a file behind; and :func:`folder_name`, the one
way a scenario's name becomes part of a path."""

from __future__ import annotations

import json
import os
import tempfile
import hashlib
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed to ``path`` when the block ends
    without an error (with the permissions the umask gives a new file), removed otherwise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes files private; outputs are to share
        os.replace(tmp, path)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise


def write_atomic(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: Path, payload: Any) -> None:
    write_atomic(path, (json.dumps(payload, indent=2, allow_nan=False) + "\n").encode())


MAX_FOLDER_NAME = 80  # characters (ASCII, so bytes): far below any file system's 255


def folder_name(name: str, suffix: str = "") -> str:
    """A safe folder name for a scenario ``name`` (the default output folder is
    ``out/<folder_name(name)>``): ASCII letters, digits, ``.``, ``_`` and ``-`` kept, every other
    run of characters (``/``, ``..``, a NUL byte, a newline, spaces, non-ASCII letters) one
    ``-``, no leading dot or dash, at most :data:`MAX_FOLDER_NAME` characters (a longer one is cut
    and given 8 hex digits of the name's hash, so different long names stay apart). A name
    with nothing left (``..``, ``/``) gives ``scenario``. So the folder is always one new
    component below ``out/``: never absolute, never a parent, never hidden. ``suffix`` is added
    after the cut (``-sweep``)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name)
    slug = re.sub(r"-{2,}", "-", slug).strip(".-") or "scenario"
    if len(slug) > MAX_FOLDER_NAME:
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        slug = slug[: MAX_FOLDER_NAME - 9].rstrip(".-") + "-" + digest
    return slug + suffix
