"""``subaudit gate``: may this run's survivors enter training?

The gate reads everything from the ledger (so any past run can be gated again): the run's
survivors, its detectors with their fitted metrics, and the latest transfer check linked to
it. A suite (:mod:`audit.suites`) says what to check; Great Expectations validates the
survivors and a one-row frame of run figures (:mod:`audit.gate_ge`); the outcome goes into
the ledger's ``gates`` table. A gate passes when no expectation failed or errored; checks
whose figure the run lacks are skipped with a note and do not fail it (unless required).

Exit codes of the CLI: 0 passed, 1 failed, 2 an error the user can fix.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

import audit
from audit.errors import LedgerError, UserError
from audit.gate_plan import Outcome, Planned, RunFacts, plan_run_gates
from audit.gate_recheck import plan_rechecks
from audit.ledger import Ledger
from audit.suites import Suite, load_suite

__all__ = ["GateResult", "gate", "read_facts"]

MAX_ROW_IDS = 20
"""Default cap on the failing row ids kept per expectation (the count is always exact)."""


@dataclass(frozen=True)
class GateResult:
    """One gate's outcome; :meth:`to_json` is the ``gate --json`` contract."""

    gate_id: str
    run_id: str
    suite: dict[str, Any]
    """``name``, ``version``, ``sha256``, ``path``, ``bundled``."""
    passed: bool
    outcomes: list[Outcome]
    survivors: int
    created_at: str
    ledger: str
    docs: str | None
    seconds: float
    gx_version: str

    @property
    def counts(self) -> dict[str, int]:
        """Outcomes per status (``passed``, ``failed``, ``skipped``, ``error``)."""
        out = {"passed": 0, "failed": 0, "skipped": 0, "error": 0}
        for o in self.outcomes:
            out[o.status] += 1
        return out

    @property
    def exit_code(self) -> int:
        """0 when the gate passed, 1 when it failed."""
        return 0 if self.passed else 1

    def to_json(self) -> dict[str, Any]:
        """JSON-ready: ids, ``passed``, ``counts``, and every outcome with its failing rows."""
        return {
            "gate_id": self.gate_id,
            "run_id": self.run_id,
            "suite": self.suite,
            "passed": self.passed,
            "counts": self.counts,
            "survivors": self.survivors,
            "outcomes": [asdict(o) for o in self.outcomes],
            "created_at": self.created_at,
            "ledger": self.ledger,
            "docs": self.docs,
            "seconds": self.seconds,
            "gx_version": self.gx_version,
        }


def new_gate_id() -> str:
    """Sortable and unique: ``g-YYYYMMDD-HHMMSS-xxxxxx``."""
    return f"g-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def read_facts(led: Ledger, run_id: str) -> tuple[dict[str, Any], RunFacts]:
    """The run's row and the run-level figures a gate checks.

    Raises:
        UserError: No such run, or the run did not succeed (nothing to gate).
    """
    rows = led.query("run", {"run_id": run_id}).to_dicts()
    if not rows:
        raise UserError(
            f"no run '{run_id}' in the ledger (see `subaudit runs`)", path=str(led.path)
        )
    run = rows[0]
    if run["status"] != "succeeded":
        raise UserError(
            f"run '{run_id}' is {run['status']}, not succeeded: it has no survivors to gate",
            path=str(led.path),
        )
    detectors = led.query("report_detectors", {"run_id": run_id}).to_dicts()
    try:
        found = led.query("report_experiment", {"run_id": run_id}).to_dicts()
    except LedgerError:  # a ledger written before transfer checks existed (read-only open)
        found = []
    facts = RunFacts(
        rows_in=int(run["rows_in"] or 0),
        kept=int(run["kept"] or 0),
        quarantined=int(run["quarantined"] or 0),
        detectors=detectors,
        experiment=found[0] if found else None,
    )
    return run, facts


