"""Formatting shared by the HTML and Markdown reports: numbers, summaries, derived rows.

Nothing here escapes: the renderers do, each for its own format.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, Any

from audit.transfer_stats import CONDITIONS

if TYPE_CHECKING:
    from audit.report import ReportData

# The transfer check's conditions in reporting order (one list for the check and reports).
CONDITION_ORDER = CONDITIONS
_METRIC_KEYS = ("auc", "auc_ci", "p_value", "tpr_data", "fpr_reference")


def fmt(value: object) -> str:
    """A value as a short string: 4 significant digits, thousands separators, no NaN noise."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.3e}"
        return f"{value:.4g}"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    return str(value)


def percent(part: object, total: object) -> str:
    """``part / total`` as a percentage, or ``-`` when undefined."""
    if not isinstance(part, int | float) or not isinstance(total, int | float) or not total:
        return "-"
    return f"{100.0 * part / total:.1f}%"


def visible(token: object) -> str:
    """A token with its whitespace made visible (a space token would otherwise look empty)."""
    return str(token).replace(" ", "␠").replace("\n", "⏎").replace("\t", "⇥") or "∅"


def efficacy(experiment: dict[str, Any]) -> str:
    """Cleaning efficacy with its CI: ``value [low, high]``."""
    e = experiment
    return f"{fmt(e.get('efficacy'))} [{fmt(e.get('efficacy_low'))}, {fmt(e.get('efficacy_high'))}]"


def not_available(why: str) -> str:
    """The note of a section whose data the run lacks."""
    return f"Not available for this run: {why}."


def key_figures(data: ReportData) -> list[tuple[str, str]]:
    """The headline numbers: rows in, kept, dropped, flagged, quarantined, survival."""
    run = data.run
    rows_in = run.get("rows_in")
    out = [
        ("rows in", fmt(rows_in)),
        ("kept", fmt(run.get("kept"))),
        ("dropped", fmt(run.get("dropped"))),
        ("flagged", fmt(run.get("flagged"))),
        ("quarantined", fmt(run.get("quarantined"))),
        ("survival", percent(run.get("kept"), rows_in)),
    ]
    if data.gate is not None:
        out.append(("latest gate", "PASSED" if data.gate["passed"] else "FAILED"))
    if data.experiment is not None and data.experiment.get("verdict"):
        out.append(("transfer verdict", str(data.experiment["verdict"])))
    return out


def metric_summary(metrics: dict[str, Any]) -> str:
    """A learned detector's headline metrics in one line (AUC with CI, p-value...)."""
    parts = [f"{k}={fmt(metrics[k])}" for k in _METRIC_KEYS if metrics.get(k) is not None]
    return ", ".join(parts)


def gate_rows(gate: dict[str, Any]) -> list[dict[str, object]]:
    """One row per outcome of a recorded gate: check, level, status, observed, detail."""
    rows: list[dict[str, object]] = []
    for o in (gate.get("results") or {}).get("outcomes", []):
        detail = str(o.get("note") or "")
        count = o.get("unexpected_count")
        if o.get("status") in ("failed", "error") and count:
            ids = list(o.get("failing_row_ids") or [])
            more = int(count) - len(ids)
            detail = f"{count:,} row(s): {', '.join(ids)}" + (
                f" (+{more:,} more)" if more > 0 else ""
            )
        rows.append(
            {
                "check": o.get("id"),
                "level": o.get("level"),
                "status": o.get("status"),
                "observed": fmt(o.get("observed")),
                "detail": detail or str(o.get("description") or ""),
            }
        )
    return rows


def condition_rows(
    experiment: dict[str, Any], students: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Trait probability per condition: mean, CI and student count.

    From the check's recorded result (``conditions``: mean with its CI) when present; else
    the students' mean per condition without a CI.
    """
    conditions = (experiment.get("result") or {}).get("conditions") or {}
    rows: list[dict[str, Any]] = []
    if isinstance(conditions, dict) and any(conditions.values()):
        names = [c for c in CONDITION_ORDER if c in conditions] + sorted(
            c for c in conditions if c not in CONDITION_ORDER
        )
        for name in names:
            c = conditions[name]
            if not isinstance(c, dict):
                continue
            ci = c.get("ci") or [None, None]
            rows.append(
                {
                    "condition": name,
                    "mean": c.get("mean"),
                    "low": ci[0],
                    "high": ci[1],
                    "n": c.get("n"),
                }
            )
        return rows
    by: dict[str, list[float]] = {}
    for s in students:
        by.setdefault(str(s["condition"]), []).append(float(s["trait_probability"]))
    for name in sorted(
        by, key=lambda c: (CONDITION_ORDER.index(c) if c in CONDITION_ORDER else 99, c)
    ):
        values = by[name]
        rows.append(
            {
                "condition": name,
                "mean": sum(values) / len(values),
                "low": None,
                "high": None,
                "n": len(values),
            }
        )
    return rows
