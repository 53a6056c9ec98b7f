"""``subaudit report``: write a run's audit report (HTML or Markdown) from the ledger."""

from __future__ import annotations

import argparse
import os


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the command."""
    p = sub.add_parser("report", help="write one self-contained HTML (or Markdown) report of a run")
    p.add_argument("run_id", metavar="RUN_ID", help="a run in the ledger (see `subaudit runs`)")
    p.add_argument("-o", "--out", default="report.html", metavar="FILE", help="output file")
    p.add_argument(
        "--format",
        choices=("html", "md"),
        default=None,
        help="html or md (default: from the output's suffix; .md is Markdown)",
    )
    p.add_argument("--ledger", default=os.environ.get("SUBAUDIT_LEDGER", "audit.duckdb"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle the command."""
    from audit.report import render_report

    result = render_report(args.run_id, args.out, format=args.format, ledger=args.ledger)
    print(f"wrote {result.path} ({result.format}, {result.bytes:,} bytes) for run {result.run_id}")
    return 0
