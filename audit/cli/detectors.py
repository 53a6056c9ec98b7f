"""``subaudit detectors list``: what is registered and what each detector needs."""

from __future__ import annotations

import argparse

from audit.cli.render import print_json, print_table


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the command group."""
    p = sub.add_parser("detectors", help="list registered detectors")
    dsub = p.add_subparsers(dest="detectors_command", required=True, metavar="SUBCOMMAND")
    lst = dsub.add_parser("list", help="every registered detector kind and what it needs")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=run_list)


def run_list(args: argparse.Namespace) -> int:
    """List detector kinds with version, requirements and description."""
    from detectors import base

    rows = []
    for kind in base.available():
        cls = base.get(kind)
        rows.append(
            {
                "kind": kind,
                "version": cls.version,
                "learned": issubclass(cls, base.LearnedDetector),
                "needs": ", ".join(sorted(cls.requires)) or "-",
                "description": cls.description,
            }
        )
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ["kind", "version", "needs", "description"])
    return 0
