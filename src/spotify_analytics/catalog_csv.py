"""The Kaggle Spotify Tracks Dataset's file format: write it exactly, read it carefully.

The original ``dataset.csv`` (maharshipandya, ODbL 1.0) was written by pandas:
an unnamed index column first, RFC-4180 quoting only where needed, ``\\n`` line
ends, floats in Python's shortest round-trip form (``0.676``, ``1.01e-06``,
``0.0``), integers plain and ``explicit`` as ``True``/``False``. Several
artists are joined with ``;``. :func:`write_catalog_csv` reproduces that form,
so synthetic catalogs (demo data, test fixtures) load through the same parser
as the real file. (The line ends and number forms are inferred from the quoted
rows; ``\r\n`` files are read as well.)

:func:`read_catalog_csv` parses with Arrow (RFC-4180, newlines inside quoted
values), types and checks every value, and returns the rows it cannot load
with their row number and a reason instead of dropping them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from .schemas import CONTINUOUS_FEATURES

HEADER: tuple[str, ...] = (
    "",
    "track_id",
    "artists",
    "album_name",
    "track_name",
    "popularity",
    "duration_ms",
    "explicit",
    "danceability",
    "energy",
    "key",
    "loudness",
    "mode",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
    "time_signature",
    "track_genre",
)

INDEX_NAME = "row_index"  # what the unnamed first column is called once loaded
COLUMNS: tuple[str, ...] = (INDEX_NAME, *HEADER[1:])
INT_COLUMNS = ("row_index", "popularity", "duration_ms", "key", "mode", "time_signature")
FLOAT_COLUMNS = CONTINUOUS_FEATURES
BOOL_COLUMNS = ("explicit",)
STRING_COLUMNS = ("track_id", "artists", "album_name", "track_name", "track_genre")
LINE_END = "\n"

_INT_AT = tuple(COLUMNS.index(name) for name in INT_COLUMNS)
_FLOAT_AT = tuple(COLUMNS.index(name) for name in FLOAT_COLUMNS)
_TYPES = {
    **dict.fromkeys(INT_COLUMNS, int),
    **dict.fromkeys(FLOAT_COLUMNS, float),
    **dict.fromkeys(BOOL_COLUMNS, bool),
}
_PLAIN_TYPES = tuple(_TYPES.get(name, str) for name in COLUMNS)  # rows written as they are


def write_catalog_csv(path: Path, rows: Iterable[Sequence | Mapping]) -> None:
    """Write ``rows`` as a catalog file in the original's exact format.

    A row is a sequence of the 21 values in :data:`HEADER` order (index first)
    or a mapping by column name (the index as ``""`` or ``"row_index"``).
    ``None`` becomes an empty field. Values of the wrong type for their column
    are written as given (``str()``), which is how tests build broken files.
    """
    with open(Path(path), "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(_LineEnds(handle), lineterminator=_QUOTING_TERMINATOR)
        writer.writerow(HEADER)
        writer.writerows(map(_fields, rows))


def format_row(row: Sequence | Mapping) -> str:
    """One row as the line the original file would hold (without the line end)."""
    return format_fields(_fields(row))


def format_fields(fields: Sequence[object]) -> str:
    """Fields joined with RFC-4180 quoting, as :func:`write_catalog_csv` writes them."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=_QUOTING_TERMINATOR).writerow(fields)
    return buffer.getvalue()[: -len(_QUOTING_TERMINATOR)]


# The csv module quotes a field when it holds a character of the line terminator.
# Writing with "\r\n" quotes fields holding either character; _LineEnds then
# ends each line with LINE_END. (csv.writer makes one write() call per row.)
_QUOTING_TERMINATOR = "\r\n"


class _LineEnds:
    def __init__(self, handle: io.TextIOBase):
        self._write = handle.write

    def write(self, line: str) -> None:
        self._write(line[: -len(_QUOTING_TERMINATOR)] + LINE_END)


