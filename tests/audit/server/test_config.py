"""Server settings, token sources and data-root checks (in-process, no server)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from audit.errors import UserError
from audit.server.config import ServerConfig, is_loopback, load_token
from audit.server.paths import OutsideRootsError, inside_roots

TOKEN = "0123456789abcdef0123"


def test_token_from_file_wins_over_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUBAUDIT_TOKEN", "from-env")
    (tmp_path / "token").write_text("from-file\nignored\n")
    assert load_token(tmp_path / "token") == "from-file"
    assert load_token(None) == "from-env"


@pytest.mark.parametrize(
    ("setup", "needle"),
    [("no-env", "set $SUBAUDIT_TOKEN"), ("empty-file", "empty"), ("missing-file", "cannot read")],
)
def test_token_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setup: str, needle: str
) -> None:
    monkeypatch.delenv("SUBAUDIT_TOKEN", raising=False)
    path: Path | None = None
    if setup == "empty-file":
        path = tmp_path / "token"
        path.write_text("\n")
    elif setup == "missing-file":
        path = tmp_path / "nope"
    with pytest.raises(UserError) as info:
        load_token(path)
    assert needle in info.value.one_line()


def test_config_checks(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="too short"):
        ServerConfig(data_roots=(tmp_path,), token="short")
    with pytest.raises(UserError, match="not a directory"):
        ServerConfig(data_roots=(tmp_path / "nope",), token=TOKEN)
    with pytest.raises(UserError, match="at least one"):
        ServerConfig(data_roots=(), token=TOKEN)
    config = ServerConfig(data_roots=(tmp_path,), token=TOKEN, ledger=tmp_path / "a.duckdb")
    assert TOKEN not in repr(config)
    assert config.uploads == tmp_path.resolve() / "uploads"


@pytest.mark.parametrize(
    ("path", "ok"),
    [
        ("a.jsonl", True),
        ("sub/../a.jsonl", True),
        ("../a.jsonl", False),
        ("/etc/passwd", False),
        ("escape/a.jsonl", False),  # a symlinked directory pointing outside
        ("", False),
    ],
)
def test_inside_roots(tmp_path: Path, path: str, ok: bool) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "outside").mkdir()
    (root / "escape").symlink_to(tmp_path / "outside")
    if ok:
        assert inside_roots(path, (root.resolve(),), field="input").is_relative_to(root)
    else:
        with pytest.raises(OutsideRootsError):
            inside_roots(path, (root.resolve(),), field="input")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False)],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_serve_without_token_is_one_line_exit_2(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "audit.server", "--data-root", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("subaudit: error: ") and proc.stderr.count("\n") == 1
