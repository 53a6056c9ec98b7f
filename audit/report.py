"""``subaudit report``: one self-contained HTML or Markdown file about a run, from the ledger.

Everything in the report comes from ledger queries (``sql/queries/``: ``run``, ``funnel``,
``overlap``, ``reasons``, ``report_*``, ``gates``, ``experiment_students``), so any past run
can be reported again, by anyone holding the ledger file. Sections whose data the run lacks
(no learned detector, no gate, no transfer check) say so instead of failing.

:func:`collect` gathers a :class:`ReportData`; :mod:`audit.report_html` and
:mod:`audit.report_md` render it; :func:`render_report` does both and writes the file
atomically.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import audit
from audit.errors import LedgerError, UserError
from audit.ledger import Ledger

__all__ = ["ReportData", "ReportResult", "collect", "render_report"]

Format = Literal["html", "md"]
HISTOGRAM_BINS = 24
EXAMPLES_PER_REASON = 3


@dataclass(frozen=True)
class Histogram:
    """One detector's score distribution: equal bins from ``low`` to ``high``."""

    detector: str
    low: float
    high: float
    counts: list[int]
    fired: list[int]
    """Rows per bin whose verdict was drop or flag."""
    threshold: float | None


@dataclass(frozen=True)
class ReasonExamples:
    """A few dropped rows for one detector and reason code."""

    detector: str
    reason: str
    total: int
    rows: list[dict[str, Any]]
    """``ordinal``, ``row_id``, ``score``, ``completion`` (first 300 characters)."""


@dataclass(frozen=True)
class ReportData:
    """Everything a report shows, read from the ledger."""

    run: dict[str, Any]
    packs: list[dict[str, Any]]
    config: dict[str, Any]
    detectors: list[dict[str, Any]]
    """``report_detectors`` rows with ``params`` and ``metrics`` parsed."""
    funnel: list[dict[str, Any]]
    overlap: dict[tuple[str, str], int]
    """Rows both detectors dropped (symmetric; the diagonal is each detector's drops)."""
    reasons: list[dict[str, Any]]
    histograms: list[Histogram]
    examples: list[ReasonExamples]
    quarantine: list[dict[str, Any]]
    top_tokens: list[tuple[str, list[dict[str, Any]]]]
    """Per ``token_log_odds`` detector: its most over-represented tokens."""
    gate: dict[str, Any] | None
    """The latest gate of the run, ``results`` parsed."""
    experiment: dict[str, Any] | None
    """The latest transfer check linked to the run, ``result`` parsed."""
    students: list[dict[str, Any]] = field(default_factory=list)
    generated_at: str = ""
    version: str = audit.__version__

    @property
    def run_id(self) -> str:
        """The run's id."""
        return str(self.run["run_id"])


@dataclass(frozen=True)
class ReportResult:
    """Where a report went."""

    run_id: str
    path: str
    format: Format
    bytes: int


def collect(led: Ledger, run_id: str) -> ReportData:
    """Read everything the report shows for one run.

    Raises:
        UserError: No such run in the ledger.
    """
    rows = led.query("run", {"run_id": run_id}).to_dicts()
    if not rows:
        raise UserError(
            f"no run '{run_id}' in the ledger (see `subaudit runs`)", path=str(led.path)
        )
    run = rows[0]
    params = {"run_id": run_id}
    detectors = led.query("report_detectors", params).to_dicts()
    for det in detectors:
        det["params"] = _json(det.get("params"), {})
        det["metrics"] = _json(det.get("metrics"), {})
    overlap: dict[tuple[str, str], int] = {}
    for pair in led.query("overlap", params).to_dicts():
        a, b, n = pair["detector_a"], pair["detector_b"], int(pair["both_dropped"])
        overlap[(a, b)] = overlap[(b, a)] = n
    gate = _optional(led, "gates", params)
    if gate is not None:
        gate["results"] = _json(gate.get("results"), {})
    experiment = _optional(led, "report_experiment", params)
    students: list[dict[str, Any]] = []
    if experiment is not None:
        experiment["result"] = _json(experiment.get("result"), {})
        students = led.query(
            "experiment_students", {"experiment_id": experiment["experiment_id"]}
        ).to_dicts()
    return ReportData(
        run=run,
        packs=_json(run.get("packs"), []),
        config=_json(run.get("config"), {}),
        detectors=detectors,
        funnel=led.query("funnel", params).to_dicts(),
        overlap=overlap,
        reasons=led.query("reasons", params).to_dicts(),
        histograms=_histograms(led, run_id, detectors),
        examples=_examples(led, run_id),
        quarantine=led.query("report_quarantine", params).to_dicts(),
        top_tokens=[
            (d["name"], list(d["metrics"].get("top_tokens") or []))
            for d in detectors
            if d["kind"] == "token_log_odds" and d["metrics"].get("top_tokens")
        ],
        gate=gate,
        experiment=experiment,
        students=students,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    )


