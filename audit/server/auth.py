"""Bearer-token authentication: one shared token, compared in constant time."""

from __future__ import annotations

import secrets

from fastapi import HTTPException, Request, status


class BearerAuth:
    """A FastAPI dependency that admits requests carrying ``Authorization: Bearer TOKEN``."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    def __call__(self, request: Request) -> None:
        """Raise 401 unless the request carries the token."""
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        # compare_digest: the time taken must not reveal how much of the token matched.
        if scheme.lower() != "bearer" or not secrets.compare_digest(
            given.strip().encode(), self._token
        ):
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="missing or wrong bearer token (send `Authorization: Bearer TOKEN`)",
                headers={"WWW-Authenticate": "Bearer"},
            )
