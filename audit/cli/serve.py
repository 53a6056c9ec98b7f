"""``subaudit serve --host H --port P --data-root DIR ... [--ledger PATH]``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from audit.errors import UserError

_PIP = "pip install 'subaudit[serve]'"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the command."""
    p = sub.add_parser(
        "serve",
        help="run the scan service (HTTP API; needs the [serve] extra)",
        description="Serve the HTTP API: submit scans of files under the data roots (or "
        "uploads), poll jobs, read run summaries. One process, one ledger writer; every "
        "/v1 request needs `Authorization: Bearer TOKEN` (token from $SUBAUDIT_TOKEN or "
        "--token-file).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8321, help="port (default 8321)")
    p.add_argument(
        "--data-root",
        metavar="DIR",
        action="append",
        default=[],
        required=True,
        help="directory clients may name files in (repeatable)",
    )
    p.add_argument(
        "--ledger",
        default=os.environ.get("SUBAUDIT_LEDGER", "audit.duckdb"),
        help="DuckDB ledger file (default: $SUBAUDIT_LEDGER or ./audit.duckdb)",
    )
    p.add_argument("--token-file", help="file whose first line is the token")
    p.add_argument(
        "--upload-dir", help="where uploads wait for their job (default: beside the ledger)"
    )
    p.add_argument(
        "--max-upload-mb", type=float, default=256.0, help="upload size limit (default 256)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle the command."""
    try:
        from audit.server.app import serve
    except ImportError as exc:  # fastapi or uvicorn missing
        raise UserError(
            f"the server needs its extra dependencies: {_PIP} ({exc.name} missing)"
        ) from None
    from audit.server.config import ServerConfig, load_token

    if not 0 < args.port < 65536:
        raise UserError("port must be 1-65535", field="--port")
    config = ServerConfig(
        data_roots=tuple(Path(d) for d in args.data_root),
        token=load_token(args.token_file),
        ledger=Path(args.ledger),
        upload_dir=Path(args.upload_dir) if args.upload_dir else None,
        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        host=args.host,
        port=args.port,
    )
    serve(config)
    return 0
