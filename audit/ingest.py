r"""Ingest: read a teacher dataset in batches, give every row a stable id, quarantine bad rows.

``read_dataset(spec)`` checks the file as a whole (exists, readable, not empty, right
columns) before anything is yielded, then streams :class:`Batch` objects: a polars frame
of good rows in canonical form plus :class:`Quarantined` records for the rows that could
not be read. Every row of the source ends up in exactly one of the two (conservation), and
``ordinal`` numbers rows 0..n-1 in source order across all batches.

Canonical batch frame, in this column order:

- ``row_id`` (String): :func:`compute_row_ids` of prompt, completion and the id column.
- ``ordinal`` (Int64): 0-based position of the row among all rows of the source.
- ``line`` (Int64): 1-based physical line where the row starts (JSONL, CSV); null for Parquet.
- ``prompt``, ``completion`` (String, never null): renamed from ``InputSpec.prompt_column``
  and ``completion_column``, or derived from chat ``messages``.
- ``system`` (String, nullable): only in batches that hold chat rows.
- every other input column, carried through. An input column whose name collides with one
  of the names above is carried as ``input_<name>``; :attr:`DatasetReader.column_map`
  records every such rename (canonical -> original) so that outputs can restore names.

What counts as a row, per format:

- JSONL: every line that is not blank (whitespace only). Blank lines are skipped silently
  and are not rows, but line numbers still count them. A UTF-8 BOM at the start of the
  file is dropped; ``\\r\\n`` line ends work; a last line without ``\\n`` is a row.
- CSV: every record after the header that is not blank; a quoted field may span lines, and
  the record's ``line`` is the physical line where it starts (exact, the splitter tracks
  quotes). An empty unquoted field is null (quarantined for prompt/completion); a quoted
  empty field ``""`` is an empty string.
- Parquet: every row.

Chat rows: when a row has neither a prompt nor a completion value but has ``messages`` (a
list of ``{role, content}`` objects), completion is the content of the last assistant
message, prompt the content of the last user message before it, and ``system`` the content
of the first system message; ``messages`` itself is carried through unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import polars as pl

from audit.errors import InputError
from audit.ingest_rows import ROW_ID_SCHEME, RowBuilder, compute_row_ids

__all__ = [
    "ROW_ID_SCHEME",
    "Batch",
    "DatasetReader",
    "InputSpec",
    "Quarantined",
    "compute_row_ids",
    "read_dataset",
]

if TYPE_CHECKING:
    from collections.abc import Callable

Format = Literal["jsonl", "parquet", "csv"]

RAW_LIMIT = 4096
"""Quarantined raw text is cut to this many characters."""

_SUFFIX_FORMATS: dict[str, Format] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
}


@dataclass(frozen=True)
class InputSpec:
    """Where the dataset is and how its columns are named."""

    path: Path
    """The dataset file."""
    format: Format | None = None
    """``jsonl``, ``parquet`` or ``csv``; None picks it from the file suffix."""
    prompt_column: str = "prompt"
    """Input column holding the prompt (renamed to ``prompt`` in batches)."""
    completion_column: str = "completion"
    """Input column holding the teacher's completion (renamed to ``completion``)."""
    id_column: str | None = None
    """Optional input id column: carried through, and part of ``row_id``."""
    messages_column: str = "messages"
    """Chat column, used for rows that have no prompt and no completion value."""
    batch_rows: int = 100_000
    """Most rows per batch (batches may be smaller)."""

    def __post_init__(self) -> None:
        # Accept a str path from Python callers; the dataclass is frozen, hence setattr.
        if not isinstance(self.path, Path):
            object.__setattr__(self, "path", Path(self.path))
        if self.format is not None and self.format not in ("jsonl", "parquet", "csv"):
            raise InputError(
                f"unknown format '{self.format}' (expected jsonl, parquet or csv)",
                path=str(self.path),
            )
        if self.batch_rows < 1:
            raise ValueError(f"batch_rows must be at least 1, got {self.batch_rows}")


@dataclass(frozen=True)
class Quarantined:
    """A source row that could not be read; it goes to the ledger's quarantine table."""

    ordinal: int
    """0-based position among all rows of the source (good and quarantined)."""
    line: int | None
    """1-based physical line where the row starts (JSONL, CSV); None for Parquet."""
    raw: str
    """The row as text (bad UTF-8 replaced), cut to 4096 characters with a note."""
    error: str
    """One line naming the field: ``completion: expected a string, got int``."""


@dataclass(frozen=True)
class Batch:
    """One step of the stream: good rows (canonical frame) and the rows quarantined."""

    rows: pl.DataFrame
    """Good rows in canonical form (see the module docstring)."""
    quarantined: list[Quarantined]
    """Rows of this stretch of the source that could not be read, in source order."""
    bytes_read: int
    """Progress so far, in :attr:`DatasetReader.progress_unit` (bytes, or rows for Parquet)."""


class Source(Protocol):
    """What a format reader offers :class:`DatasetReader` (internal)."""

    total: int
    progress_unit: Literal["bytes", "rows"]
    builder: RowBuilder

    def batches(self) -> Iterator[Batch]:
        """Stream the batches; file-level problems were raised by the constructor."""
        ...

    def hexdigest(self) -> str:
        """SHA-256 of the file's bytes, valid once :meth:`batches` is exhausted."""
        ...


# ---------------------------------------------------------------------------------------
# the reader


