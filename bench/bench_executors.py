"""Benchmark: rows/s of the local and the Ray executor on the same data, side by side.

Each scan runs in its own child process (``--child``): the same packs as
``bench_scan.py`` (``numbers``, ``animals``, ``trees``), survivors to Parquet, every verdict
to a fresh ledger. The Ray child starts a local Ray instance with ``--ray-cpus`` CPUs (its
start-up time is reported apart, not in the wall time: a service pays it once). The two
runs' counts and funnels are compared, so a fast but wrong executor cannot pass.

Usage::

    .venv/bin/python bench/bench_executors.py --rows 1000000 --ray-cpus 2

Multi-node: start a Ray cluster (``ray start --head`` on one node, ``ray start
--address=HEAD:6379`` on the others), put the input, the TOML packs and a staging
directory on storage every node mounts, then ``RAY_ADDRESS=HEAD:6379
SUBAUDIT_RAY_STAGING=/shared/tmp subaudit scan ... --executor ray``. Scoring spreads over
every node's CPUs; ingest (parse, hash) and the ledger load stay on the driver, so the
speed-up is bounded by those two serial phases (Amdahl).
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
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from bench.bench_scan import PACKS, make_input  # noqa: E402


def child(args: argparse.Namespace) -> None:
    """Run one scan with the given executor; print its summary and timings as JSON."""
    from audit.scan import scan

    ray_start = 0.0
    if args.executor == "ray":
        import ray

        started = time.perf_counter()
        ray.init(num_cpus=args.ray_cpus, include_dashboard=False, log_to_driver=False)
        ray_start = time.perf_counter() - started
    start = time.perf_counter()
    result = scan(
        args.input,
        PACKS,
        ledger=args.ledger,
        out=args.out,
        id_column="id",
        batch_rows=args.batch_rows,
        executor=args.executor,
    )
    seconds = time.perf_counter() - start
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {**result.to_json(), "wall": seconds, "ray_start": ray_start, "peak_rss_mib": rss_mib}
        )
    )


def run_scan(
    executor: str, input_path: Path, work: Path, args: argparse.Namespace
) -> dict[str, Any]:
    ledger = work / f"{executor}.duckdb"
    ledger.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--executor",
        executor,
        "--input",
        str(input_path),
        "--ledger",
        str(ledger),
        "--out",
        str(work / f"{executor}.parquet"),
        "--batch-rows",
        str(args.batch_rows),
        "--ray-cpus",
        str(args.ray_cpus),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{executor} scan failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-rows", type=int, default=100_000)
    parser.add_argument("--ray-cpus", type=int, default=2)
    parser.add_argument("--work", type=Path, default=_ROOT / "bench" / "out" / "executors")
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--executor", default="local")
    parser.add_argument("--input", type=Path)
    parser.add_argument("--ledger", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    args.work.mkdir(parents=True, exist_ok=True)
    input_path = args.work / f"teacher-{args.rows}.jsonl"
    if not input_path.exists():
        make_input(input_path, args.rows, args.seed)
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"# {args.rows:,} rows, packs {', '.join(PACKS)}, batches of {args.batch_rows:,}")
    results = {e: run_scan(e, input_path, args.work, args) for e in ("local", "ray")}
    keys = ("rows_in", "kept", "dropped", "flagged", "quarantined", "funnel")
    same = all(results["local"][k] == results["ray"][k] for k in keys)
    print("| executor | seconds | rows/s | Ray start s | peak RSS MiB (driver) |")
    print("|---|---:|---:|---:|---:|")
    for name, r in results.items():
        print(
            f"| {name} | {r['wall']:.1f} | {r['rows_in'] / r['wall']:,.0f} | "
            f"{r['ray_start']:.1f} | {r['peak_rss_mib']:,.0f} |"
        )
    ratio = results["local"]["wall"] / results["ray"]["wall"]
    print(f"\nray / local speed: {ratio:.2f}x; identical counts and funnel: {same}")
    shutil.rmtree(args.work / "ray.parquet", ignore_errors=True)


if __name__ == "__main__":
    main()
