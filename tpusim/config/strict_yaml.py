"""Reading scenario text safely: regular UTF-8 files of sane size, strict and bounded YAML.

- :func:`read_text`: only a regular file (never a FIFO, a device or a directory, which would
  block or never end), at most :data:`MAX_BYTES` (:data:`MAX_CSV_BYTES` for the CSV files a
  scenario names), UTF-8 (a byte-order mark is allowed, and dropped); UTF-16, binary and
  Latin-1 files are refused with the reason and where the first bad byte is.
- :func:`load_yaml`: YAML's safe loader, made strict: a key given twice in one mapping is an
  error (YAML's "last one wins" silently drops a setting), and at most :data:`MAX_ALIASES`
  aliases standing for at most :data:`MAX_EXPANDED` values may appear (an alias bomb of a
  few lines expands to gigabytes once something walks it, e.g. an error message); an alias
  inside the value it names (``a: &x [*x]``, a value that contains itself) is refused, since
  every later walk of it would recurse without end; a scalar that Python cannot turn into a
  value (an integer of more than 4,300 digits, the date ``2020-13-45``) is an error at its line.

Every refusal is a :class:`~tpusim.core.errors.ScenarioError` naming the source and, where there
is one, the line.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import yaml

from tpusim.core.errors import Problem, ScenarioError

MAX_BYTES = 4 * 1024 * 1024  # the largest scenario we ship is 4 KB; traces are CSV files
MAX_CSV_BYTES = 1024**3  # a failure or job trace of ~20 million rows; parsed rows take ~10x the text
MAX_ALIASES = 256
MAX_EXPANDED = 100_000  # values the aliases of one document may stand for


def read_text(path: Path, source: str | None = None, *, kind: str = "scenario", limit: int = MAX_BYTES,
              key: str = "") -> str:
    """The text of a scenario (or other small text) file, or a ScenarioError saying why not.
    ``kind`` names what the file should be (``CSV``), ``limit`` its largest size, and ``key``
    the scenario key that named it (the error's path)."""
    source = source or str(path)

    def refuse(message: str) -> ScenarioError:
        if key:  # the file is named by a key of another file (source): say both
            said = f"{message}: {path}" if message == "no such file" else f"{path}: {message}"
            return ScenarioError([Problem(key, said)], source)
        return ScenarioError([Problem("", message)], source)

    try:
        info = path.stat()
    except FileNotFoundError:
        raise refuse("no such file") from None
    except OSError as exc:
        raise refuse(f"cannot read: {exc.strerror}") from None
    except ValueError as exc:  # a NUL byte in the path
        raise refuse(f"cannot read: {exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise refuse(f"is a directory, not a {kind} file")
    if not stat.S_ISREG(info.st_mode):
        raise refuse(f"not a regular file (a pipe, socket or device); give a {'YAML' if kind == 'scenario' else kind} "
                     f"file")
    if info.st_size > limit:
        hint = "; long inputs such as traces belong in the CSV files a scenario names" if kind == "scenario" else ""
        raise refuse(f"{info.st_size:,} bytes: too large for a {kind} file (at most {limit:,}){hint}")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(limit + 1)
    except OSError as exc:
        raise refuse(f"cannot read: {exc.strerror}") from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise refuse("UTF-16 text (it starts with a UTF-16 byte-order mark); save the file as UTF-8")
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise refuse(f"binary data (a NUL byte at offset {nul}), not {'YAML' if kind == 'scenario' else kind} text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise refuse(f"not UTF-8 text: byte 0x{raw[exc.start]:02x} on line {line} (Latin-1 or another "
                     f"encoding?); save the file as UTF-8") from None


class _StrictLoader(yaml.SafeLoader):
    """The safe loader with duplicate keys refused and aliases counted."""

    def __init__(self, stream):
        super().__init__(stream)
        self._aliases = 0
        self._expanded = 0  # nodes that the aliases so far stand for, expanded
        self._sizes: dict[int, int] = {}
        self._open: set[str] = set()  # anchors of the collections being composed

    def _size(self, node) -> int:
        """Nodes in ``node`` with every alias expanded (memoised: aliases share node objects)."""
        known = self._sizes.get(id(node))
        if known is None:
            if isinstance(node, yaml.SequenceNode):
                known = 1 + sum(self._size(child) for child in node.value)
            elif isinstance(node, yaml.MappingNode):
                known = 1 + sum(self._size(k) + self._size(v) for k, v in node.value)
            else:
                known = 1
            self._sizes[id(node)] = known
        return known

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            self._aliases += 1
            if event.anchor in self._open:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the alias *{event.anchor} stands for a value that contains it (a recursive "
                    f"alias); write the values out", event.start_mark)
            if event.anchor in self.anchors:
                self._expanded += self._size(self.anchors[event.anchor])
            if self._aliases > MAX_ALIASES or self._expanded > MAX_EXPANDED:
                raise yaml.constructor.ConstructorError(
                    None, None, f"aliases that expand to more than {MAX_EXPANDED:,} values or more than "
                    f"{MAX_ALIASES} aliases (an alias bomb?); write the values out", event.start_mark)
        return super().compose_node(parent, index)

    def compose_sequence_node(self, anchor):
        return self._composing(anchor, super().compose_sequence_node)

    def compose_mapping_node(self, anchor):
        return self._composing(anchor, super().compose_mapping_node)

    def _composing(self, anchor, compose):
        if anchor is not None:
            self._open.add(anchor)
        try:
            return compose(anchor)
        finally:
            self._open.discard(anchor)

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except ValueError as exc:  # int("9" * 5000), date(2020, 13, 45): Python's words, at the line
            text = str(node.value) if isinstance(node, yaml.ScalarNode) else ""
            shown = text if len(text) <= 40 else text[:20] + "..." + text[-8:]
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {shown!r}: {str(exc).split(';')[0]}", node.start_mark) from None

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} given twice in one mapping (first on line {seen[key] + 1})",
                        key_node.start_mark)
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def load_yaml(text: str, source: str | None = None, what: str = "") -> Any:
    """Parse ``text`` with the strict loader; a ScenarioError (at key path ``what``) if it fails."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        kind = "YAML error" if isinstance(exc, yaml.constructor.ConstructorError) else "YAML syntax error"
        raise ScenarioError([Problem(what, f"{kind} at {where}{exc.problem}")], source) from None
    except yaml.YAMLError as exc:
        raise ScenarioError([Problem(what, f"YAML error: {exc}")], source) from None
    except RecursionError:
        raise ScenarioError([Problem(what, "YAML nested too deeply")], source) from None
