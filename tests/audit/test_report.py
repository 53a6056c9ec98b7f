"""The report: built from the ledger alone, every section, escaping, and a real browser render."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import polars as pl
import pytest

from audit.cli import main as cli_main
from audit.cli import report as report_cli
from audit.cli.main import main
from audit.errors import UserError
from audit.ledger import Ledger
from audit.report import collect, render_report
from audit.sample import SampleConfig, make_frame
from audit.scan import scan

XSS = "<script>alert('pwned')</script> 1, 2"
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(autouse=True)
def _registered(monkeypatch: pytest.MonkeyPatch) -> None:
    # Until audit/cli/main.py registers the command, register it for these tests.
    if report_cli not in cli_main._COMMANDS:
        monkeypatch.setattr(cli_main, "_COMMANDS", (*cli_main._COMMANDS, report_cli))


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A run with two packs, a hostile completion, a quarantined line, learned-detector
    metrics, a gate and a linked transfer check, all in one ledger."""
    tmp = tmp_path_factory.mktemp("report")
    frame = make_frame(SampleConfig(rows=400, seed=5, trait_word_rate=0.05))
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 7)
        .then(pl.lit(XSS))
        .otherwise("completion")
        .alias("completion")
    )
    src = tmp / "teacher.jsonl"
    frame.write_ndjson(src)
    with src.open("a") as handle:
        handle.write('{"prompt": "p", "completion": <broken\n')
    led_path = tmp / "audit.duckdb"
    result = scan(src, ["numbers", "animals"], ledger=led_path)
    with Ledger(led_path) as led:
        led.record_detector(
            run_id=result.run_id, name="cli/token_log_odds", pack="cli", rule_id="token_log_odds",
            kind="token_log_odds", version="1.0.0", action="flag", params={"k": 5},
            threshold=2.5, metrics={"auc": 0.61, "auc_ci": [0.55, 0.67], "p_value": 0.01,
            "top_tokens": [{"token": "<b>owl</b>", "z": 4.2, "log_odds": 1.1, "count_data": 30,
                            "count_reference": 2}, {"token": " ", "z": 2.0, "log_odds": 0.2,
                            "count_data": 300, "count_reference": 250}]},
        )  # fmt: skip
        led.execute(
            "insert_experiment", experiment_id="exp-1", run_id=result.run_id,
            control_run_id=None, world="tinylm", world_manifest={}, trait="owl", seeds=[0, 1, 2],
            config={}, config_sha256="0" * 64, subaudit_version="0", host="h", pid=1,
        )  # fmt: skip
        conditions = {
            "raw": {"mean": 0.31, "ci": [0.25, 0.37], "n": 3},
            "cleaned": {"mean": 0.22, "ci": [0.18, 0.27], "n": 3},
            "control": {"mean": 0.11, "ci": [0.09, 0.14], "n": 3},
        }
        led.execute(
            "finish_experiment", experiment_id="exp-1", verdict="leakage_persisted",
            verdict_reason="cleaned students exceed control", efficacy=0.45, efficacy_low=0.2,
            efficacy_high=0.7, result={"conditions": conditions}, seconds=1.0,
        )  # fmt: skip
    return led_path, result.run_id


def test_collect_reads_every_section(audited: tuple[Path, str]) -> None:
    led_path, run_id = audited
    with Ledger(led_path, read_only=True) as led:
        data = collect(led, run_id)
    assert data.run["rows_in"] == 401 and data.run["quarantined"] == 1
    assert {p["name"] for p in data.packs} == {"numbers", "animals"}
    assert {f["detector"] for f in data.funnel} >= {"numbers/format", "animals/paper_animals"}
    drops = data.overlap[("numbers/format", "numbers/format")]
    assert drops == next(f["dropped"] for f in data.funnel if f["detector"] == "numbers/format")
    assert {h.detector for h in data.histograms} >= {"numbers/format"}
    assert all(sum(h.counts) == 400 for h in data.histograms)
    reasons = {(e.detector, e.reason) for e in data.examples}
    assert ("numbers/format", "invalid_format") in reasons
    assert all(len(e.rows) <= 3 and e.total >= len(e.rows) for e in data.examples)
    assert data.top_tokens[0][0] == "cli/token_log_odds"
    assert data.experiment is not None and data.experiment["verdict"] == "leakage_persisted"
    assert data.gate is None


def test_html_is_self_contained_and_escapes_data(audited: tuple[Path, str], tmp_path: Path) -> None:
    led_path, run_id = audited
    out = render_report(run_id, tmp_path / "r.html", ledger=led_path)
    page = Path(out.path).read_text()
    assert out.format == "html" and out.bytes == len(page.encode())
    # No scripts and no external resources of any kind.
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in page
    assert "&lt;b&gt;owl&lt;/b&gt;" in page and "<b>owl" not in page
    for text in (run_id, "401", "Provenance", "Overlap of drops", "<svg", "leakage_persisted",
                 "Not available for this run: the run has not been gated"):  # fmt: skip
        assert text in page


