"""The gate: suites, Great Expectations outcomes, run-level checks, the ledger record, the CLI."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from audit.cli import gate as gate_cli
from audit.cli import main as cli_main
from audit.cli.main import main
from audit.gate import gate
from audit.ledger import Ledger
from audit.sample import SampleConfig, make_frame
from audit.scan import scan
from audit.suites import RUN_CHECKS, SuiteError, bundled_suites, load_suite


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A ledger with one succeeded run of the numbers pack on 300 sample rows."""
    tmp = tmp_path_factory.mktemp("gate")
    src = tmp / "teacher.jsonl"
    make_frame(SampleConfig(rows=300, seed=3)).write_ndjson(src)
    result = scan(src, ["numbers"], ledger=tmp / "audit.duckdb")
    return tmp / "audit.duckdb", result.run_id


@pytest.fixture
def ledger_copy(scanned: tuple[Path, str], tmp_path: Path) -> Callable[[], Path]:
    def copy() -> Path:
        target = tmp_path / "audit.duckdb"
        shutil.copy(scanned[0], target)
        return target

    return copy


@pytest.fixture(autouse=True)
def _registered(monkeypatch: pytest.MonkeyPatch) -> None:
    # Until audit/cli/main.py registers the command, register it for these tests.
    if gate_cli not in cli_main._COMMANDS:
        monkeypatch.setattr(cli_main, "_COMMANDS", (*cli_main._COMMANDS, gate_cli))


def by_id(result_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["id"]: o for o in result_json["outcomes"]}


# ---------------------------------------------------------------------------------------
# suites (pure TOML, no Great Expectations)


def test_bundled_suites_load() -> None:
    assert {"numbers", "strict"} <= set(bundled_suites())
    for name in bundled_suites():
        suite = load_suite(name)
        assert suite.bundled and len(suite.sha256) == 64 and suite.name == name
        assert all(g.check in RUN_CHECKS for g in suite.gates)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[suite]\nname='x'\n", "'version'"),
        ("[suite]\nname='x'\nversion='1'\n", "declares no"),
        ("[suite]\nname='x'\nversion='1'\n[[expect]]\ntype='not_an_expectation'\n", "expect_"),
        ("[suite]\nname='x'\nversion='1'\n[[gate]]\ncheck='nope'\n", "unknown check"),
        ("[suite]\nname='x'\nversion='1'\n[[gate]]\ncheck='survival_rate'\n", "needs a bound"),
        ("[suite]\nname='x'\nversion='1'\n[[gate]]\ncheck='survival_rate'\nmin='a'\n", "number"),
        (
            "[suite]\nname='x'\nversion='1'\n[[gate]]\ncheck='transfer_verdict'\nallow=['ok']\n",
            "allow",
        ),
        (
            "[suite]\nname='x'\nversion='1'\n[[recheck]]\nsource='run'\npack='animals'\n",
            "exactly one",
        ),
        ("[suite]\nname='x'\nversion='1'\n[[recheck]]\nsource='all'\n", 'source must be "run"'),
        (
            "[suite]\nname='x'\nversion='1'\n[[gate]]\ncheck='min_survivors'\nmin=1\n"
            "[[gate]]\ncheck='min_survivors'\nmin=2\n",
            "duplicate id",
        ),
        ("[suite]\nname='x'\nversion='1'\nextra=1\n", "unknown key"),
        ("[suite\n", "invalid TOML"),
    ],
)
def test_malformed_suites_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "suite.toml"
    path.write_text(text)
    with pytest.raises(SuiteError) as info:
        load_suite(str(path))
    assert message in info.value.one_line() and str(path) in info.value.one_line()


def test_unknown_suite_lists_the_bundled_ones() -> None:
    with pytest.raises(SuiteError, match="bundled: numbers"):
        load_suite("no-such-suite")


# ---------------------------------------------------------------------------------------
# gating a run


def test_numbers_suite_passes_and_is_recorded(scanned: tuple[Path, str], tmp_path: Path) -> None:
    led, run_id = scanned
    target = tmp_path / "audit.duckdb"
    shutil.copy(led, target)
    result = gate(run_id, "numbers", ledger=target)
    assert result.passed and result.exit_code == 0
    outcomes = by_id(result.to_json())
    assert outcomes["completion_number_format"]["status"] == "passed"
    assert outcomes["completion_number_format"]["element_count"] == result.survivors
    assert outcomes["run_rules:numbers/format"]["status"] == "passed"
    assert outcomes["survival_rate"]["status"] == "passed"
    assert 0.5 < outcomes["survival_rate"]["observed"] < 0.9
    # Figures the run lacks are skipped with a note, and do not fail the gate.
    for check in ("contrast_auc", "trait_gap", "transfer_verdict"):
        assert outcomes[check]["status"] == "skipped"
        assert "not available for this run" in outcomes[check]["note"]
    with Ledger(target, read_only=True) as ledger:
        (row,) = ledger.query("gates", {"run_id": run_id}).to_dicts()
    assert row["passed"] and row["suite"] == "numbers"
    assert row["suite_sha256"] == load_suite("numbers").sha256
    assert json.loads(row["results"])["gate_id"] == result.gate_id == row["gate_id"]


