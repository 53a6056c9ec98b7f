"""``subaudit gate``: check a run's survivors and run figures against a suite (exit 0/1/2)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from audit.cli.render import print_json, print_table


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the command."""
    p = sub.add_parser(
        "gate",
        help="validate a run's survivors with Great Expectations; exit 1 when the gate fails",
    )
    p.add_argument("run_id", metavar="RUN_ID", help="a succeeded run in the ledger")
    p.add_argument(
        "--suite",
        default="numbers",
        metavar="NAME|PATH",
        help="bundled suite (numbers, strict) or a suite TOML file (default: numbers)",
    )
    p.add_argument(
        "--docs",
        metavar="DIR",
        help="keep a Great Expectations project in DIR and build its Data Docs there",
    )
    p.add_argument("--ledger", default=os.environ.get("SUBAUDIT_LEDGER", "audit.duckdb"))
    p.add_argument(
        "--max-row-ids",
        type=int,
        default=20,
        metavar="N",
        help="failing row ids listed per expectation (the count is always exact)",
    )
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle the command: 0 passed, 1 failed (UserError -> 2 in main)."""
    from audit.gate import gate

    result = gate(
        args.run_id,
        args.suite,
        ledger=args.ledger,
        docs=args.docs,
        max_row_ids=args.max_row_ids,
    )
    if args.json:
        print_json(result.to_json())
        return result.exit_code
    rows: list[dict[str, Any]] = []
    for o in result.outcomes:
        detail = o.note
        if o.status in ("failed", "error") and o.unexpected_count:
            shown = ", ".join(o.failing_row_ids)
            more = o.unexpected_count - len(o.failing_row_ids)
            detail = f"{o.unexpected_count} row(s): {shown}" + (f" (+{more} more)" if more else "")
        rows.append(
            {
                "check": o.id,
                "level": o.level,
                "status": o.status.upper(),
                "observed": "" if o.observed is None else _short(o.observed),
                "detail": detail,
            }
        )
    counts = result.counts
    verdict = "PASSED" if result.passed else "FAILED"
    print_table(
        rows,
        ["check", "level", "status", "observed", "detail"],
        title=f"gate {result.gate_id}: run {result.run_id}, suite {result.suite['name']}",
    )
    print(
        f"gate {verdict}: {counts['passed']} passed, {counts['failed'] + counts['error']} failed, "
        f"{counts['skipped']} skipped on {result.survivors} survivors"
        + (f"; Data Docs: {result.docs}" if result.docs else "")
    )
    return result.exit_code


def _short(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
