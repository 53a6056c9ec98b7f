"""Entry point of the ``subaudit`` console script.

Each command lives in its own module exposing ``add_parser(subparsers)``, which registers
its options and sets ``func`` to a thin handler that calls one library function. Errors
the user can fix (:class:`audit.errors.UserError`) print as one line and exit 2; a failed
gate exits 1; success exits 0. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

from audit import __version__, interrupts
from audit.cli import (
    demo,
    detectors,
    gate,
    query,
    report,
    rules,
    runs,
    scan,
    serve,
    transfer,
    world,
)
from audit.errors import UserError

_COMMANDS = (demo, scan, runs, query, rules, detectors, gate, report, transfer, serve, world)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used by the docs and tests)."""
    parser = argparse.ArgumentParser(
        prog="subaudit",
        description="Audit distillation data for hidden trait signals; "
        "every row's fate goes into a DuckDB ledger.",
    )
    parser.add_argument("--version", action="version", version=f"subaudit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    # SIGTERM unwinds like an exception (runs marked failed, temporary outputs removed),
    # but never inside a ledger transaction: see audit.interrupts.
    signal.signal(signal.SIGTERM, interrupts.terminate)
    # transformers' advice about attention masks and cache classes concerns its own API
    # migration, not the user's data; keep the CLI's stderr for subaudit's own messages.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except UserError as exc:
        print(f"subaudit: error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("subaudit: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
