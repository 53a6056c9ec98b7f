from __future__ import annotations

from typing import ClassVar

import polars as pl
import pytest

from audit.engine import Engine
from audit.rulepack import Rule
from detectors.base import Detector, reasons_from


class Contains(Detector):
    """Test detector: fires when the completion contains a substring; null for 'n/a'."""

    kind: ClassVar[str] = "test_contains"
    version: ClassVar[str] = "1"

    def __init__(self, *, needle: str, reason: str = "contains") -> None:
        self.needle = needle
        self.reason = reason

    def evaluate(self, batch: pl.DataFrame) -> pl.DataFrame:
        hit = pl.col("completion").str.contains(self.needle, literal=True)
        return batch.select(
            pl.when(pl.col("completion") == "n/a")
            .then(None)
            .otherwise(hit.cast(pl.Float64))
            .alias("score"),
            reasons_from([(hit, self.reason)]),
        )


def rule(rule_id: str, needle: str, action: str) -> Rule:
    det = Contains.from_params({"needle": needle})
    return Rule("p", rule_id, "test_contains", action, {"needle": needle}, "", det)


BATCH = pl.DataFrame(
    {
        "ordinal": [0, 1, 2, 3, 4],
        "row_id": ["a", "b", "c", "d", "e"],
        "prompt": ["q"] * 5,
        "completion": ["owl cat", "owl", "cat", "dog", "n/a"],
    }
)


def test_every_rule_sees_every_row_and_order_does_not_matter() -> None:
    rules = [rule("owl", "owl", "drop"), rule("cat", "cat", "drop"), rule("dog", "dog", "flag")]
    first = Engine(rules).evaluate(BATCH)
    second = Engine(list(reversed(rules))).evaluate(BATCH)
    assert first.verdicts.height == 15  # 5 rows x 3 rules, no short-circuit
    for column in ("dropped", "flagged"):
        assert first.fates[column].to_list() == second.fates[column].to_list()
    assert [sorted(x) for x in first.fates["dropped_by"].to_list()] == [
        sorted(x) for x in second.fates["dropped_by"].to_list()
    ]
    assert first.fates["dropped"].to_list() == [True, True, True, False, False]
    assert first.fates["flagged"].to_list() == [False, False, False, True, False]
    assert first.fates["dropped_by"].to_list() == [["p/owl", "p/cat"], ["p/owl"], ["p/cat"], [], []]
    assert first.fates["reasons"].to_list()[0] == ["p/owl:contains", "p/cat:contains"]


def test_verdict_table_holds_scores_reasons_and_unknown() -> None:
    out = Engine([rule("owl", "owl", "drop")]).evaluate(BATCH).verdicts
    assert out.columns == [
        "ordinal",
        "row_id",
        "detector",
        "score",
        "threshold",
        "verdict",
        "reason",
        "reasons",
    ]
    assert out["verdict"].to_list() == ["drop", "drop", "keep", "keep", "unknown"]
    assert out["score"].to_list() == [1.0, 1.0, 0.0, 0.0, None]
    assert out["reason"].to_list() == ["contains", "contains", None, None, None]
    assert out["reasons"].to_list() == [["contains"], ["contains"], [], [], []]


def test_unknown_neither_drops_nor_flags() -> None:
    fates = Engine([rule("na", "zzz", "drop")]).evaluate(BATCH).fates
    assert not fates["dropped"].any() and not fates["flagged"].any()


@pytest.mark.parametrize("rules", [[], [rule("owl", "owl", "drop")]])
def test_empty_batch(rules: list[Rule]) -> None:
    result = Engine(rules).evaluate(BATCH.head(0))
    assert result.verdicts.height == 0 and result.fates.height == 0


def test_engine_times_each_rule() -> None:
    engine = Engine([rule("owl", "owl", "drop")])
    engine.evaluate(BATCH)
    assert engine.seconds["p/owl"] >= 0.0
