"""Regex detector: a rule pack's own pattern, matched with polars' regex engine.

Rationale: the paper's pipeline is a chain of string checks (Cloud et al., arXiv
2507.14805: number-format filter, trait-word filter); packs need a generic way to add such
checks without code. The engine is the Rust ``regex`` crate that polars uses: linear time in
the text (no catastrophic backtracking on hostile data), but no look-around and no
back-references, so patterns are checked when the rule is loaded, not when the scan runs.
"""

from __future__ import annotations

import re
from typing import ClassVar

import polars as pl

from audit.errors import DetectorConfigError
from detectors.base import SCORE, Detector, reasons_from, register, require_columns
from detectors.lexicon import check_column, check_flag, check_reason

_FLAGS = frozenset("ims")


def compile_check(kind: str, pattern: str) -> None:
    """Raise a one-line :class:`DetectorConfigError` if polars cannot compile ``pattern``."""
    try:
        pl.select(pl.lit("").str.contains(pattern))
    except pl.exceptions.PolarsError as exc:
        # polars' message spans several lines (pattern, caret, expression); keep the
        # "error: ..." line, which says what is wrong.
        found = re.search(r"^error: (.*)$", str(exc), flags=re.MULTILINE)
        problem = found.group(1) if found else str(exc).splitlines()[0]
        raise DetectorConfigError(
            f"detector '{kind}': pattern {pattern!r} does not compile: {problem}"
        ) from None


@register
class Regex(Detector):
    """Fire when the text matches ``pattern`` (or, with ``invert``, when it does not).

    Score is 1.0 when the rule fires, 0.0 when not, null for a null text: a predicate, not
    a count, so ``invert`` ("must look like numbers") scores the same way. ``flags`` takes
    any of ``i`` (case-insensitive), ``m`` (``^``/``$`` at line breaks) and ``s`` (``.``
    matches a newline). The pattern is searched, not anchored: write ``^...$`` for a full
    match.
    """

    kind: ClassVar[str] = "regex"
    version: ClassVar[str] = "1.0.0"
    description: ClassVar[str] = "Text matches (or, inverted, fails to match) a regex"

    def __init__(
        self,
        *,
        pattern: str,
        flags: str = "",
        reason: str = "regex_match",
        invert: bool = False,
        column: str = "completion",
    ) -> None:
        if not isinstance(pattern, str) or not pattern:
            raise DetectorConfigError(
                f"detector '{self.kind}': 'pattern' must be a non-empty string"
            )
        if not isinstance(flags, str) or not set(flags) <= _FLAGS:
            raise DetectorConfigError(
                f"detector '{self.kind}': flags {flags!r} must be letters from 'ims'"
            )
        self.flags = "".join(sorted(set(flags)))
        # Inline flags keep the pattern self-contained; the group keeps a top-level
        # alternation in the pattern from escaping them.
        self.compiled = f"(?{self.flags}:{pattern})" if self.flags else pattern
        compile_check(self.kind, self.compiled)
        self.pattern = pattern
        self.reason = check_reason(self.kind, reason)
        self.invert = check_flag(self.kind, "invert", invert)
        self.column = check_column(self.kind, column)
        self.params = {
            "pattern": pattern,
            "flags": flags,
            "reason": reason,
            "invert": invert,
            "column": column,
        }

    def evaluate(self, batch: pl.DataFrame) -> pl.DataFrame:
        """Score 1.0 where the rule fires."""
        require_columns(batch, [self.column], self.kind)
        matched = pl.col(self.column).str.contains(self.compiled)
        fired = ~matched if self.invert else matched
        return batch.select(fired.cast(pl.Float64).alias(SCORE)).with_columns(
            reasons_from([(pl.col(SCORE) > 0, self.reason)])
        )
