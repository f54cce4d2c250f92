"""Reading data files so that a damaged row costs that row, and a damaged file says which file it is.

The readers here yield `(where, row, problem)` for every row: `where` is `"line N"` (`"row N"` for Parquet
and JSON lists), `row` is the parsed row or None, and `problem` says why a row could not be parsed (a
line that is not UTF-8, a CSV row with the wrong number of fields or an oversized field, a JSON line that is
not an object). The callers count those as skipped rows. A file that cannot be read at all (empty, not
valid JSON, truncated, not Parquet) raises :class:`DataFileError`, which names the file and the problem.

Text is decoded as UTF-8 with an optional byte-order mark. Undecodable bytes are kept as lone surrogates
(`errors="surrogateescape"`) so that the rest of their line or document still parses; a row holding one is
reported as :data:`UNDECODABLE`.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
from collections.abc import Iterator, Mapping
from typing import Any, Self

UNDECODABLE = "undecodable text"
MALFORMED_CSV_ROW = "malformed CSV row"
MALFORMED_JSON_LINE = "malformed JSON line"
NOT_AN_OBJECT = "not a JSON object"

class DataFileError(ValueError):
    """A data file that cannot be read at all; the message names the file and what is wrong with it."""

    def __init__(self, path: str | os.PathLike, problem: str):
        super().__init__(f"{os.fspath(path)}: {problem}")
        self.path = os.fspath(path)
        self.problem = problem


def has_undecodable(value: Any) -> bool:
    """Whether `value` (a string, or a list/dict of them) holds bytes that were not UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, Mapping):
        return any(has_undecodable(key) or has_undecodable(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return any(has_undecodable(item) for item in value)
    return False


def _check_not_empty(path: str) -> None:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"data file not found: {path!r}")
    if os.path.getsize(path) == 0:
        raise DataFileError(path, "the file is empty (0 bytes)")


def _decode(data: bytes) -> str:
    return data.removeprefix(codecs.BOM_UTF8).decode("utf-8", errors="surrogateescape")


def read_json_document(path: str | os.PathLike) -> Any:
    """The parsed JSON document of `path`; :class:`DataFileError` when it is empty, truncated or not JSON."""
    path = os.fspath(path)
    _check_not_empty(path)
    with open(path, "rb") as handle:
        text = _decode(handle.read())
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        ended = error.pos >= len(text.rstrip()) or error.msg.startswith("Unterminated string")
        truncated = " (truncated?)" if ended else ""
        raise DataFileError(
            path, f"not valid JSON{truncated}: {error.msg} at line {error.lineno}, column {error.colno}"
        ) from None


def iter_json_list(path: str | os.PathLike) -> Iterator[tuple[str, Any, str | None]]:
    """The objects of a JSON file holding a list of them, as `(where, row, problem)`."""
    rows = read_json_document(path)
    if not isinstance(rows, list):
        raise DataFileError(path, f"expected a JSON list of objects, got a {type(rows).__name__}")
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            yield f"row {index}", None, f"{NOT_AN_OBJECT} (a {type(row).__name__})"
        elif has_undecodable(row):
            yield f"row {index}", None, UNDECODABLE
        else:
            yield f"row {index}", row, None


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[str, dict | None, str | None]]:
    """The objects of a JSON-lines file, one per non-blank line, as `(where, row, problem)`."""
    path = os.fspath(path)
    _check_not_empty(path)
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            where = f"line {number}"
            if number == 1:
                raw = raw.removeprefix(codecs.BOM_UTF8)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                yield where, None, f"{UNDECODABLE} (byte {error.start})"
                continue
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                yield where, None, f"{MALFORMED_JSON_LINE} ({error.msg}, column {error.colno})"
                continue
            if isinstance(row, dict):
                yield where, row, None
            else:
                yield where, None, f"{NOT_AN_OBJECT} (a {type(row).__name__})"


class CsvFile:
    """A CSV file with a header: `header` (stripped column names), and its rows as `(where, {column: text},
    problem)` when iterated; blank lines are skipped. Use it as a context manager.

    A row with more or fewer fields than the header, a field over Python's `csv.field_size_limit()` (128 KiB
    by default) or undecodable bytes is a problem row, and the reader goes on with the next line. A file
    without a usable header raises :class:`DataFileError`.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        _check_not_empty(self.path)
        self._handle = open(self.path, newline="", encoding="utf-8-sig", errors="surrogateescape")  # noqa: SIM115
        self._reader = csv.reader(self._handle)
        try:
            self.header = self._read_header()
        except BaseException:
            self._handle.close()
            raise

    def _read_header(self) -> list[str]:
        try:
            header = next(self._reader)
        except StopIteration:
            raise DataFileError(self.path, "no CSV header (no lines)") from None
        except csv.Error as error:
            raise DataFileError(self.path, f"no CSV header ({error})") from None
        header = [name.strip() for name in header]
        if has_undecodable(header):
            raise DataFileError(self.path, "the CSV header is not UTF-8 text")
        if duplicates := sorted({name for name in header if header.count(name) > 1}):
            raise DataFileError(self.path, f"the CSV header repeats column(s) {duplicates}")
        return header

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self._handle.close()

    def __iter__(self) -> Iterator[tuple[str, dict | None, str | None]]:
        width = len(self.header)
        line = self._reader.line_num
        while True:
            start = line + 1
            try:
                fields = next(self._reader)
            except StopIteration:
                return
            except csv.Error as error:  # e.g. an oversized field; the reader resumes at the next line
                line = self._reader.line_num
                yield f"line {start}", None, f"{MALFORMED_CSV_ROW} ({error})"
                continue
            line = self._reader.line_num
            if not fields:
                continue
            if len(fields) != width:
                yield f"line {start}", None, f"{MALFORMED_CSV_ROW} ({len(fields)} fields, the header has {width})"
            elif has_undecodable(fields):
                yield f"line {start}", None, UNDECODABLE
            else:
                yield f"line {start}", dict(zip(self.header, fields)), None


def iter_parquet(path: str | os.PathLike) -> Iterator[tuple[str, dict, None]]:
    """The rows of a Parquet file, as `(where, row, None)`; :class:`DataFileError` when it does not read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = os.fspath(path)
    _check_not_empty(path)
    try:
        parquet = pq.ParquetFile(path)
        index = 0
        for batch in parquet.iter_batches():
            for row in batch.to_pylist():
                yield f"row {index}", row, None
                index += 1
    except (pa.ArrowException, OSError) as error:
        raise DataFileError(path, f"not a readable Parquet file ({type(error).__name__}: {error})") from None


__all__ = [
    "MALFORMED_CSV_ROW",
    "UNDECODABLE",
    "CsvFile",
    "DataFileError",
    "has_undecodable",
    "iter_json_list",
    "iter_jsonl",
    "iter_parquet",
    "read_json_document",
]
