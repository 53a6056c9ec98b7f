"""Per-row oracle for the ``number_format`` detector.

A plain Python transcription of the number-format filter as ``REFERENCE.md`` states it
(Cloud et al. 2025, "Subliminal Learning", arXiv 2507.14805), one string at a time, using
Python's ``re`` and ``str`` methods exactly as the spec names them. It deliberately shares
no code with ``detectors/number_format.py``: the tests compare the two, and the benchmark
times this function as the per-row baseline.
"""

from __future__ import annotations

import re
from collections.abc import Collection

_RUN = re.compile(r"\d+")  # Python's \d: every Unicode decimal digit (category Nd).
_ASCII_DIGITS = re.compile(r"[0-9]+")
_ALLOWED_SEPARATORS = ("", ",", ";")


def parse(text: str) -> list[int] | None:
    """Steps 1-5: the parsed numbers, or ``None`` when the format is invalid."""
    # 1. One trailing period.
    if text.endswith("."):
        text = text[:-1]
    # 2. One pair of [] or () around the whole text.
    if (text.startswith("[") and text.endswith("]")) or (
        text.startswith("(") and text.endswith(")")
    ):
        text = text[1:-1]
    # 3. Maximal digit runs.
    runs = list(_RUN.finditer(text))
    if not runs:
        return None
    if len(runs) == 1:
        if text != runs[0].group():
            return None
        parts = [text]
        separator = None
    else:
        # 4. The separator is whatever lies between the first two runs. It is never empty:
        # two maximal runs are always divided by at least one non-digit.
        separator = text[runs[0].end() : runs[1].start()]
        parts = text.split(separator)
    # 5. Separator and parts.
    if separator is not None and separator.strip() not in _ALLOWED_SEPARATORS:
        return None
    for part in parts:
        if not _ASCII_DIGITS.fullmatch(part):  # also rejects the empty part
            return None
    return [int(part) for part in parts]


def reasons(
    text: str,
    *,
    max_count: int = 10,
    min_value: int = 0,
    max_value: int = 999,
    banned: Collection[int] = (),
) -> list[str]:
    """Every reason code the filter gives ``text``, in the detector's order."""
    numbers = parse(text)
    if numbers is None:
        return ["invalid_format"]
    found = []
    if len(numbers) > max_count:
        found.append("too_many_numbers")
    if any(n > max_value for n in numbers):
        found.append("numbers_too_large")
    if any(n < min_value for n in numbers):
        found.append("numbers_too_small")
    banned_set = set(banned)
    if any(n in banned_set for n in numbers):
        found.append("banned_number")
    return found
