"""The DuckDB ledger: which rows survived which detector, and why.

The ledger is the only code that speaks SQL to the DuckDB file; the statements live in
``sql/statements/`` (writes the ledger makes), ``sql/queries/`` (named queries for users)
and ``sql/schema/`` (append-only migrations). Bulk data goes in through Arrow, never row
by row. A run follows a small lifecycle: :meth:`Ledger.start_run`, any number of
:meth:`Ledger.record_batch`, then :meth:`Ledger.finish_run` or :meth:`Ledger.fail_run`.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from audit.errors import LedgerError
from audit.interrupts import critical
from audit.resources import sql_dir

_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_MIGRATION = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


@cache
def _statement(kind: str, name: str) -> str:
    return (sql_dir() / kind / f"{name}.sql").read_text(encoding="utf-8")


def named_queries() -> dict[str, str]:
    """Named query -> its first comment line (what it answers)."""
    out: dict[str, str] = {}
    for path in sorted((sql_dir() / "queries").glob("*.sql")):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        out[path.stem] = first.removeprefix("--").strip()
    return out


def _bind(sql: str, params: Mapping[str, Any], *, strict: bool = True) -> dict[str, Any]:
    """The subset of params the statement names (DuckDB rejects unused ones).

    Strict mode (named queries and our statements) reports a missing parameter here;
    ad-hoc SQL leaves it to DuckDB, since a ``$word`` inside a string literal is no parameter.
    """
    wanted = dict.fromkeys(_PARAM.findall(sql))
    missing = [name for name in wanted if name not in params]
    if missing and strict:
        raise LedgerError(f"query needs parameter(s): {', '.join(missing)}")
    return {name: params[name] for name in wanted if name in params}


@dataclass(frozen=True)
class QueryResult:
    """A query's answer as an Arrow table (cheap to turn into polars or JSON)."""

    table: pa.Table

    def to_polars(self) -> pl.DataFrame:
        """The result as a polars DataFrame."""
        frame = pl.from_arrow(self.table)
        if not isinstance(frame, pl.DataFrame):  # a single column comes back as a Series
            frame = frame.to_frame()
        return frame

    def to_dicts(self) -> list[dict[str, Any]]:
        """The rows as JSON-friendly dicts."""
        rows: list[dict[str, Any]] = self.table.to_pylist()
        return rows


