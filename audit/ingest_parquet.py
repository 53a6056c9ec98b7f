"""Parquet reader: schema checked up front, record batches streamed through pyarrow.

Progress is counted in rows (``total`` is the file's row count). The file's SHA-256 is
computed from the bytes pyarrow reads, through :class:`HashingFile`, so the file is not
read a second time: pyarrow reads the footer first and then the row groups in order;
reads ahead of the hashed prefix are held until the gap before them is filled, and the
few bytes pyarrow never reads (the leading magic number) are read at the end.

Schema rules: with both ``prompt_column`` and ``completion_column`` present the file is
read as plain rows (both must be string columns); otherwise a ``messages_column`` of type
list<struct<role: string, content: string>> makes it a chat file; otherwise it is an
error naming the missing column. A null prompt or completion quarantines the row, with
``line`` None and the row as JSON for ``raw``. Parquet readers do not check that string
columns hold valid UTF-8; we do (cheaply, per batch), and quarantine rows that do not
(``prompt: invalid UTF-8 at byte N``) before polars sees them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from audit.errors import InputError
from audit.ingest import Batch, Quarantined, raw_text
from audit.ingest_records import IntArray, prefetched
from audit.ingest_rows import Mode, RowBuilder, is_id_dtype, is_messages_dtype, is_string_dtype

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

    from audit.ingest import InputSpec

_SMALL_GAP = 1 << 20  # skipped bytes this small are read at once rather than waited for
_MAX_AHEAD = 256 << 20  # reads held ahead of the hashed prefix beyond this are re-read later


class HashingFile(io.RawIOBase):
    """A read-only file that feeds SHA-256 with its bytes in file order.

    pyarrow may ask for the bytes in any order (the footer first); see the module docstring.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._f = path.open("rb", buffering=0)
        self._size = os.fstat(self._f.fileno()).st_size
        self._hasher = hashlib.sha256()
        self._hashed_to = 0
        self._ahead: dict[int, bytes] = {}  # offset -> bytes read beyond the hashed prefix
        self._ahead_bytes = 0

    def readable(self) -> bool:  # noqa: D102 - io protocol
        return True

    def seekable(self) -> bool:  # noqa: D102 - io protocol
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:  # noqa: D102
        return self._f.seek(offset, whence)

    def tell(self) -> int:  # noqa: D102 - io protocol
        return self._f.tell()

    def read(self, size: int = -1) -> bytes:  # noqa: D102 - io protocol
        pos = self._f.tell()
        data = self._f.read(size)
        self._feed(pos, data)
        return data

    def readinto(self, buffer: WriteableBuffer) -> int:  # noqa: D102 - io protocol
        pos = self._f.tell()
        n = self._f.readinto(buffer)
        with memoryview(buffer) as view:
            self._feed(pos, bytes(view[:n]))
        return n

    def close(self) -> None:  # noqa: D102 - io protocol
        self._f.close()
        super().close()

    def _feed(self, pos: int, data: bytes) -> None:
        end = pos + len(data)
        if end <= self._hashed_to:
            return
        gap = pos - self._hashed_to
        if gap > _SMALL_GAP:
            if self._ahead_bytes + len(data) <= _MAX_AHEAD:
                self._ahead[pos] = data
                self._ahead_bytes += len(data)
            return
        if gap > 0:
            self._hash_from_disk(pos)
        self._hasher.update(memoryview(data)[self._hashed_to - pos :])
        self._hashed_to = end
        self._drain()

    def _drain(self) -> None:
        """Hash held reads that now touch the hashed prefix."""
        while True:
            ready = [p for p in self._ahead if p <= self._hashed_to]
            if not ready:
                return
            for p in ready:
                data = self._ahead.pop(p)
                self._ahead_bytes -= len(data)
                if p + len(data) > self._hashed_to:
                    self._hasher.update(memoryview(data)[self._hashed_to - p :])
                    self._hashed_to = p + len(data)

    def _hash_from_disk(self, until: int) -> None:
        """Read and hash the bytes from the hashed prefix up to ``until`` ourselves."""
        while self._hashed_to < until:
            n = min(until - self._hashed_to, 8 << 20)
            data = os.pread(self._f.fileno(), n, self._hashed_to)
            if not data:
                break
            self._hasher.update(data)
            self._hashed_to += len(data)

    def hexdigest(self) -> str:
        """SHA-256 of the whole file: hashes what is still missing (read here, once)."""
        self._drain()
        while self._hashed_to < self._size:
            nxt = min((p for p in self._ahead if p > self._hashed_to), default=self._size)
            self._hash_from_disk(nxt)
            self._drain()
        return self._hasher.hexdigest()


