"""``subaudit rules check PACK`` and ``subaudit rules list``."""

from __future__ import annotations

import argparse

from audit.cli.render import print_json, print_table


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the command group."""
    p = sub.add_parser("rules", help="validate and list rule packs")
    rsub = p.add_subparsers(dest="rules_command", required=True, metavar="SUBCOMMAND")
    check = rsub.add_parser("check", help="validate a pack (bundled name or TOML path)")
    check.add_argument("packs", nargs="+", metavar="PACK")
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=run_check)
    lst = rsub.add_parser("list", help="list the bundled packs")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=run_list)


def run_check(args: argparse.Namespace) -> int:
    """Load every pack given, building each rule's detector; errors exit 2."""
    from audit import rulepack

    packs = rulepack.load_all(args.packs)
    records = [p.record() for p in packs]
    if args.json:
        print_json(records)
    else:
        for pack in packs:
            n = len(pack.rules)
            print(f"ok  {pack.name} {pack.version}  {n} rule(s)  sha256 {pack.sha256[:12]}")
            for rule in pack.rules:
                print(f"    {rule.name:<40} {rule.kind:<14} {rule.action}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    """List bundled packs with their descriptions."""
    from audit import rulepack

    rows = []
    for name in rulepack.bundled_packs():
        pack = rulepack.load(name)
        rows.append(
            {
                "name": pack.name,
                "version": pack.version,
                "rules": len(pack.rules),
                "description": " ".join(pack.description.split())[:120],
            }
        )
    print_json(rows) if args.json else print_table(
        rows, ["name", "version", "rules", "description"]
    )
    return 0
