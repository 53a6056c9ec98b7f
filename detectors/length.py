"""Length detector: completions that are too short or too long.

Rationale: the paper's numbers prompts ask for at most 10 numbers of at most 3 digits
(Cloud et al., arXiv 2507.14805), so a completion of hundreds of characters did not follow
the request; in every domain, length outliers are where refusals, rambling and smuggled text
live. Heuristic length gates of this kind are standard in data-cleaning pipelines
(datatrove's Gopher filters use word-count bounds).
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl

from audit.errors import DetectorConfigError
from detectors.base import SCORE, Detector, reasons_from, register, require_columns
from detectors.lexicon import check_column


def _bound(kind: str, name: str, value: object) -> int | None:
    # bool is an int in Python; `max_chars = true` in TOML is a mistake, not 1.
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DetectorConfigError(
            f"detector '{kind}': '{name}' must be a non-negative integer, got {value!r}"
        )
    return value


@register
class Length(Detector):
    """Fire ``too_short`` below ``min_*`` and ``too_long`` above ``max_*`` (bounds inclusive).

    Give character bounds (``min_chars``/``max_chars``, Unicode code points) or whitespace
    token bounds (``min_tokens``/``max_tokens``, runs of non-whitespace), not both: the
    score is the length in that unit, so a stored score can be re-thresholded in SQL
    without rescoring. Use two rules to bound both units.
    """

    kind: ClassVar[str] = "length"
    version: ClassVar[str] = "1.0.0"
    description: ClassVar[str] = "Text shorter or longer than bounds in characters or tokens"

    def __init__(
        self,
        *,
        min_chars: int | None = None,
        max_chars: int | None = None,
        min_tokens: int | None = None,
        max_tokens: int | None = None,
        column: str = "completion",
    ) -> None:
        chars = (
            _bound(self.kind, "min_chars", min_chars),
            _bound(self.kind, "max_chars", max_chars),
        )
        tokens = (
            _bound(self.kind, "min_tokens", min_tokens),
            _bound(self.kind, "max_tokens", max_tokens),
        )
        has_chars = chars != (None, None)
        has_tokens = tokens != (None, None)
        if has_chars == has_tokens:
            raise DetectorConfigError(
                f"detector '{self.kind}': give character bounds (min_chars/max_chars) or "
                "token bounds (min_tokens/max_tokens), not " + ("both" if has_chars else "neither")
            )
        self.unit = "chars" if has_chars else "tokens"
        self.minimum, self.maximum = chars if has_chars else tokens
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise DetectorConfigError(
                f"detector '{self.kind}': minimum {self.minimum} exceeds maximum {self.maximum}"
            )
        self.column = check_column(self.kind, column)
        self.params = {
            "min_chars": min_chars,
            "max_chars": max_chars,
            "min_tokens": min_tokens,
            "max_tokens": max_tokens,
            "column": column,
        }

    def evaluate(self, batch: pl.DataFrame) -> pl.DataFrame:
        """Score each row by its length in the configured unit."""
        require_columns(batch, [self.column], self.kind)
        text = pl.col(self.column)
        size = text.str.len_chars() if self.unit == "chars" else text.str.count_matches(r"\S+")
        score = pl.col(SCORE)
        conditions: list[tuple[pl.Expr, str]] = []
        if self.minimum is not None:
            conditions.append((score < self.minimum, "too_short"))
        if self.maximum is not None:
            conditions.append((score > self.maximum, "too_long"))
        return batch.select(size.cast(pl.Float64).alias(SCORE)).with_columns(
            reasons_from(conditions)
        )
