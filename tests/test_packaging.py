"""rules/ and sql/ must be found when subaudit is installed, not only in a checkout."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_ships_rules_and_sql_inside_the_package(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("subaudit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for pack in (ROOT / "rules").glob("*.toml"):
        assert f"audit/_bundled/rules/{pack.name}" in names
    for sql in (ROOT / "sql").rglob("*.sql"):
        assert f"audit/_bundled/sql/{sql.relative_to(ROOT / 'sql')}" in names
    assert "audit/cli/main.py" in names and "detectors/base.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "subaudit = audit.cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_resources_resolve_in_a_checkout() -> None:
    from audit.resources import rules_dir, sql_dir

    assert (rules_dir() / "numbers.toml").is_file()
    assert (sql_dir() / "schema" / "001_ledger.sql").is_file()


def test_installed_layout_is_preferred(tmp_path: Path) -> None:
    """Simulate the wheel layout: audit/_bundled/{rules,sql} beside the package code."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from audit.resources import rules_dir, sql_dir; print(rules_dir()); print(sql_dir())"
    )
    site = tmp_path / "site"
    (site / "audit" / "_bundled" / "rules").mkdir(parents=True)
    (site / "audit" / "_bundled" / "sql").mkdir(parents=True)
    (site / "audit" / "__init__.py").write_text("")
    (site / "audit" / "resources.py").write_text((ROOT / "audit" / "resources.py").read_text())
    out = subprocess.run(
        [sys.executable, "-c", code, str(site)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.split()
    assert out == [
        str(site / "audit" / "_bundled" / "rules"),
        str(site / "audit" / "_bundled" / "sql"),
    ]
