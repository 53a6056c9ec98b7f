"""Uploads: a hard size limit on the request body, and a safe place for the file.

The limit is enforced while the body streams in (an ASGI wrapper around ``receive``), not
after the multipart parser has spooled the whole thing to disk: a declared
``Content-Length`` over the limit is refused before a byte is read, and a chunked body is
cut off as soon as it passes the limit.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
from pathlib import Path
from typing import Any, BinaryIO

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,10}$")


def too_large(limit: int) -> HTTPException:
    """The 413 answer, naming the limit."""
    return HTTPException(
        status_code=413,
        detail=f"upload larger than the server's limit of {limit:,} bytes "
        "(scan big files from a data root instead: POST /v1/scans with a path)",
    )


class BodyLimit:
    """ASGI middleware: requests to ``paths`` may send at most ``limit`` body bytes."""

    def __init__(self, app: ASGIApp, *, limit: int, paths: frozenset[str]) -> None:
        self.app = app
        self.limit = limit
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with a counting ``receive``."""
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            body = json.dumps({"detail": too_large(self.limit).detail}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 413,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        seen = 0

        async def counting() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # An HTTPException passes FastAPI's body parsing untouched (other
                    # exceptions become a generic 400) and renders as 413.
                    raise too_large(self.limit)
            return message

        await self.app(scope, counting, send)


def store_upload(source: BinaryIO, filename: str | None, directory: Path) -> Path:
    """Copy an uploaded file under ``directory`` with a server-chosen name.

    Only the suffix of the client's name is kept (it tells the format); the client's name
    never becomes a path on the server.
    """
    directory.mkdir(parents=True, exist_ok=True)
    suffix = Path(filename or "").suffix
    if not _SUFFIX.match(suffix):
        suffix = ""
    target = directory / f"upload-{secrets.token_hex(8)}{suffix.lower()}"
    with target.open("xb") as out:
        shutil.copyfileobj(source, out, length=1024 * 1024)
    return target


def parse_options(text: str | None) -> dict[str, Any]:
    """The ``request`` form field: a JSON object of scan options (``input`` optional).

    Raises:
        ValueError: not a JSON object.
    """
    if not text:
        return {}
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("the 'request' field must be a JSON object")
    return value
