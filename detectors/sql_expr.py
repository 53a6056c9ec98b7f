"""SQL detector: a rule written as one DuckDB boolean expression over a row's columns.

Rationale: analysts already speak DuckDB to the ledger (DESIGN.md), and many checks are
one-liners in SQL (``length(completion) > 200 OR regexp_matches(completion, '[a-z]')``).
Rule packs are data that may come from anyone, so an expression must never reach files,
the network, extensions or other in-process data. Defence in depth:

1. At construction the expression is parsed inside a fixed ``SELECT (<expr>) FROM batch``
   and the parse tree is checked: exactly one statement, exactly that shape, no subqueries,
   no window functions, no ``*``/``COLUMNS``, only bare column names. ``1; DROP ...``,
   ``true) FROM x; --`` and ``(SELECT ... FROM read_csv(...))`` all fail here.
2. It is bound against an empty frame of the declared columns; the result must be BOOLEAN
   and must keep the row count (no aggregates).
3. It runs in a private in-memory connection with external access disabled (no file or
   network access, including ``COPY``/``ATTACH``/``INSTALL``), extension auto-install and
   auto-load off, Python replacement scans off (no reading of Python variables by name),
   and the configuration locked, so nothing inside can switch any of that back on.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

import duckdb
import polars as pl
import pyarrow as pa
from duckdb.sqltypes import DuckDBPyType

from audit.errors import DetectorConfigError
from detectors.base import SCORE, Detector, reasons_from, register, require_columns
from detectors.lexicon import check_reason

_TABLE = "__subaudit_batch"
_ORDINAL = "__subaudit_ordinal"
_VALUE = "__subaudit_value"
_BASE_COLUMNS: dict[str, str] = {"prompt": "VARCHAR", "completion": "VARCHAR"}

_SANDBOX: dict[str, Any] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "python_enable_replacements": False,
    "lock_configuration": True,  # last word: the expression cannot SET any of the above
}


def sandboxed_connection() -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB connection that cannot reach files, network or extensions."""
    return duckdb.connect(":memory:", config=dict(_SANDBOX))


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