def _fields(row: Sequence | Mapping) -> list[object]:
    if isinstance(row, Mapping):
        index = row[INDEX_NAME] if INDEX_NAME in row else row.get("")
        values = [index, *(row.get(name) for name in HEADER[1:])]
    else:
        if tuple(map(type, row)) == _PLAIN_TYPES:
            return row
        values = list(row)
        if len(values) != len(HEADER):
            raise ValueError(f"a catalog row has {len(HEADER)} values, got {len(values)}")
    for at in _FLOAT_AT:
        value = values[at]
        if type(value) is not float and value is not None and not isinstance(value, str):
            values[at] = _as_float(value)  # 0 -> 0.0, numpy scalars -> Python floats
    for at in _INT_AT:
        value = values[at]
        if type(value) is not int and value is not None and not isinstance(value, str):
            values[at] = _as_int(value)  # 4.0 -> 4, numpy scalars -> Python ints
    return values


def _as_float(value: object) -> object:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return value


def _as_int(value: object) -> object:
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    return int(value) if hasattr(value, "__index__") else value


# -- reading ------------------------------------------------------------------


@dataclass(frozen=True)
class RejectedRow:
    """A data row that cannot be loaded: its 0-based row number, text and why."""

    record_no: int
    raw: str
    reason: str


@dataclass(frozen=True)
class CatalogRead:
    """A parsed catalog file: the loadable rows (typed, :data:`COLUMNS`) and the rest."""

    table: pa.Table
    rejected: list[RejectedRow]
    record_nos: pa.Array  # the 0-based row number of each loadable row

    @property
    def rows_read(self) -> int:
        return self.table.num_rows + len(self.rejected)


class CatalogFormatError(ValueError):
    """The file as a whole is not a catalog CSV (empty, binary, wrong header)."""