def gate(
    run_id: str,
    suite: str | Path = "numbers",
    *,
    ledger: str | Path = "audit.duckdb",
    docs: str | Path | None = None,
    max_row_ids: int = MAX_ROW_IDS,
    record: bool = True,
) -> GateResult:
    """Validate a run's survivors and run-level figures against a suite.

    Args:
        run_id: A succeeded run in the ledger.
        suite: A bundled suite name (``numbers``, ``strict``) or a suite TOML path.
        ledger: The DuckDB ledger file.
        docs: Directory for a Great Expectations file context and its Data Docs; by
            default the context is ephemeral and nothing is written besides the ledger.
        max_row_ids: Failing row ids kept per expectation (the count is always exact).
        record: Write the outcome into the ledger's ``gates`` table.

    Returns:
        The gate's outcome (``passed``, every expectation's result, failing row ids).

    Raises:
        UserError: Unknown run or suite, a malformed suite, an unreadable ledger.
    """
    started = time.perf_counter()
    loaded = load_suite(suite)
    if max_row_ids < 0:
        raise UserError("max_row_ids must be >= 0", field="--max-row-ids")
    # Read, then let go of the file: validation takes seconds and a scan may want to write.
    with Ledger(ledger, read_only=True) as led:
        _, facts = read_facts(led, run_id)
        survivors = led.query("survivors", {"run_id": run_id}).to_polars()
    rows_frame, planned_rows, outcomes_rows = _plan_rows(loaded, survivors, facts)
    planned_run, skipped_run = plan_run_gates(loaded.gates, facts)
    run_frame = pl.DataFrame(
        {p.kwargs["column"]: [p.observed] for p in planned_run} or {"run_id": [run_id]}
    )

    from audit.gate_ge import validate  # Great Expectations: ~2.5 s to import

    ge = validate(
        {
            "rows": (rows_frame.to_pandas(), planned_rows),
            "run": (run_frame.to_pandas(), planned_run),
        },
        suite_name=loaded.name,
        suite_path=str(loaded.path),
        run_id=run_id,
        docs=None if docs is None else Path(docs),
        max_row_ids=max_row_ids,
    )
    by_id = {o.id: o for o in ge.outcomes}
    # Report in suite order: expectations, re-checks (with their skips), run checks.
    ordered = [by_id.get(o.id, o) for o in outcomes_rows]
    ordered += [by_id[p.id] for p in planned_run] + skipped_run
    result = GateResult(
        gate_id=new_gate_id(),
        run_id=run_id,
        suite=loaded.record(),
        passed=not any(o.status in ("failed", "error") for o in ordered),
        outcomes=ordered,
        survivors=survivors.height,
        created_at=datetime.now(UTC).isoformat(),
        ledger=str(ledger),
        docs=ge.docs,
        seconds=round(time.perf_counter() - started, 3),
        gx_version=ge.gx_version,
    )
    if record:
        _record(Path(ledger), result, loaded)
    return result


def _plan_rows(
    suite: Suite, survivors: pl.DataFrame, facts: RunFacts
) -> tuple[pl.DataFrame, list[Planned], list[Outcome]]:
    """Row-level expectations (suite ``expect`` entries, then re-checks) on the survivors.

    Returns the frame to validate, the planned expectations, and one placeholder outcome per
    planned or skipped check, in suite order (placeholders are replaced by GE's outcomes).
    """
    planned = [Planned(e.id, "rows", e.type, e.kwargs, e.description) for e in suite.expects]
    frame, rechecked, skipped = plan_rechecks(
        suite.rechecks, survivors, facts.detectors, suite_path=str(suite.path)
    )
    planned += rechecked
    placeholders = [Outcome(p.id, "rows", "error", p.type, p.kwargs) for p in planned]
    return frame, planned, placeholders + skipped


def _record(path: Path, result: GateResult, suite: Suite) -> None:
    counts = result.counts
    with Ledger(path) as led:
        led.execute(
            "insert_gate",
            gate_id=result.gate_id,
            run_id=result.run_id,
            created_at=datetime.fromisoformat(result.created_at),
            suite=suite.name,
            suite_version=suite.version,
            suite_path=str(suite.path),
            suite_sha256=suite.sha256,
            passed=result.passed,
            n_passed=counts["passed"],
            n_failed=counts["failed"] + counts["error"],
            n_skipped=counts["skipped"],
            results=result.to_json(),
            docs_uri=result.docs,
            seconds=result.seconds,
            subaudit_version=audit.__version__,
            gx_version=result.gx_version,
        )
