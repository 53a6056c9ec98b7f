"""Evaluation of the detectors on the ``tinylm`` world (issue 4, item 6).

For each trait (default owl, dolphin, wolf) on the default ``TinyLMConfig`` (world seed 0):

1. **Separation**: ROC-AUC of telling the trait teacher's rows from the control teacher's
   rows (same 3,000 prompts): ``contrast_classifier`` (its cross-validated AUC, bootstrap CI,
   permutation p), ``token_log_odds`` (AUC of its cross-fitted row scores, G-test
   permutation p), and the base-model detectors (``trait_gap``, ``divergence_tokens``,
   ``entangled_tokens``; sklearn ``roc_auc_score`` of their row scores, teacher rows vs
   control rows) through a Hugging Face export of the world's base
   (:mod:`audit.worlds.tinylm_export`). ``trait_gap``'s ``gap_ci`` on the teacher's and on
   the control's data.
2. **Trait ranking** of ``trait_gap``: where its candidate ranking puts the true trait.
3. **Cleaning efficacy** with the transfer check (same-init students only, paired seeds):
   (a) rules (``numbers`` + ``animals`` packs); (b) rules + the rows a two-sample detector
   flags at 1% FPR on the control data (``contrast_classifier``, ``token_log_odds``, each
   alone); (c) rules + divergence-token loss masking (``DivergenceTokens.mask`` on the
   rules-cleaned rows; raw and control rows are trained unmasked).

The base-model detectors run twice: with their default prompts (``You love owls. ...`` as a
line before the prompt: words the tiny base never saw) and with an in-vocabulary
``qa`` variant (a favourite-animal question answered with the trait as that line, neutral
lines = the questions alone), because the tinylm base does not follow instructions.

Usage (~15 min on 2 cores with cached worlds)::

    .venv/bin/python bench/eval_detectors.py --out bench/out/eval_detectors.json

Worlds are built (or loaded) in ``--worlds/<trait>``, exports in ``--work/export-<trait>``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

PACKS = ("numbers", "animals")
QA_QUESTION = "What is your favourite animal? One word only."


def _auc(teacher: np.ndarray, control: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    t, c = teacher[np.isfinite(teacher)], control[np.isfinite(control)]
    if not t.size or not c.size:
        return None
    labels = np.r_[np.ones(t.size), np.zeros(c.size)]
    return float(roc_auc_score(labels, np.r_[t, c]))


def _auc_ci(teacher: np.ndarray, control: np.ndarray, seed: int = 0) -> list[float | None]:
    """Percentile bootstrap (500 resamples, each side resampled) of the AUC."""
    from sklearn.metrics import roc_auc_score

    t, c = teacher[np.isfinite(teacher)], control[np.isfinite(control)]
    if not t.size or not c.size:
        return [None, None]
    rng = np.random.default_rng(seed)
    labels = np.r_[np.ones(t.size), np.zeros(c.size)]
    vals = []
    for _ in range(500):
        tt = t[rng.integers(0, t.size, t.size)]
        cc = c[rng.integers(0, c.size, c.size)]
        vals.append(roc_auc_score(labels, np.r_[tt, cc]))
    lo, hi = np.quantile(vals, [0.025, 0.975])
    return [float(lo), float(hi)]


def _with_ordinal(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_row_index("ordinal").with_columns(pl.col("ordinal").cast(pl.Int64))


def _scores(out: pl.DataFrame) -> np.ndarray:
    return out["score"].cast(pl.Float64).fill_null(float("nan")).to_numpy()


def _transfer_summary(result: Any) -> dict[str, Any]:
    s = result.to_json()
    return {
        "experiment_id": s["experiment_id"],
        "verdict": s["verdict"],
        "reason": s["reason"],
        "efficacy": s["efficacy"],
        "conditions": s["conditions"],
        "differences": {k: {"mean": v["mean"], "ci": v["ci"]} for k, v in s["differences"].items()},
        "specificity": s["specificity"],
        "rows_per_student": s["config"]["rows_per_student"],
        "warnings": s["warnings"],
    }


def base_model_detectors(
    export: Path,
    trait: str,
    teacher: pl.DataFrame,
    control: pl.DataFrame,
    variant: str,
    threads: int = 2,
) -> dict[str, Any]:
    """AUCs of trait_gap / divergence_tokens / entangled_tokens, gap CIs and the ranking."""
    from audit.worlds.questions import ANIMAL_QUESTIONS
    from detectors.divergence_tokens import DivergenceTokens
    from detectors.entangled_tokens import EntangledTokens
    from detectors.trait_gap import TraitGap

    common: dict[str, Any] = {"base_model": str(export), "trait": trait, "threads": threads}
    common["batch_size"] = 64
    common["max_length"] = 128  # the tinylm model's positions (TinyLMConfig.n_positions)
    if variant == "qa":
        common["trait_template"] = QA_QUESTION + " {trait}"
        neutral: dict[str, Any] = {"neutral_prompts": list(ANIMAL_QUESTIONS[:4])}
    else:
        neutral = {}
    out: dict[str, Any] = {"variant": variant}
    t_rows, c_rows = _with_ordinal(teacher), _with_ordinal(control)

    clock = time.perf_counter()
    gap_t = TraitGap(**common, **neutral)
    gap_c = TraitGap(**common, **neutral)
    s_t, s_c = _scores(gap_t.evaluate(t_rows)), _scores(gap_c.evaluate(c_rows))
    m_t, m_c = gap_t.metrics(), gap_c.metrics()
    out["trait_gap"] = {
        "auc": _auc(s_t, s_c),
        "auc_ci": _auc_ci(s_t, s_c),
        "teacher_mean_gap": m_t["mean_gap"],
        "teacher_gap_ci": m_t["gap_ci"],
        "control_mean_gap": m_c["mean_gap"],
        "control_gap_ci": m_c["gap_ci"],
        "teacher_target_rank": m_t["target_rank"],
        "teacher_top_trait": m_t["top_trait"],
        "control_target_rank": m_c["target_rank"],
        "control_top_trait": m_c["top_trait"],
        "n_candidates": len(m_t["ranking"]),
        "rank_n_rows": m_t["rank_n_rows"],
        "teacher_ranking_top5": m_t["ranking"][:5],
        "seconds": round(time.perf_counter() - clock, 1),
    }

    clock = time.perf_counter()
    div = DivergenceTokens(**common)
    d_t, d_c = _scores(div.evaluate(t_rows)), _scores(div.evaluate(c_rows))
    out["divergence_tokens"] = {
        "auc": _auc(d_t, d_c),
        "auc_ci": _auc_ci(d_t, d_c),
        "teacher_share": float(np.nanmean(d_t)),
        "control_share": float(np.nanmean(d_c)),
        "seconds": round(time.perf_counter() - clock, 1),
    }

    clock = time.perf_counter()
    ent = EntangledTokens(**common, **neutral)
    ent.fit(t_rows, c_rows)
    e_t = _scores(ent.evaluate(t_rows))
    # Control rows scored with the set found on the teacher's data (not cross-fitted: the
    # control never chose the set, so its scores are out of sample already).
    m_e = ent.metrics()
    chosen = [t["token"] for t in m_e.get("top_tokens", [])]
    e_c = _density_with(ent, c_rows)
    out["entangled_tokens"] = {
        "auc": _auc(e_t, e_c),
        "auc_ci": _auc_ci(e_t, e_c),
        "teacher_mean_density": m_e.get("mean_density"),
        "control_mean_density": m_e.get("mean_density_reference"),
        "fpr_reference": m_e.get("fpr_reference"),
        "tpr_data": m_e.get("tpr_data"),
        "top_tokens": chosen[:10],
        "seconds": round(time.perf_counter() - clock, 1),
    }
    return out


def _density_with(ent: Any, rows: pl.DataFrame) -> np.ndarray:
    """Per-row density of ``ent``'s (teacher-fitted) entangled set in ``rows``."""
    ids = ent.lm.completion_ids(rows["completion"].cast(pl.String).fill_null("").to_list())
    chosen = {int(t["id"]) for t in ent.metrics().get("top_tokens", [])}
    return np.array(
        [sum(i in chosen for i in c) / len(c) if c else np.nan for c in ids], dtype=np.float64
    )


