"""``subaudit demo``: the whole scan story on an embedded default, in seconds.

Generates a synthetic teacher dataset in the paper's number formats (``audit.sample``),
with a few completions that mention the trait word, scans it with the ``numbers`` and
``animals`` packs into a fresh ledger, and writes survivors and rejected rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from audit.sample import SampleConfig, make_frame
from audit.scan import ScanResult, scan

DEMO_PACKS = ("numbers", "animals")


@dataclass(frozen=True)
class DemoResult:
    """Where the demo put things, and the scan's summary."""

    out_dir: Path
    teacher: Path
    ledger: Path
    survivors: Path
    rejected: Path
    scan: ScanResult


def run_demo(
    out_dir: str | Path = "subaudit-demo",
    *,
    rows: int = 5_000,
    seed: int = 0,
    progress: bool = False,
) -> DemoResult:
    """Generate the sample teacher data and scan it (a fresh ledger each time)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    teacher = out / "teacher.jsonl"
    make_frame(SampleConfig(rows=rows, seed=seed, trait_word_rate=0.01)).write_ndjson(teacher)
    ledger = out / "audit.duckdb"
    ledger.unlink(missing_ok=True)
    result = scan(
        teacher,
        DEMO_PACKS,
        ledger=ledger,
        out=out / "survivors.jsonl",
        rejected=out / "rejected.jsonl",
        id_column="id",
        progress=progress,
    )
    return DemoResult(
        out_dir=out,
        teacher=teacher,
        ledger=ledger,
        survivors=out / "survivors.jsonl",
        rejected=out / "rejected.jsonl",
        scan=result,
    )
