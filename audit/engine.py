"""Apply every rule to every row of a batch and decide each row's fate.

No short-circuit: a row dropped by the first rule is still scored by all the others, so
per-rule counts, overlaps and unique drops never depend on the order of the rules.
A row survives when no rule with action ``drop`` fired on it; ``flag`` rules mark rows
for review without removing them; ``unknown`` (the detector could not evaluate the row)
neither drops nor flags.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from audit.rulepack import Rule
from detectors.base import REASONS, SCORE, validate_output

VERDICT_SCHEMA: dict[str, pl.DataType] = {
    "ordinal": pl.Int64(),
    "row_id": pl.String(),
    "detector": pl.String(),
    "score": pl.Float64(),
    "threshold": pl.Float64(),
    "verdict": pl.String(),
    "reason": pl.String(),
    "reasons": pl.List(pl.String()),
}


@dataclass(frozen=True)
class BatchVerdicts:
    """The engine's answer for one batch."""

    verdicts: pl.DataFrame
    """Long format: one row per (input row, rule), columns as :data:`VERDICT_SCHEMA`."""
    fates: pl.DataFrame
    """One row per input row, in batch order: ``dropped``, ``flagged`` (Boolean),
    ``dropped_by``/``flagged_by`` (List(String) of rule names), ``reasons`` (List(String)
    of ``rule:reason`` for every drop or flag)."""


@dataclass
class Engine:
    """Runs a fixed list of rules; keeps per-rule wall time for the ledger."""

    rules: Sequence[Rule]
    seconds: dict[str, float] = field(default_factory=dict)

    def evaluate(self, batch: pl.DataFrame) -> BatchVerdicts:
        """Score ``batch`` (needs ``ordinal`` and ``row_id`` columns) with every rule."""
        keys = batch.select("ordinal", "row_id")
        per_rule: list[pl.DataFrame] = []
        for rule in self.rules:
            start = time.perf_counter()
            out = validate_output(rule.kind, batch, rule.detector.evaluate(batch))
            self.seconds[rule.name] = self.seconds.get(rule.name, 0.0) + time.perf_counter() - start
            verdict = (
                pl.when(pl.col(SCORE).is_null())
                .then(pl.lit("unknown"))
                .when(pl.col(REASONS).list.len() > 0)
                .then(pl.lit(rule.action))
                .otherwise(pl.lit("keep"))
            )
            per_rule.append(
                pl.concat([keys, out], how="horizontal").select(
                    "ordinal",
                    "row_id",
                    pl.lit(rule.name).alias("detector"),
                    SCORE,
                    pl.lit(rule.detector.threshold, dtype=pl.Float64).alias("threshold"),
                    verdict.alias("verdict"),
                    pl.col(REASONS).list.first().alias("reason"),
                    REASONS,
                )
            )
        schema = pl.Schema(VERDICT_SCHEMA)
        verdicts = (pl.concat(per_rule) if per_rule else pl.DataFrame(schema=schema)).cast(schema)
        names = [rule.name for rule in self.rules]
        return BatchVerdicts(verdicts=verdicts, fates=_fates(keys, per_rule, names))


def _fates(keys: pl.DataFrame, per_rule: list[pl.DataFrame], rule_names: list[str]) -> pl.DataFrame:
    empty = pl.lit([], dtype=pl.List(pl.String()))
    if not per_rule:
        # with_columns broadcasts literals to the batch height (select would give 1 row).
        return keys.with_columns(
            pl.lit(False).alias("dropped"),
            pl.lit(False).alias("flagged"),
            empty.alias("dropped_by"),
            empty.alias("flagged_by"),
            empty.alias("reasons"),
        ).drop("ordinal", "row_id")

    def names(verdict: str) -> pl.Expr:
        parts = [
            pl.when(pl.col(f"v{i}") == verdict).then(pl.lit(name))
            for i, name in enumerate(rule_names)
        ]
        return pl.concat_list(parts).list.drop_nulls()

    # Wide frame: one verdict column and one "rule:reason" list column per rule.
    wide = pl.DataFrame(
        [df["verdict"].alias(f"v{i}") for i, df in enumerate(per_rule)]
        + [
            df.select(
                pl.when(pl.col("verdict").is_in(["drop", "flag"]))
                .then(pl.col(REASONS).list.eval(pl.lit(f"{name}:") + pl.element()))
                .otherwise(empty)
                .alias(f"r{i}")
            ).to_series()
            for i, (df, name) in enumerate(zip(per_rule, rule_names, strict=True))
        ]
    )
    return wide.select(
        pl.any_horizontal(pl.col(f"v{i}") == "drop" for i in range(len(per_rule))).alias("dropped"),
        pl.any_horizontal(pl.col(f"v{i}") == "flag" for i in range(len(per_rule))).alias("flagged"),
        names("drop").alias("dropped_by"),
        names("flag").alias("flagged_by"),
        pl.concat_list(f"r{i}" for i in range(len(per_rule))).alias("reasons"),
    )
