"""HTML rendering of a run report: one file, inline CSS and SVG, no scripts, no network.

Every value that comes from the data (completions, detector names, paths, reasons) goes
through :func:`esc`, so a completion holding ``<script>`` renders as text. The page uses no
JavaScript at all; plots are SVG drawn here.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from typing import Any

from audit.report import Histogram, ReportData
from audit.report_text import (
    CONDITION_ORDER,
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

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2328;
background:#f6f8fa;line-height:1.4}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid
#d0d7de;padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}
section{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:8px 18px 16px;
margin-bottom:16px}
table{border-collapse:collapse;margin:6px 0;font-size:13px}
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f3f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
pre{background:#f6f8fa;padding:8px;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:10px 16px;min-width:120px}
.card .v{font-size:24px;font-weight:600}.card .k{font-size:12px;color:#57606a}
.muted{color:#57606a}.note{color:#57606a;font-style:italic}
.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}
.skip{color:#9a6700}.grid{display:flex;flex-wrap:wrap;gap:12px}
.sample{max-width:640px;white-space:pre-wrap;word-break:break-all}
"""


def esc(value: object) -> str:
    """HTML-escape any value (quotes included, so it is safe in attributes too)."""
    return html.escape("" if value is None else str(value), quote=True)


def render_html(data: ReportData) -> str:
    """The whole report as one HTML document."""
    run = data.run
    status_class = "pass" if run.get("status") == "succeeded" else "fail"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # No external requests of any kind: the page must open offline and stay inert.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">",
        f"<title>subaudit report: run {esc(data.run_id)}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        f"<h1>subaudit report: run <code>{esc(data.run_id)}</code></h1>",
        f'<div class="muted">status <span class="{status_class}">{esc(run.get("status"))}'
        f"</span> &middot; generated {esc(data.generated_at)} by subaudit {esc(data.version)}"
        " from the ledger alone</div>",
        _cards(data),
        _section("Provenance", _provenance(data)),
        _section("Funnel", _funnel(data)),
        _section("Score distributions", _histograms(data)),
        _section("Most over-represented tokens", _tokens(data)),
        _section("Dropped rows per reason", _examples(data)),
        _section("Quarantine", _quarantine(data)),
        _section("Gate", _gate(data)),
        _section("Transfer check", _transfer(data)),
        "</main></body></html>",
    ]
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------
# building blocks


def _section(title: str, body: str) -> str:
    anchor = title.lower().replace(" ", "-")
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{body}</section>'


