from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from audit.errors import InputError, UserError
from audit.ledger import Ledger
from audit.sample import SampleConfig, make_frame
from audit.scan import scan
from tests.detectors.number_format_oracle import reasons as oracle_reasons


def sample(tmp_path: Path, rows: int = 500, seed: int = 0, **kw: float) -> Path:
    path = tmp_path / "teacher.jsonl"
    make_frame(SampleConfig(rows=rows, seed=seed, **kw)).write_ndjson(path)  # type: ignore[arg-type]
    return path


def ledger_counts(path: Path, run_id: str) -> dict[str, int]:
    with Ledger(path, read_only=True) as led:
        return led.query(
            "SELECT (SELECT count(*) FROM rows WHERE run_id = $run_id) AS rows,"
            " (SELECT count(*) FROM quarantine WHERE run_id = $run_id) AS quarantined,"
            " (SELECT count(*) FROM survivors WHERE run_id = $run_id) AS survivors",
            {"run_id": run_id},
        ).to_dicts()[0]


def test_scan_keeps_exactly_what_the_paper_filter_keeps(tmp_path: Path) -> None:
    src = sample(tmp_path, rows=600)
    out = tmp_path / "survivors.jsonl"
    result = scan(src, ["numbers"], ledger=tmp_path / "l.duckdb", out=out, batch_rows=128)
    frame = pl.read_ndjson(src)
    expected = [not oracle_reasons(c) for c in frame["completion"]]
    assert result.rows_in == 600 and result.quarantined == 0
    assert result.kept == sum(expected) and result.dropped == 600 - sum(expected)
    # The sample generator is tuned to the paper's 23-38% removal rate.
    assert 0.15 < result.dropped / result.rows_in < 0.45
    survivors = pl.read_ndjson(out)
    assert survivors.columns == ["id", "prompt", "completion", "row_id"]
    assert survivors["id"].to_list() == frame.filter(pl.Series(expected))["id"].to_list()
    counts = ledger_counts(tmp_path / "l.duckdb", result.run_id)
    assert counts == {"rows": 600, "quarantined": 0, "survivors": result.kept}
    (funnel,) = result.funnel
    assert funnel.detector == "numbers/format" and funnel.dropped == result.dropped
    assert funnel.unique_drops == result.dropped  # only one rule


def test_scan_records_run_config_and_detectors(tmp_path: Path) -> None:
    src = sample(tmp_path, rows=50)
    led_path = tmp_path / "l.duckdb"
    result = scan(src, ["numbers", "animals"], ledger=led_path, out=tmp_path / "o.parquet")
    with Ledger(led_path, read_only=True) as led:
        (run,) = led.query("run", {"run_id": result.run_id}).to_dicts()
        detectors = led.query(
            "SELECT name, kind, version, action, params, seconds FROM detectors"
            " WHERE run_id = $run_id ORDER BY name",
            {"run_id": result.run_id},
        ).to_dicts()
    assert run["status"] == "succeeded" and run["rows_in"] == 50
    assert run["input_sha256"] == result.input_sha256 and len(run["input_sha256"]) == 64
    config = json.loads(run["config"])
    assert [p["name"] for p in config["packs"]] == ["numbers", "animals"]
    assert all(len(p["sha256"]) == 64 for p in config["packs"])
    assert {d["name"] for d in detectors} >= {"numbers/format"}
    assert all(d["seconds"] is not None for d in detectors)
    assert pl.read_parquet(tmp_path / "o.parquet").height == result.kept


def test_many_runs_share_one_ledger(tmp_path: Path) -> None:
    src = sample(tmp_path, rows=40)
    led_path = tmp_path / "l.duckdb"
    ids = [scan(src, ["numbers"], ledger=led_path).run_id for _ in range(3)]
    with Ledger(led_path, read_only=True) as led:
        runs = led.query("runs").to_dicts()
        row_ids = led.query(
            "SELECT run_id, list(row_id ORDER BY ordinal) AS ids FROM rows GROUP BY run_id"
        ).to_dicts()
    assert sorted(r["run_id"] for r in runs) == sorted(ids) and len(set(ids)) == 3
    # row_id is a content hash: the same input gives the same ids in every run.
    assert len({tuple(r["ids"]) for r in row_ids}) == 1


