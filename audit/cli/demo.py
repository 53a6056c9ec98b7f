"""``subaudit demo [--out DIR] [--json]``."""

from __future__ import annotations

import argparse

from audit.cli.render import print_json, print_table


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the command."""
    p = sub.add_parser(
        "demo",
        help="generate sample teacher data and scan it into a fresh ledger",
    )
    p.add_argument("--out", default="subaudit-demo", help="output directory")
    p.add_argument("--rows", type=int, default=5_000, help="rows of sample data")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle the command."""
    from audit.demo import run_demo

    result = run_demo(args.out, rows=args.rows, seed=args.seed, progress=not args.json)
    paths = {
        "teacher": str(result.teacher),
        "ledger": str(result.ledger),
        "survivors": str(result.survivors),
        "rejected": str(result.rejected),
    }
    if args.json:
        print_json({"scan": result.scan.to_json(), "paths": paths})
        return 0
    s = result.scan
    print_table(
        [row.__dict__ for row in s.funnel],
        ["detector", "action", "dropped", "unique_drops", "flagged", "unknown"],
        title=f"demo run {s.run_id}: funnel",
    )
    print(
        f"rows in {s.rows_in:,} | dropped {s.dropped:,} | kept {s.kept:,} "
        f"(flagged {s.flagged:,}) | quarantined {s.quarantined:,}"
    )
    for name, path in paths.items():
        print(f"{name:>9}: {path}")
    print(f"next: subaudit query reasons --ledger {result.ledger}")
    return 0
