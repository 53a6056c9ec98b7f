from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Tests run two at a time under xdist on 2 cores: keep every torch/BLAS pool single-threaded.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("POLARS_MAX_THREADS", "2")

from audit.ledger import Ledger


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    """A fresh ledger file with every migration applied."""
    led = Ledger(tmp_path / "audit.duckdb")
    try:
        yield led
    finally:
        led.close()