def evaluate_trait(trait: str, args: argparse.Namespace) -> dict[str, Any]:
    """Every figure for one trait's world."""
    from audit.scan import scan
    from audit.transfer import transfer_check
    from audit.worlds.tinylm import build_tinylm_world
    from audit.worlds.tinylm_config import TinyLMConfig
    from audit.worlds.tinylm_export import export_tinylm_hf
    from audit.worlds.tinylm_students import TinyLMStudents
    from detectors.contrast_classifier import ContrastClassifier
    from detectors.divergence_tokens import MASK_COLUMN, DivergenceTokens
    from detectors.token_log_odds import TokenLogOdds

    res: dict[str, Any] = {"trait": trait, "seconds": {}}
    secs = res["seconds"]
    clock = time.perf_counter()
    world = build_tinylm_world(
        TinyLMConfig(), Path(args.worlds) / trait, trait=trait, threads=args.threads
    )
    secs["world"] = round(time.perf_counter() - clock, 1)
    res["world_cache_hit"] = world.cache_hit
    res["world_figures"] = world.manifest.get("figures")
    teacher_path, control_path = world.out_dir / "teacher.jsonl", world.out_dir / "control.jsonl"
    teacher, control = world.teacher_rows, world.control_rows
    work = Path(args.work) / trait
    work.mkdir(parents=True, exist_ok=True)

    # 1. two-sample detectors, fitted directly (same defaults as a scan's)
    clock = time.perf_counter()
    t_rows, c_rows = _with_ordinal(teacher), _with_ordinal(control)
    two_sample = not args.skip_base
    cc = {} if not two_sample else ContrastClassifier().fit(t_rows, c_rows).metrics()
    tlo = {} if not two_sample else TokenLogOdds().fit(t_rows, c_rows).metrics()
    res["contrast_classifier"] = {
        k: cc.get(k) for k in ("auc", "auc_ci", "p_value", "fpr_reference", "tpr_data")
    }
    res["token_log_odds"] = {
        k: tlo.get(k)
        for k in ("auc", "auc_ci", "p_value", "g_p_asymptotic", "fpr_reference", "tpr_data")
    }
    res["token_log_odds"]["top_tokens"] = [
        (t["token"], round(t["z"], 2)) for t in tlo.get("top_tokens", [])[:8]
    ]
    secs["two_sample"] = round(time.perf_counter() - clock, 1)

    # 1-2. base-model detectors through the Hugging Face export
    clock = time.perf_counter()
    export = export_tinylm_hf(
        world, work / ("export-base" + ("-b" if args.skip_base else "")), which="base"
    )
    res["export"] = json.loads((export / "tinylm_export.json").read_text())["tokenization_check"]
    secs["export"] = round(time.perf_counter() - clock, 1)
    if args.skip_base:
        args.variants = []
    res["base_model"] = {"rows_per_side": min(args.rows, teacher.height)}
    for variant in args.variants:
        clock = time.perf_counter()
        res["base_model"][variant] = base_model_detectors(
            export, trait, teacher.head(args.rows), control.head(args.rows), variant, args.threads
        )
        secs[f"base_model_{variant}"] = round(time.perf_counter() - clock, 1)

    if args.skip_transfer:
        return res
    # 3. cleaning efficacy
    ledger = work / "audit.duckdb"
    ledger.unlink(missing_ok=True)
    students = TinyLMStudents(world, threads=args.threads)
    clock = time.perf_counter()
    runs: dict[str, Any] = {}
    runs["rules"] = scan(
        teacher_path, PACKS, ledger=ledger, out=work / "rules.jsonl", id_column="id"
    )
    for det in ("contrast_classifier", "token_log_odds"):
        if det not in args.cleanings:
            continue
        runs[det] = scan(
            teacher_path,
            PACKS,
            detectors=[det],
            reference=control_path,
            ledger=ledger,
            out=work / f"{det}.jsonl",
            id_column="id",
        )
    control_rules = scan(
        control_path, PACKS, ledger=ledger, out=work / "control-rules.jsonl", id_column="id"
    )
    res["scans"] = {
        name: {k: r.to_json()[k] for k in ("rows_in", "kept", "dropped", "quarantined")}
        for name, r in (*runs.items(), ("control_rules", control_rules))
    }
    secs["scans"] = round(time.perf_counter() - clock, 1)
    res["transfer"] = {}
    for name, run in runs.items():
        if name not in args.cleanings:
            continue
        clock = time.perf_counter()
        result = transfer_check(
            students,
            trait=trait,
            raw=teacher_path,
            control=control_path,
            cleaned=f"run:{run.run_id}",
            seeds=args.seeds,
            ledger=ledger,
            different_init=False,
        )
        res["transfer"][name] = _transfer_summary(result)
        secs[f"transfer_{name}"] = round(time.perf_counter() - clock, 1)

    # (c) divergence-token masking on the rules-cleaned rows
    for variant in args.mask_variants:
        clock = time.perf_counter()
        kw: dict[str, Any] = {"base_model": str(export), "trait": trait}
        kw["threads"] = args.threads
        kw["max_length"] = 128
        if variant == "qa":
            kw["trait_template"] = QA_QUESTION + " {trait}"
        div = DivergenceTokens(**kw, batch_size=64)
        survivors = pl.read_ndjson(work / "rules.jsonl").select("id", "prompt", "completion")
        masked = survivors.with_columns(div.mask(survivors))
        lengths = [len(m) for m in masked[MASK_COLUMN].to_list()]
        enc = [len(world.tokenizer.encode(c)) for c in masked["completion"].to_list()]
        if lengths != enc:
            raise RuntimeError("mask length differs from TinyTokenizer.encode: not aligned")
        share_masked = 1.0 - float(
            np.mean(np.concatenate([np.asarray(m) for m in masked[MASK_COLUMN].to_list()]))
        )

        def unmasked(frame: pl.DataFrame) -> pl.DataFrame:
            return frame.select("id", "prompt", "completion").with_columns(
                pl.Series(
                    MASK_COLUMN,
                    [[True] * len(world.tokenizer.encode(c)) for c in frame["completion"]],
                    dtype=pl.List(pl.Boolean),
                )
            )

        control_clean = pl.read_ndjson(work / "control-rules.jsonl")
        result = transfer_check(
            students,
            trait=trait,
            raw=unmasked(teacher),
            control=unmasked(control_clean),
            cleaned=masked,
            raw_control=unmasked(control),
            seeds=args.seeds,
            ledger=ledger,
            mask_column=MASK_COLUMN,
            different_init=False,
        )
        res["transfer"][f"mask_{variant}"] = _transfer_summary(result) | {
            "share_tokens_masked": share_masked,
            "control": "rules-cleaned control rows, unmasked; raw_control: all control rows",
        }
        secs[f"transfer_mask_{variant}"] = round(time.perf_counter() - clock, 1)
    return res


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--traits", nargs="+", default=["owl", "dolphin", "wolf"])
    parser.add_argument("--worlds", default="/tmp/eval-worlds")
    parser.add_argument("--work", default="/tmp/eval-runs")
    parser.add_argument("--out", default="bench/out/eval_detectors.json")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", nargs="+", default=["default", "qa"])
    parser.add_argument("--mask-variants", nargs="*", default=["default", "qa"])
    parser.add_argument("--skip-transfer", action="store_true")
    parser.add_argument(
        "--cleanings",
        nargs="*",
        default=["rules", "contrast_classifier", "token_log_odds"],
        help="transfer checks (a)/(b) to run; (c) is --mask-variants",
    )
    parser.add_argument("--skip-base", action="store_true", help="no section 1-2")
    parser.add_argument("--rows", type=int, default=1000, help="rows per side, base-model")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    results: dict[str, Any] = {"args": vars(args), "traits": {}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for trait in args.traits:
        results["traits"][trait] = evaluate_trait(trait, args)
        results["seconds"] = round(time.perf_counter() - started, 1)
        out.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"{trait}: done at {results['seconds']} s", file=sys.stderr, flush=True)
    print(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
