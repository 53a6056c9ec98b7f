"""Apply detectors again to a run's survivors: no drop rule may fire on a row that survived.

Why re-check at all: the gate works from the ledger alone, so it catches survivors that a
changed ledger, a mis-configured run or a later pack (banned numbers, a trait lexicon the
scan did not use) would reject. Each rule becomes a column of the survivors frame holding
the reason codes that fired (null when none did), checked by Great Expectations with
``expect_column_values_to_be_null``, so the failing rows come back by ``row_id``.

Learned detectors (fitted on the whole dataset and a reference) cannot be re-run on the
survivors alone; they are skipped with a note, as are rules that read columns the ledger
does not keep (a gold answer column, for example).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from audit import rulepack
from audit.errors import DetectorConfigError, RulePackError
from audit.gate_plan import Outcome, Planned
from audit.suites import Recheck, SuiteError
from detectors import base

_CHUNK_ROWS = 100_000  # bounds the memory of a detector pass on many survivors


@dataclass(frozen=True)
class _Target:
    name: str
    kind: str
    detector: base.Detector | None
    skip_note: str = ""


def plan_rechecks(
    rechecks: Sequence[Recheck],
    survivors: pl.DataFrame,
    run_detectors: list[dict[str, object]],
    *,
    suite_path: str,
) -> tuple[pl.DataFrame, list[Planned], list[Outcome]]:
    """Run the suite's re-checks on the survivors.

    Args:
        rechecks: The suite's ``[[recheck]]`` entries.
        survivors: ``ordinal``, ``row_id``, ``prompt``, ``completion`` of the survivors.
        run_detectors: The run's detectors (``report_detectors`` rows).
        suite_path: The suite file, for error messages.

    Returns:
        The survivors with one ``fired:<id>:<rule>`` column per checked rule, the planned
        expectations on those columns, and skipped outcomes.

    Raises:
        SuiteError: A re-check names a pack or detector that cannot be built.
    """
    planned: list[Planned] = []
    skipped: list[Outcome] = []
    columns: list[pl.Series] = []
    for check in rechecks:
        for target in _targets(check, run_detectors, suite_path):
            out_id = f"{check.id}:{target.name}"
            if target.detector is None:
                skipped.append(Outcome(out_id, "rows", "skipped", note=target.skip_note))
                continue
            try:
                fired = _fired(target.detector, survivors)
            except DetectorConfigError as exc:
                skipped.append(
                    Outcome(out_id, "rows", "skipped", note=f"cannot re-run from the ledger: {exc}")
                )
                continue
            column = f"fired:{out_id}"
            columns.append(fired.alias(column))
            planned.append(
                Planned(
                    out_id,
                    "rows",
                    "expect_column_values_to_be_null",
                    {"column": column},
                    check.description or f"{target.kind} rule {target.name} fires on no survivor",
                )
            )
    return survivors.with_columns(columns), planned, skipped


def _targets(
    check: Recheck, run_detectors: list[dict[str, object]], suite_path: str
) -> list[_Target]:
    if check.source == "run":
        targets = []
        for det in run_detectors:
            if det["action"] != "drop":
                continue
            name, kind = str(det["name"]), str(det["kind"])
            params = json.loads(str(det["params"])) if det["params"] is not None else {}
            try:
                cls = base.get(kind)
            except DetectorConfigError as exc:
                targets.append(_Target(name, kind, None, f"cannot rebuild: {exc}"))
                continue
            if cls.requires:
                note = (
                    f"{kind} needs {', '.join(sorted(cls.requires))}: its verdicts cannot be "
                    "recomputed from the survivors alone"
                )
                targets.append(_Target(name, kind, None, note))
                continue
            try:
                targets.append(_Target(name, kind, cls.from_params(params)))
            except DetectorConfigError as exc:
                targets.append(_Target(name, kind, None, f"cannot rebuild: {exc}"))
        if not targets:
            return [_Target("none", "-", None, "the run has no drop rules to re-check")]
        return targets
    if check.pack is not None:
        try:
            pack = rulepack.load(check.pack)
        except RulePackError as exc:
            raise SuiteError(f"recheck '{check.id}': {exc.one_line()}", path=suite_path) from None
        return [
            _Target(
                rule.name,
                rule.kind,
                None,
                f"{rule.kind} needs {', '.join(sorted(rule.detector.requires))}",
            )
            if rule.detector.requires
            else _Target(rule.name, rule.kind, rule.detector)
            for rule in pack.rules
            if rule.action == "drop"
        ]
    kind = str(check.detector)
    try:
        cls = base.get(kind)
        if cls.requires:
            raise DetectorConfigError(
                f"detector '{kind}' needs {', '.join(sorted(cls.requires))} and cannot re-check"
                " survivors"
            )
        detector = cls.from_params(check.params)
    except DetectorConfigError as exc:
        raise SuiteError(f"recheck '{check.id}': {exc.one_line()}", path=suite_path) from None
    return [_Target(kind, kind, detector)]


def _fired(detector: base.Detector, survivors: pl.DataFrame) -> pl.Series:
    """Per survivor: the reason codes that fired, joined by ``,``; null when none did."""
    parts: list[pl.Series] = []
    for start in range(0, max(survivors.height, 1), _CHUNK_ROWS):
        batch = survivors.slice(start, _CHUNK_ROWS)
        out = base.validate_output(detector.kind, batch, detector.evaluate(batch))
        joined = out.select(
            # As the engine: a null score is ``unknown`` and neither drops nor flags.
            pl.when(pl.col(base.SCORE).is_not_null() & (pl.col(base.REASONS).list.len() > 0))
            .then(pl.col(base.REASONS).list.join(","))
            .otherwise(None)
        ).to_series()
        parts.append(joined)
    return pl.concat(parts) if parts else pl.Series([], dtype=pl.String)
