"""Benchmark: fit + score of the two-sample detectors on 100k + 100k rows.

Issue 4's target: ``contrast_classifier`` fits and scores 100k dataset rows against 100k
reference rows in under 30 s on 2 cores. The data are synthetic teacher completions in the
paper's number formats (``audit.sample``); the dataset has a planted signal (a share of its
rows start with the number 7) so that the figures also show what the detectors find. The
timings include the sklearn/scipy imports (the first fit pays them, as in a real scan) and
each phase is timed separately. ``token_log_odds`` runs in the same process for the ratio.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_contrast.py --rows 100000 --plant 0.1
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from audit.sample import SampleConfig, make_frame  # noqa: E402
from detectors.contrast_classifier import ContrastClassifier  # noqa: E402
from detectors.token_log_odds import TokenLogOdds  # noqa: E402


def make_pair(rows: int, plant: float, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    both = make_frame(SampleConfig(rows=2 * rows, seed=seed)).with_columns(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("ordinal")
    )
    data, reference = both.head(rows), both.tail(rows)
    hit = pl.Series(np.random.default_rng(seed).random(rows) < plant)
    seven = pl.col("completion").str.replace(r"^([^0-9]*)[0-9]+", "${1}7")
    data = data.with_columns(pl.when(hit).then(seven).otherwise("completion").alias("completion"))
    return data, reference


def timed(label: str, fn, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn(*args)
    print(f"{label}: {time.perf_counter() - start:.2f} s", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--plant", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    data, reference = make_pair(args.rows, args.plant, args.seed)
    print(
        f"{platform.machine()} cpus={os.cpu_count()} OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS')} rows={args.rows}+{args.rows} plant={args.plant}"
    )
    total = time.perf_counter()
    det = ContrastClassifier(seed=args.seed)
    timed(
        "contrast_classifier fit (incl. imports, 5 folds, 50 perms, 200 boots)",
        det.fit,
        data,
        reference,
    )
    scored = 0
    start = time.perf_counter()
    for batch in data.iter_slices(10_000):
        scored += det.evaluate(batch).height
    print(f"contrast_classifier evaluate {scored} rows: {time.perf_counter() - start:.2f} s")
    print(f"contrast_classifier fit + score: {time.perf_counter() - total:.2f} s")
    m = det.metrics()
    print(
        f"  auc {m['auc']:.4f} CI [{m['auc_ci'][0]:.4f}, {m['auc_ci'][1]:.4f}] "
        f"p {m['p_value']:.4f} threshold {m['threshold']:.3f} "
        f"fpr_ref {m['fpr_reference']:.4f} tpr_data {m['tpr_data']:.4f}"
    )

    tlo = TokenLogOdds(seed=args.seed)
    timed("token_log_odds fit (5 folds, 200 perms, 200 boots)", tlo.fit, data, reference)
    t = tlo.metrics()
    print(
        f"  auc {t['auc']:.4f} CI [{t['auc_ci'][0]:.4f}, {t['auc_ci'][1]:.4f}] "
        f"p {t['p_value']:.4f} (asymptotic G {t['g_p_asymptotic']:.2g}) "
        f"top token {t['top_tokens'][0]['token']!r} z {t['top_tokens'][0]['z']:.1f} "
        f"tpr_data {t['tpr_data']:.4f}"
    )


if __name__ == "__main__":
    main()
