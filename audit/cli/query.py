"""``subaudit query NAME|SQL``: a named query from sql/queries/ or ad-hoc SQL."""

from __future__ import annotations

import argparse
import os

from audit.cli.render import print_json, print_table
from audit.errors import UserError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the command."""
    p = sub.add_parser(
        "query",
        help="run a named query (see --list) or SQL against the ledger (read-only)",
        description="Named queries take $run_id from --run (default: the latest "
        "succeeded run) and other parameters from --param key=value.",
    )
    p.add_argument("query", nargs="?", metavar="NAME|SQL")
    p.add_argument("--ledger", default=os.environ.get("SUBAUDIT_LEDGER", "audit.duckdb"))
    p.add_argument("--run", help="run id for $run_id (default: latest succeeded run)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--list", action="store_true", help="list the named queries")
    p.add_argument("--json", action="store_true", help="print JSON rows")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle the command."""
    from audit.ledger import named_queries, open_ledger

    if args.list or not args.query:
        rows = [{"name": k, "answers": v} for k, v in named_queries().items()]
        print_json(rows) if args.json else print_table(rows, ["name", "answers"])
        return 0
    params: dict[str, str] = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"expected KEY=VALUE, got {item!r}", field="--param")
        params[key] = value
    with open_ledger(args.ledger, read_only=True) as led:
        if "$run_id" in (args.query if " " in args.query else _named_sql(args.query)):
            run_id = args.run or led.latest_run()
            if run_id is None:
                raise UserError("the ledger has no succeeded run", path=args.ledger)
            if not led.run_exists(run_id):
                raise UserError(f"no run '{run_id}' in the ledger", path=args.ledger)
            params.setdefault("run_id", run_id)
        result = led.query(args.query, params)
    rows = result.to_dicts()
    if args.json:
        print_json(rows)
    else:
        print_table(rows, result.table.column_names)
    return 0


def _named_sql(name: str) -> str:
    from audit.resources import sql_dir

    path = sql_dir() / "queries" / f"{name}.sql"
    return path.read_text(encoding="utf-8") if path.is_file() else ""