def _table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: set[int] | None = None
) -> str:
    """A table; cells are escaped here (pass raw values, or :class:`_Html` for markup)."""
    numeric = numeric or set()
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            content = cell.markup if isinstance(cell, _Html) else esc(fmt(cell))
            cls = ' class="num"' if i in numeric else ""
            cells.append(f"<td{cls}>{content}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class _Html:
    """Markup built here from escaped parts (never raw data)."""

    def __init__(self, markup: str) -> None:
        self.markup = markup


def _note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def _code(value: object) -> _Html:
    return _Html(f"<code>{esc(value)}</code>")


def _cards(data: ReportData) -> str:
    cards = [
        f'<div class="card"><div class="v">{esc(value)}</div>'
        f'<div class="k">{esc(label)}</div></div>'
        for label, value in key_figures(data)
    ]
    return f'<div class="cards">{"".join(cards)}</div>'


# ---------------------------------------------------------------------------------------
# sections


def _provenance(data: ReportData) -> str:
    run = data.run
    facts = [
        ("input", _code(run.get("input_uri"))),
        ("input format", run.get("input_format")),
        ("input sha256", _code(run.get("input_sha256"))),
        ("input bytes", run.get("input_bytes")),
        ("started", run.get("started_at")),
        ("finished", run.get("finished_at")),
        ("config sha256", _code(run.get("config_sha256"))),
        ("survivors written to", _code(run.get("out_uri") or "-")),
        ("subaudit version", run.get("subaudit_version")),
        ("host", run.get("host")),
    ]
    if run.get("error"):
        facts.append(("error", run.get("error")))
    out = [_table(["field", "value"], facts)]
    out.append("<h3>Rule packs</h3>")
    if data.packs:
        out.append(
            _table(
                ["pack", "version", "sha256"],
                [(p.get("name"), p.get("version"), _code(p.get("sha256"))) for p in data.packs],
            )
        )
    else:
        out.append(_note("No rule packs recorded for this run."))
    out.append("<h3>Detectors</h3>")
    out.append(
        _table(
            [
                "detector",
                "kind",
                "version",
                "action",
                "params",
                "threshold",
                "fitted metrics",
                "seconds",
            ],
            [
                (
                    d["name"],
                    d["kind"],
                    d["version"],
                    d["action"],
                    _code(json.dumps(d["params"], sort_keys=True)),
                    d.get("threshold"),
                    metric_summary(d["metrics"]) or "-",
                    d.get("seconds"),
                )
                for d in data.detectors
            ],
            numeric={5, 7},
        )
    )
    config = json.dumps(data.config, indent=2, sort_keys=True)
    out.append(
        f"<details><summary>Resolved configuration</summary><pre>{esc(config)}</pre></details>"
    )
    return "".join(out)


def _funnel(data: ReportData) -> str:
    run = data.run
    rows_in = int(run.get("rows_in") or 0)
    stages = [
        ("rows read", rows_in),
        ("quarantined", int(run.get("quarantined") or 0)),
        ("dropped", int(run.get("dropped") or 0)),
        ("kept", int(run.get("kept") or 0)),
        ("flagged (kept)", int(run.get("flagged") or 0)),
    ]
    out = [
        _bars(
            stages,
            rows_in,
            colors={"kept": "#1a7f37", "dropped": "#cf222e", "quarantined": "#9a6700"},
        )
    ]
    if not data.funnel:
        return "".join([*out, _note("No detectors recorded for this run.")])
    out.append("<h3>Per detector</h3>")
    peak = max([int(f["dropped"]) for f in data.funnel] + [1])
    out.append(
        _table(
            ["detector", "action", "dropped", "", "only this detector", "flagged", "unknown"],
            [
                (
                    f["detector"],
                    f["action"],
                    f["dropped"],
                    _Html(_inline_bar(int(f["dropped"]), peak)),
                    f["unique_drops"],
                    f["flagged"],
                    f["unknown"],
                )
                for f in data.funnel
            ],
            numeric={2, 4, 5, 6},
        )
    )
    names = [f["detector"] for f in data.funnel if f["action"] == "drop"]
    if len(names) > 1:
        out.append("<h3>Overlap of drops</h3>")
        out.append(
            '<p class="muted">Rows both detectors dropped; '
            "the diagonal is each detector's drops.</p>"
        )
        top = max(data.overlap.values(), default=1) or 1
        rows = []
        for a in names:
            cells: list[object] = [a]
            for b in names:
                n = data.overlap.get((a, b), 0)
                shade = 0.08 + 0.6 * n / top if n else 0.0
                cells.append(
                    _Html(
                        f'<span style="display:block;background:rgba(207,34,46,{shade:.2f})">'
                        f"{n:,}</span>"
                    )
                )
            rows.append(cells)
        out.append(_table(["", *names], rows, numeric=set(range(1, len(names) + 1))))
    if data.reasons:
        out.append("<h3>Reason codes</h3>")
        out.append(
            _table(
                ["detector", "verdict", "reason", "rows"],
                [(r["detector"], r["verdict"], r["reason"], r["n"]) for r in data.reasons],
                numeric={3},
            )
        )
    return "".join(out)


def _histograms(data: ReportData) -> str:
    if not data.histograms:
        return _note("No scores recorded for this run.")
    charts = [_histogram_svg(h) for h in data.histograms]
    legend = (
        '<p class="muted">Rows per score bin; <span style="color:#cf222e">red</span>: the '
        "detector fired (drop or flag); dashed line: the recorded threshold.</p>"
    )
    return legend + f'<div class="grid">{"".join(charts)}</div>'


def _histogram_svg(h: Histogram) -> str:
    width, height, left, bottom, top = 360, 150, 36, 22, 22
    plot_w, plot_h = width - left - 8, height - bottom - top
    peak = max(h.counts) or 1
    bar_w = plot_w / len(h.counts)
    shapes = []
    for i, (n, fired) in enumerate(zip(h.counts, h.fired, strict=True)):
        if not n:
            continue
        x = left + i * bar_w
        bar_h = plot_h * n / peak
        fired_h = plot_h * fired / peak
        shapes.append(
            f'<rect x="{x:.1f}" y="{top + plot_h - bar_h:.1f}" width="{max(bar_w - 1, 1):.1f}" '
            f'height="{bar_h:.1f}" fill="#8fb8de"/>'
        )
        if fired:
            shapes.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - fired_h:.1f}" '
                f'width="{max(bar_w - 1, 1):.1f}" '
                f'height="{fired_h:.1f}" fill="#cf222e"/>'
            )
    if h.threshold is not None and h.high > h.low and h.low <= h.threshold <= h.high:
        tx = left + plot_w * (h.threshold - h.low) / (h.high - h.low)
        shapes.append(
            f'<line x1="{tx:.1f}" y1="{top}" x2="{tx:.1f}" y2="{top + plot_h}" '
            'stroke="#1f2328" stroke-dasharray="4 3"/>'
        )
    axis = (
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#57606a"/>'
        f'<text x="{left}" y="{height - 6}" font-size="10" fill="#57606a">{esc(fmt(h.low))}</text>'
        f'<text x="{left + plot_w}" y="{height - 6}" font-size="10" fill="#57606a" '
        f'text-anchor="end">{esc(fmt(h.high))}</text>'
        f'<text x="{left - 4}" y="{top + 8}" font-size="10" fill="#57606a" '
        f'text-anchor="end">{peak:,}</text>'
        f'<text x="{left - 4}" y="{top + plot_h}" font-size="10" fill="#57606a" '
        'text-anchor="end">0</text>'
        f'<text x="{left}" y="14" font-size="12" font-weight="600">{esc(h.detector)}</text>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="score histogram of {esc(h.detector)}">'
        f"{axis}{''.join(shapes)}</svg>"
    )