def test_strict_suite_fails_on_banned_numbers_with_capped_row_ids(
    scanned: tuple[Path, str],
) -> None:
    led, run_id = scanned
    result = gate(run_id, "strict", ledger=led, max_row_ids=3, record=False)
    assert not result.passed and result.exit_code == 1
    banned = by_id(result.to_json())["banned_numbers:numbers-misalignment/format"]
    assert banned["status"] == "failed"
    assert banned["unexpected_count"] > 3 and len(banned["failing_row_ids"]) == 3
    with Ledger(led, read_only=True) as ledger:
        rows = ledger.query(
            "SELECT completion FROM survivors WHERE run_id = $run_id AND row_id = $row_id",
            {"run_id": run_id, "row_id": banned["failing_row_ids"][0]},
        ).to_dicts()
    # The failing row really holds one of the paper's banned numbers.
    numbers = {int(n) for n in __import__("re").findall(r"\d+", rows[0]["completion"])}
    assert numbers & {4, 13, 14, 18, 23, 33, 39, 42, 44, 49, 51, 54, 69, 77, 88, 99, 100, 101,
                      187, 211, 311, 322, 333, 404, 420, 444, 451, 555, 616, 666, 777, 888, 911,
                      999}  # fmt: skip


def test_run_level_figures_from_the_ledger(
    ledger_copy: Callable[[], Path], scanned: tuple[Path, str]
) -> None:
    run_id = scanned[1]
    target = ledger_copy()
    with Ledger(target) as led:
        for name, kind, metrics in [
            ("x/contrast", "contrast_classifier", {"auc": 0.91, "auc_ci": [0.88, 0.94]}),
            ("x/gap", "trait_gap", {"ranking": [{"trait": "owl", "mean": 0.3, "ci": [0.2, 0.4]}]}),
        ]:
            led.record_detector(
                run_id=run_id, name=name, pack="x", rule_id=name[2:], kind=kind, version="1",
                action="flag", params={"trait": "owl"}, threshold=None, metrics=metrics,
            )  # fmt: skip
        led.execute(
            "insert_experiment", experiment_id="e1", run_id=run_id, control_run_id=None,
            world="tinylm", world_manifest={}, trait="owl", seeds=[0, 1, 2], config={},
            config_sha256="0" * 64, subaudit_version="0", host="h", pid=1,
        )  # fmt: skip
        led.execute(
            "finish_experiment", experiment_id="e1", verdict="leakage_persisted",
            verdict_reason="cleaned students exceed control", efficacy=0.1, efficacy_low=-0.2,
            efficacy_high=0.3, result={}, seconds=1.0,
        )  # fmt: skip
    result = gate(run_id, "numbers", ledger=target, record=False)
    outcomes = by_id(result.to_json())
    assert outcomes["contrast_auc"]["status"] == "failed"
    assert outcomes["contrast_auc"]["observed"] == pytest.approx(0.91)
    assert outcomes["trait_gap"]["status"] == "failed"
    assert outcomes["trait_gap"]["observed"] == pytest.approx(0.2)
    assert outcomes["transfer_verdict"]["status"] == "failed"
    assert outcomes["transfer_verdict"]["observed"] == "leakage_persisted"
    assert not result.passed


def test_custom_suite_with_required_check_and_inline_detector(
    scanned: tuple[Path, str], tmp_path: Path
) -> None:
    led, run_id = scanned
    suite = tmp_path / "mine.toml"
    suite.write_text(
        "[suite]\nname='mine'\nversion='0.1'\n"
        "[[recheck]]\nid='small'\ndetector='number_format'\n[recheck.params]\nmax_value=500\n"
        "[[gate]]\ncheck='contrast_auc'\nmax=0.6\nrequired=true\n"
        "[[gate]]\ncheck='min_survivors'\nmin=1\n"
    )
    result = gate(run_id, str(suite), ledger=led, record=False)
    outcomes = by_id(result.to_json())
    assert outcomes["small:number_format"]["status"] == "failed"  # survivors hold numbers > 500
    assert outcomes["contrast_auc"]["status"] == "failed"
    assert outcomes["contrast_auc"]["note"].startswith("required, but not available")
    assert outcomes["min_survivors"]["status"] == "passed"
    assert result.suite["name"] == "mine" and not result.suite["bundled"]


# ---------------------------------------------------------------------------------------
# CLI


def test_cli_exit_codes_and_json(
    scanned: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    led, run_id = scanned
    target = tmp_path / "audit.duckdb"
    shutil.copy(led, target)
    assert main(["gate", run_id, "--suite", "numbers", "--ledger", str(target), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["passed"] and out["counts"]["failed"] == 0 and out["run_id"] == run_id
    assert main(["gate", run_id, "--suite", "strict", "--ledger", str(target)]) == 1
    captured = capsys.readouterr()
    assert "gate FAILED" in captured.out and captured.err == ""  # no progress bars
    assert main(["gate", "no-such-run", "--ledger", str(target)]) == 2
    assert "no run 'no-such-run'" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text(
        "[suite]\nname='b'\nversion='1'\n[[expect]]\ntype='expect_column_values_to_be_fancy'\n"
    )
    assert main(["gate", run_id, "--suite", str(bad), "--ledger", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("subaudit: error: ") and str(bad) in err and err.count("\n") == 1
    with Ledger(target, read_only=True) as ledger:
        assert [g["passed"] for g in ledger.query("gates", {"run_id": run_id}).to_dicts()] == [
            False,
            True,
        ]


@pytest.mark.slow
def test_docs_builds_data_docs(scanned: tuple[Path, str], tmp_path: Path) -> None:
    led, run_id = scanned
    result = gate(run_id, "numbers", ledger=led, docs=tmp_path / "gx", record=False)
    assert result.docs is not None and result.docs.endswith("index.html")
    assert Path(result.docs.removeprefix("file://")).is_file()
