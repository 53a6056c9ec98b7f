"""Run summaries rebuilt from the ledger, so that they survive server restarts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from audit.scan import FunnelRow, ScanResult
from audit.server.jobs import JobStore


def run_summary(store: JobStore, run_id: str) -> dict[str, Any] | None:
    """The ``scan --json`` object of a run, from the ledger; None when there is no such run.

    The keys are those of :meth:`audit.scan.ScanResult.to_json`. Differences, all because
    the ledger does not record them: ``seconds`` is the run's wall time between
    ``started_at`` and ``finished_at`` (the scan's own figure also counts loading the
    packs), ``abandoned_runs_failed`` is empty, ``out``/``rejected`` are resolved paths.
    A run that did not succeed has null counts and an extra ``error`` key.
    """
    rows = store.query("run", {"run_id": run_id})
    if not rows:
        return None
    run = rows[0]
    funnel = [FunnelRow(**row) for row in store.query("funnel", {"run_id": run_id})]
    started, finished = run["started_at"], run["finished_at"]
    seconds = (
        round((finished - started).total_seconds(), 3)
        if isinstance(started, datetime) and isinstance(finished, datetime)
        else 0.0
    )
    summary = ScanResult(
        run_id=run["run_id"],
        rows_in=run["rows_in"],
        kept=run["kept"],
        dropped=run["dropped"],
        flagged=run["flagged"],
        quarantined=run["quarantined"],
        funnel=funnel,
        ledger=str(store.ledger.path),
        out=run["out_uri"],
        rejected=run["rejected_uri"],
        input_sha256=run["input_sha256"],
        seconds=seconds,
        status=run["status"],
    ).to_json()
    if run["status"] != "succeeded":
        summary["error"] = run["error"]
    return summary


def run_list(store: JobStore) -> list[dict[str, Any]]:
    """Every run, newest first (the ``runs`` named query), JSON-ready."""
    return [
        {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
        for row in store.query("runs")
    ]
