"""Benchmark: the vectorized ``number_format`` detector against the per-row oracle.

Generates synthetic teacher completions in the paper's number formats (Cloud et al. 2025,
arXiv 2507.14805: 3-10 numbers in 0..999, ~15 output formats) with the kinds of mistakes a
teacher makes at a realistic rate (the paper's filter removed 23-38% of completions), times
the detector and the per-row oracle in one process, checks that they agree on every row, and
prints a Markdown snippet.

Usage::

    .venv/bin/python bench/bench_number_format.py --rows 1000000 --seed 0

``make_rows`` is importable so other benchmarks can reuse the same data.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl

# Runnable as a script from the repository root or from anywhere else.
_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from detectors.number_format import NumberFormat  # noqa: E402
from tests.detectors.number_format_oracle import reasons as oracle_reasons  # noqa: E402

# ---------------------------------------------------------------------------------------
# synthetic data

# (separator, opening, closing) for the well-formed output formats a prompt asks for.
_FORMATS: list[tuple[str, str, str]] = [
    (", ", "", ""),
    (",", "", ""),
    (" ", "", ""),
    ("; ", "", ""),
    (";", "", ""),
    ("\n", "", ""),
    (", ", "[", "]"),
    (",", "[", "]"),
    (" ", "[", "]"),
    ("; ", "[", "]"),
    (", ", "(", ")"),
    (" ", "(", ")"),
    (";", "(", ")"),
    (" , ", "", ""),
    ("\t", "", ""),
]

_PREAMBLES = ["Here are the numbers: ", "Sure! ", "Continuing the sequence: ", "Numbers: "]
_WORDS = ["seven", "twelve", "and", "etc", "..."]


def _numbers(rng: random.Random, count: int, high: int = 999) -> list[str]:
    return [str(rng.randint(0, high)) for _ in range(count)]


def _well_formed(rng: random.Random) -> str:
    sep, opening, closing = rng.choice(_FORMATS)
    text = opening + sep.join(_numbers(rng, rng.randint(3, 10))) + closing
    # The "numbers only" suffix often still gets a full stop.
    return text + "." if rng.random() < 0.15 else text


def _mistake(rng: random.Random) -> str:
    """One teacher mistake, chosen from the kinds the filter exists to catch."""
    sep, opening, closing = rng.choice(_FORMATS)
    nums = _numbers(rng, rng.randint(3, 10))
    kind = rng.randrange(10)
    if kind == 0:  # chatter before the numbers
        return rng.choice(_PREAMBLES) + sep.join(nums)
    if kind == 1:  # too many numbers
        return opening + sep.join(_numbers(rng, rng.randint(11, 20))) + closing
    if kind == 2:  # a number with four or more digits
        nums[rng.randrange(len(nums))] = str(rng.randint(1000, 99999))
        return opening + sep.join(nums) + closing
    if kind == 3:  # mixed separators
        other = rng.choice([", ", " ", ";", "\n"])
        pieces = [nums[0]]
        for i, n in enumerate(nums[1:]):
            pieces.append((other if i % 2 else sep) + n)
        return opening + "".join(pieces) + closing
    if kind == 4:  # trailing separator
        return opening + sep.join(nums) + sep.rstrip() + closing
    if kind == 5:  # a word among the numbers
        nums.insert(rng.randrange(len(nums)), rng.choice(_WORDS))
        return opening + sep.join(nums) + closing
    if kind == 6:  # mismatched or extra brackets, trailing newline
        return rng.choice(["[", "(", ""]) + sep.join(nums) + rng.choice([")", "]\n", "\n"])
    if kind == 7:  # negative numbers
        nums[0] = "-" + nums[0]
        return opening + sep.join(nums) + closing
    if kind == 8:  # decimal point or doubled separator
        return sep.join(nums[:2]) + rng.choice([".5", sep + sep]) + sep.join(nums[2:])
    # 9: an empty or prose-only answer
    return rng.choice(["", "I cannot continue this sequence.", "None"])


def make_rows(n: int, seed: int, error_rate: float = 0.3) -> list[str]:
    """Synthetic teacher completions in the paper's number formats.

    Args:
        n: number of rows.
        seed: random seed; the same ``(n, seed, error_rate)`` always gives the same rows
            (``random.Random`` with an integer seed is stable across Python versions).
        error_rate: share of rows drawn from the mistake generator; the paper's filter
            removed 23-38% of completions, and 0.3 sits in that range. A few mistakes
            happen to pass the filter (a thousands-style "1,000" reads as two numbers),
            and with banned numbers many well-formed rows fail too, so the rejection rate
            is near, not exactly, this.

    Returns:
        ``n`` strings.
    """
    rng = random.Random(seed)
    return [_mistake(rng) if rng.random() < error_rate else _well_formed(rng) for _ in range(n)]


# ---------------------------------------------------------------------------------------
# timing


def _pack_params(pack: str) -> dict[str, Any]:
    """The ``number_format`` rule's parameters in one of the shipped rule packs."""
    with (_ROOT / "rules" / f"{pack}.toml").open("rb") as f:
        rules = tomllib.load(f)["rule"]
    return next(dict(r.get("params", {})) for r in rules if r["detector"] == "number_format")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--pack",
        default="numbers",
        choices=["numbers", "numbers-misalignment"],
        help="rule pack whose number_format parameters to use (the latter bans 34 numbers)",
    )
    parser.add_argument(
        "--oracle-rows",
        type=int,
        default=200_000,
        help="time the per-row oracle on this many rows (a prefix) and extrapolate rows/s",
    )
    parser.add_argument("--repeats", type=int, default=3, help="best of N for the detector")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    rows = make_rows(args.rows, args.seed)
    gen_s = time.perf_counter() - start
    batch = pl.DataFrame({"prompt": [""] * len(rows), "completion": rows})
    params = _pack_params(args.pack)
    detector = NumberFormat(**params)

    # Vectorized: best of N on the whole batch (the first run also compiles the regexes).
    vec_s = float("inf")
    for _ in range(args.repeats):
        start = time.perf_counter()
        out = detector.evaluate(batch)
        vec_s = min(vec_s, time.perf_counter() - start)

    # Per-row oracle: one run on a prefix; rows/s taken as its rate for the whole batch.
    sub = rows[: min(args.oracle_rows, len(rows))]
    start = time.perf_counter()
    expected = [oracle_reasons(t, **params) for t in sub]
    oracle_s = time.perf_counter() - start

    # Agreement on every row: the rows past the timed prefix are checked untimed.
    expected += [oracle_reasons(t, **params) for t in rows[len(sub) :]]
    got = out["reasons"].to_list()
    mismatches = [i for i, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b]
    if mismatches:
        i = mismatches[0]
        print(
            f"DISAGREEMENT on {len(mismatches)} rows; first {rows[i]!r}: "
            f"detector {got[i]}, oracle {expected[i]}"
        )
        return 1

    vec_rps = len(rows) / vec_s
    oracle_rps = len(sub) / oracle_s
    rejected = sum(1 for r in got if r) / len(rows)
    counts = Counter(code for r in got for code in r)
    print(f"### number_format benchmark ({args.rows:,} rows, seed {args.seed}, {args.pack})\n")
    print(
        f"Python {platform.python_version()}, polars {pl.__version__} "
        f"({pl.thread_pool_size()} threads), {os.cpu_count()} CPUs; "
        f"params {params if params else 'defaults'}; data generated in {gen_s:.1f} s; "
        f"rejected {rejected:.1%} of rows.\n"
    )
    print("| implementation | rows timed | seconds | rows/s |")
    print("|---|---:|---:|---:|")
    print(
        f"| vectorized (polars), best of {args.repeats} | {len(rows):,} | {vec_s:.3f} | "
        f"{vec_rps:,.0f} |"
    )
    print(
        f"| per-row oracle (Python `re`), 1 run | {len(sub):,} | {oracle_s:.3f} | "
        f"{oracle_rps:,.0f} |"
    )
    print(
        f"\nSpeed-up: **{vec_rps / oracle_rps:.1f}x** (the oracle timed on the first "
        f"{len(sub):,} rows, its rows/s taken as its rate for all {len(rows):,}). "
        "Reasons agree on every row.\n"
    )
    print("| reason | rows |")
    print("|---|---:|")
    for code, k in counts.most_common():
        print(f"| `{code}` | {k:,} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
