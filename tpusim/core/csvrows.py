"""CSV text read row by row, with errors a user can act on: every one names the line of the
file (comments and blank lines counted, as an editor numbers them) and, where one is at fault,
the column by number and header name.

Failure traces, job traces, slice mixes and rate schedules are all read through :func:`rows`;
the modules that own those formats say which columns they need and what each value must be
(:meth:`Row.number`, :meth:`Row.integer`, :meth:`Row.choice`). What every format shares is
checked here:

- a UTF-8 byte-order mark (what Excel writes at the start of a CSV export) is not part of the
  first column's name;
- lines that are blank or start with ``#`` are comments;
- the header names every column once; a required column must be there, and a column the
  format does not know is an error (with the closest known name) unless the format takes any
  (a rate schedule reads one column of many);
- every row has exactly as many values as the header has columns;
- numbers are ASCII decimal numbers (``float`` and ``int`` would also read ``４``, ``٤``,
  ``1_000`` and ``infinity``), finite, within the bounds the format gives.

Errors are :class:`CsvError`, a ``ValueError``: the config layer adds the file's name and the
scenario key that named it.
"""

from __future__ import annotations

import csv
import difflib
import math
import re
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", re.ASCII)
_INTEGER = re.compile(r"[+-]?\d{1,18}", re.ASCII)


class CsvError(ValueError):
    """A problem at a line (and a column) of a CSV text."""

    def __init__(self, message: str, line: int | None = None, column: str | None = None):
        self.message, self.line, self.column = message, line, column
        where = ", ".join(part for part in (f"line {line}" if line else "", column or "") if part)
        super().__init__(f"{where}: {message}" if where else message)


@dataclass(frozen=True)
class Row:
    """One data row: ``line`` in the file, values by column name."""

    line: int
    values: dict[str, str]
    header: tuple[str, ...]

    def where(self, column: str) -> str:
        return f"column {self.header.index(column) + 1} ({column})" if column in self.header else f"column {column}"

    def error(self, column: str | None, message: str) -> CsvError:
        return CsvError(message, self.line, self.where(column) if column is not None else None)

    def text(self, column: str, default: str | None = None) -> str:
        """The value in ``column``, stripped (``default`` when the format's optional column is
        absent or empty)."""
        value = self.values.get(column)
        value = value.strip() if value is not None else ""
        if not value:
            if default is not None:
                return default
            raise self.error(column, "is empty")
        return value

    def number(self, column: str, *, low: float | None = None, above: float | None = None) -> float:
        """A finite number, at least ``low`` or more than ``above`` if given."""
        text = self.text(column)
        if not _NUMBER.fullmatch(text):
            try:
                float(text)
            except ValueError:
                raise self.error(column, f"must be a number, got {text!r}") from None
            # float() reads it, our grammar does not: inf, nan, 1_000, non-ASCII digits
            kind = "finite number" if not math.isfinite(float(text)) else "number in ASCII digits"
            raise self.error(column, f"must be a {kind}, got {text!r}")
        value = float(text)
        if not math.isfinite(value):
            raise self.error(column, f"must be a finite number, got {text!r}")
        if low is not None and value < low:
            raise self.error(column, f"must be >= {low:g}, got {text}")
        if above is not None and value <= above:
            raise self.error(column, f"must be > {above:g}, got {text}")
        return value

    def integer(self, column: str, *, low: int = 0, text: str | None = None) -> int:
        """A whole number >= ``low`` (``text``: a part of the value, e.g. after ``host:``)."""
        raw = self.text(column) if text is None else text.strip()
        if not _INTEGER.fullmatch(raw):
            raise self.error(column, f"must be a whole number, got {raw!r}")
        value = int(raw)
        if value < low:
            raise self.error(column, f"must be >= {low}, got {value}")
        return value

    def choice(self, column: str, options: Sequence[str], default: str | None = None) -> str:
        value = self.text(column, default)
        if value not in options:
            listed = ", ".join(options[:-1]) + f" or {options[-1]}" if len(options) > 1 else options[0]
            raise self.error(column, f"must be {listed}, got {value!r}")
        return value


def _lines(text: str | Iterable[str]) -> Iterator[str]:
    """Lines with their ends, the first without a byte-order mark; comments made blank (so the
    csv module skips them and still counts them)."""
    lines = text.splitlines(keepends=True) if isinstance(text, str) else text
    for i, line in enumerate(lines):
        if i == 0:
            line = line.removeprefix("\ufeff")
        yield "\n" if line.lstrip().startswith("#") else line


def rows(text: str | Iterable[str], required: Sequence[str], optional: Sequence[str] = (),
         any_other: bool = False) -> Iterator[Row]:
    """The data rows of CSV ``text`` (a string or lines), checked against its header: the
    ``required`` columns must be there; ``optional`` ones may be; others are an error unless
    ``any_other``. Raises :class:`CsvError`."""
    reader = csv.reader(_lines(text), strict=True)
    header: tuple[str, ...] | None = None
    header_line = 0
    try:
        for values in reader:
            if not values or all(not v.strip() for v in values):
                continue
            if header is None:
                header, header_line = tuple(v.strip() for v in values), reader.line_num
                _check_header(header, header_line, required, optional, any_other)
                continue
            if len(values) != len(header):
                raise CsvError(f"has {len(values)} value{'s' * (len(values) != 1)}, but the header (line "
                               f"{header_line}) has {len(header)} columns: {', '.join(header)}", reader.line_num)
            yield Row(reader.line_num, dict(zip(header, values)), header)
    except csv.Error as exc:
        raise CsvError(f"not CSV: {exc}", reader.line_num) from None
    if header is None:
        raise CsvError(f"no header line: the columns are {', '.join(required)}")


def _check_header(header: tuple[str, ...], line: int, required: Sequence[str], optional: Sequence[str],
                  any_other: bool) -> None:
    known = list(required) + list(optional)
    for i, name in enumerate(header):
        if not name:
            raise CsvError("has no name (an empty header)", line, f"column {i + 1}")
        if name in header[:i]:
            raise CsvError(f"{name!r} names two columns (also column {header.index(name) + 1})", line,
                           f"column {i + 1}")
        if not any_other and name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise CsvError(f"unknown column {name!r}{hint}; the columns are {', '.join(known)}", line,
                           f"column {i + 1}")
    missing = [name for name in required if name not in header]
    if missing:
        raise CsvError(f"the header lacks the column{'s' * (len(missing) > 1)} {', '.join(missing)} (it has "
                       f"{', '.join(header)})", line)
