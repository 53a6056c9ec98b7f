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
        table.add_row(*("" if row[c] is None else _default(row[c]) for c in columns))
    Console(soft_wrap=False).print(table)