def read_catalog_csv(path: Path) -> CatalogRead:
    """Parse a catalog file, checking every value; bad rows are returned, not dropped.

    Raises :class:`CatalogFormatError` when the file as a whole is unusable and
    ``OSError`` when it cannot be read.
    """
    path = Path(path)
    check_header(read_header(path))
    invalid: list[pa_csv.InvalidRow] = []
    try:
        strings = pa_csv.read_csv(
            path,
            read_options=pa_csv.ReadOptions(skip_rows=1, column_names=list(COLUMNS)),
            parse_options=pa_csv.ParseOptions(
                newlines_in_values=True, invalid_row_handler=_collect(invalid)
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in COLUMNS},
                strings_can_be_null=True,
                null_values=[""],
                quoted_strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as error:
        raise CatalogFormatError(f"not a readable CSV ({_first_line(error)})") from None
    valid_nos, rejected = _wrong_width(path, strings.num_rows, invalid)
    table, bad = convert(strings)
    for at, reason in bad:
        rejected.append(RejectedRow(int(valid_nos[at]), _raw(strings, at), reason))
    keep = np.ones(strings.num_rows, dtype=bool)
    keep[[at for at, _ in bad]] = False
    rejected.sort(key=lambda row: row.record_no)
    return CatalogRead(table.filter(keep), rejected, pa.array(valid_nos[keep]))


def read_header(path: Path) -> list[str]:
    """The header row's fields; raises :class:`CatalogFormatError` for empty or binary files."""
    with open(path, "rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if not head.strip():
        raise CatalogFormatError("the file is empty")
    if b"\x00" in head:
        raise CatalogFormatError("not a CSV file (binary data)")
    first = head.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CatalogFormatError("not a CSV file (the header is not UTF-8 text)") from None
    return next(csv.reader([text]), [])


def check_header(found: list[str]) -> None:
    """Raise :class:`CatalogFormatError` naming the columns that differ from :data:`HEADER`."""
    if tuple(found) == HEADER:
        return
    missing = [name or "(unnamed index)" for name in HEADER if name not in found]
    extra = [name or "(unnamed)" for name in found if name not in HEADER]
    if missing or extra:
        parts = [
            f"missing {', '.join(missing)}" if missing else "",
            f"unexpected {', '.join(extra)}" if extra else "",
        ]
        detail = "; ".join(part for part in parts if part)
    else:
        detail = f"columns in a different order: {','.join(found)}"
    raise CatalogFormatError(f"wrong header ({detail}); expected {','.join(HEADER)}")


# -- values -------------------------------------------------------------------

UNIT_INTERVAL = (
    "danceability",
    "energy",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
)
BOUNDS: dict[str, tuple[float | None, float | None]] = {
    **{name: (0, 1) for name in UNIT_INTERVAL},
    "row_index": (0, None),
    "popularity": (0, 100),
    "duration_ms": (1, None),
    "key": (-1, 11),
    "mode": (0, 1),
    "tempo": (0, None),  # 0 is real: tracks whose tempo Spotify could not detect
    "time_signature": (0, None),
}
_INT_SYNTAX = r"^[+-]?[0-9]{1,18}$"
_FLOAT_SYNTAX = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_SNIFF_BYTES = 64 * 1024

Problem = tuple[pa.ChunkedArray, str, str]  # (row is bad: boolean, column, what is wrong)


def convert(strings: pa.Table) -> tuple[pa.Table, list[tuple[int, str]]]:
    """Type the string columns of a parsed catalog and check every value.

    Returns the typed table (all rows; bad values null) and ``(row, reason)``
    for each row that breaks a rule, the reason naming each column and value.
    """
    problems: list[Problem] = []
    columns = []
    for name in COLUMNS:
        values, found = _typed(name, strings.column(name))
        columns.append(values)
        problems.extend(found)
    table = pa.Table.from_arrays(columns, names=list(COLUMNS))
    repeated = _repeated(table.column(INDEX_NAME))
    problems.append((repeated, INDEX_NAME, "repeats an earlier row's index"))
    return table, _reasons(strings, problems)


def _typed(name: str, raw: pa.ChunkedArray) -> tuple[pa.ChunkedArray, list[Problem]]:
    if name in STRING_COLUMNS:
        return raw, [(pc.is_null(raw), name, "is empty")] if name == "track_id" else []
    problems = [(pc.is_null(raw), name, "is empty")]
    if name in BOOL_COLUMNS:
        lowered = pc.utf8_lower(raw)
        bad = pc.invert(pc.is_in(lowered, pa.array(["true", "false"])))
        problems.append((bad, name, "is not True or False"))
        return pc.equal(lowered, "true"), problems
    dtype = pa.int64() if name in INT_COLUMNS else pa.float64()
    values, unparsed = _numbers(raw, dtype)
    if unparsed is not None:
        kind = "an integer" if name in INT_COLUMNS else "a number"
        problems.append((unparsed, name, f"is not {kind}"))
    if dtype == pa.float64():
        problems.append((pc.invert(pc.is_finite(values)), name, "is not a finite number"))
    low, high = BOUNDS.get(name, (None, None))
    if low is not None:
        problems.append((pc.less(values, low), name, _bounds_text(low, high)))
    if high is not None:
        problems.append((pc.greater(values, high), name, _bounds_text(low, high)))
    return values, problems


def _numbers(
    raw: pa.ChunkedArray, dtype: pa.DataType
) -> tuple[pa.ChunkedArray, pa.ChunkedArray | None]:
    """Cast to ``dtype``; values that do not parse become null and are flagged."""
    try:
        return pc.cast(raw, dtype), None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    syntax = _INT_SYNTAX if pa.types.is_integer(dtype) else _FLOAT_SYNTAX
    ok = pc.fill_null(pc.match_substring_regex(raw, syntax), True)
    cleaned = pc.if_else(ok, raw, pa.scalar(None, pa.string()))
    return pc.cast(cleaned, dtype), pc.invert(ok)


def _bounds_text(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"is outside [{low}, {high}]"
    return f"is below {low}" if low is not None else f"is above {high}"


def _repeated(index: pa.ChunkedArray) -> pa.ChunkedArray:
    """True for rows whose index repeats an earlier row's (the index is the table's key)."""
    values = pc.fill_null(index, -1).to_numpy()
    order = np.argsort(values, kind="stable")
    ranked = values[order]
    repeat = np.zeros(len(values), dtype=bool)
    repeat[order[1:][ranked[1:] == ranked[:-1]]] = True
    return pc.and_(pa.chunked_array([repeat]), pc.is_valid(index))


def _reasons(strings: pa.Table, problems: list[Problem]) -> list[tuple[int, str]]:
    """``(row, reason)`` for every bad row; checks that flag nothing cost one pass."""
    found = []
    for flags, name, text in problems:
        flags = pc.fill_null(flags, False)
        if pc.any(flags).as_py():
            found.append((flags.to_numpy(zero_copy_only=False), name, text))
    if not found:
        return []
    any_bad = np.logical_or.reduce([mask for mask, _, _ in found])
    reasons = []
    for at in np.flatnonzero(any_bad).tolist():
        parts = []
        for mask, name, text in found:
            if mask[at]:
                value = strings.column(name)[at].as_py()
                parts.append(f"{name} {text}" if value is None else f"{name}={value!r} {text}")
        reasons.append((at, "; ".join(dict.fromkeys(parts))))
    return reasons


def _raw(strings: pa.Table, at: int) -> str:
    row = strings.slice(at, 1).to_pylist()[0]
    return format_fields(["" if value is None else value for value in row.values()])


# -- row numbers --------------------------------------------------------------


def _collect(invalid: list[pa_csv.InvalidRow]) -> Callable[[pa_csv.InvalidRow], str]:
    def handler(row: pa_csv.InvalidRow) -> str:
        invalid.append(row)
        return "skip"

    return handler


def _wrong_width(
    path: Path, n_valid: int, invalid: list[pa_csv.InvalidRow]
) -> tuple[np.ndarray, list[RejectedRow]]:
    """The 0-based row numbers of the parsed rows, and the rows with the wrong
    number of fields as rejects. Arrow does not number the rows it skips, so
    they are located with a second, pure-Python pass (only when there are any)."""
    if not invalid:
        return np.arange(n_valid, dtype=np.int64), []
    located = _wrong_width_rows(path)
    if len(located) == len(invalid):
        rejected = [
            RejectedRow(number, format_fields(fields), _width_reason(len(fields), ",".join(fields)))
            for number, fields in located
        ]
    else:  # the two parsers disagree: keep Arrow's text, numbered after the parsed rows
        rejected = [
            RejectedRow(n_valid + offset, row.text, _width_reason(row.actual_columns, row.text))
            for offset, row in enumerate(invalid)
        ]
    keep = np.ones(n_valid + len(invalid), dtype=bool)
    keep[[row.record_no for row in rejected]] = False
    return np.flatnonzero(keep).astype(np.int64), rejected


def _width_reason(found: int, text: str) -> str:
    reason = f"wrong number of fields: {found} instead of {len(HEADER)}"
    lines = text.rstrip("\r\n").count("\n")
    if lines > 1 or found < len(HEADER) and lines:  # a quote opened and never closed
        return f"{reason} (an unclosed quote joined {lines} more line(s) into this row)"
    return f"{reason} (a shifted column or an unquoted separator)"


def _wrong_width_rows(path: Path) -> list[tuple[int, list[str]]]:
    found = []
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as handle:
            rows = (fields for fields in csv.reader(handle) if fields)
            next(rows, None)
            for number, fields in enumerate(rows):
                if len(fields) != len(HEADER):
                    found.append((number, fields))
    except csv.Error:
        return []
    return found


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
