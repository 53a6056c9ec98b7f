"""``subaudit runs``: list the runs in a ledger."""

from __future__ import annotations

import argparse
import os

from audit.cli.render import print_json, print_table


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the command."""
    p = sub.add_parser("runs", help="list runs in the ledger, newest first")
    p.add_argument("--ledger", default=os.environ.get("SUBAUDIT_LEDGER", "audit.duckdb"))
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle the command."""
    from audit.ledger import open_ledger

    with open_ledger(args.ledger, read_only=True) as led:
        rows = led.query("runs").to_dicts()
    if args.json:
        print_json(rows)
    else:
        print_table(
            rows,
            [
                "run_id",
                "status",
                "started_at",
                "rows_in",
                "kept",
                "dropped",
                "quarantined",
                "input_uri",
            ],
        )
    return 0
