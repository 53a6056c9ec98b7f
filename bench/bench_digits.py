"""Full-size digits world run: teacher, same-init, different-init and control students.

Usage:
    .venv/bin/python bench/bench_digits.py [--seeds 5] [--threads 1] [--traits digit parity ...]
        [--set key=value ...]

For each trait (default: digit only) prints the resolved config, the chance level (the
majority-class share of the trait's test labels), a table of mean test accuracy with
bootstrap 95% CIs per condition, the paired contrasts with permutation p-values, and seconds
per seed; with several traits, a summary line per trait at the end. One torch process at a
time on a 2-core machine: run nothing else alongside.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit.stats import Interval
from audit.worlds.digits import TRAITS, DigitsCheckResult, DigitsConfig, run_digits_check


def _parse_set(items: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    fields = {f.name for f in dataclasses.fields(DigitsConfig)}
    for item in items:
        key, _, value = item.partition("=")
        if key == "trait":
            raise SystemExit("--set: give the trait with --traits")
        if key not in fields:
            raise SystemExit(f"--set: unknown DigitsConfig field {key!r}")
        parsed = json.loads(value) if value[:1] in "-0123456789[" else value
        out[key] = tuple(parsed) if isinstance(parsed, list) else parsed
    return out


def pct(x: float) -> str:
    return f"{100 * x:5.1f}"


def ci(iv: Interval) -> str:
    return f"{pct(iv.estimate)} [{pct(iv.low)}, {pct(iv.high)}]"


def contrasts(res: DigitsCheckResult) -> list[tuple[str, Interval, float]]:
    return [
        ("same - control", res.same_minus_control, res.p_same_vs_control),
        ("same - different", res.same_minus_different, res.p_same_vs_different),
        (
            "diff - diff_ctrl",
            res.different_minus_different_control,
            res.p_different_vs_different_control,
        ),
    ]


def report(res: DigitsCheckResult, total: float) -> None:
    print(f"chance (majority class of the test labels): {pct(res.chance)} %")
    print(f"\n{'condition':<18} {'mean %':>7} {'95% CI':>15}   per seed")
    for name, iv in res.summary.items():
        per = " ".join(pct(a) for a in res.accuracies[name])
        print(f"{name:<18} {ci(iv)}   {per}")
    print()
    for label, iv, p in contrasts(res):
        print(f"{label:<18} {ci(iv)}   one-sided paired permutation p = {p:.4f}")
    per_seed = res.seconds_per_seed
    print(
        f"\nseconds per seed (world + 4 students): mean {sum(per_seed) / len(per_seed):.1f}, "
        f"min {min(per_seed):.1f}, max {max(per_seed):.1f}; total {total:.1f}"
    )


def as_json(res: DigitsCheckResult, total: float) -> dict[str, object]:
    return {
        "config": res.config.to_json(),
        "trait": res.config.trait,
        "chance": res.chance,
        "seeds": list(res.seeds),
        "accuracies": res.accuracies,
        "summary": {k: v.as_dict() for k, v in res.summary.items()},
        "same_minus_control": res.same_minus_control.as_dict(),
        "same_minus_different": res.same_minus_different.as_dict(),
        "different_minus_different_control": res.different_minus_different_control.as_dict(),
        "p_same_vs_control": res.p_same_vs_control,
        "p_same_vs_different": res.p_same_vs_different,
        "p_different_vs_different_control": res.p_different_vs_different_control,
        "seconds_per_seed": res.seconds_per_seed,
        "seconds_total": total,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--traits", nargs="+", default=["digit"], choices=list(TRAITS))
    ap.add_argument("--out", type=Path, default=None, help="world cache root (default: temp)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    ap.add_argument("--json", action="store_true", help="also print each result as JSON")
    args = ap.parse_args()

    base = DigitsConfig(**_parse_set(args.set))  # type: ignore[arg-type]
    seeds = tuple(range(args.first_seed, args.first_seed + args.seeds))
    results: list[DigitsCheckResult] = []
    for trait in args.traits:
        config = dataclasses.replace(base, trait=trait)
        print(f"\n=== trait {trait}: {TRAITS[trait].description}")
        print("config:", json.dumps(config.to_json(), sort_keys=True))
        print(f"seeds: {list(seeds)}  threads: {args.threads}")
        out = args.out / trait if args.out is not None else None
        start = time.perf_counter()
        res = run_digits_check(config, seeds, out_dir=out, threads=args.threads)
        total = time.perf_counter() - start
        report(res, total)
        if args.json:
            print(json.dumps(as_json(res, total)))
        results.append(res)

    if len(results) > 1:
        print("\n=== summary: mean test accuracy % [bootstrap 95% CI]; paired contrasts")
        for res in results:
            s = res.summary
            print(
                f"{res.config.trait:<7} chance {pct(res.chance)}"
                f"  teacher {pct(s['teacher'].estimate)}"
                f"  same {ci(s['same_init'])}  diff {ci(s['different_init'])}"
                f"  control {ci(s['control'])}  diff_ctrl {ci(s['different_control'])}"
            )
            print(
                " " * 8
                + "  ".join(f"{label}: {ci(iv)} p={p:.3f}" for label, iv, p in contrasts(res))
            )


if __name__ == "__main__":
    main()
