r"""CSV reader: our own quote-aware record splitter, polars to parse each chunk.

Records are cut by :class:`RecordReader` (``\\n`` outside double quotes), so every row's
``line`` is the exact physical line where its record starts, even after quoted fields that
span lines, and the file is hashed while it streams. Each chunk is then parsed by polars
with every column as String (no type inference), behind the header line.

Decisions:

- The header is the first non-blank record; blank (whitespace-only) records are not rows.
- A record with a different number of fields than the header (ragged CSV), a file that
  ends inside a quoted field, a duplicate column name, or anything polars cannot parse is
  an :class:`InputError` naming the file and, where known, the line.
- An empty unquoted field is null (a null prompt or completion quarantines the row as
  ``prompt: null (empty field)``); a quoted ``""`` is an empty string, a valid value.
- A record that is not valid UTF-8 is quarantined (``invalid UTF-8 at byte N``, 1-based
  within the record); the other records of its chunk are read normally.
- Chat data (``messages``) is not read from CSV: prompt and completion columns are required.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import closing
from typing import TYPE_CHECKING, Literal, NamedTuple

import numpy as np
import numpy.typing as npt
import polars as pl

from audit.errors import InputError
from audit.ingest import Batch, Quarantined, raw_text
from audit.ingest_records import IntArray, RecordChunk, RecordReader, prefetched
from audit.ingest_rows import RowBuilder

if TYPE_CHECKING:
    from audit.ingest import InputSpec


class _Parsed(NamedTuple):
    """A chunk after the checks and polars' parse (made in the prefetch thread)."""

    chunk: RecordChunk
    rows_at: IntArray
    """Indices of the chunk's records that are rows (not blank, not the header)."""
    keep: npt.NDArray[np.bool_]
    """Per row: valid UTF-8, hence parsed into ``df``."""
    bad_utf8: list[tuple[int, str]]
    """Position in ``rows_at`` and error of each row that is not valid UTF-8."""
    df: pl.DataFrame | None
    """The kept rows, all columns String; None when no row was kept."""


def _invalid_utf8(chunk: RecordChunk, rows_at: IntArray) -> list[tuple[int, str]]:
    """Rows that are not valid UTF-8: position in ``rows_at`` and a one-line error."""
    if int(np.frombuffer(chunk.data, dtype=np.uint8).max(initial=0)) < 0x80:
        return []  # pure ASCII, the common case: one numpy pass
    try:
        chunk.data.decode("utf-8")
        return []
    except UnicodeDecodeError:
        pass
    bad = []
    for j, i in enumerate(rows_at.tolist()):
        try:
            chunk.record(i).decode("utf-8")
        except UnicodeDecodeError as exc:
            bad.append((j, f"invalid UTF-8 at byte {exc.start + 1}"))
    return bad


