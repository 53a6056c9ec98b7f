"""Printing results for people (rich tables on stdout) and machines (JSON)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any


def _default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    return _default(value)


def print_json(obj: Any) -> None:
    """One JSON document on stdout."""
    json.dump(obj, sys.stdout, default=_default, indent=2)
    sys.stdout.write("\n")


def print_table(rows: Iterable[Mapping[str, Any]], columns: list[str], title: str = "") -> None:
    """A table on stdout; wide values are wrapped rather than cut."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title or None, title_justify="left")
    for name in columns:
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row[c]) for c in columns))
    # Piped output (a log, `| less`) gets a wide table instead of rich's 80-column default.
    width = None if sys.stdout.isatty() else 200
    Console(soft_wrap=False, width=width).print(table)
