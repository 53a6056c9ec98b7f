"""tinylm transfer replicated over independent worlds (the replicate is the world seed).

Usage:
    .venv/bin/python bench/bench_tinylm_worlds.py [--world-seeds 0 1 2 3 4]
        [--traits owl dolphin wolf] [--student-seeds 3] [--threads 1] [--out DIR]
        [--results FILE.jsonl] [--set key=value ...]

``bench_tinylm.py`` varies only the student seed (subsample and batch order) on one world,
so its intervals say nothing about how the result varies between worlds. Here every world
seed rebuilds everything: the corpus draw, the base, the different-init base, the trait
teacher, both teachers' sampled data. For each world and trait, four students per student
seed (same init on teacher / control rows, different init on teacher / control rows, rows
through the paper's filter and cut to the same size) are averaged into one figure per
condition; the contrasts ``same - control`` (transfer) and ``different - different_control``
(the negative control) are then summarised over worlds: mean, percentile-bootstrap 95% CI,
one-sided sign-flip permutation p (5 worlds: smallest p 1/32).

Specificity: for each world, the relative change ``log P_teacher-data(a) - log
P_control-data(a)`` of every animal ``a`` of the library; the trait's rank among the 26
(1: it moved up the most). Students of any data move every animal a little; a transfer of
the trait should move the trait more than the others.

Per (world, trait) results are appended to ``--results`` as JSON lines, and reused when the
script is run again with the same file (an interrupted run resumes). One torch process at
a time on a 2-core machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit.stats import bootstrap_mean_ci, permutation_test
from audit.transfer_stats import trait_rank
from audit.worlds.tinylm import TinyLMConfig, build_tinylm_world
from audit.worlds.tinylm_students import run_tinylm_check

_PAIRS = {"same": ("same_init", "control"), "different": ("different_init", "different_control")}


def _mean_probs(per_seed: list[dict[str, float]]) -> dict[str, float]:
    return {a: sum(p[a] for p in per_seed) / len(per_seed) for a in per_seed[0]}


def run_one(cfg: TinyLMConfig, root: Path, trait: str, seeds: int, threads: int) -> dict[str, Any]:
    """Build (or load) one world for ``trait`` and run its check."""
    t0 = time.perf_counter()
    res = run_tinylm_check(cfg, root, trait=trait, seeds=range(seeds), threads=threads)
    fig = build_tinylm_world(cfg, root, trait=trait).manifest["figures"]
    means = {k: _mean_probs(v) for k, v in res.probabilities.items()}
    out: dict[str, Any] = {
        "world_seed": cfg.seed,
        "trait": trait,
        "student_seeds": seeds,
        "kl_per_token": res.kl_per_token,
        "format_pass_teacher": fig["format_pass_teacher"],
        "format_pass_control": fig["format_pass_control"],
        "teacher_p_trait": fig["teacher_p_trait"],
        "p_trait": res.p_trait,
        "mean_probabilities": means,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    # The transfer check's own specificity statistic, on the same per-seed probabilities.
    per_animal = {
        cond: {a: [p[a] for p in seeds] for a in seeds[0]}
        for cond, seeds in res.probabilities.items()
    }
    for name, (moved, still) in _PAIRS.items():
        spec = trait_rank(per_animal, trait, moved, still)
        out[f"{name}_log_change"] = spec["relative_change"]
        out[f"{name}_rank"] = spec["rank"]
    return out


def _summary(rows: list[dict[str, Any]]) -> None:
    traits = sorted({r["trait"] for r in rows}, key=lambda t: [r["trait"] for r in rows].index(t))
    print()
    print(
        f"{'trait':<8} {'worlds':>6} {'KL/tok':>7} {'same-ctrl [95% CI]':>28} {'p':>6} "
        f"{'ranks':>15} {'diff-dctl [95% CI]':>28} {'p':>6} {'ranks':>15}"
    )
    for trait in traits:
        rs = sorted((r for r in rows if r["trait"] == trait), key=lambda r: r["world_seed"])
        cells = []
        for moved, still in _PAIRS.values():
            a = [sum(r["p_trait"][moved]) / len(r["p_trait"][moved]) for r in rs]
            b = [sum(r["p_trait"][still]) / len(r["p_trait"][still]) for r in rs]
            ci = bootstrap_mean_ci([x - y for x, y in zip(a, b, strict=True)])
            p = permutation_test(a, b, paired=True, alternative="greater")
            cells.append(f"{ci.estimate:+.4f} [{ci.low:+.4f}, {ci.high:+.4f}] {p:>6.3f}")
        kl = sum(r["kl_per_token"] for r in rs) / len(rs)
        same_ranks = ",".join(str(r["same_rank"]) for r in rs)
        diff_ranks = ",".join(str(r["different_rank"]) for r in rs)
        print(
            f"{trait:<8} {len(rs):>6} {kl:>7.4f} {cells[0]:>35} {same_ranks:>15} "
            f"{cells[1]:>35} {diff_ranks:>15}"
        )
    print("\nper world:")
    for r in sorted(rows, key=lambda r: (r["trait"], r["world_seed"])):
        m = {k: sum(v) / len(v) for k, v in r["p_trait"].items()}
        print(
            f"  {r['trait']:<8} world {r['world_seed']}: KL {r['kl_per_token']:.4f} "
            f"pass {r['format_pass_teacher']:.2f}/{r['format_pass_control']:.2f} "
            f"teacher P {r['teacher_p_trait']:.3f} same {m['same_init']:.4f} "
            f"ctrl {m['control']:.4f} diff {m['different_init']:.4f} "
            f"dctl {m['different_control']:.4f} same-ctrl {m['same_init'] - m['control']:+.4f} "
            f"(rank {r['same_rank']}) diff-dctl {m['different_init'] - m['different_control']:+.4f}"
            f" (rank {r['different_rank']}) {r['seconds']} s"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world-seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--traits", nargs="+", default=["owl", "dolphin", "wolf"])
    ap.add_argument("--student-seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True, help="world cache root")
    ap.add_argument("--results", type=Path, required=True, help="JSON lines, appended")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()

    try:
        base = TinyLMConfig.from_overrides(args.set)
    except ValueError as exc:
        raise SystemExit(f"--set: {exc}") from None
    print("config:", json.dumps(base.to_json(), sort_keys=True), flush=True)
    rows: list[dict[str, Any]] = []
    if args.results.exists():
        rows = [json.loads(line) for line in args.results.read_text().splitlines() if line]
    done = {(r["world_seed"], r["trait"]) for r in rows}
    for ws in args.world_seeds:
        cfg = dataclasses.replace(base, seed=ws)
        for trait in args.traits:
            if (ws, trait) in done:
                continue
            row = run_one(cfg, args.out / f"seed-{ws}", trait, args.student_seeds, args.threads)
            with args.results.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            rows.append(row)
            print(
                f"world {ws} {trait}: same-ctrl rank {row['same_rank']}, diff-dctl rank "
                f"{row['different_rank']}, {row['seconds']} s",
                flush=True,
            )
    _summary([r for r in rows if r["world_seed"] in args.world_seeds and r["trait"] in args.traits])


if __name__ == "__main__":
    main()
