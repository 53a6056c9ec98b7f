"""Atomic dataset writers for survivors and rejected rows.

A scan writes each batch as a Parquet part in a hidden directory beside the target and
merges the parts into the target only when the whole run succeeded: first into a hidden
temporary file, then ``os.replace`` onto the target name. A run that crashes or is killed
part-way therefore never leaves a half-written survivors file behind, only a hidden
``.NAME.*.partial`` directory that :meth:`PartsWriter.abort` (or the next run) removes.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from pathlib import Path
from typing import Literal

import polars as pl

from audit.errors import UserError

OutputFormat = Literal["jsonl", "parquet"]
_SUFFIXES: dict[str, OutputFormat] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def output_format(path: Path, option: str) -> OutputFormat:
    """The format a target path asks for, from its suffix."""
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise UserError(
            f"cannot tell the output format from the suffix '{path.suffix}' "
            f"(use one of {', '.join(_SUFFIXES)})",
            path=str(path),
            field=option,
        )
    return fmt


class PartsWriter:
    """Collects batches of one output and publishes them atomically on :meth:`commit`."""

    def __init__(self, target: Path, *, option: str) -> None:
        self.target = target
        self.format = output_format(target, option)
        if not target.parent.is_dir():
            raise UserError("output directory does not exist", path=str(target), field=option)
        if target.is_dir():
            raise UserError("output path is a directory", path=str(target), field=option)
        token = secrets.token_hex(4)
        self._parts_dir = target.parent / f".{target.name}.{token}.partial"
        self._parts_dir.mkdir()
        self._parts: list[Path] = []
        self.rows = 0

    def write(self, frame: pl.DataFrame) -> None:
        """Add one batch (an empty batch still contributes its schema)."""
        part = self._parts_dir / f"part-{len(self._parts):06d}.parquet"
        frame.write_parquet(part, compression="lz4")
        self._parts.append(part)
        self.rows += frame.height

    def commit(self) -> None:
        """Merge the parts into the target, replacing it atomically."""
        tmp = self.target.parent / f".{self.target.name}.{secrets.token_hex(4)}.tmp"
        try:
            if self._parts:
                # Streaming merge; "diagonal_relaxed" unifies schemas that differ between
                # batches (a column that only appears later, an int that became a float).
                lazy = pl.concat([pl.scan_parquet(p) for p in self._parts], how="diagonal_relaxed")
                if self.format == "parquet":
                    lazy.sink_parquet(tmp)
                else:
                    lazy.sink_ndjson(tmp)
            else:
                tmp.write_bytes(b"")
            _fsync(tmp)
            os.replace(tmp, self.target)
            _fsync_dir(self.target.parent)
        finally:
            tmp.unlink(missing_ok=True)
            self.abort()

    def abort(self) -> None:
        """Throw the parts away (the target is left untouched)."""
        shutil.rmtree(self._parts_dir, ignore_errors=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    # Makes the rename itself durable; not every filesystem supports it.
    with contextlib.suppress(OSError):
        _fsync(path)