class DatasetReader:
    """Streams a dataset as :class:`Batch` objects; build it with :func:`read_dataset`.

    Attributes:
        spec: what was asked for.
        format: the resolved format.
        total_bytes: size of the file in bytes, or its row count for Parquet (the unit
            :attr:`progress_unit` names), for a progress bar next to ``Batch.bytes_read``.
        progress_unit: ``bytes`` (JSONL, CSV) or ``rows`` (Parquet).
        column_map: canonical name -> original input name, for ``prompt``, ``completion``
            and every carried column renamed to avoid a clash (``input_line`` -> ``line``).
            Grows while batches are read; complete after iteration. A given batch need not
            hold every name in it (rename with ``strict=False``).
    """

    def __init__(self, spec: InputSpec) -> None:
        """Check the file as a whole and prepare the format reader.

        Raises:
            InputError: missing, unreadable, a directory, empty, unknown suffix, not the
                format it claims, or lacking a required column (Parquet, CSV).
        """
        self.spec = spec
        path = spec.path
        self.format: Format = spec.format or _format_from_suffix(path)
        size = check_file(path)
        self.column_map: dict[str, str] = {
            "prompt": spec.prompt_column,
            "completion": spec.completion_column,
        }
        builder = RowBuilder(spec, self.column_map)
        self._source = _open_source(self.format)(spec, size, builder)
        self.total_bytes = self._source.total
        self.progress_unit = self._source.progress_unit
        self._digest: str | None = None

    def __iter__(self) -> Iterator[Batch]:
        """Stream the batches (each iteration reads the file again from the start)."""
        self._digest = None
        yield from self._source.batches()
        self._digest = self._source.hexdigest()

    @property
    def derived_columns(self) -> tuple[str, ...]:
        """Columns of the latest batch computed by ingest rather than read from the input.

        ``system`` whenever the batch has it, plus ``prompt`` and ``completion`` when every
        row of the batch is a chat row (their text lives on in the carried ``messages``).
        Writers that restore the input's own layout leave these out.
        """
        return self._source.builder.derived

    @property
    def input_columns(self) -> list[str]:
        """The input's column names in first-seen order.

        Known up front for CSV and Parquet; for JSONL it grows with the batches read.
        """
        return list(self._source.builder.input_columns)

    def restore_layout(self, rows: pl.DataFrame) -> pl.DataFrame:
        """The latest batch's rows in the input's own layout, with ``row_id`` last.

        Drops ``ordinal``, ``line`` and :attr:`derived_columns`, gives every column its
        input name back (:attr:`column_map`) and orders columns as in the input. If the
        input has its own ``row_id`` column, ours is named ``subaudit_row_id``.
        """
        drop = {"ordinal", "line", *self.derived_columns}
        names = {c: self.column_map.get(c, c) for c in rows.columns if c not in drop}
        if any(orig == "row_id" for c, orig in names.items() if c != "row_id"):
            names["row_id"] = "subaudit_row_id"  # the input's own row_id keeps its name
        position = {name: i for i, name in enumerate(self.input_columns)}
        order = sorted(names, key=lambda c: (c == "row_id", position.get(names[c], len(position))))
        return rows.select(pl.col(c).alias(names[c]) for c in order)

    def sha256(self) -> str:
        """Hex SHA-256 of the file's bytes, hashed while streaming (no second read).

        Raises:
            RuntimeError: iteration has not run to the end yet.
        """
        if self._digest is None:
            raise RuntimeError("sha256() is known only after iterating over every batch")
        return self._digest


def read_dataset(spec: InputSpec) -> DatasetReader:
    """Open a dataset for streaming; file-level problems raise here, before any batch.

    Raises:
        InputError: see :class:`DatasetReader`.
    """
    return DatasetReader(spec)


def _format_from_suffix(path: Path) -> Format:
    suffix = path.suffix.lower()
    fmt = _SUFFIX_FORMATS.get(suffix)
    if fmt is None:
        raise InputError(
            f"cannot tell the format from the suffix '{suffix}' "
            "(pass a format: jsonl, parquet or csv)",
            path=str(path),
        )
    return fmt


def check_file(path: Path) -> int:
    """Check that ``path`` is a readable, non-empty regular file and return its size.

    Raises:
        InputError: one line naming the path.
    """
    where = str(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError("no such file", path=where) from None
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}", path=where) from None
    if path.is_dir():
        raise InputError("is a directory, expected a dataset file", path=where)
    try:
        # Opening is the only reliable permission check (ACLs, root, network mounts).
        with path.open("rb"):
            pass
    except PermissionError:
        raise InputError("permission denied", path=where) from None
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}", path=where) from None
    if st.st_size == 0:
        raise InputError("empty file (no rows)", path=where)
    return st.st_size


def _open_source(fmt: Format) -> Callable[[InputSpec, int, RowBuilder], Source]:
    # The format modules import this one, so they are imported here, on first use; that
    # also keeps pyarrow's JSON and Parquet readers off the start-up path of the CLI.
    if fmt == "jsonl":
        from audit.ingest_jsonl import JsonlSource

        return JsonlSource
    if fmt == "csv":
        from audit.ingest_csv import CsvSource

        return CsvSource
    from audit.ingest_parquet import ParquetSource

    return ParquetSource


def raw_text(data: bytes | str) -> str:
    """A quarantined row's text: bad UTF-8 replaced, cut to :data:`RAW_LIMIT` characters."""
    if isinstance(data, str):
        if len(data) <= RAW_LIMIT:
            return data
        n_bytes = len(data.encode("utf-8", errors="surrogatepass"))
        return f"{data[:RAW_LIMIT]}...[truncated, {n_bytes} bytes]"
    # Decode only a prefix: a 10 MB line must not be decoded whole to keep 4 KB of it.
    text = data[: RAW_LIMIT * 4].decode("utf-8", errors="replace")
    if len(text) > RAW_LIMIT or len(data) > RAW_LIMIT * 4:
        return f"{text[:RAW_LIMIT]}...[truncated, {len(data)} bytes]"
    return text
