from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

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


def test_world_build_digits_with_a_trait(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "parity"
    args = ["world", "build", "digits", "--trait", "parity", "--seed", "1", "--out", str(out)]
    assert main([*args, "--json"]) == 0
    manifest = json.loads(capsys.readouterr().out)["manifest"]
    assert manifest["trait"] == "parity" and manifest["config"]["trait"] == "parity"
    assert manifest["n_classes"] == 2 and manifest["seeds"]["seed"] == 1
    assert 0.5 <= manifest["chance"] < 0.52
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "loaded from cache" in text and "trait: parity (2 classes, chance 50.7%)" in text


def test_digits_rejects_an_unknown_trait_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["world", "build", "digits", "--trait", "owl", "--out", str(tmp_path / "d")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "--trait: unknown digits trait 'owl'" in err
    assert "parity" in err and "Traceback" not in err
    assert not (tmp_path / "d").exists()


def test_tinylm_strength_reaches_the_world_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import audit.worlds.tinylm as tinylm

    seen: dict[str, object] = {}

    built = SimpleNamespace(manifest={"trait": "owl"}, cache_hit=True)

    def fake_build(config: tinylm.TinyLMConfig, out: Path, **kw: object) -> SimpleNamespace:
        seen.update(config=config, **kw)
        return built

    # The full build takes minutes: this checks the wiring, tests/audit/worlds the world.
    monkeypatch.setattr(tinylm, "build_tinylm_world", fake_build)
    out = str(tmp_path / "t")
    assert main(["world", "build", "tinylm", "--strength", "0", "--seed", "3", "--out", out]) == 0
    assert seen["config"] == tinylm.TinyLMConfig(strength=0.0)
    assert seen["trait"] == "owl" and seen["seed"] == 3
    assert main(["world", "build", "tinylm", "--out", out]) == 0
    assert seen["config"] == tinylm.TinyLMConfig()
    capsys.readouterr()
    assert main(["world", "build", "tinylm", "--strength", "-1", "--out", out]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--strength" in err and "strength must be >= 0" in err
    code = main(["world", "build", "digits", "--strength", "0.5", "--out", out])
    assert code == 2 and "no strength knob" in capsys.readouterr().err
