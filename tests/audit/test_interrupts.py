from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from audit import interrupts


@pytest.fixture
def handler() -> Iterator[None]:
    previous = signal.signal(signal.SIGTERM, interrupts.terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_sigterm_outside_a_critical_section_exits_at_once(handler: None) -> None:
    with pytest.raises(SystemExit) as info:
        os.kill(os.getpid(), signal.SIGTERM)
        signal.pthread_sigmask(signal.SIG_BLOCK, [])  # a bytecode boundary: handler runs
    assert info.value.code == 128 + signal.SIGTERM


def test_sigterm_inside_a_critical_section_waits_for_its_end(handler: None) -> None:
    finished = []
    with pytest.raises(SystemExit) as info, interrupts.critical():
        with interrupts.critical():  # nested: only the outermost end raises
            os.kill(os.getpid(), signal.SIGTERM)
            finished.append("inner")
        finished.append("outer")
    assert finished == ["inner", "outer"]
    assert info.value.code == 128 + signal.SIGTERM
    with interrupts.critical():  # the pending signal was consumed
        pass
