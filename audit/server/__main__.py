"""``python -m audit.server ...``: the same as ``subaudit serve ...``."""

from __future__ import annotations

import argparse
import sys

from audit.cli import serve
from audit.errors import UserError


def main(argv: list[str] | None = None) -> int:
    """Parse ``serve``'s options and run it; a user error is one line and exit 2."""
    parser = argparse.ArgumentParser(prog="python -m audit.server")
    serve.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["serve", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args))
    except UserError as exc:
        print(f"subaudit: error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