@register
class SqlExpression(Detector):
    """Fire where a DuckDB boolean expression over the row's columns is TRUE.

    Score is 1.0 for TRUE, 0.0 for FALSE and null (verdict ``unknown``) for NULL. The
    expression reads ``prompt`` and ``completion`` (VARCHAR) and any column declared in
    ``columns`` as ``{name = "DuckDB type"}``; declaring lets the rule be type-checked when
    the pack loads instead of when the scan runs.
    """

    kind: ClassVar[str] = "sql"
    version: ClassVar[str] = "1.0.0"
    description: ClassVar[str] = "A sandboxed DuckDB boolean expression over the row's columns"

    def __init__(
        self,
        *,
        expr: str,
        reason: str = "sql_rule",
        columns: Mapping[str, str] | None = None,
    ) -> None:
        if not isinstance(expr, str) or not expr.strip():
            raise DetectorConfigError(f"detector '{self.kind}': 'expr' must be a non-empty string")
        self.expr = expr
        self.reason = check_reason(self.kind, reason)
        self._con = sandboxed_connection()
        # Close the connection with the detector, even if evaluate() is never called.
        self._finalizer = weakref.finalize(self, self._con.close)
        self._lock = threading.Lock()  # a DuckDB connection is not safe across threads
        types = self._declared_types(columns)
        # Newlines around the expression: a trailing "--" comment cannot swallow the rest.
        self.query = f"SELECT (\n{expr}\n) AS {_VALUE} FROM {_TABLE}"
        self.columns = self._check_parse_tree(types)
        self._check_binding({name: types[name] for name in self.columns})
        self.params = {"expr": expr, "reason": reason, "columns": dict(columns or {})}

    # -- construction-time checks --------------------------------------------------------

    def _error(self, problem: str) -> DetectorConfigError:
        return DetectorConfigError(f"detector '{self.kind}': expression {self.expr!r}: {problem}")

    def _declared_types(self, columns: Mapping[str, str] | None) -> dict[str, DuckDBPyType]:
        types = {name: self._con.sqltype(t) for name, t in _BASE_COLUMNS.items()}
        if columns is None:
            return types
        if not isinstance(columns, Mapping):
            raise DetectorConfigError(
                f"detector '{self.kind}': 'columns' must map column names to DuckDB types"
            )
        for name, type_name in columns.items():
            if not isinstance(name, str) or not name or not isinstance(type_name, str):
                raise DetectorConfigError(
                    f"detector '{self.kind}': 'columns' must map names to type strings"
                )
            try:
                types[name] = self._con.sqltype(type_name)
            except duckdb.Error:
                raise DetectorConfigError(
                    f"detector '{self.kind}': column {name!r}: unknown DuckDB type {type_name!r}"
                ) from None
        return types

    def _check_parse_tree(self, types: Mapping[str, DuckDBPyType]) -> list[str]:
        """Check the query's shape; return the columns the expression reads, in order."""
        try:
            statements = self._con.extract_statements(self.query)
            serialized = self._con.execute("SELECT json_serialize_sql($1)", [self.query])
            rows = serialized.fetchall()
        except duckdb.Error as exc:
            raise self._error(f"does not parse: {_first_line(exc)}") from None
        if len(rows) != 1:  # pragma: no cover - json_serialize_sql returns one row
            raise self._error("could not be parsed")
        tree = json.loads(rows[0][0])
        if tree.get("error"):
            raise self._error(f"does not parse: {tree.get('error_message', 'syntax error')}")
        if len(statements) != 1 or len(tree["statements"]) != 1:
            raise self._error("must be a single expression, not several statements")
        node = tree["statements"][0]["node"]
        table = node.get("from_table") or {}
        shape_ok = (
            node.get("type") == "SELECT_NODE"
            and len(node.get("select_list", [])) == 1
            and table.get("type") == "BASE_TABLE"
            and table.get("table_name") == _TABLE
            and not table.get("schema_name")
            and not table.get("catalog_name")
            and not any(node.get(k) for k in ("where_clause", "having", "qualify", "sample"))
            and not node.get("group_expressions")
            and not node.get("group_sets")
            and not node.get("modifiers")
            and not node.get("cte_map", {}).get("map")
        )
        if not shape_ok:
            raise self._error("must be exactly one expression (no FROM, WHERE, UNION, ...)")
        referenced: list[str] = []
        lambda_params: set[str] = set()
        for item in _walk(node["select_list"][0]):
            cls = item.get("class")
            if cls == "SUBQUERY" or "subquery" in item or "from_table" in item:
                raise self._error("subqueries are not allowed")
            if cls == "WINDOW":
                raise self._error(
                    "window functions are not allowed (results would depend "
                    "on how rows are batched)"
                )
            if cls == "STAR":
                raise self._error("'*' and COLUMNS(...) are not allowed; name the columns")
            if cls == "LAMBDA":
                lambda_params.update(
                    n for ref in _walk(item.get("lhs")) for n in ref.get("column_names", [])
                )
            if cls == "COLUMN_REF":
                names = item.get("column_names", [])
                if len(names) != 1:
                    raise self._error(f"refer to columns by bare name, not {'.'.join(names)!r}")
                referenced.append(names[0])
        columns = [c for c in dict.fromkeys(referenced) if c not in lambda_params]
        undeclared = [c for c in columns if c not in types]
        if undeclared:
            raise self._error(
                f"reads undeclared column(s) {', '.join(map(repr, undeclared))}; declare "
                "their DuckDB types in 'columns' (prompt and completion are VARCHAR)"
            )
        return columns

    def _check_binding(self, types: Mapping[str, DuckDBPyType]) -> None:
        # An empty relation with the declared column types stands in for the batch; built
        # with DuckDB's expression API, so no user text is spliced into SQL here.
        typed_nulls = [
            duckdb.ConstantExpression(None).cast(self._con.sqltype("UINTEGER")).alias(_ORDINAL),
            *(duckdb.ConstantExpression(None).cast(t).alias(n) for n, t in types.items()),
        ]
        empty = self._con.sql("SELECT 1 LIMIT 0").select(*typed_nulls).to_arrow_table()
        # No ORDER BY here: an aggregate then shows as one row for zero rows, which gives a
        # clearer message than DuckDB's GROUP BY complaint about the ordinal.
        with self._registered(empty):
            relation = self._con.sql(self.query)
            value_type = relation.types[0]
            rows = len(relation.fetchall())
        if str(value_type) != "BOOLEAN":
            raise self._error(f"must be BOOLEAN, but it gives {value_type}")
        if rows != 0:
            raise self._error("aggregate functions are not allowed (one result per row)")

    # -- evaluation ----------------------------------------------------------------------

    @contextmanager
    def _registered(self, table: pa.Table) -> Iterator[None]:
        """Expose ``table`` as the batch; turn DuckDB errors into one-line config errors."""
        with self._lock:
            self._con.register(_TABLE, table)
            try:
                yield
            except duckdb.PermissionException as exc:
                raise self._error(
                    "tried to access files, the network or extensions, which rule "
                    f"expressions may not do ({_first_line(exc)})"
                ) from None
            except duckdb.Error as exc:
                raise self._error(f"failed: {_first_line(exc)}") from None
            finally:
                self._con.unregister(_TABLE)

    def evaluate(self, batch: pl.DataFrame) -> pl.DataFrame:
        """Score 1.0 where the expression is TRUE, 0.0 where FALSE, null where NULL."""
        require_columns(batch, self.columns, self.kind)
        # Only the columns the expression reads travel to DuckDB, plus an ordinal so the
        # result comes back in the batch's order whatever DuckDB's plan does.
        table = batch.select(
            pl.int_range(pl.len(), dtype=pl.UInt32).alias(_ORDINAL), *self.columns
        ).to_arrow()
        with self._registered(table):
            result = self._con.sql(f"{self.query}\nORDER BY {_ORDINAL}").to_arrow_table()
        if result.num_rows != batch.height:
            raise self._error(f"returned {result.num_rows} rows for {batch.height}")
        values = pl.from_arrow(result.select([_VALUE]))
        if not isinstance(values, pl.DataFrame):  # pragma: no cover - a Table gives a frame
            raise TypeError("unexpected result from pl.from_arrow")
        return values.select(pl.col(_VALUE).cast(pl.Float64).alias(SCORE)).with_columns(
            reasons_from([(pl.col(SCORE) > 0, self.reason)])
        )

    def close(self) -> None:
        """Close the private DuckDB connection now (it is also closed with the detector)."""
        self._finalizer()