class CsvSource:
    """Streams a CSV file with a header line (see module docstring for the rules)."""

    progress_unit: Literal["bytes", "rows"] = "bytes"

    def __init__(self, spec: InputSpec, size: int, builder: RowBuilder) -> None:
        """Read and check the header.

        Raises:
            InputError: no header, undecodable or duplicate names, a missing column.
        """
        self.spec = spec
        self.total = size
        self._where = str(spec.path)
        self.builder = builder
        builder.null_error = "null (empty field)"
        self._reader = RecordReader(spec.path, quoted=True, batch_rows=spec.batch_rows)
        self.header, self.header_line = self._read_header()
        try:
            text = self.header.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"header: invalid UTF-8 at byte {exc.start + 1}",
                path=self._where,
                line=self.header_line,
            ) from None
        self.columns = next(csv.reader(io.StringIO(text, newline="")))
        seen: set[str] = set()
        for name in self.columns:
            if name in seen:
                raise InputError(
                    f"duplicate column '{name}' in the header",
                    path=self._where,
                    line=self.header_line,
                )
            seen.add(name)
        required = [spec.prompt_column, spec.completion_column]
        if spec.id_column is not None:
            required.append(spec.id_column)
        for name in required:
            if name not in seen:
                raise InputError(
                    f"missing column '{name}' (columns: {', '.join(self.columns)})",
                    path=self._where,
                )
        # Known from the header: record names and renames before the first batch.
        builder.input_columns.update(dict.fromkeys(self.columns))
        builder.carried_names([c for c in self.columns if c not in required[:2]], chat=False)

    def _read_header(self) -> tuple[bytes, int]:
        # A small private reader: the streaming one hashes from the start when iterated.
        reader = RecordReader(self.spec.path, quoted=True, batch_rows=1024)
        chunks = reader.chunks()
        try:
            for chunk in chunks:
                nonblank = chunk.nonblank()
                if len(nonblank):
                    i = int(nonblank[0])
                    return chunk.record(i), int(chunk.lines[i])
        finally:
            chunks.close()
        raise InputError("empty file (no rows)", path=self._where)

    def hexdigest(self) -> str:
        """SHA-256 of the file (complete once :meth:`batches` is exhausted)."""
        return self._reader.hexdigest()

    def batches(self) -> Iterator[Batch]:
        """Yield one batch per chunk of records that holds at least one row.

        Raises:
            InputError: a ragged or unparseable record, or no rows after the header.
        """
        ordinal = 0
        # closing(): a consumer that stops early stops the prefetch thread there and then.
        with closing(prefetched(self._parsed_chunks())) as parsed_chunks:
            for parsed in parsed_chunks:
                n = len(parsed.rows_at)
                ordinals = np.arange(ordinal, ordinal + n, dtype=np.int64)
                ordinal += n
                yield self._batch(parsed, ordinals)
        if ordinal == 0:
            raise InputError("no rows (only a header)", path=self._where)

    def _parsed_chunks(self) -> Iterator[_Parsed]:
        """Chunks holding rows, checked and parsed (runs ahead in the prefetch thread)."""
        for chunk in self._reader.chunks():
            rows_at = chunk.nonblank()
            rows_at = rows_at[chunk.lines[rows_at] > self.header_line]
            if len(rows_at) == 0:
                continue
            self._check_field_counts(chunk, rows_at)
            bad_utf8 = _invalid_utf8(chunk, rows_at)
            keep = np.ones(len(rows_at), dtype=bool)
            keep[[j for j, _ in bad_utf8]] = False
            kept = rows_at[keep]
            first = int(rows_at[0])
            if keep.all() and len(rows_at) == len(chunk.starts) - first:
                data = chunk.data[int(chunk.starts[first]) :]  # no gaps: parse the chunk as is
            else:
                data = b"\n".join(chunk.record(i) for i in kept.tolist())
            line = int(chunk.lines[first])
            df = self._parse(self.header + b"\n" + data, line, len(kept)) if len(kept) else None
            yield _Parsed(chunk, rows_at, keep, bad_utf8, df)

    def _check_field_counts(self, chunk: RecordChunk, rows_at: IntArray) -> None:
        """Raise on the first record whose field count differs from the header's."""
        arr = np.frombuffer(chunk.data, dtype=np.uint8)
        quotes = np.flatnonzero(arr == ord('"'))
        commas = np.flatnonzero(arr == ord(","))
        outside = commas[(np.searchsorted(quotes, commas) & 1) == 0]
        # A separator belongs to the first record whose end lies after it.
        owner = np.searchsorted(chunk.ends, outside)
        fields = np.bincount(owner, minlength=len(chunk.ends)) + 1
        wrong = rows_at[fields[rows_at] != len(self.columns)]
        if len(wrong):
            i = int(wrong[0])
            raise InputError(
                f"expected {len(self.columns)} fields as in the header, got {fields[i]}",
                path=self._where,
                line=int(chunk.lines[i]),
            )

    def _batch(self, parsed: _Parsed, ordinals: IntArray) -> Batch:
        chunk, rows_at, keep = parsed.chunk, parsed.rows_at, parsed.keep
        lines = chunk.lines[rows_at]

        def quarantine(j: int, error: str) -> Quarantined:
            raw = raw_text(chunk.record(int(rows_at[j])))
            return Quarantined(int(ordinals[j]), int(lines[j]), raw, error)

        quarantined = [quarantine(j, error) for j, error in parsed.bad_utf8]
        if parsed.df is None:  # every record of the chunk was bad UTF-8
            frame, errors = self.builder.canonicalize(self._empty_frame(), "plain")
        else:
            frame, errors = self.builder.canonicalize(parsed.df, "plain")
        ok = errors.is_null().to_numpy()
        kept_at = np.flatnonzero(keep)  # positions in rows_at of the parsed records
        if not ok.all():
            for k in np.flatnonzero(~ok).tolist():
                quarantined.append(quarantine(int(kept_at[k]), str(errors[k])))
            quarantined.sort(key=lambda q: q.ordinal)
            frame = frame.filter(pl.Series(ok))
        good = kept_at[ok]
        rows = self.builder.finish(frame, ordinals[good], lines[good])
        return Batch(rows, quarantined, chunk.end_offset)

    def _empty_frame(self) -> pl.DataFrame:
        return pl.DataFrame(schema=dict.fromkeys(self.columns, pl.String))

    def _parse(self, data: bytes, line: int, expected: int) -> pl.DataFrame:
        try:
            df = pl.read_csv(
                io.BytesIO(data),
                has_header=True,
                infer_schema=False,
                quote_char='"',
                empty_string_is_null=True,  # unquoted empty -> null; quoted "" stays ""
                truncate_ragged_lines=False,
            )
        except pl.exceptions.PolarsError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(
                f"cannot parse CSV in the records from here on: {reason}",
                path=self._where,
                line=line,
            ) from None
        if df.height != expected:
            raise InputError(
                f"cannot parse CSV in the records from here on: expected {expected} records, "
                f"polars read {df.height} (unbalanced quotes?)",
                path=self._where,
                line=line,
            )
        return df
