from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from audit.cli.main import main
from audit.sample import SampleConfig, make_frame


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "teacher.jsonl"
    make_frame(SampleConfig(rows=200, seed=3)).write_ndjson(path)
    return path


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_scan_json_contract(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        [
            "scan",
            str(data),
            "--rules",
            "numbers",
            "--rules",
            "animals",
            "--ledger",
            str(tmp_path / "l.duckdb"),
            "--out",
            str(tmp_path / "o.jsonl"),
            "--json",
        ],
        capsys,
    )
    assert code == 0
    summary = json.loads(out)
    for key in ("run_id", "rows_in", "kept", "dropped", "quarantined"):
        assert key in summary
    assert summary["rows_in"] == summary["kept"] + summary["dropped"] + summary["quarantined"]


def test_scan_prints_funnel_then_runs_and_query(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    led = str(tmp_path / "l.duckdb")
    code, out, _ = run_cli(
        [
            "scan",
            str(data),
            "--rules",
            "numbers",
            "--ledger",
            led,
            "--out",
            str(tmp_path / "o.jsonl"),
        ],
        capsys,
    )
    assert code == 0 and "numbers/format" in out and "rows in 200" in out
    code, out, _ = run_cli(["runs", "--ledger", led, "--json"], capsys)
    (run,) = json.loads(out)
    assert run["status"] == "succeeded"
    code, out, _ = run_cli(["query", "funnel", "--ledger", led, "--json"], capsys)
    assert json.loads(out)[0]["detector"] == "numbers/format"
    code, out, _ = run_cli(
        [
            "query",
            "SELECT count(*) AS n FROM rows WHERE run_id = $run_id",
            "--run",
            run["run_id"],
            "--ledger",
            led,
            "--json",
        ],
        capsys,
    )
    assert json.loads(out) == [{"n": 200}]
    code, out, _ = run_cli(["query", "--list", "--ledger", led], capsys)
    assert "funnel" in out and "overlap" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scan", "{missing}", "--rules", "numbers"], "{missing}"),
        (["scan", "{data}", "--rules", "nope"], "unknown rule pack 'nope'"),
        (["rules", "check", "{tmp}/absent.toml"], "no such rule pack file"),
        (["query", "funnel", "--ledger", "{tmp}/none.duckdb"], "no ledger here"),
        (["query", "funnel", "--run", "zzz", "--ledger", "{ledger}"], "no run 'zzz'"),
        (["query", "--param", "novalue", "funnel", "--ledger", "{ledger}"], "KEY=VALUE"),
    ],
)
def test_user_errors_exit_2_with_one_line(
    data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    led = tmp_path / "l.duckdb"
    main(
        [
            "scan",
            str(data),
            "--rules",
            "numbers",
            "--ledger",
            str(led),
            "--out",
            str(tmp_path / "o.jsonl"),
            "--quiet",
        ]
    )
    capsys.readouterr()
    subst = {
        "missing": str(tmp_path / "missing.jsonl"),
        "data": str(data),
        "tmp": str(tmp_path),
        "ledger": str(led),
    }
    argv = [a.format(**subst) for a in args]
    if argv[0] == "scan":
        argv += ["--ledger", str(led), "--out", str(tmp_path / "o2.jsonl")]
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert err.startswith("subaudit: error: ") and err.count("\n") == 1
    assert message.format(**subst) in err


def test_rules_check_and_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["rules", "check", "numbers", "numbers-misalignment"], capsys)
    assert code == 0 and "ok  numbers 1.0.0" in out
    code, out, _ = run_cli(["rules", "list", "--json"], capsys)
    assert {"numbers", "animals", "trees", "code", "cot"} <= {p["name"] for p in json.loads(out)}


def test_console_script_error_has_no_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[pack]\nname = 'x'\nversion = '1'\n[[rule]]\nid = 'a'\ndetector = 'zzz'\n")
    proc = subprocess.run(
        [sys.executable, "-m", "audit.cli.main", "rules", "check", str(broken)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"subaudit: error: {broken}: rule 'a': unknown detector 'zzz' (available: "
        + proc.stderr.split("(available: ", 1)[1].strip()
    )
    assert "Traceback" not in proc.stderr
