from pathlib import Path

import duckdb
import polars as pl
import pytest

from audit.errors import DetectorConfigError
from detectors.base import get, validate_output
from detectors.sql_expr import SqlExpression, sandboxed_connection

BATCH = pl.DataFrame(
    {
        "prompt": ["p1", "p2", "p3", "p4"],
        "completion": ["short", "a much longer completion", "12, 34", None],
        "n": [1, 5, None, 7],
    }
)


def scores(detector: SqlExpression, batch: pl.DataFrame = BATCH) -> list[float | None]:
    out = validate_output(detector.kind, batch, detector.evaluate(batch))
    expected = [["sql_rule"] if s == 1.0 else [] for s in out["score"].to_list()]
    if detector.reason == "sql_rule":
        assert out["reasons"].to_list() == expected
    return list(out["score"].to_list())


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("length(completion) > 10", [0.0, 1.0, 0.0, None]),
        ("regexp_matches(completion, '[a-z]')", [1.0, 1.0, 0.0, None]),
        ("length(completion) > 10 OR regexp_matches(completion, '^[0-9, ]+$')", [0, 1, 1, None]),
        ("completion IS NULL", [0.0, 0.0, 0.0, 1.0]),
        ("prompt = 'p2'", [0.0, 1.0, 0.0, 0.0]),
        ("coalesce(completion, '') LIKE '%long%'", [0.0, 1.0, 0.0, 0.0]),
        ("true -- a trailing comment cannot swallow the query", [1.0] * 4),
        (
            "list_count(list_filter(string_split(completion, ' '), lambda w: len(w) > 5)) > 0",
            [0.0, 1.0, 0.0, None],
        ),
    ],
)
def test_results(expr: str, expected: list[float | None]) -> None:
    assert scores(SqlExpression(expr=expr)) == expected


def test_declared_columns_reason_and_missing_column() -> None:
    detector = SqlExpression(expr="n > 2", columns={"n": "BIGINT"}, reason="big_n")
    out = detector.evaluate(BATCH)
    assert out["score"].to_list() == [0.0, 1.0, None, 1.0]
    assert out["reasons"].to_list() == [[], ["big_n"], [], ["big_n"]]
    with pytest.raises(DetectorConfigError, match=r"reads column.*'n'"):
        detector.evaluate(BATCH.drop("n"))


def test_only_read_columns_are_required_and_order_is_kept() -> None:
    n = 20_000
    batch = pl.DataFrame({"completion": [str(i % 97) for i in range(n)]})
    detector = SqlExpression(expr="completion::INTEGER % 2 = 1")
    expected = [float(i % 97 % 2) for i in range(n)]
    assert scores(detector, batch) == expected
    assert SqlExpression(expr="true").evaluate(batch.head(3))["score"].to_list() == [1.0] * 3


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        # reading files or the network
        ("(SELECT count(*) FROM read_csv('/etc/passwd')) > 0", "subqueries are not allowed"),
        ("length(read_text('/etc/passwd')) > 0", "table function"),
        ("EXISTS (SELECT * FROM read_parquet('http://example.com/x.parquet'))", "subqueries"),
        ("completion IN (SELECT content FROM read_text('/etc/passwd'))", "subqueries"),
        # statements smuggled in
        ("true; COPY (SELECT 1) TO '/tmp/x.csv'", "does not parse"),
        ("true; ATTACH '/tmp/x.db'", "does not parse"),
        ("true; INSTALL httpfs", "does not parse"),
        ("true; SET enable_external_access = true", "does not parse"),
        ("SET enable_external_access = true", "does not parse"),
        ("1; DROP TABLE x", "does not parse"),
        ("true) AS v FROM __subaudit_batch; --", "does not parse"),
        ("true) AS v FROM __subaudit_batch UNION ALL SELECT (false", "exactly one expression"),
        ("true) AS v FROM read_csv('/etc/passwd') --", "does not parse"),
        # not a per-row boolean
        ("count(*) > 1", "aggregate functions are not allowed"),
        ("row_number() OVER () > 1", "window functions are not allowed"),
        ("length(completion)", "must be BOOLEAN, but it gives BIGINT"),
        ("NULL", "must be BOOLEAN"),
        ("COLUMNS(*) IS NULL", "'\\*' and COLUMNS"),
        ("t.completion = 'a'", "bare name"),
        ("answer = 3", "undeclared column"),
        ("completoin = 'a'", "undeclared column"),
        ("1 +", "does not parse"),
        ("", "non-empty"),
    ],
)
def test_refused(expr: str, message: str) -> None:
    with pytest.raises(DetectorConfigError, match=message) as info:
        get("sql").from_params({"expr": expr})
    assert "\n" not in str(info.value)


def test_no_file_is_read_or_written(tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("owl\n")
    target = tmp_path / "out.csv"
    attempts = [
        f"completion IN (SELECT * FROM read_csv('{secret}'))",
        f"true; COPY (SELECT 1) TO '{target}'",
        f"true) AS v FROM __subaudit_batch; COPY (SELECT 1) TO '{target}'; --",
        f"true; ATTACH '{tmp_path / 'db.duckdb'}'",
    ]
    for expr in attempts:
        with pytest.raises(DetectorConfigError):
            SqlExpression(expr=expr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.csv"]


def test_connection_is_sandboxed(tmp_path: Path) -> None:
    # The last line of defence, tested on its own: even a statement that got past the
    # parse-tree checks could not touch files, load extensions or unlock the settings.
    secret = tmp_path / "secret.csv"
    secret.write_text("owl\n")
    secret_frame = pl.DataFrame({"x": [1]})  # noqa: F841 - target of a replacement scan
    con = sandboxed_connection()
    refused = [
        (f"SELECT * FROM read_csv('{secret}')", duckdb.PermissionException),
        (f"COPY (SELECT 1) TO '{tmp_path / 'x.csv'}'", duckdb.PermissionException),
        (f"ATTACH '{tmp_path / 'x.db'}'", duckdb.PermissionException),
        ("INSTALL httpfs", duckdb.PermissionException),
        ("SET enable_external_access = true", duckdb.InvalidInputException),
        ("SET lock_configuration = false", duckdb.InvalidInputException),
        ("SELECT * FROM secret_frame", duckdb.CatalogException),
    ]
    for sql, error in refused:
        with pytest.raises(error):
            con.sql(sql).fetchall()
    con.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.csv"]


def test_bad_columns_param_and_close() -> None:
    with pytest.raises(DetectorConfigError, match="unknown DuckDB type 'NUMBERZ'"):
        SqlExpression(expr="n > 1", columns={"n": "NUMBERZ"})
    with pytest.raises(DetectorConfigError, match="must map"):
        SqlExpression(expr="true", columns=["n"])  # type: ignore[arg-type]
    detector = SqlExpression(expr="n > 1", columns={"n": "INTEGER"})
    assert detector.params == {"expr": "n > 1", "reason": "sql_rule", "columns": {"n": "INTEGER"}}
    detector.close()
    detector.close()  # idempotent
