"""``subaudit scan INPUT --rules PACK ... --ledger PATH --out PATH``."""

from __future__ import annotations

import argparse
import os
import sys

from audit.cli.render import print_json, print_table
from audit.errors import UserError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the command."""
    p = sub.add_parser(
        "scan",
        help="score every row with rule packs; record every row's fate in the ledger",
        description="Score every row of INPUT with every rule of the given packs, record "
        "scores, verdicts and reasons in the ledger, and write the survivors.",
    )
    p.add_argument("input", metavar="INPUT", help="JSONL, Parquet or CSV file")
    p.add_argument(
        "--rules",
        metavar="PACK",
        action="append",
        default=[],
        help="bundled pack name or TOML path (repeatable; at least one --rules or --detector)",
    )
    p.add_argument(
        "--detector",
        metavar="NAME[:key=value,...]",
        action="append",
        default=[],
        help="a detector beyond the packs, e.g. contrast_classifier:target_fpr=0.01 "
        "(repeatable; see `subaudit detectors list`)",
    )
    p.add_argument(
        "--reference",
        metavar="PATH",
        help="the untraited model's outputs on the same prompts (for two-sample detectors)",
    )
    p.add_argument(
        "--ledger",
        default=os.environ.get("SUBAUDIT_LEDGER", "audit.duckdb"),
        help="DuckDB ledger file (default: $SUBAUDIT_LEDGER or ./audit.duckdb)",
    )
    p.add_argument("--out", required=True, help="survivors file (.jsonl or .parquet)")
    p.add_argument("--rejected", help="file for dropped and quarantined rows with reasons")
    p.add_argument("--prompt-column", default="prompt")
    p.add_argument("--completion-column", default="completion")
    p.add_argument("--id-column", help="id column carried through and hashed into row_id")
    p.add_argument("--format", choices=["jsonl", "parquet", "csv"], help="input format")
    p.add_argument("--batch-rows", type=int, default=100_000, help="rows per batch")
    p.add_argument(
        "--executor",
        choices=["local", "ray"],
        default=os.environ.get("SUBAUDIT_EXECUTOR", "local"),
        help="local, or ray: score shards with Ray Data (pip install 'subaudit[ray]'; "
        "RAY_ADDRESS joins a cluster)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no funnel")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle the command."""
    from audit.scan import scan

    if not args.rules and not args.detector:
        raise UserError("give at least one --rules PACK or --detector NAME", field="scan")
    result = scan(
        args.input,
        args.rules,
        detectors=args.detector,
        reference=args.reference,
        ledger=args.ledger,
        out=args.out,
        rejected=args.rejected,
        prompt_column=args.prompt_column,
        completion_column=args.completion_column,
        id_column=args.id_column,
        input_format=args.format,
        batch_rows=args.batch_rows,
        progress=not (args.quiet or args.json),
        executor=args.executor,
    )
    if args.json:
        print_json(result.to_json())
        return 0
    if not args.quiet:
        print_table(
            [row.__dict__ for row in result.funnel],
            ["detector", "action", "dropped", "unique_drops", "flagged", "unknown"],
            title=f"run {result.run_id}: funnel",
        )
        print(
            f"rows in {result.rows_in:,} | dropped {result.dropped:,} | "
            f"kept {result.kept:,} (flagged {result.flagged:,}) | "
            f"quarantined {result.quarantined:,} | {result.seconds:.1f} s"
        )
        print(f"survivors: {result.out}  ledger: {result.ledger}", file=sys.stderr)
    return 0