def test_rejected_file_accounts_for_dropped_and_quarantined(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(
        '{"prompt": "p", "completion": "1, 2, 3"}\n'
        '{"prompt": "p", "completion": "1, 2, 3000"}\n'
        "{not json\n"
        '{"prompt": "p", "completion": 7}\n'
    )
    rejected = tmp_path / "rejected.jsonl"
    result = scan(
        src, ["numbers"], ledger=tmp_path / "l.duckdb", out=tmp_path / "o.jsonl", rejected=rejected
    )
    assert (result.rows_in, result.kept, result.dropped, result.quarantined) == (4, 1, 1, 2)
    rows = [json.loads(line) for line in rejected.read_text().splitlines()]
    assert [r["_fate"] for r in rows] == ["dropped", "quarantined", "quarantined"]
    assert rows[0]["_reasons"] == ["numbers/format:numbers_too_large"]
    assert rows[0]["_line"] == 2 and rows[1]["_line"] == 3 and rows[2]["_line"] == 4
    assert "completion" in rows[2]["_error"]


def test_column_options_and_csv(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    pl.DataFrame({"q": ["a", "b"], "a": ["1 2 3", "x"], "meta": ["m1", "m2"]}).write_csv(src)
    out = tmp_path / "o.jsonl"
    result = scan(
        src,
        ["numbers"],
        ledger=tmp_path / "l.duckdb",
        out=out,
        prompt_column="q",
        completion_column="a",
    )
    assert (result.kept, result.dropped) == (1, 1)
    (row,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert {k: row[k] for k in ("q", "a", "meta")} == {"q": "a", "a": "1 2 3", "meta": "m1"}


def test_empty_input_is_a_one_line_error(tmp_path: Path) -> None:
    src = tmp_path / "empty.jsonl"
    src.write_text("")
    with pytest.raises(InputError, match="empty"):
        scan(src, ["numbers"], ledger=tmp_path / "l.duckdb", out=tmp_path / "o.jsonl")
    assert not (tmp_path / "o.jsonl").exists()


def test_all_rows_quarantined_fails_the_run(tmp_path: Path) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_text("{bad\n[1]\n")
    led_path = tmp_path / "l.duckdb"
    with pytest.raises(InputError, match="no readable rows: all 2 rows were quarantined"):
        scan(src, ["numbers"], ledger=led_path, out=tmp_path / "o.jsonl")
    assert not (tmp_path / "o.jsonl").exists()
    with Ledger(led_path, read_only=True) as led:
        (run,) = led.query("runs").to_dicts()
        assert run["status"] == "failed"
        assert led.query("SELECT count(*) AS n FROM quarantine").to_dicts() == [{"n": 2}]


def test_crash_mid_run_leaves_no_survivors_and_a_failed_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from audit import engine as engine_module

    calls = {"n": 0}
    real = engine_module.Engine.evaluate

    def flaky(self: engine_module.Engine, batch: pl.DataFrame) -> engine_module.BatchVerdicts:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("detector exploded")
        return real(self, batch)

    monkeypatch.setattr(engine_module.Engine, "evaluate", flaky)
    src = sample(tmp_path, rows=500)
    out = tmp_path / "o.jsonl"
    led_path = tmp_path / "l.duckdb"
    with pytest.raises(RuntimeError, match="exploded"):
        scan(
            src,
            ["numbers"],
            ledger=led_path,
            out=out,
            rejected=tmp_path / "r.jsonl",
            batch_rows=100,
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l.duckdb", "teacher.jsonl"]
    with Ledger(led_path, read_only=True) as led:
        (run,) = led.query("runs").to_dicts()
    assert run["status"] == "failed" and "detector exploded" in run["error"]


def test_bad_output_suffix_fails_before_the_ledger_is_touched(tmp_path: Path) -> None:
    src = sample(tmp_path, rows=5)
    with pytest.raises(UserError, match="cannot tell the output format"):
        scan(src, ["numbers"], ledger=tmp_path / "l.duckdb", out=tmp_path / "o.txt")
    assert not (tmp_path / "l.duckdb").exists()


def _scan_process(src: Path, tmp_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "audit.cli.main",
            "scan",
            str(src),
            "--rules",
            "numbers",
            "--ledger",
            str(tmp_path / "l.duckdb"),
            "--out",
            str(tmp_path / "o.jsonl"),
            "--batch-rows",
            "2000",
            "--quiet",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_parts(tmp_path: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        parts = [p for d in tmp_path.glob(".o.jsonl.*.partial") for p in d.iterdir()]
        if len(parts) >= 2:
            return
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.05)
    raise AssertionError("scan never wrote a batch")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_scan_leaves_no_survivors_and_run_marked_failed(
    tmp_path: Path, sig: signal.Signals
) -> None:
    src = sample(tmp_path, rows=200_000)
    proc = _scan_process(src, tmp_path)
    _wait_for_parts(tmp_path, proc)
    os.kill(proc.pid, sig)
    proc.wait(timeout=60)
    assert not (tmp_path / "o.jsonl").exists()
    with Ledger(tmp_path / "l.duckdb") as led:  # opening for write fails abandoned runs
        (run,) = led.query("runs").to_dicts()
    assert run["status"] == "failed"
    if sig == signal.SIGTERM:  # unwound cleanly: the error says so, temp parts are gone
        assert run["error"].startswith("terminated"), run["error"]
        assert not list(tmp_path.glob(".o.jsonl.*"))
    else:
        assert run["error"].startswith("abandoned")


def _malformed_jsonl(path: Path, n: int, seed: int) -> int:
    """A JSONL mixing good rows with every kind of row-level fault; returns the row count."""
    import random

    rng = random.Random(seed)
    good = make_frame(SampleConfig(rows=n, seed=seed)).to_dicts()
    faults = [
        b"{not json",
        b'{"prompt": "p", "completion": 5}',
        b'{"prompt": "p", "completion": null}',
        b'{"prompt": "p"}',
        b"[1, 2]",
        b'"just a string"',
        b'{"prompt": "p", "completion": "\xff\xfe bad utf8"}',
        b'{"prompt": "p", "completion": ["a"]}',
        b'{"messages": [{"role": "user", "content": "q"}]}',
    ]
    rows = 0
    with path.open("wb") as fh:
        for row in good:
            roll = rng.random()
            if roll < 0.15:
                fh.write(rng.choice(faults) + b"\n")
                rows += 1
            elif roll < 0.18:
                fh.write(b"   \n")  # blank lines are not rows
                continue
            fh.write(json.dumps(row).encode() + b"\n")
            rows += 1
        fh.write(b'{"prompt": "last", "completion": "1 2 3"}')  # no trailing newline
    return rows + 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_conservation_on_generated_malformed_files(tmp_path: Path, seed: int) -> None:
    src = tmp_path / "messy.jsonl"
    n_rows = _malformed_jsonl(src, 400, seed)
    led_path = tmp_path / "l.duckdb"
    result = scan(
        src,
        ["numbers", "animals"],
        ledger=led_path,
        out=tmp_path / "o.jsonl",
        rejected=tmp_path / "r.jsonl",
        batch_rows=50,
    )
    assert result.rows_in == n_rows
    assert result.kept + result.dropped + result.quarantined == n_rows
    assert result.quarantined > 0
    with Ledger(led_path, read_only=True) as led:
        ordinals = (
            led.query(
                "SELECT ordinal FROM rows WHERE run_id = $run_id UNION ALL "
                "SELECT ordinal FROM quarantine WHERE run_id = $run_id ORDER BY ordinal",
                {"run_id": result.run_id},
            )
            .to_polars()["ordinal"]
            .to_list()
        )
        errors = led.query("quarantine", {"run_id": result.run_id}).to_polars()
    assert ordinals == list(range(n_rows))  # every row once, with its fate
    assert errors["line"].null_count() == 0 and errors["error"].str.len_chars().min() > 0
    survivors = sum(1 for _ in (tmp_path / "o.jsonl").open())
    rejected = sum(1 for _ in (tmp_path / "r.jsonl").open())
    assert survivors == result.kept and rejected == result.dropped + result.quarantined