class ParquetSource:
    """Streams a Parquet file's record batches (see module docstring for the rules)."""

    progress_unit: Literal["bytes", "rows"] = "rows"

    def __init__(self, spec: InputSpec, size: int, builder: RowBuilder) -> None:
        """Read the footer and check the schema.

        Raises:
            InputError: not Parquet, no rows, a missing column, or a column of the wrong type.
        """
        self.spec = spec
        self._where = str(spec.path)
        self.builder = builder
        try:
            meta = pq.read_metadata(spec.path)
            empty = pl.from_arrow(meta.schema.to_arrow_schema().empty_table())
        except (pa.ArrowException, OSError, ValueError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
            raise InputError(f"not a readable Parquet file ({reason})", path=self._where) from None
        if not isinstance(empty, pl.DataFrame):
            raise InputError("not a readable Parquet file (no columns)", path=self._where)
        schema = empty.schema
        self.total = meta.num_rows
        if self.total == 0:
            raise InputError("empty file (no rows)", path=self._where)
        self.mode = self._check_schema(schema)
        # Known from the schema: record names and renames before the first batch.
        builder.input_columns.update(dict.fromkeys(schema.names()))
        plain = (spec.prompt_column, spec.completion_column) if self.mode == "plain" else ()
        builder.carried_names(
            [c for c in schema.names() if c not in plain], chat=self.mode == "chat"
        )
        self._digest: str | None = None

    def _check_schema(self, schema: pl.Schema) -> Mode:
        spec = self.spec
        pc, cc, mc, ic = (
            spec.prompt_column,
            spec.completion_column,
            spec.messages_column,
            spec.id_column,
        )
        columns = ", ".join(schema.names())
        mode: Mode
        if pc in schema and cc in schema:
            mode = "plain"
            for name in (pc, cc):
                if not is_string_dtype(schema[name]):
                    self._wrong_type(name, schema[name], "a string column")
        elif mc in schema:
            mode = "chat"
            if not is_messages_dtype(schema[mc]):
                self._wrong_type(mc, schema[mc], "a list of {role: string, content: string}")
        else:
            missing = cc if pc in schema else pc
            raise InputError(f"missing column '{missing}' (columns: {columns})", path=self._where)
        if ic is not None:
            if ic not in schema:
                raise InputError(f"missing column '{ic}' (columns: {columns})", path=self._where)
            if not is_id_dtype(schema[ic]):
                self._wrong_type(ic, schema[ic], "a string or number column")
        return mode

    def _wrong_type(self, name: str, dtype: pl.DataType, expected: str) -> None:
        raise InputError(f"column '{name}' has type {dtype}, expected {expected}", path=self._where)

    def hexdigest(self) -> str:
        """SHA-256 of the file (complete once :meth:`batches` is exhausted)."""
        if self._digest is None:
            raise RuntimeError("the file has not been read to the end yet")
        return self._digest

    def batches(self) -> Iterator[Batch]:
        """Yield one batch per Parquet record batch (at most ``batch_rows`` rows)."""
        self._digest = None
        file = HashingFile(self.spec.path)
        ordinal = 0
        try:
            parquet = pq.ParquetFile(file)
            # closing(): stop the prefetch thread before the file it reads is closed.
            with closing(prefetched(parquet.iter_batches(self.spec.batch_rows))) as batches:
                for record_batch in batches:
                    n = record_batch.num_rows
                    if n == 0:
                        continue
                    ordinals = np.arange(ordinal, ordinal + n, dtype=np.int64)
                    ordinal += n
                    yield self._batch(record_batch, ordinals, ordinal)
            self._digest = file.hexdigest()
        finally:
            file.close()

    def _batch(self, record_batch: pa.RecordBatch, ordinals: IntArray, read: int) -> Batch:
        quarantined: list[Quarantined] = []
        bad_utf8 = self._invalid_utf8(record_batch)
        if bad_utf8:
            for i, error in sorted(bad_utf8.items()):
                raw = raw_text(json.dumps(_row_as_text(record_batch, i), default=str))
                quarantined.append(Quarantined(int(ordinals[i]), None, raw, error))
            keep = np.ones(record_batch.num_rows, dtype=bool)
            keep[list(bad_utf8)] = False
            record_batch = record_batch.filter(pa.array(keep))
            ordinals = ordinals[keep]
        df = pl.from_arrow(record_batch)
        if not isinstance(df, pl.DataFrame):  # a record batch always converts to a frame
            raise TypeError(f"unexpected {type(df).__name__} from a record batch")
        frame, errors = self.builder.canonicalize(df, self.mode)
        ok = errors.is_null().to_numpy()
        if not ok.all():
            bad_at = np.flatnonzero(~ok)
            bad_rows = df[bad_at.tolist()].rows(named=True)
            for j, row in zip(bad_at.tolist(), bad_rows, strict=True):
                raw = raw_text(json.dumps(row, ensure_ascii=False, default=str))
                quarantined.append(Quarantined(int(ordinals[j]), None, raw, str(errors[j])))
            frame = frame.filter(pl.Series(ok))
            quarantined.sort(key=lambda q: q.ordinal)
        rows = self.builder.finish(frame, ordinals[ok], None)
        return Batch(rows, quarantined, read)

    def _invalid_utf8(self, record_batch: pa.RecordBatch) -> dict[int, str]:
        """Rows (index in the batch) holding invalid UTF-8, with an error naming the column.

        Raises:
            InputError: invalid UTF-8 inside a nested or dictionary column, which cannot be
                pinned to rows cheaply.
        """
        try:
            record_batch.validate(full=True)  # ~3 ms per 100k rows
            return {}
        except pa.ArrowInvalid:
            pass
        problems: dict[int, str] = {}
        for name, column in zip(record_batch.schema.names, record_batch.columns, strict=True):
            as_binary = _BINARY_OF.get(column.type)
            if as_binary is None:
                try:
                    column.validate(full=True)
                except pa.ArrowInvalid:
                    raise InputError(
                        f"column '{name}' holds invalid UTF-8", path=self._where
                    ) from None
                continue
            for i, value in enumerate(column.view(as_binary).to_pylist()):
                if value is None or i in problems:
                    continue
                try:
                    value.decode("utf-8")
                except UnicodeDecodeError as exc:
                    problems[i] = f"{name}: invalid UTF-8 at byte {exc.start + 1}"
        return problems


_BINARY_OF = {
    pa.string(): pa.binary(),
    pa.large_string(): pa.large_binary(),
    pa.string_view(): pa.binary_view(),
}


def _row_as_text(record_batch: pa.RecordBatch, i: int) -> dict[str, Any]:
    """One row as Python values, strings decoded leniently (they may be invalid UTF-8)."""
    row: dict[str, Any] = {}
    for name, column in zip(record_batch.schema.names, record_batch.columns, strict=True):
        as_binary = _BINARY_OF.get(column.type)
        if as_binary is None:
            row[name] = column[i].as_py()
        else:
            value = column.view(as_binary)[i].as_py()
            row[name] = None if value is None else value.decode("utf-8", errors="replace")
    return row
