"""Locate the bundled ``rules/`` and ``sql/`` directories.

In a wheel they are shipped as ``audit/_bundled/{rules,sql}`` (see pyproject.toml); in a
source checkout or an editable install they are the top-level ``rules/`` and ``sql/``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


@cache
def _bundled(name: str) -> Path:
    for candidate in (_PACKAGE_DIR / "_bundled" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise RuntimeError(  # packaging bug, not a user error
        f"subaudit is installed without its '{name}/' directory; reinstall the package"
    )


def rules_dir() -> Path:
    """Directory holding the bundled TOML rule packs."""
    return _bundled("rules")


def sql_dir() -> Path:
    """Directory holding ``schema/`` migrations and ``queries/`` named queries."""
    return _bundled("sql")
