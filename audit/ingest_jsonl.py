"""JSON Lines reader: a vectorized fast path per chunk, per-line checks only where needed.

Fast path: the whole chunk goes to pyarrow's JSON reader, then through
:meth:`RowBuilder.canonicalize`. pyarrow rather than ``pl.read_ndjson`` because polars
silently turns a number, list or object in a String column into text (``5`` -> ``"5"``)
and drops keys that first appear after its schema-inference window, so wrong types could
not be detected; pyarrow fails on any type change, bad JSON or bad UTF-8.

Slow path, for a chunk the fast path rejected: the chunk is cut into pieces that pyarrow
parses again, recursively, until the pieces that still fail are small; their lines are
decoded and checked one by one in Python (:func:`parse_line`, :func:`extract_row`), bad
lines are quarantined with their line number and reason, and the good ones parsed by
pyarrow again so that column types match the fast path. When the good lines do not parse
together (a carried column with mixed types), every line of the chunk is checked in
Python and the frame is built from the Python objects (see :mod:`audit.ingest_rows` for
how mixed types become strings).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.json as pj

from audit.errors import InputError
from audit.ingest import Batch, Quarantined, raw_text
from audit.ingest_records import (
    BOM,
    WHITESPACE,
    IntArray,
    RecordChunk,
    RecordReader,
    prefetched,
)
from audit.ingest_rows import Extracted, RowBuilder, extract_row, json_kind

if TYPE_CHECKING:
    from audit.ingest import InputSpec

_PEEK_BYTES = 1 << 20
SPLIT = 16
"""The slow path cuts a rejected chunk into this many pieces, recursively ..."""
LEAF_ROWS = 64
"""... until a piece has at most this many lines; those are checked one by one."""
# A \u escape of a surrogate; only lines holding one need the (slower) lone-surrogate check.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class JsonlSource:
    """Streams a JSON Lines file (see :mod:`audit.ingest` for what counts as a row)."""

    progress_unit: Literal["bytes", "rows"] = "bytes"

    def __init__(self, spec: InputSpec, size: int, builder: RowBuilder) -> None:
        """Check the start of the file.

        Raises:
            InputError: only whitespace, or a pretty-printed JSON document.
        """
        self.spec = spec
        self.total = size
        self.builder = builder
        self._reader = RecordReader(spec.path, quoted=False, batch_rows=spec.batch_rows)
        with spec.path.open("rb") as f:
            head = f.read(_PEEK_BYTES).removeprefix(BOM).lstrip(WHITESPACE)
        if not head and size <= _PEEK_BYTES:
            raise InputError("empty file (no rows)", path=str(spec.path))
        first_line = head.split(b"\n", 1)[0].strip()
        if first_line in (b"[", b"{"):
            raise InputError(
                "looks like one JSON document spread over lines, not JSON Lines "
                "(one object per line)",
                path=str(spec.path),
                line=1,
            )

    def hexdigest(self) -> str:
        """SHA-256 of the file (complete once :meth:`batches` is exhausted)."""
        return self._reader.hexdigest()

    def batches(self) -> Iterator[Batch]:
        """Yield one batch per chunk of lines that holds at least one row.

        Raises:
            InputError: the file holds no rows at all (only blank lines).
        """
        ordinal = 0
        # closing(): a consumer that stops early stops the prefetch thread there and then.
        with closing(prefetched(self._parsed_chunks())) as parsed_chunks:
            for chunk, rows_at, parsed in parsed_chunks:
                n = len(rows_at)
                ordinals = np.arange(ordinal, ordinal + n, dtype=np.int64)
                lines = chunk.lines[rows_at]
                ordinal += n
                frame = self._fast(parsed, n)
                if frame is not None:
                    rows = self.builder.finish(frame, ordinals, lines)
                    yield Batch(rows, [], chunk.end_offset)
                else:
                    yield self._slow(chunk, rows_at, ordinals, lines)
        if ordinal == 0:
            raise InputError("empty file (no rows)", path=str(self.spec.path))

    def _parsed_chunks(self) -> Iterator[tuple[RecordChunk, IntArray, pl.DataFrame | None]]:
        """Chunks holding rows, with their non-blank records and pyarrow's parse of them."""
        for chunk in self._reader.chunks():
            rows_at = chunk.nonblank()
            if len(rows_at):
                longest = int((chunk.ends - chunk.starts).max())
                yield chunk, rows_at, parse_with_arrow(chunk.data, longest)

    def _fast(self, df: pl.DataFrame | None, n_rows: int) -> pl.DataFrame | None:
        """The canonical frame of a parsed chunk whose every line is a good row, else None."""
        if df is None or df.height != n_rows:
            return None
        frame, errors = self.builder.canonicalize(df, "auto")
        return frame if errors.null_count() == len(errors) else None

    def _slow(
        self,
        chunk: RecordChunk,
        rows_at: IntArray,
        ordinals: IntArray,
        lines: IntArray,
    ) -> Batch:
        """A chunk the fast path rejected: find the bad lines, keep the rest."""
        state = _Narrowing(chunk, rows_at, int((chunk.ends - chunk.starts).max()))
        self._narrow(state, 0, len(rows_at))
        self._flush(state)
        found = self._found(state) if not state.failed else self._per_line(state)
        quarantined = [
            Quarantined(int(ordinals[j]), int(lines[j]), raw_text(state.line(j)), error)
            for j, error in found.bad
        ]
        at = np.asarray(found.good, dtype=np.int64)
        rows = self.builder.finish(found.frame, ordinals[at], lines[at])
        return Batch(rows, quarantined, chunk.end_offset)

    def _narrow(self, state: _Narrowing, lo: int, hi: int) -> None:
        """Sort rows ``lo:hi`` into good (parsed frames) and bad, in order.

        The range is cut into :data:`SPLIT` pieces that pyarrow parses again; pieces that
        fail are cut again (recursion), so a few bad lines cost about two more parses of
        the chunk rather than a ``json.loads`` per line. Small ranges, and ranges where
        most pieces fail (bad lines everywhere), are checked line by line in Python.
        """
        if hi - lo > LEAF_ROWS:
            step = -(-(hi - lo) // SPLIT)
            pieces: list[tuple[int, int, pl.DataFrame | None]] = []
            for a in range(lo, hi, step):
                b = min(a + step, hi)
                start, end = (
                    int(state.chunk.starts[state.rows_at[a]]),
                    int(state.chunk.ends[state.rows_at[b - 1]]),
                )
                df = parse_with_arrow(memoryview(state.chunk.data)[start:end], state.longest)
                ok = df is not None and self._fast(df, b - a) is not None
                pieces.append((a, b, df if ok else None))
            if 2 * sum(df is None for _, _, df in pieces) <= len(pieces):
                for a, b, df in pieces:
                    if df is None:
                        self._narrow(state, a, b)
                    else:
                        self._flush(state)
                        state.frames.append(df)
                        state.good.extend(range(a, b))
                return
        for j in range(lo, hi):
            checked = state.checked[j] = self._check_line(state.line(j))
            if isinstance(checked, str):
                state.bad.append((j, checked))
            else:
                state.pending.append(j)

    def _flush(self, state: _Narrowing) -> None:
        """Parse the good lines checked one by one since the last piece, as one frame."""
        if not state.pending or state.failed:
            return
        data = b"\n".join(state.line(j) for j in state.pending)
        df = parse_with_arrow(data, state.longest)
        if df is None or self._fast(df, len(state.pending)) is None:
            # The good lines do not parse together (a carried column changes type, a
            # duplicate key): give up on pyarrow for this chunk.
            state.failed = True
            return
        state.frames.append(df)
        state.good.extend(state.pending)
        state.pending = []

    def _found(self, state: _Narrowing) -> _Found:
        """The canonical frame of the pieces found good; falls back when they do not mix."""
        if not state.frames:
            return _Found([], state.bad, self.builder.frame_from_objects([], []))
        try:
            # Pieces inferred separately may differ (int here, float there): relax them.
            merged = pl.concat(state.frames, how="diagonal_relaxed")
        except pl.exceptions.PolarsError:
            return self._per_line(state)
        frame = self._fast(merged, len(state.good))
        return _Found(state.good, state.bad, frame) if frame is not None else self._per_line(state)

    def _check_line(self, raw: bytes) -> tuple[dict[str, Any], Extracted] | str:
        parsed = parse_line(raw)
        if isinstance(parsed, str):
            return parsed
        result = extract_row(parsed, self.spec)
        return result if isinstance(result, str) else (parsed, result)

    def _per_line(self, state: _Narrowing) -> _Found:
        """Every line checked in Python; the frame built from the Python objects if need be.

        Lines the narrowing already checked are not decoded again.
        """
        objs: list[dict[str, Any]] = []
        extracted: list[Extracted] = []
        good: list[int] = []
        bad: list[tuple[int, str]] = []
        for j in range(len(state.rows_at)):
            checked = state.checked.get(j)
            if checked is None:
                checked = self._check_line(state.line(j))
            if isinstance(checked, str):
                bad.append((j, checked))
            else:
                objs.append(checked[0])
                extracted.append(checked[1])
                good.append(j)
        frame = None
        if good and not state.failed:
            # Parse the good lines again with pyarrow: same column types as the fast path.
            data = b"\n".join(state.line(j) for j in good)
            frame = self._fast(parse_with_arrow(data, state.longest), len(good))
        if frame is None:
            frame = self.builder.frame_from_objects(objs, extracted)
        return _Found(good, bad, frame)


@dataclass
class _Narrowing:
    """Working state of the slow path for one chunk."""

    chunk: RecordChunk
    rows_at: IntArray
    longest: int
    """Longest record of the chunk, for pyarrow's block size."""
    frames: list[pl.DataFrame] = field(default_factory=list)
    """Parsed good rows, in order; their positions are :attr:`good`."""
    good: list[int] = field(default_factory=list)
    bad: list[tuple[int, str]] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    """Good lines checked one by one, not yet parsed into :attr:`frames`."""
    checked: dict[int, tuple[dict[str, Any], Extracted] | str] = field(default_factory=dict)
    """Result of every line checked one by one."""
    failed: bool = False
    """The good lines did not parse together: build the frame from Python objects."""

    def line(self, j: int) -> bytes:
        """The ``j``-th row of the chunk, without its line end."""
        return self.chunk.record(int(self.rows_at[j]))


class _Found(NamedTuple):
    """What the slow path found in a chunk."""

    good: list[int]
    """Positions (among the chunk's rows) of the good rows, in order."""
    bad: list[tuple[int, str]]
    """Position and error of each bad row, in order."""
    frame: pl.DataFrame
    """Canonical frame of the good rows (input of :meth:`RowBuilder.finish`)."""


def parse_with_arrow(data: bytes | memoryview, longest: int) -> pl.DataFrame | None:
    """Parse JSON Lines bytes strictly with pyarrow; None if anything in them is off.

    Strings that look like dates are kept as strings: pyarrow would infer timestamps
    (``"2020-01-01"`` becomes a datetime), which changes carried values. UTF-8 is checked
    here because pyarrow's JSON reader lets invalid bytes through into string columns
    (and polars may panic on them later).
    """
    if not _is_utf8(data):
        return None
    # One block for the whole chunk: no line may straddle a block boundary, and one
    # thread on one block measured fastest on shared cores.
    block = min(max(len(data), longest) + 1, 2**31 - 1)
    options = pj.ReadOptions(block_size=block, use_threads=False)
    try:
        table = pj.read_json(pa.BufferReader(data), read_options=options)
        if any(_has_temporal(f.type) for f in table.schema):
            schema = pa.schema([f.with_type(_strings_for_temporal(f.type)) for f in table.schema])
            parse = pj.ParseOptions(explicit_schema=schema)
            table = pj.read_json(pa.BufferReader(data), read_options=options, parse_options=parse)
        df = pl.from_arrow(table)
    except (pa.ArrowException, ValueError, TypeError):
        return None
    return df if isinstance(df, pl.DataFrame) else None


def _is_utf8(data: bytes | memoryview) -> bool:
    # Pure ASCII (number sequences, escaped JSON) is the common case: one numpy pass.
    if int(np.frombuffer(data, dtype=np.uint8).max(initial=0)) < 0x80:
        return True
    try:
        str(data, "utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _has_temporal(t: pa.DataType) -> bool:
    if pa.types.is_temporal(t):
        return True
    if pa.types.is_struct(t):
        return any(_has_temporal(t.field(i).type) for i in range(t.num_fields))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _has_temporal(t.value_type)
    return False


def _strings_for_temporal(t: pa.DataType) -> pa.DataType:
    if pa.types.is_temporal(t):
        return pa.string()
    if pa.types.is_struct(t):
        return pa.struct(
            [
                t.field(i).with_type(_strings_for_temporal(t.field(i).type))
                for i in range(t.num_fields)
            ]
        )
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return pa.list_(t.value_field.with_type(_strings_for_temporal(t.value_type)))
    return t


def parse_line(raw: bytes) -> dict[str, Any] | str:
    """Decode one line into a JSON object, or a one-line error (positions are 1-based).

    ``NaN`` and ``Infinity`` are accepted as numbers, as pyarrow accepts them on the fast
    path (Python's ``json.dumps`` writes them); a line must not change fate by path.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 at byte {exc.start + 1}"
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        # Some messages already end in "at" ("Unterminated string starting at").
        at = "" if exc.msg.endswith(" at") else " at"
        return f"invalid JSON: {exc.msg}{at} column {exc.colno}"
    except RecursionError:
        return "invalid JSON: nested too deeply"
    if not isinstance(obj, dict):
        return f"expected a JSON object, got {json_kind(obj)}"
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return "invalid JSON: a \\u escape is an unpaired surrogate"
    return obj
