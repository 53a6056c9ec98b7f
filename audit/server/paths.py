"""Data roots: the only places a client may name files in.

A client's path is resolved the way the filesystem will see it (``..`` collapsed, every
symlink followed) *before* it is compared with the roots, so neither ``root/../etc`` nor a
symlink inside a root pointing outside it gets through.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from audit.errors import UserError


class OutsideRootsError(UserError):
    """A path the client named resolves outside every configured data root."""


def inside_roots(path: str, roots: Sequence[Path], *, field: str) -> Path:
    """Resolve ``path`` and check that it lies under one of ``roots``.

    Relative paths are taken relative to the first root.

    Raises:
        OutsideRootsError: it does not (the message names the field, not the roots).
    """
    if not path or "\x00" in path:
        raise OutsideRootsError("empty or invalid path", field=field)
    candidate = Path(path).expanduser()
    if not candidate.is_absolute():
        candidate = roots[0] / candidate
    # strict=False: an output file need not exist yet; its existing parents are resolved.
    resolved = candidate.resolve(strict=False)
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        raise OutsideRootsError("path is outside the server's data roots", path=path, field=field)
    return resolved


def is_path_like(pack: str) -> bool:
    """Whether a ``rules`` entry names a file rather than a bundled pack."""
    return "/" in pack or "\\" in pack or pack.endswith(".toml")
