"""Seeds, torch settings and file hashes shared by every world, so builds are reproducible."""

from __future__ import annotations

import hashlib
import importlib
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def derived_seed(seed: int, purpose: str) -> int:
    """An independent 31-bit seed for one purpose, derived from a world or student seed.

    Hashing (rather than ``seed + k``) keeps the streams of different purposes unrelated,
    and adding a purpose later never shifts the seeds of the existing ones.
    """
    digest = hashlib.sha256(f"{seed}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFF_FFFF


@contextmanager
def torch_session(threads: int) -> Iterator[None]:
    """Set torch's thread count and deterministic mode, restoring both afterwards."""
    import torch

    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks (manifests record one per world file)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def library_versions(*modules: str) -> dict[str, str]:
    """Python's version and each module's ``__version__``, for a world's manifest.

    Float results depend on these (and on the thread count), so a manifest that records
    them says what a byte-identical rebuild needs.
    """
    out = {"python": platform.python_version()}
    for name in modules:
        out[name] = str(importlib.import_module(name).__version__)
    return out
