"""``subaudit demo [--out DIR] [--json]``."""

from __future__ import annotations

import argparse
import time
from typing import Any

from audit.cli.render import print_json


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the command."""
    p = sub.add_parser(
        "demo",
        help="the whole story on the embedded tinylm world: scan, transfer checks, gate, report",
        description="Builds the tinylm world (cached in DIR/world), scans the trait "
        "teacher's data with the rule packs and with the learned detectors, runs transfer "
        "checks on raw, rules-cleaned, detector-cleaned and control data, gates, and writes "
        "DIR/report.html and DIR/audit.duckdb.",
    )
    p.add_argument("--out", default="subaudit-demo", help="output directory")
    p.add_argument("--trait", default="owl", help="the trait teacher's animal")
    p.add_argument("--seeds", type=int, default=3, help="student seeds per condition")
    p.add_argument("--threads", type=int, help="torch threads (default: 2)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle the command."""
    from audit.demo import run_demo

    start = time.perf_counter()
    result = run_demo(
        args.out,
        trait=args.trait,
        seeds=args.seeds,
        threads=args.threads,
        progress=not args.json,
    )
    if args.json:
        print_json(result.to_json())
        return 0
    cache = "cached" if result.world_cache_hit else "built"
    print(f"subaudit demo: {time.perf_counter() - start:.0f} s (tinylm world {cache})")
    for name, scan in result.scans.items():
        print(
            f"  scan {name:<9} run {result.runs[name]}: {scan['rows_in']:,} rows, "
            f"{scan['dropped']:,} dropped, {scan['kept']:,} kept"
        )
    for name, check in result.transfer.items():
        c = check["conditions"]
        eff = check["efficacy"] or {}
        print(
            f"  transfer {name:<9} {check['verdict']}: P({args.trait}) raw "
            f"{c['raw']['mean']:.4f} (its control {_mean(c.get('raw_control'))}), cleaned "
            f"{c['cleaned']['mean']:.4f} (its control {c['control']['mean']:.4f}); "
            f"efficacy {_fmt(eff.get('value'))} "
            f"CI [{_fmt((eff.get('ci') or [None, None])[0])}, "
            f"{_fmt((eff.get('ci') or [None, None])[1])}]"
        )
    print(f"  gate      {'PASSED' if result.gate['passed'] else 'FAILED'} {result.gate['counts']}")
    print(f"  report:   {result.report}")
    print(f"  ledger:   {result.ledger}  (try: subaudit query funnel --ledger {result.ledger})")
    return 0


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _mean(condition: dict[str, Any] | None) -> str:
    return "n/a" if condition is None else f"{condition['mean']:.4f}"
