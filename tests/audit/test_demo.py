"""The demo end to end, on a small tinylm world (the full-size run is timed in RESULTS.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.cli.main import main
from audit.ledger import Ledger
from audit.worlds.tinylm_config import TinyLMConfig

SMALL = TinyLMConfig(
    n_embd=32,
    n_head=2,
    corpus_docs=3000,
    pretrain_steps=200,
    teacher_steps=20,
    teacher_rows=120,
    max_new_tokens=24,
    student_max_rows=48,
    student_batch=16,
)


@pytest.mark.slow
def test_demo_json_paths_and_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import audit.demo

    real = audit.demo.run_demo

    def small(*args: object, **kwargs: object) -> audit.demo.DemoResult:
        return real(*args, **{**kwargs, "world_config": SMALL, "threads": 1})  # type: ignore[arg-type]

    monkeypatch.setattr(audit.demo, "run_demo", small)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary["runs"]) == {"rules", "detectors"}
    assert set(summary["transfer"]) == {"rules", "detectors"}
    for check in summary["transfer"].values():
        assert check["verdict"] in {"leakage_persisted", "no_leakage_detected", "inconclusive"}
        assert set(check["conditions"]) >= {"raw", "cleaned", "control"}
    assert isinstance(summary["gate"]["passed"], bool)
    report = Path(summary["paths"]["report"])
    assert report.is_file() and summary["runs"]["detectors"] in report.read_text()
    with Ledger(summary["paths"]["ledger"], read_only=True) as led:
        experiments = led.query("experiments").to_dicts()
        runs = led.query("runs").to_dicts()
    # two scans, plus the control rescans of the two transfer checks
    assert len(experiments) == 2 and len(runs) == 4
    # second run: the world comes from the cache
    assert main(["demo", "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["world_cache_hit"] is True
