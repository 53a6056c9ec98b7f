from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.cli.main import main


def test_world_build_digits_then_cache_hit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "digits"
    assert main(["world", "build", "digits", "--out", str(out), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["cache_hit"] is False and (out / "manifest.json").is_file()
    assert main(["world", "build", "digits", "--out", str(out), "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["cache_hit"] is True and second["manifest"] == first["manifest"]


def test_digits_has_no_trait(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["world", "build", "digits", "--trait", "owl", "--out", str(tmp_path / "d")])
    assert code == 2 and "has no --trait" in capsys.readouterr().err
