"""What a gate checks, before Great Expectations sees it: planned expectations and skips.

Row-level checks become expectations on the survivors frame; run-level checks become
expectations on a one-row frame of figures read from the ledger (survival rate, the
contrast classifier's AUC, the trait-gap CI, the transfer verdict), so both show up the same
way in the results and in Data Docs. A run-level check whose figure the run lacks is not
planned: it becomes a ``skipped`` outcome with a note (or ``failed`` when ``required``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from audit.suites import RunGate

Level = Literal["rows", "run"]
Status = Literal["passed", "failed", "skipped", "error"]


@dataclass(frozen=True)
class Planned:
    """One expectation to hand to Great Expectations."""

    id: str
    level: Level
    type: str
    kwargs: dict[str, Any]
    description: str = ""
    observed: Any = None
    """For run-level checks: the figure checked (shown next to the outcome)."""


@dataclass(frozen=True)
class Outcome:
    """One expectation's outcome: a row of ``gate --json``'s ``outcomes``."""

    id: str
    level: Level
    status: Status
    type: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    observed: Any = None
    element_count: int | None = None
    unexpected_count: int | None = None
    failing_row_ids: list[str] = field(default_factory=list)
    """The first failing rows' ids (capped; ``unexpected_count`` says how many failed)."""
    note: str = ""
    description: str = ""


@dataclass(frozen=True)
class RunFacts:
    """The run-level figures a gate reads from the ledger."""

    rows_in: int
    kept: int
    quarantined: int
    detectors: list[dict[str, Any]]
    """Rows of ``report_detectors`` (``metrics`` and ``params`` as JSON text or None)."""
    experiment: dict[str, Any] | None
    """The latest transfer check linked to the run (``report_experiment``), if any."""


def plan_run_gates(
    gates: tuple[RunGate, ...], facts: RunFacts
) -> tuple[list[Planned], list[Outcome]]:
    """Turn the suite's run-level checks into expectations on the run-figures frame.

    Returns:
        The planned expectations (column = the figure's name; ``observed`` = its value) and
        the outcomes of checks that could not be planned (skipped, or failed if required).
    """
    planned: list[Planned] = []
    skipped: list[Outcome] = []

    def skip(gate: RunGate, note: str) -> None:
        status: Status = "failed" if gate.required else "skipped"
        prefix = "required, but " if gate.required else ""
        skipped.append(
            Outcome(gate.id, "run", status, note=prefix + note, description=gate.description)
        )

    for gate in gates:
        p = gate.params
        if gate.check in ("survival_rate", "quarantine_rate", "min_survivors"):
            if facts.rows_in <= 0:
                skip(gate, "not available for this run: no rows were read")
                continue
            value: float = {
                "survival_rate": facts.kept / facts.rows_in,
                "quarantine_rate": facts.quarantined / facts.rows_in,
                "min_survivors": float(facts.kept),
            }[gate.check]
            planned.append(_between(gate, gate.check, value, p.get("min"), p.get("max")))
        elif gate.check == "contrast_auc":
            _plan_detectors(gate, facts, "contrast_classifier", _auc_statistic, planned, skip)
        elif gate.check == "trait_gap":
            _plan_detectors(gate, facts, "trait_gap", _gap_ci_low, planned, skip)
        elif gate.check == "transfer_verdict":
            exp = facts.experiment
            if exp is None:
                skip(gate, "not available for this run: no transfer check is linked to it")
                continue
            if exp.get("status") != "succeeded" or exp.get("verdict") is None:
                skip(
                    gate,
                    f"not available for this run: transfer check {exp['experiment_id']} "
                    f"is {exp.get('status')} without a verdict",
                )
                continue
            planned.append(
                Planned(
                    gate.id,
                    "run",
                    "expect_column_values_to_be_in_set",
                    {"column": "transfer_verdict", "value_set": list(p["allow"])},
                    gate.description
                    or f"transfer check {exp['experiment_id']}: {exp.get('verdict_reason') or ''}",
                    exp["verdict"],
                )
            )
        else:  # the suite loader rejects unknown checks; reaching here is our bug
            raise RuntimeError(f"unplanned run check {gate.check!r}")
    return planned, skipped


def _between(
    gate: RunGate, column: str, value: float, low: float | None, high: float | None
) -> Planned:
    kwargs: dict[str, Any] = {"column": column}
    if low is not None:
        kwargs["min_value"] = low
    if high is not None:
        kwargs["max_value"] = high
    return Planned(
        gate.id, "run", "expect_column_values_to_be_between", kwargs, gate.description, value
    )


def _plan_detectors(
    gate: RunGate,
    facts: RunFacts,
    kind: str,
    figure: Any,
    planned: list[Planned],
    skip: Any,
) -> None:
    """One expectation per detector of ``kind`` in the run (several may run, e.g. per trait)."""
    found = [d for d in facts.detectors if d["kind"] == kind]
    if not found:
        skip(gate, f"not available for this run: no {kind} detector ran")
        return
    many = len(found) > 1
    for det in found:
        metrics = _json(det.get("metrics"))
        params = _json(det.get("params"))
        value, what = figure(metrics, params, gate.params)
        gate_id = f"{gate.id}[{det['name']}]" if many else gate.id
        if value is None:
            skip(
                RunGate(gate_id, gate.check, gate.params, gate.required, gate.description),
                f"not available for this run: {det['name']} recorded no {what}",
            )
            continue
        column = f"{what}[{det['name']}]"
        bound = gate.params.get("max", 0.0)
        planned.append(
            Planned(
                gate_id,
                "run",
                "expect_column_values_to_be_between",
                {"column": column, "max_value": bound},
                gate.description,
                value,
            )
        )


def _auc_statistic(
    metrics: dict[str, Any], _params: dict[str, Any], gate: dict[str, Any]
) -> tuple[float | None, str]:
    statistic = gate.get("statistic", "auc")
    if statistic == "auc":
        return _number(metrics.get("auc")), "auc"
    ci = metrics.get("auc_ci")
    if not (isinstance(ci, list) and len(ci) == 2):
        return None, f"auc_{statistic}"
    return _number(ci[0] if statistic == "ci_low" else ci[1]), f"auc_{statistic}"


def _gap_ci_low(
    metrics: dict[str, Any], params: dict[str, Any], _gate: dict[str, Any]
) -> tuple[float | None, str]:
    """Lower end of the target trait's mean-gap CI, from the shapes a trait_gap may record.

    Accepted: top-level ``gap_ci``/``mean_gap_ci``/``ci`` (``[low, high]``), or a per-trait
    ranking (``ranking``/``traits``: entries with ``trait`` and ``ci``/``ci_low``) matched
    against the detector's target trait (``params["trait"]`` or ``metrics["trait"]``).
    """
    what = "trait_gap_ci_low"
    for key in ("gap_ci", "mean_gap_ci", "ci"):
        ci = metrics.get(key)
        if isinstance(ci, list) and len(ci) == 2:
            return _number(ci[0]), what
    target = params.get("trait") or metrics.get("trait") or metrics.get("target")
    for key in ("ranking", "traits"):
        entries = metrics.get(key)
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if isinstance(entry, dict) and entry.get("trait") == target:
                ci = entry.get("ci")
                if isinstance(ci, list) and len(ci) == 2:
                    return _number(ci[0]), what
                return _number(entry.get("ci_low")), what
    return None, "gap CI for its target trait"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _json(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}
