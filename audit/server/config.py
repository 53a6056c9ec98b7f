"""Settings of the scan service, and where its bearer token comes from."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from audit.errors import UserError

TOKEN_ENV = "SUBAUDIT_TOKEN"
MIN_TOKEN_CHARS = 16


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``subaudit serve`` needs; built by the CLI or by tests."""

    data_roots: tuple[Path, ...]
    """Directories a scan may read from and write to (resolved, symlinks followed)."""
    token: str = field(repr=False)
    """The bearer token every request must carry (never logged)."""
    ledger: Path = Path("audit.duckdb")
    """The DuckDB ledger; the server is its only writer while it runs."""
    upload_dir: Path | None = None
    """Where uploaded datasets are kept until their job ran; default ``<ledger dir>/uploads``."""
    max_upload_bytes: int = 256 * 1024 * 1024
    """Uploads larger than this are refused with 413."""
    host: str = "127.0.0.1"
    port: int = 8321
    shutdown_grace_s: float = 30.0
    """On shutdown, how long to wait for the running scan before leaving it to recovery."""

    def __post_init__(self) -> None:
        if not self.data_roots:
            raise UserError("give at least one --data-root DIR", field="serve")
        roots = []
        for root in self.data_roots:
            resolved = Path(root).expanduser().resolve()
            if not resolved.is_dir():
                raise UserError("data root is not a directory", path=str(root))
            roots.append(resolved)
        object.__setattr__(self, "data_roots", tuple(roots))
        if len(self.token) < MIN_TOKEN_CHARS:
            raise UserError(
                f"the token is too short: use at least {MIN_TOKEN_CHARS} characters "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)",
                field=TOKEN_ENV,
            )
        if self.max_upload_bytes < 1:
            raise UserError("the upload limit must be positive", field="--max-upload-mb")

    @property
    def uploads(self) -> Path:
        """The upload directory (resolved default)."""
        return self.upload_dir or self.ledger.resolve().parent / "uploads"


def load_token(token_file: str | Path | None) -> str:
    """The token from ``--token-file`` (first line) or else ``$SUBAUDIT_TOKEN``.

    Raises:
        UserError: neither is set, or the file cannot be read.
    """
    if token_file is not None:
        try:
            text = Path(token_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise UserError(
                f"cannot read token file: {exc.strerror or exc}", path=str(token_file)
            ) from None
        lines = text.strip().splitlines()
        token = lines[0].strip() if lines else ""
        if not token:
            raise UserError("the token file is empty", path=str(token_file))
        return token
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise UserError(
            f"no token: set ${TOKEN_ENV} or pass --token-file (every request needs "
            "`Authorization: Bearer TOKEN`)",
            field="serve",
        )
    return token


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``localhost`` counts)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