class Ledger:
    """One open DuckDB ledger file.

    Opening for writing applies pending migrations and marks runs abandoned by a killed
    process as failed. DuckDB allows one writing process per file: a second one gets a
    :class:`LedgerError` naming the lock holder instead of a traceback.
    """

    def __init__(
        self, path: str | Path, *, read_only: bool = False, memory_limit: str = "512MB"
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        if read_only and not self.path.exists():
            raise LedgerError("no ledger here (run `subaudit scan` first)", path=str(path))
        if not read_only and self.path.parent and not self.path.parent.is_dir():
            raise LedgerError("the ledger's directory does not exist", path=str(path))
        try:
            self.con = duckdb.connect(
                str(self.path),
                read_only=read_only,
                config={"memory_limit": memory_limit, "threads": 2},
            )
        except duckdb.IOException as exc:
            raise LedgerError(_lock_message(str(exc)), path=str(path)) from None
        except duckdb.Error as exc:
            raise LedgerError(f"cannot open ledger: {_first_line(exc)}", path=str(path)) from None
        self.abandoned: list[str] = []
        if not read_only:
            self.migrate()
            rows = self._exec("statements", "fail_abandoned_runs", {}).fetchall()
            self.abandoned = [r[0] for r in rows]
            # Transfer checks hold the ledger the same way; the same reasoning applies.
            self._exec("statements", "fail_abandoned_experiments", {}).fetchall()

    # -- lifecycle --------------------------------------------------------------------

    def close(self) -> None:
        """Checkpoint and close the file."""
        self.con.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def migrate(self) -> list[str]:
        """Apply every migration in ``sql/schema/`` not yet applied; return their names."""
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        done = {v for (v,) in self.con.execute("SELECT version FROM schema_migrations").fetchall()}
        applied = []
        for path in sorted((sql_dir() / "schema").glob("*.sql")):
            match = _MIGRATION.match(path.name)
            if match is None:
                raise RuntimeError(f"badly named migration {path.name}")
            version = int(match.group(1))
            if version in done:
                continue
            # A migration and its bookkeeping commit together, or not at all.
            self.con.execute("BEGIN TRANSACTION")
            try:
                self.con.execute(path.read_text(encoding="utf-8"))
                self.con.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                    [version, path.stem],
                )
                self.con.execute("COMMIT")
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            applied.append(path.stem)
        return applied

    # -- runs -------------------------------------------------------------------------

    def start_run(self, **fields: Any) -> None:
        """Insert a run in status ``running`` (fields: see ``sql/statements/insert_run.sql``)."""
        self._exec("statements", "insert_run", _jsonify(fields))

    def record_detector(self, **fields: Any) -> None:
        """Record one configured detector of a run."""
        self._exec("statements", "insert_detector", _jsonify(fields))

    def update_detector(self, **fields: Any) -> None:
        """Record a detector's timing, threshold and fitted metrics at the end of a run."""
        self._exec("statements", "update_detector", _jsonify(fields))

    def record_batch(
        self,
        run_id: str,
        rows: pl.DataFrame,
        verdicts: pl.DataFrame,
        quarantine: pl.DataFrame,
    ) -> None:
        """Insert one batch's rows, verdicts and quarantined rows in one transaction."""
        self.insert_frames(
            {"rows": rows, "verdicts": verdicts, "quarantine": quarantine},
            {
                "rows": "insert_rows",
                "verdicts": "insert_verdicts",
                "quarantine": "insert_quarantine",
            },
            run_id=run_id,
        )

    def execute(self, statement: str, **fields: Any) -> list[tuple[Any, ...]]:
        """Run a statement from ``sql/statements/`` by name with named parameters.

        Dicts and lists are bound as JSON text (cast with ``$x::JSON`` in the statement).
        Returns the statement's rows (for INSERT/UPDATE, DuckDB's one-row count).
        """
        rows: list[tuple[Any, ...]] = self._exec(
            "statements", statement, _jsonify(fields)
        ).fetchall()
        return rows

    def insert_frames(
        self, frames: Mapping[str, pl.DataFrame], statements: Mapping[str, str], **fields: Any
    ) -> None:
        """Bulk-insert polars frames through Arrow in one transaction.

        Each frame is registered as the view ``incoming_<name>`` while its statement (from
        ``sql/statements/``) runs with ``fields`` as parameters.
        """
        with critical():
            self._insert_frames(frames, statements, fields)

    def _insert_frames(
        self, frames: Mapping[str, pl.DataFrame], statements: Mapping[str, str], fields: Any
    ) -> None:
        self.con.execute("BEGIN TRANSACTION")
        try:
            for name, frame in frames.items():
                if frame.height == 0:
                    continue
                view = f"incoming_{name}"
                self.con.register(view, frame.to_arrow())
                try:
                    self._exec("statements", statements[name], _jsonify(fields))
                finally:
                    self.con.unregister(view)
            self.con.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        # Best effort: a failed COMMIT or an interrupted statement may already have ended
        # the transaction, and that must not hide the error that brought us here.
        with contextlib.suppress(duckdb.Error):
            self.con.execute("ROLLBACK")

    def finish_run(self, **fields: Any) -> None:
        """Mark a run succeeded with its counts and input hash."""
        with critical():
            self._exec("statements", "finish_run", fields)

    def fail_run(self, run_id: str, error: str) -> None:
        """Mark a run failed; its survivors were never written."""
        with critical():
            self._rollback()  # the failure may have left a transaction open
            self._exec("statements", "fail_run", {"run_id": run_id, "error": error})

    # -- queries ----------------------------------------------------------------------

    def query(self, name_or_sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        """Run a named query from ``sql/queries/`` or a SQL statement.

        Raises:
            LedgerError: unknown name, a missing parameter, or an error in the SQL.
        """
        params = dict(params or {})
        if re.fullmatch(r"[a-z][a-z0-9_]*", name_or_sql.strip()):
            if name_or_sql not in named_queries():
                raise LedgerError(
                    f"unknown named query '{name_or_sql}' (available: {', '.join(named_queries())})"
                )
            sql, strict = _statement("queries", name_or_sql), True
        else:
            sql, strict = name_or_sql, False
        try:
            relation = self.con.sql(sql, params=_bind(sql, params, strict=strict) or None)
        except duckdb.Error as exc:
            raise LedgerError(f"query failed: {_first_line(exc)}") from None
        if relation is None:  # a statement without a result (only possible when writable)
            return QueryResult(pa.table({}))
        try:
            return QueryResult(relation.to_arrow_table())
        except duckdb.Error as exc:
            raise LedgerError(f"query failed: {_first_line(exc)}") from None

    def latest_run(self, *, succeeded_only: bool = True) -> str | None:
        """The most recently started run's id."""
        sql = "SELECT run_id FROM runs {} ORDER BY started_at DESC LIMIT 1".format(
            "WHERE status = 'succeeded'" if succeeded_only else ""
        )
        rows = self.con.execute(sql).fetchall()  # fetchall: DuckDB 2 rejects open results
        return str(rows[0][0]) if rows else None

    def run_exists(self, run_id: str) -> bool:
        """Whether the ledger holds a run with this id."""
        rows = self.con.execute("SELECT count(*) FROM runs WHERE run_id = ?", [run_id]).fetchall()
        return bool(rows[0][0])

    def _exec(self, kind: str, name: str, params: Mapping[str, Any]) -> duckdb.DuckDBPyConnection:
        sql = _statement(kind, name)
        return self.con.execute(sql, _bind(sql, params) or None)


@contextmanager
def open_ledger(path: str | Path, *, read_only: bool = False) -> Iterator[Ledger]:
    """Open a ledger for the duration of a ``with`` block."""
    ledger = Ledger(path, read_only=read_only)
    try:
        yield ledger
    finally:
        ledger.close()


def _jsonify(fields: Mapping[str, Any]) -> dict[str, Any]:
    # JSON columns are bound as text and cast in SQL (`$x::JSON`).
    return {
        k: json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v
        for k, v in fields.items()
    }


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _lock_message(message: str) -> str:
    if "lock" in message.lower():
        pid = re.search(r"PID (\d+)", message)
        holder = f" (process {pid.group(1)})" if pid else ""
        return f"the ledger is in use by another subaudit process{holder}; retry when it ends"
    return f"cannot open ledger: {message.splitlines()[0]}"
