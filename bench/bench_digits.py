"""Full-size digits world run: teacher, same-init, different-init and control students.

Usage:
    .venv/bin/python bench/bench_digits.py [--seeds 5] [--threads 1] [--set key=value ...]

Prints the resolved config, a table of mean test accuracy with bootstrap 95% CIs per
condition, the paired contrasts with permutation p-values, and seconds per seed. One torch
process at a time on a 2-core machine: run nothing else alongside.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit.worlds.digits import DigitsConfig, run_digits_check


def _parse_set(items: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    fields = {f.name for f in dataclasses.fields(DigitsConfig)}
    for item in items:
        key, _, value = item.partition("=")
        if key not in fields:
            raise SystemExit(f"--set: unknown DigitsConfig field {key!r}")
        parsed = json.loads(value) if value[:1] in "-0123456789[" else value
        out[key] = tuple(parsed) if isinstance(parsed, list) else parsed
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="world cache root (default: temp)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    ap.add_argument("--json", action="store_true", help="also print the result as JSON")
    args = ap.parse_args()

    config = DigitsConfig(**_parse_set(args.set))  # type: ignore[arg-type]
    seeds = tuple(range(args.first_seed, args.first_seed + args.seeds))
    print("config:", json.dumps(config.to_json(), sort_keys=True))
    print(f"seeds: {list(seeds)}  threads: {args.threads}")
    start = time.perf_counter()
    res = run_digits_check(config, seeds, out_dir=args.out, threads=args.threads)
    total = time.perf_counter() - start

    def pct(x: float) -> str:
        return f"{100 * x:5.1f}"

    print(f"\n{'condition':<16} {'mean %':>7} {'95% CI':>15}   per seed")
    for name, iv in res.summary.items():
        per = " ".join(pct(a) for a in res.accuracies[name])
        print(f"{name:<16} {pct(iv.estimate):>7} [{pct(iv.low)}, {pct(iv.high)}]   {per}")
    print()
    for label, iv, p in (
        ("same - control", res.same_minus_control, res.p_same_vs_control),
        ("same - different", res.same_minus_different, res.p_same_vs_different),
    ):
        print(
            f"{label:<16} {pct(iv.estimate):>7} [{pct(iv.low)}, {pct(iv.high)}]"
            f"   one-sided paired permutation p = {p:.4f}"
        )
    per_seed = res.seconds_per_seed
    print(
        f"\nseconds per seed (world + 3 students): mean {sum(per_seed) / len(per_seed):.1f}, "
        f"min {min(per_seed):.1f}, max {max(per_seed):.1f}; total {total:.1f}"
    )
    if args.json:
        print(
            json.dumps(
                {
                    "config": config.to_json(),
                    "seeds": list(seeds),
                    "accuracies": res.accuracies,
                    "summary": {k: v.as_dict() for k, v in res.summary.items()},
                    "same_minus_control": res.same_minus_control.as_dict(),
                    "same_minus_different": res.same_minus_different.as_dict(),
                    "p_same_vs_control": res.p_same_vs_control,
                    "p_same_vs_different": res.p_same_vs_different,
                    "seconds_per_seed": per_seed,
                }
            )
        )


if __name__ == "__main__":
    main()