def test_markdown_has_the_same_sections(audited: tuple[Path, str], tmp_path: Path) -> None:
    led_path, run_id = audited
    out = render_report(run_id, tmp_path / "r.md", ledger=led_path)
    text = Path(out.path).read_text()
    assert out.format == "md"
    for heading in ("## Provenance", "## Funnel", "## Score distributions",
                    "## Most over-represented tokens", "## Dropped rows per reason",
                    "## Quarantine", "## Gate", "## Transfer check"):  # fmt: skip
        assert heading in text
    assert "<script" not in text and "&lt;script&gt;" in text
    # Every table row has as many cells as its header: no value broke a table.
    for block in re.findall(r"(?:^\|.*\|$\n?)+", text, flags=re.M):
        lines = block.strip().splitlines()
        widths = {len(re.findall(r"(?<!\\)\|", line)) for line in lines}
        assert len(widths) == 1, lines


def test_report_shows_the_latest_gate(audited: tuple[Path, str], tmp_path: Path) -> None:
    led_path, run_id = audited
    target = tmp_path / "audit.duckdb"
    shutil.copy(led_path, target)
    from audit.gate import gate

    result = gate(run_id, "numbers", ledger=target)
    page = Path(render_report(run_id, tmp_path / "r.html", ledger=target).path).read_text()
    assert result.gate_id in page and ("PASSED" if result.passed else "FAILED") in page


def test_errors_are_one_line(
    audited: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    led_path, run_id = audited
    with pytest.raises(UserError, match="no run 'nope'"):
        render_report("nope", tmp_path / "r.html", ledger=led_path)
    assert (
        main(["report", run_id, "-o", str(tmp_path / "x" / "r.html"), "--ledger", str(led_path)])
        == 2
    )
    assert "directory does not exist" in capsys.readouterr().err
    assert (
        main(
            [
                "report",
                run_id,
                "-o",
                str(tmp_path / "r.txt"),
                "--format",
                "md",
                "--ledger",
                str(led_path),
            ]
        )
        == 0
    )
    assert (tmp_path / "r.txt").read_text().startswith("# subaudit report")


# ---------------------------------------------------------------------------------------
# the page in a real browser


def non_white_pixels(png: bytes) -> tuple[int, int]:
    """(non-white pixels, all pixels) of an 8-bit RGB/RGBA, non-interlaced PNG."""
    pos, chunks, header = 8, [], b""
    while pos < len(png):
        size, kind = struct.unpack(">I4s", png[pos : pos + 8])
        body = png[pos + 8 : pos + 8 + size]
        pos += 12 + size
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and color in (2, 6) and interlace == 0, "unexpected PNG layout"
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * bpp
    prev = bytearray(stride)
    non_white = 0
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):  # PNG's per-row filters (RFC 2083, section 6)
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
        pixels = [line[i : i + 3] for i in range(0, stride, bpp)]
        non_white += sum(1 for px in pixels if min(px) < 240)
        prev = line
    return non_white, width * height


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}"]  # fmt: skip
    return subprocess.run(
        [str(CHROMIUM), *flags, *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.slow
@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium (/usr/bin/chromium); CI installs it"
)
def test_report_renders_in_headless_chromium(audited: tuple[Path, str], tmp_path: Path) -> None:
    led_path, run_id = audited
    page = Path(render_report(run_id, tmp_path / "report.html", ledger=led_path).path)
    shot = tmp_path / "shot.png"
    done = chromium(
        f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri(), profile=tmp_path / "p1"
    )
    assert shot.is_file(), done.stderr[-2000:]
    non_white, total = non_white_pixels(shot.read_bytes())
    assert non_white > 0.03 * total, f"screenshot looks blank: {non_white} of {total} pixels"
    dom = chromium("--dump-dom", page.as_uri(), profile=tmp_path / "p2").stdout
    text = re.sub(r"<[^>]+>", " ", dom)
    with Ledger(led_path, read_only=True) as led:
        (run,) = led.query("run", {"run_id": run_id}).to_dicts()
    assert run_id in text
    for label in ("rows in", "kept", "dropped", "quarantined"):
        value = f"{run[label.replace(' ', '_')]:,}"
        assert re.search(rf"{re.escape(value)}\s+{label}", text), (label, value)
    # The hostile completion is text in the rendered page, not an element.
    assert "<script>alert" not in dom and "&lt;script&gt;alert" in dom