def _tokens(data: ReportData) -> str:
    if not data.top_tokens:
        return _note(not_available("no token_log_odds detector ran (needs --reference)"))
    out = []
    for name, tokens in data.top_tokens:
        out.append(f"<h3>{esc(name)}</h3>")
        peak = max([abs(float(t.get("z") or 0.0)) for t in tokens] + [1e-9])
        out.append(
            _table(
                ["token", "z", "", "log-odds", "count (data)", "count (reference)"],
                [
                    (
                        _code(visible(t.get("token"))),
                        t.get("z"),
                        _Html(_inline_bar(abs(float(t.get("z") or 0.0)), peak)),
                        t.get("log_odds"),
                        t.get("count_data"),
                        t.get("count_reference"),
                    )
                    for t in tokens[:25]
                ],
                numeric={1, 3, 4, 5},
            )
        )
    return "".join(out)


def _examples(data: ReportData) -> str:
    if not data.examples:
        return _note("No rows were dropped in this run.")
    out = []
    for group in data.examples:
        out.append(
            f"<h3><code>{esc(group.detector)}</code> &middot; <code>{esc(group.reason)}</code> "
            f'<span class="muted">({group.total:,} rows)</span></h3>'
        )
        out.append(
            _table(
                ["ordinal", "row id", "score", "completion (first 300 characters)"],
                [
                    (
                        r["ordinal"],
                        _code(r["row_id"]),
                        r["score"],
                        _Html(f'<pre class="sample">{esc(r["completion"])}</pre>'),
                    )
                    for r in group.rows
                ],
                numeric={0, 2},
            )
        )
    return "".join(out)


def _quarantine(data: ReportData) -> str:
    total = int(data.run.get("quarantined") or 0)
    if not total:
        return _note("No rows were quarantined: every input row was readable.")
    share = esc(percent(total, data.run.get("rows_in")))
    head = f"<p>{total:,} row(s) could not be read ({share} of the input).</p>"
    return head + _table(
        ["error", "rows", "first line", "example (first 200 characters)"],
        [
            (
                q["error"],
                q["n"],
                q["first_line"],
                _Html(f'<pre class="sample">{esc(q["example"])}</pre>'),
            )
            for q in data.quarantine
        ],
        numeric={1, 2},
    )


def _gate(data: ReportData) -> str:
    if data.gate is None:
        return _note(not_available("the run has not been gated (subaudit gate RUN_ID)"))
    g = data.gate
    cls = "pass" if g["passed"] else "fail"
    head = (
        f"<p>Latest gate <code>{esc(g['gate_id'])}</code> ({esc(fmt(g['created_at']))}), suite "
        f"<code>{esc(g['suite'])}</code> {esc(g['suite_version'])} "
        f"(sha256 <code>{esc(str(g['suite_sha256'])[:16])}</code>&hellip;): "
        f'<span class="{cls}">{"PASSED" if g["passed"] else "FAILED"}</span>, '
        f"{esc(g['n_passed'])} passed, {esc(g['n_failed'])} failed, "
        f"{esc(g['n_skipped'])} skipped.</p>"
    )
    rows = []
    for r in gate_rows(g):
        status = str(r["status"])
        cls = {"passed": "pass", "failed": "fail", "error": "fail"}.get(status, "skip")
        rows.append(
            (
                r["check"],
                r["level"],
                _Html(f'<span class="{cls}">{esc(status)}</span>'),
                r["observed"],
                r["detail"],
            )
        )
    return head + _table(["check", "level", "status", "observed", "detail"], rows)