def render_report(
    run_id: str,
    out: str | Path,
    *,
    format: Format | None = None,
    ledger: str | Path = "audit.duckdb",
) -> ReportResult:
    """Write a run's report: one self-contained HTML file (inline CSS and SVG) or Markdown.

    Args:
        run_id: A run in the ledger (a failed run is reported too, with what it recorded).
        out: The file to write (replaced atomically).
        format: ``html`` or ``md``; by default from the suffix of ``out`` (``.md`` is
            Markdown, anything else HTML).
        ledger: The DuckDB ledger file (opened read-only).

    Returns:
        Where the report went.

    Raises:
        UserError: Unknown run, unreadable ledger, an output path that cannot be written.
    """
    path = Path(out)
    fmt: Format = format or ("md" if path.suffix.lower() in (".md", ".markdown") else "html")
    if fmt not in ("html", "md"):
        raise UserError(f"unknown report format {fmt!r} (use html or md)", field="--format")
    if not path.parent.is_dir():
        raise UserError("the output's directory does not exist", path=str(path))
    with Ledger(ledger, read_only=True) as led:
        data = collect(led, run_id)
    if fmt == "html":
        from audit.report_html import render_html

        text = render_html(data)
    else:
        from audit.report_md import render_markdown

        text = render_markdown(data)
    encoded = text.encode("utf-8")
    # Write beside the target and rename, so a reader never sees half a report.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(encoded)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return ReportResult(run_id=run_id, path=str(path), format=fmt, bytes=len(encoded))


# ---------------------------------------------------------------------------------------
# queries


def _optional(led: Ledger, query: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """First row of a query on a table that older ledgers may lack (read-only: no migration)."""
    try:
        rows = led.query(query, params).to_dicts()
    except LedgerError:
        return None
    return rows[0] if rows else None


def _histograms(led: Ledger, run_id: str, detectors: list[dict[str, Any]]) -> list[Histogram]:
    thresholds = {d["name"]: d.get("threshold") for d in detectors}
    bins: dict[str, Histogram] = {}
    for row in led.query("report_scores", {"run_id": run_id, "bins": HISTOGRAM_BINS}).to_dicts():
        name = row["detector"]
        hist = bins.get(name)
        if hist is None:
            hist = Histogram(
                name,
                float(row["lo"]),
                float(row["hi"]),
                [0] * HISTOGRAM_BINS,
                [0] * HISTOGRAM_BINS,
                thresholds.get(name),
            )
            bins[name] = hist
        hist.counts[int(row["bin"])] = int(row["n"])
        hist.fired[int(row["bin"])] = int(row["fired"])
    return list(bins.values())


def _examples(led: Ledger, run_id: str) -> list[ReasonExamples]:
    groups: dict[tuple[str, str], ReasonExamples] = {}
    params = {"run_id": run_id, "per_reason": EXAMPLES_PER_REASON}
    for row in led.query("report_examples", params).to_dicts():
        key = (row["detector"], row["reason"])
        if key not in groups:
            groups[key] = ReasonExamples(key[0], key[1], int(row["n"]), [])
        groups[key].rows.append({k: row[k] for k in ("ordinal", "row_id", "score", "completion")})
    return list(groups.values())


def _json(value: Any, default: Any) -> Any:
    if value is None:
        return default
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return default
    return value
