"""Markdown rendering of a run report: the same sections as the HTML, as tables and text bars.

Data values are escaped for Markdown tables *and* for the HTML that most Markdown viewers
let through: ``<``, ``>`` and ``&`` become entities, ``|`` is escaped and newlines shown as
``⏎``, so a completion can neither break a table nor inject markup.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence

from audit.report import ReportData
from audit.report_text import (
    condition_rows,
    efficacy,
    fmt,
    gate_rows,
    key_figures,
    metric_summary,
    not_available,
    percent,
    visible,
)


def md(value: object) -> str:
    """Escape a value for a Markdown table cell."""
    text = html.escape(fmt(value), quote=False)
    for ch in ("\\", "|", "`", "*", "_", "[", "]"):
        text = text.replace(ch, "\\" + ch)
    return text.replace("\r\n", "⏎").replace("\n", "⏎").replace("\r", "⏎")


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(md(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(md(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _bar(value: float, peak: float, width: int = 20) -> str:
    return "█" * round(width * value / peak) if peak else ""


def render_markdown(data: ReportData) -> str:
    """The whole report as one Markdown document."""
    run = data.run
    out = [
        f"# subaudit report: run {md(data.run_id)}\n",
        f"Status **{md(run.get('status'))}**; generated {md(data.generated_at)} by subaudit "
        f"{md(data.version)} from the ledger alone.\n",
        _table([k for k, _ in key_figures(data)], [[v for _, v in key_figures(data)]]),
        "## Provenance\n",
        _table(
            ["field", "value"],
            [
                ("input", run.get("input_uri")),
                ("input format", run.get("input_format")),
                ("input sha256", run.get("input_sha256")),
                ("started", run.get("started_at")),
                ("finished", run.get("finished_at")),
                ("config sha256", run.get("config_sha256")),
                ("subaudit version", run.get("subaudit_version")),
            ],
        ),
        "### Rule packs\n",
        _table(
            ["pack", "version", "sha256"],
            [(p.get("name"), p.get("version"), p.get("sha256")) for p in data.packs],
        )
        if data.packs
        else "No rule packs recorded for this run.\n",
        "### Detectors\n",
        _table(
            ["detector", "kind", "version", "action", "params", "threshold", "fitted metrics"],
            [
                (
                    d["name"],
                    d["kind"],
                    d["version"],
                    d["action"],
                    json.dumps(d["params"], sort_keys=True),
                    d.get("threshold"),
                    metric_summary(d["metrics"]) or "-",
                )
                for d in data.detectors
            ],
        ),
        "## Funnel\n",
    ]
    rows_in = int(run.get("rows_in") or 0)
    stages = [
        (k, int(run.get(k) or 0)) for k in ("rows_in", "quarantined", "dropped", "kept", "flagged")
    ]
    out.append(
        _table(
            ["stage", "rows", "share", ""],
            [(k, n, percent(n, rows_in), _bar(n, rows_in)) for k, n in stages],
        )
    )
    if data.funnel:
        out.append("### Per detector\n")
        out.append(
            _table(
                ["detector", "action", "dropped", "only this detector", "flagged", "unknown"],
                [
                    (
                        f["detector"],
                        f["action"],
                        f["dropped"],
                        f["unique_drops"],
                        f["flagged"],
                        f["unknown"],
                    )
                    for f in data.funnel
                ],
            )
        )
        names = [f["detector"] for f in data.funnel if f["action"] == "drop"]
        if len(names) > 1:
            out.append(
                "### Overlap of drops (rows both dropped; diagonal: each detector's drops)\n"
            )
            out.append(
                _table(
                    ["", *names],
                    [[a, *(data.overlap.get((a, b), 0) for b in names)] for a in names],
                )
            )
    out.append("## Score distributions\n")
    if data.histograms:
        for h in data.histograms:
            peak = max(h.counts) or 1
            step = (h.high - h.low) / len(h.counts)
            out.append(f"### {md(h.detector)} (threshold {md(h.threshold) or '-'})\n")
            out.append(
                _table(
                    ["from", "rows", "fired", ""],
                    [
                        (h.low + i * step, n, f, _bar(n, peak))
                        for i, (n, f) in enumerate(zip(h.counts, h.fired, strict=True))
                        if n
                    ],
                )
            )
    else:
        out.append("No scores recorded for this run.\n")
    out.append("## Most over-represented tokens\n")
    if data.top_tokens:
        for name, tokens in data.top_tokens:
            out.append(f"### {md(name)}\n")
            out.append(
                _table(
                    ["token", "z", "log-odds", "count (data)", "count (reference)"],
                    [
                        (
                            visible(t.get("token")),
                            t.get("z"),
                            t.get("log_odds"),
                            t.get("count_data"),
                            t.get("count_reference"),
                        )
                        for t in tokens[:25]
                    ],
                )
            )
    else:
        out.append(not_available("no token_log_odds detector ran (needs --reference)") + "\n")
    out.append("## Dropped rows per reason\n")
    if data.examples:
        for group in data.examples:
            out.append(f"### {md(group.detector)} / {md(group.reason)} ({group.total:,} rows)\n")
            out.append(
                _table(
                    ["ordinal", "row id", "score", "completion"],
                    [(r["ordinal"], r["row_id"], r["score"], r["completion"]) for r in group.rows],
                )
            )
    else:
        out.append("No rows were dropped in this run.\n")
    out.append("## Quarantine\n")
    if data.quarantine:
        out.append(
            _table(
                ["error", "rows", "first line", "example"],
                [(q["error"], q["n"], q["first_line"], q["example"]) for q in data.quarantine],
            )
        )
    else:
        out.append("No rows were quarantined: every input row was readable.\n")
    out.append("## Gate\n")
    if data.gate is None:
        out.append(not_available("the run has not been gated (subaudit gate RUN_ID)") + "\n")
    else:
        g = data.gate
        out.append(
            f"Latest gate {md(g['gate_id'])}, suite {md(g['suite'])} {md(g['suite_version'])}: "
            f"**{'PASSED' if g['passed'] else 'FAILED'}** ({md(g['n_passed'])} passed, "
            f"{md(g['n_failed'])} failed, {md(g['n_skipped'])} skipped).\n"
        )
        out.append(
            _table(
                ["check", "level", "status", "observed", "detail"],
                [list(r.values()) for r in gate_rows(g)],
            )
        )
    out.append("## Transfer check\n")
    exp = data.experiment
    if exp is None:
        out.append(
            not_available("no transfer check is linked to it (subaudit transfer --cleaned run:ID)")
            + "\n"
        )
    else:
        out.append(
            _table(
                ["field", "value"],
                [
                    ("experiment", exp["experiment_id"]),
                    ("status", exp["status"]),
                    ("world", exp["world"]),
                    ("trait", exp["trait"]),
                    ("verdict", exp.get("verdict") or "-"),
                    ("reason", exp.get("verdict_reason") or exp.get("error") or "-"),
                    (
                        "cleaning efficacy",
                        efficacy(exp),
                    ),
                ],
            )
        )
        rows = condition_rows(exp, data.students)
        if rows:
            means = [float(r["mean"]) for r in rows if isinstance(r["mean"], int | float)]
            top = max([*means, 1e-9])
            out.append(
                _table(
                    ["condition", "trait probability", "CI low", "CI high", "students", ""],
                    [
                        (
                            r["condition"],
                            r["mean"],
                            r["low"],
                            r["high"],
                            r["n"],
                            _bar(float(r["mean"] or 0.0), top),
                        )
                        for r in rows
                    ],
                )
            )
    return "\n".join(out)