def _transfer(data: ReportData) -> str:
    exp = data.experiment
    if exp is None:
        return _note(
            not_available("no transfer check is linked to it (subaudit transfer --cleaned run:ID)")
        )
    out = [
        _table(
            ["field", "value"],
            [
                ("experiment", _code(exp["experiment_id"])),
                ("status", exp["status"]),
                ("world", exp["world"]),
                ("trait", exp["trait"]),
                ("control run", _code(exp.get("control_run_id") or "-")),
                ("verdict", _Html(f"<strong>{esc(exp.get('verdict') or '-')}</strong>")),
                ("reason", exp.get("verdict_reason") or exp.get("error") or "-"),
                (
                    "cleaning efficacy: share of the raw effect removed",
                    efficacy(exp),
                ),
            ],
        )
    ]
    conditions = condition_rows(exp, data.students)
    if conditions:
        out.append("<h3>Trait probability per condition (95% CI)</h3>")
        out.append(_ci_svg(conditions))
        out.append(
            _table(
                ["condition", "mean", "CI low", "CI high", "students"],
                [(c["condition"], c["mean"], c["low"], c["high"], c["n"]) for c in conditions],
                numeric={1, 2, 3, 4},
            )
        )
    else:
        out.append(_note("The check recorded no per-condition figures."))
    return "".join(out)


def _ci_svg(conditions: list[dict[str, Any]]) -> str:
    width, row_h, left, right = 560, 26, 130, 20
    height = row_h * len(conditions) + 30
    values = [
        v
        for c in conditions
        for v in (c["mean"], c["low"], c["high"])
        if isinstance(v, int | float)
    ]
    hi = max([*values, 1e-9]) * 1.1
    lo = min([*values, 0.0])
    span = hi - lo or 1.0

    def x(v: float) -> float:
        return left + (width - left - right) * (v - lo) / span

    shapes = []
    colors = dict(
        zip(
            CONDITION_ORDER,
            ("#cf222e", "#e16f24", "#bf8700", "#1a7f37", "#8250df", "#57606a"),
            strict=False,
        )
    )
    for i, c in enumerate(conditions):
        y = 14 + i * row_h
        color = colors.get(str(c["condition"]), "#0969da")
        shapes.append(
            f'<text x="{left - 8}" y="{y + 4}" font-size="12" text-anchor="end">'
            f"{esc(c['condition'])}</text>"
        )
        if isinstance(c["low"], int | float) and isinstance(c["high"], int | float):
            shapes.append(
                f'<line x1="{x(c["low"]):.1f}" y1="{y}" x2="{x(c["high"]):.1f}" y2="{y}" '
                f'stroke="{color}" stroke-width="2"/>'
            )
        if isinstance(c["mean"], int | float):
            shapes.append(f'<circle cx="{x(c["mean"]):.1f}" cy="{y}" r="4" fill="{color}"/>')
    base = height - 12
    shapes.append(
        f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" stroke="#57606a"/>'
    )
    for tick in (lo, lo + span / 2, hi):
        shapes.append(
            f'<text x="{x(tick):.1f}" y="{height - 1}" font-size="10" fill="#57606a" '
            f'text-anchor="middle">{esc(fmt(tick))}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="trait probability per condition">{"".join(shapes)}</svg>'
    )


# ---------------------------------------------------------------------------------------
# small bars


def _bars(stages: list[tuple[str, int]], total: int, colors: dict[str, str]) -> str:
    width, row_h, left = 640, 24, 120
    height = row_h * len(stages) + 6
    shapes = []
    for i, (label, n) in enumerate(stages):
        y = 4 + i * row_h
        w = (width - left - 150) * n / total if total else 0
        color = colors.get(label, "#8fb8de")
        shapes.append(
            f'<text x="{left - 8}" y="{y + 14}" font-size="12" text-anchor="end">'
            f"{esc(label)}</text>"
        )
        shapes.append(
            f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{row_h - 6}" fill="{color}"/>'
        )
        shapes.append(
            f'<text x="{left + w + 6:.1f}" y="{y + 14}" font-size="12">'
            f"{n:,} ({esc(percent(n, total))})</text>"
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="funnel">{"".join(shapes)}</svg>'
    )


def _inline_bar(value: float, peak: float) -> str:
    w = 120 * value / peak if peak else 0
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="122" height="10"><rect x="0" y="1" '
        f'width="{w:.1f}" height="8" fill="#cf222e" opacity="0.7"/></svg>'
    )
