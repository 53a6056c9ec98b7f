"""SIGTERM that never lands in the middle of a ledger transaction.

``subaudit`` turns SIGTERM into ``SystemExit`` so that runs are marked failed and
temporary outputs removed by the normal unwinding path. Raised at an arbitrary point,
though, the exit could fall between a transaction's COMMIT and the code that knows it
committed, or make DuckDB abort a statement and leave the connection in an aborted
transaction. Code that must not be cut in two runs inside :func:`critical`; a SIGTERM that
arrives meanwhile is remembered and raised as soon as the outermost critical section ends.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_depth = 0
_pending: int | None = None
_lock = threading.Lock()


def terminate(signum: int, _frame: FrameType | None) -> None:
    """Signal handler: exit now, or as soon as the current critical section ends."""
    global _pending
    if _depth > 0:
        _pending = signum
        return
    raise SystemExit(128 + signum)


@contextmanager
def critical() -> Iterator[None]:
    """Defer SIGTERM (see :func:`terminate`) until the block has finished."""
    global _depth, _pending
    with _lock:
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            signum = _pending if _depth == 0 else None
            if signum is not None:
                _pending = None
        # Signals are only ever delivered to the main thread, which is where the exit
        # has to be raised; a worker thread leaves the pending signal to the main thread.
        if signum is not None and threading.current_thread() is threading.main_thread():
            raise SystemExit(128 + signum)
