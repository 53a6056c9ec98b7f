from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from audit.errors import LedgerError
from audit.ledger import Ledger, named_queries

RUN = {
    "input_uri": "/data/x.jsonl",
    "input_format": "jsonl",
    "input_bytes": 10,
    "packs": [{"name": "numbers"}],
    "config": {"a": 1},
    "config_sha256": "0" * 64,
    "out_uri": None,
    "rejected_uri": None,
    "subaudit_version": "test",
    "host": "h",
    "pid": 1,
}


def start(led: Ledger, run_id: str) -> None:
    led.start_run(run_id=run_id, **RUN)


def test_migrations_apply_once(tmp_path: Path) -> None:
    path = tmp_path / "l.duckdb"
    with Ledger(path) as led:
        versions = led.query("SELECT version, name FROM schema_migrations").to_dicts()
        assert versions[0] == {"version": 1, "name": "001_ledger"}
    with Ledger(path) as led:
        assert led.migrate() == []


def test_run_lifecycle_and_views(ledger: Ledger) -> None:
    start(ledger, "r1")
    ledger.record_detector(
        run_id="r1",
        name="p/a",
        pack="p",
        rule_id="a",
        kind="k",
        version="1",
        action="drop",
        params={"x": 1},
        threshold=None,
        metrics=None,
    )
    ledger.record_detector(
        run_id="r1",
        name="p/b",
        pack="p",
        rule_id="b",
        kind="k",
        version="1",
        action="drop",
        params={},
        threshold=0.5,
        metrics=None,
    )
    rows = pl.DataFrame(
        {
            "row_id": ["x", "y", "z"],
            "ordinal": [0, 1, 3],
            "line": [1, 2, 4],
            "source_id": [None, None, None],
            "prompt": ["p"] * 3,
            "completion": ["1", "2", "3"],
        },
        schema_overrides={"source_id": pl.String},
    )
    verdicts = pl.DataFrame(
        {
            "ordinal": [0, 1, 3, 0, 1, 3],
            "row_id": ["x", "y", "z"] * 2,
            "detector": ["p/a"] * 3 + ["p/b"] * 3,
            "score": [1.0, 0.0, 1.0, 1.0, 0.0, 0.0],
            "threshold": [None, None, None, 0.5, 0.5, 0.5],
            "verdict": ["drop", "keep", "drop", "drop", "keep", "keep"],
            "reason": ["r", None, "r", "s", None, None],
            "reasons": [["r"], [], ["r"], ["s"], [], []],
        }
    )
    quarantine = pl.DataFrame(
        {"ordinal": [2], "line": [3], "raw": ["{bad"], "error": ["invalid JSON"]}
    )
    ledger.record_batch("r1", rows=rows, verdicts=verdicts, quarantine=quarantine)
    ledger.finish_run(
        run_id="r1",
        input_sha256="f" * 64,
        rows_in=4,
        kept=1,
        dropped=2,
        flagged=0,
        quarantined=1,
    )
    funnel = ledger.query("funnel", {"run_id": "r1"}).to_dicts()
    assert funnel == [
        {
            "detector": "p/a",
            "action": "drop",
            "dropped": 2,
            "unique_drops": 1,
            "flagged": 0,
            "unknown": 0,
        },
        {
            "detector": "p/b",
            "action": "drop",
            "dropped": 1,
            "unique_drops": 0,
            "flagged": 0,
            "unknown": 0,
        },
    ]
    survivors = ledger.query("survivors", {"run_id": "r1"}).to_dicts()
    assert [s["row_id"] for s in survivors] == ["y"]
    dropped = ledger.query("dropped", {"run_id": "r1"}).to_dicts()
    assert [(d["row_id"], d["dropped_by"]) for d in dropped] == [
        ("x", ["p/a", "p/b"]),
        ("z", ["p/a"]),
    ]
    assert ledger.query("quarantine", {"run_id": "r1"}).to_dicts()[0]["line"] == 3
    overlap = ledger.query("overlap", {"run_id": "r1"}).to_dicts()
    assert {"detector_a": "p/a", "detector_b": "p/b", "both_dropped": 1} in overlap
    (run,) = ledger.query("runs").to_dicts()
    assert run["status"] == "succeeded" and run["rows_in"] == 4
    assert ledger.latest_run() == "r1"


def test_failed_batch_rolls_back(ledger: Ledger) -> None:
    start(ledger, "r1")
    bad_verdicts = pl.DataFrame({"ordinal": [0]})  # lacks columns: the insert fails
    rows = pl.DataFrame(
        {
            "row_id": ["x"],
            "ordinal": [0],
            "line": [1],
            "source_id": ["s"],
            "prompt": ["p"],
            "completion": ["c"],
        }
    )
    with pytest.raises(Exception):  # noqa: B017 - DuckDB's binder error type varies
        ledger.record_batch("r1", rows=rows, verdicts=bad_verdicts, quarantine=pl.DataFrame())
    assert ledger.query("SELECT count(*) AS n FROM rows").to_dicts() == [{"n": 0}]


def test_fail_run_records_error(ledger: Ledger) -> None:
    start(ledger, "r1")
    ledger.fail_run("r1", "boom")
    (run,) = ledger.query("run", {"run_id": "r1"}).to_dicts()
    assert run["status"] == "failed" and run["error"] == "boom"
    assert ledger.latest_run() is None
    assert ledger.latest_run(succeeded_only=False) == "r1"


def test_abandoned_runs_are_failed_on_next_open(tmp_path: Path) -> None:
    path = tmp_path / "l.duckdb"
    with Ledger(path) as led:
        start(led, "r1")
    with Ledger(path) as led:
        assert led.abandoned == ["r1"]
        (run,) = led.query("run", {"run_id": "r1"}).to_dicts()
        assert run["status"] == "failed" and run["error"].startswith("abandoned")


def test_named_queries_are_listed_with_descriptions() -> None:
    queries = named_queries()
    assert {"runs", "funnel", "reasons", "overlap", "quarantine", "survivors"} <= set(queries)
    assert all(description for description in queries.values())


@pytest.mark.parametrize(
    ("query", "params", "message"),
    [
        ("nope", {}, "unknown named query 'nope'"),
        ("funnel", {}, "query needs parameter(s): run_id"),
        ("SELECT * FROM no_such_table", {}, "query failed: Catalog Error"),
    ],
)
def test_query_errors_are_one_line(
    ledger: Ledger, query: str, params: dict[str, str], message: str
) -> None:
    with pytest.raises(LedgerError) as info:
        ledger.query(query, params)
    assert message in info.value.one_line() and "\n" not in info.value.one_line()


def test_read_only_refuses_writes_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="no ledger here"):
        Ledger(tmp_path / "absent.duckdb", read_only=True)
    Ledger(tmp_path / "l.duckdb").close()
    with Ledger(tmp_path / "l.duckdb", read_only=True) as led, pytest.raises(LedgerError):
        led.query("DELETE FROM runs")


def test_second_writer_gets_a_clear_lock_error(tmp_path: Path) -> None:
    path = tmp_path / "l.duckdb"
    Ledger(path).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('ok', flush=True); "
            "time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        with pytest.raises(LedgerError, match="in use by another subaudit process"):
            Ledger(path)
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    Ledger(path).close()  # the lock is released with the process
