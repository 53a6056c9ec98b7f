"""Benchmark: full scans (three packs plus ledger writes) and a 10M-row streaming scan.

Each scan runs in a child process, so its peak RSS (``ru_maxrss``) is its own. In one run:

1. the vectorized ``number_format`` detector against the per-row oracle of the same spec
   (rows/s of each and the ratio; see ``bench_number_format.py``);
2. a full ``scan`` of N rows of synthetic teacher data (``audit.sample``) with the
   ``numbers``, ``animals`` and ``trees`` packs, survivors to Parquet, every verdict to the
   ledger: rows/s and peak RSS;
3. a streaming scan of M rows (default 10M) with the same packs: rows/s and peak RSS
   (target: under 2 GB).

Usage::

    .venv/bin/python bench/bench_scan.py --rows 1000000 --stream-rows 10000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

PACKS = ("numbers", "animals", "trees")


def make_input(path: Path, rows: int, seed: int) -> None:
    """Synthetic teacher data, written in 1M-row chunks so generation stays bounded."""
    from audit.sample import SampleConfig, make_frame

    chunk = 1_000_000
    with path.open("wb") as fh:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            frame = make_frame(SampleConfig(rows=n, seed=seed + start, trait_word_rate=0.01))
            frame.write_ndjson(fh)


def child(args: argparse.Namespace) -> None:
    """Run one scan and print its summary with this process's peak RSS."""
    from audit.scan import scan

    start = time.perf_counter()
    result = scan(
        args.input,
        PACKS,
        ledger=args.ledger,
        out=args.out,
        id_column="id",
        batch_rows=args.batch_rows,
    )
    seconds = time.perf_counter() - start
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({**result.to_json(), "wall": seconds, "peak_rss_mib": rss_mib}))


def run_scan(input_path: Path, work: Path, batch_rows: int) -> dict[str, object]:
    ledger = work / "audit.duckdb"
    ledger.unlink(missing_ok=True)
    out = work / "survivors.parquet"
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            "--input",
            str(input_path),
            "--ledger",
            str(ledger),
            "--out",
            str(out),
            "--batch-rows",
            str(batch_rows),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    summary: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    summary["ledger_mib"] = ledger.stat().st_size / 2**20
    return summary


def number_format_ratio(rows: int, seed: int) -> tuple[float, float]:
    """rows/s of the vectorized detector and of the per-row oracle (on up to 200k rows)."""
    import polars as pl

    from bench.bench_number_format import make_rows
    from detectors.number_format import NumberFormat
    from tests.detectors.number_format_oracle import reasons

    texts = make_rows(rows, seed)
    batch = pl.DataFrame({"completion": texts})
    det = NumberFormat.from_params({})
    # Best of 3, as in bench_number_format.py: the first call also compiles the regexes.
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        det.evaluate(batch)
        best = min(best, time.perf_counter() - start)
    vec = rows / best
    sub = texts[: min(rows, 200_000)]
    start = time.perf_counter()
    for text in sub:
        reasons(text)
    oracle = len(sub) / (time.perf_counter() - start)
    return vec, oracle


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--stream-rows", type=int, default=10_000_000)
    parser.add_argument("--batch-rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=_ROOT / "bench" / "out")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--ledger", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0

    args.work.mkdir(parents=True, exist_ok=True)
    lines = [
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; packs: {', '.join(PACKS)}; batch {args.batch_rows:,} rows",
        "",
    ]
    vec, oracle = number_format_ratio(args.rows, args.seed)
    lines += [
        f"| number_format on {args.rows:,} rows | rows/s |",
        "|---|---:|",
        f"| vectorized (polars), best of 3 | {vec:,.0f} |",
        f"| per-row oracle (timed on {min(args.rows, 200_000):,} rows) | {oracle:,.0f} |",
        f"| ratio | **{vec / oracle:.1f}x** |",
        "",
        "| scan | rows | input MiB | seconds | rows/s | peak RSS MiB | ledger MiB | kept "
        "| dropped |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, rows in (("full scan", args.rows), ("streaming scan", args.stream_rows)):
        if rows <= 0:
            continue
        data = args.work / f"teacher-{rows}.jsonl"
        if not data.exists():
            make_input(data, rows, args.seed)
        s = run_scan(data, args.work, args.batch_rows)
        lines.append(
            f"| {label} | {rows:,} | {data.stat().st_size / 2**20:,.0f} | {s['wall']:.1f} | "
            f"{rows / float(s['wall']):,.0f} | {s['peak_rss_mib']:,.0f} | "  # type: ignore[arg-type]
            f"{s['ledger_mib']:,.0f} | {s['kept']:,} | {s['dropped']:,} |"
        )
        print(lines[-1], file=sys.stderr, flush=True)
    print("\n".join(lines))
    shutil.rmtree(args.work / "partial", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
