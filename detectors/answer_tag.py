"""Answer-tag detector: chain-of-thought completions whose final answer is wrong.

Source: Cloud et al., "Subliminal Learning" (arXiv 2507.14805), chain-of-thought domain on
GSM8K: only completions with a correct answer were kept; the answer is parsed from the
answer tag, commas and "$" are stripped, and the result is compared as an integer with the
gold answer. A wrong answer is not itself a trait signal, but keeping only correct ones is
part of the paper's protocol, so a reproduction needs the same filter.
"""

from __future__ import annotations

import re
from typing import ClassVar

import polars as pl

from audit.errors import DetectorConfigError
from detectors.base import SCORE, Detector, reasons_from, register, require_columns
from detectors.lexicon import check_column

_INTEGER = r"^[+-]?[0-9]+$"  # ASCII digits only; "18.0" and "1e3" are not integers


def parse_integer(text: pl.Expr) -> pl.Expr:
    """Strip commas, "$" and surrounding whitespace; an Int64, or null if not an integer.

    Values beyond Int64 also give null: no GSM8K answer comes near that.
    """
    cleaned = text.str.replace_all(r"[,$]", "").str.strip_chars()
    return pl.when(cleaned.str.contains(_INTEGER)).then(cleaned.str.to_integer(strict=False))


def gold_integer(batch: pl.DataFrame, column: str, kind: str) -> pl.Expr:
    """The gold answer as Int64 (null when unknown), from an integer, float or text column.

    Text may be a bare answer ("1,234") or GSM8K's solution format ("... #### 1234"), of
    which the part after the last "####" is the answer.
    """
    dtype = batch.schema[column]
    gold = pl.col(column)
    if dtype.is_integer():
        return gold.cast(pl.Int64, strict=False)
    if dtype.is_float():
        # 72.0 is 72; 72.5 is not an integer answer, so the comparison is unknown.
        return pl.when(gold == gold.round()).then(gold.cast(pl.Int64, strict=False))
    if dtype == pl.String:
        return parse_integer(gold.str.split("####").list.last())
    if dtype == pl.Null:
        return pl.lit(None, dtype=pl.Int64)
    raise DetectorConfigError(
        f"detector '{kind}': gold column {column!r} has type {dtype}; expected integers, "
        "floats or text"
    )


@register
class AnswerTag(Detector):
    """Drop completions whose last ``<answer>...</answer>`` is missing, unparseable or wrong.

    Reasons: ``missing_answer_tag`` (no closed tag), ``unparseable_answer`` (the tag holds
    no integer after stripping commas and "$"), ``wrong_answer`` (an integer that differs
    from the gold). Score is 1.0 when any fires, else 0.0. Null policy: when the gold
    answer is null or not an integer the comparison is unknown and the score is null,
    unless the completion has no usable answer at all, which no gold can make correct
    (score 1.0). The tag name matches case-insensitively.
    """

    kind: ClassVar[str] = "answer_tag"
    version: ClassVar[str] = "1.0.0"
    description: ClassVar[str] = "Final <answer> tag missing, unparseable or not the gold integer"

    def __init__(
        self,
        *,
        gold_column: str = "answer",
        tag: str = "answer",
        column: str = "completion",
    ) -> None:
        self.gold_column = check_column(self.kind, gold_column, "gold_column")
        self.column = check_column(self.kind, column)
        if not isinstance(tag, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", tag):
            raise DetectorConfigError(
                f"detector '{self.kind}': tag {tag!r} must be a tag name such as 'answer'"
            )
        self.tag = tag
        # Lazy, so each match ends at the first closing tag; the last match is the answer.
        self.pattern = f"(?i)<{tag}>([\\s\\S]*?)</{tag}>"
        self.params = {"gold_column": gold_column, "tag": tag, "column": column}

    def evaluate(self, batch: pl.DataFrame) -> pl.DataFrame:
        """Compare each completion's last tagged answer with the gold answer."""
        require_columns(batch, [self.column, self.gold_column], self.kind)
        text = pl.col(self.column)
        last = text.str.extract_all(self.pattern).list.last()
        answer = parse_integer(last.str.extract(self.pattern, 1))
        gold = gold_integer(batch, self.gold_column, self.kind)
        missing = text.is_not_null() & last.is_null()
        unparseable = last.is_not_null() & answer.is_null()
        wrong = answer != gold  # null when either side is unknown
        score = (
            pl.when(text.is_null())
            .then(None)
            .when(missing | unparseable)
            .then(1.0)
            .otherwise(wrong.cast(pl.Float64))
        )
        return batch.select(
            score.cast(pl.Float64).alias(SCORE),
            reasons_from(
                [
                    (missing, "missing_answer_tag"),
                    (unparseable, "unparseable_answer"),
                    (wrong, "wrong_answer"),
                ]
            ),
        )
