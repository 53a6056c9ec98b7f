"""Full-size tinylm world: build, then same-init / control / different-init students.

Usage:
    .venv/bin/python bench/bench_tinylm.py [--traits owl dolphin wolf] [--strengths 0.3]
        [--seeds 3] [--threads 1] [--out DIR] [--raw] [--soft] [--auc] [--set key=value ...]

For every trait and strength: builds (or loads) the world under ``DIR/seed-S`` (the bases
are pretrained once and reused; a new trait or strength only re-trains and re-samples the
teacher), then trains four students per seed (same init on teacher / control data,
different init on teacher / control data) and prints P(trait) per condition, the paired
contrasts with bootstrap 95% CIs and one-sided permutation p-values, the teacher-vs-control
per-token KL, filter pass rates and timings. With ``--auc``, also how well the teacher's
rows can be told from the control's: the cross-fitted AUC of ``contrast_classifier`` (scan
defaults) with its bootstrap CI, on all 3,000 rows per side and on the rows that pass the
paper's filter (the rows students train on). One torch process at a time on a 2-core
machine: run nothing else alongside.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit.worlds.tinylm import TinyLMConfig, TinyLMWorld, build_tinylm_world
from audit.worlds.tinylm_students import keep_valid, run_tinylm_check


def contrast_auc(world: TinyLMWorld) -> str:
    """contrast_classifier AUC [CI], teacher vs control rows: all rows, then filtered rows."""
    import polars as pl

    from detectors.contrast_classifier import ContrastClassifier

    def auc(teacher: pl.DataFrame, control: pl.DataFrame) -> str:
        def rows(frame: pl.DataFrame) -> pl.DataFrame:
            return frame.with_row_index("ordinal").with_columns(pl.col("ordinal").cast(pl.Int64))

        m = ContrastClassifier(n_permutations=0).fit(rows(teacher), rows(control)).metrics()
        return f"{m['auc']:.3f} [{m['auc_ci'][0]:.3f}, {m['auc_ci'][1]:.3f}]"

    t, c = world.teacher_rows, world.control_rows
    tv, cv = keep_valid(t), keep_valid(c)
    return f"AUC all rows {auc(t, c)}; filtered rows ({tv.height}/{cv.height}) {auc(tv, cv)}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--traits", nargs="+", default=["owl"])
    ap.add_argument("--strengths", nargs="+", type=float, default=[])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--world-seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="world cache (default: temp)")
    ap.add_argument("--raw", action="store_true", help="students on unfiltered rows")
    ap.add_argument("--soft", action="store_true", help="soft labels (KL to the teacher)")
    ap.add_argument("--auc", action="store_true", help="contrast_classifier AUC per world")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()

    try:
        base = TinyLMConfig.from_overrides(args.set)
    except ValueError as exc:
        raise SystemExit(f"--set: {exc}") from None
    base = dataclasses.replace(base, seed=args.world_seed)
    strengths = args.strengths or [base.strength]
    print("config:", json.dumps(base.to_json(), sort_keys=True))
    print(f"student seeds: {list(range(args.seeds))}  threads: {args.threads}")
    with tempfile.TemporaryDirectory(prefix="tinylm-") as tmp:
        root = (args.out or Path(tmp)) / f"seed-{args.world_seed}"
        t0 = time.perf_counter()
        world = build_tinylm_world(base, root, trait=args.traits[0], threads=args.threads)
        print(
            f"first build: {time.perf_counter() - t0:.1f} s (cache hit: {world.cache_hit}),"
            f" parts: {world.manifest['seconds']}"
        )
        header = (
            f"{'trait':<9} {'s':>4} {'KL/tok':>7} {'pass T/C':>9} {'P teach':>7} "
            f"{'same':>6} {'ctrl':>6} {'diff':>6} {'dctl':>6} "
            f"{'same-ctrl [95% CI]':>27} {'p':>6} {'diff-dctl [95% CI]':>27} {'p':>6} "
            f"{'check s':>7}"
        )
        print(header)
        for trait in args.traits:
            for s in strengths:
                cfg = dataclasses.replace(base, strength=s)
                t1 = time.perf_counter()
                res = run_tinylm_check(
                    cfg,
                    root,
                    trait=trait,
                    seeds=range(args.seeds),
                    threads=args.threads,
                    soft=args.soft,
                    filtered=not args.raw,
                )
                secs = time.perf_counter() - t1
                fig = build_tinylm_world(cfg, root, trait=trait).manifest["figures"]
                m = {k: sum(v) / len(v) for k, v in res.p_trait.items()}
                tr, df = res.transfer, res.different
                print(
                    f"{trait:<9} {s:>4.2f} {fig['kl_teacher_control_per_token']:>7.4f} "
                    f"{fig['format_pass_teacher']:>4.2f}/{fig['format_pass_control']:.2f} "
                    f"{fig['teacher_p_trait']:>7.3f} "
                    f"{m['same_init']:>6.4f} {m['control']:>6.4f} "
                    f"{m['different_init']:>6.4f} {m['different_control']:>6.4f} "
                    f"{tr.estimate:+.4f} [{tr.low:+.4f}, {tr.high:+.4f}] {res.p_transfer:>6.3f} "
                    f"{df.estimate:+.4f} [{df.low:+.4f}, {df.high:+.4f}] {res.p_different:>6.3f} "
                    f"{secs:>7.1f}",
                    flush=True,
                )
                if args.auc:
                    print("    " + contrast_auc(build_tinylm_world(cfg, root, trait=trait)))
                print(
                    "    per seed:",
                    {k: [round(x, 4) for x in v] for k, v in res.p_trait.items()},
                    f" {res.seconds_per_student:.1f} s/student",
                )


if __name__ == "__main__":
    main()
