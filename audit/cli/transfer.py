"""``subaudit transfer --world DIR|NAME --trait T --raw PATH --control PATH [--cleaned ...]``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from audit.cli.render import print_json, print_table
from audit.errors import UserError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the command."""
    p = sub.add_parser(
        "transfer",
        help="train students on raw / cleaned / control data: did the trait leak?",
        description="Fine-tune students from the teacher's base on the raw teacher data, the "
        "cleaned data and the control teacher's data (same filters, same size), plus "
        "different-init students as a negative control, k seeds each; probe every student "
        "for the trait and report means with bootstrap CIs, paired differences, a verdict "
        "(leakage_persisted / no_leakage_detected / inconclusive) and the cleaning efficacy. "
        "Every student and figure goes into the ledger's experiments tables.",
    )
    where = p.add_argument_group("world (one of)")
    where.add_argument("--world", metavar="DIR|NAME", help="built-in world name or world dir")
    where.add_argument("--model", metavar="PATH", help="local Hugging Face causal-LM directory")
    p.add_argument(
        "--different-model",
        metavar="PATH",
        help="with --model: another base model for the different-init students",
    )
    p.add_argument("--trait", required=True, help="the teacher's trait (an animal)")
    p.add_argument("--raw", required=True, metavar="PATH", help="the trait teacher's data")
    p.add_argument("--control", required=True, metavar="PATH", help="the control teacher's data")
    p.add_argument(
        "--raw-control",
        metavar="PATH",
        help="with --cleaned PATH: the control data unfiltered (then --control is the control "
        "filtered as the cleaned data was); each is the baseline of the data filtered alike",
    )
    p.add_argument(
        "--cleaned",
        metavar="run:ID|PATH",
        help="a scan run's survivors (the control then goes through the same packs) or a file",
    )
    p.add_argument("--seeds", type=int, default=3, metavar="K", help="seeds per condition")
    p.add_argument(
        "--ledger",
        default=os.environ.get("SUBAUDIT_LEDGER", "audit.duckdb"),
        help="DuckDB ledger file (default: $SUBAUDIT_LEDGER or ./audit.duckdb)",
    )
    p.add_argument("--no-different-init", action="store_true", help="skip the negative control")
    p.add_argument(
        "--different-init-control",
        action="store_true",
        help="also train the different init on the control data (its own baseline)",
    )
    p.add_argument("--mask-column", help="per-token loss-mask column (List[bool]) of the data")
    p.add_argument("--probe-samples", type=int, default=0, metavar="N", help="T=1 samples/question")
    p.add_argument("--max-rows", type=int, metavar="N", help="cap on the rows per student")
    p.add_argument(
        "--residual-fraction",
        type=float,
        default=0.5,
        help="no_leakage_detected needs the cleaned-control CI below this share of raw-control",
    )
    p.add_argument(
        "--min-effect",
        type=float,
        default=0.02,
        help="without --cleaned: no_leakage_detected needs the raw-control CI below this",
    )
    p.add_argument("--world-seed", type=int, default=0, help="seed of a built-in world")
    p.add_argument("--threads", type=int, metavar="N", help="torch threads (default: torch's)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no tables")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle the command."""
    from audit.transfer import transfer_check
    from audit.transfer_data import check_run
    from audit.transfer_stats import VerdictRules
    from audit.transfer_worlds import WorldRequest, resolve_world

    if args.seeds < 1:
        raise UserError(f"must be >= 1, got {args.seeds}", field="--seeds")
    if args.threads is not None:
        if args.threads < 1:
            raise UserError(f"must be >= 1, got {args.threads}", field="--threads")
        import torch

        torch.set_num_threads(args.threads)
    if args.model and not args.different_model and not args.no_different_init:
        raise UserError(
            "the different-init control needs another base model: give --different-model "
            "PATH, or --no-different-init to skip it",
            field="--model",
        )
    try:
        rules = VerdictRules(residual_fraction=args.residual_fraction, min_effect=args.min_effect)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    for option, value in (("--raw", args.raw), ("--control", args.control)):
        if not Path(value).is_file():
            raise UserError("no such file", path=value, field=option)
    cleaned = args.cleaned
    if cleaned and not cleaned.startswith("run:") and not Path(cleaned).is_file():
        raise UserError("no such file (or use run:ID)", path=cleaned, field="--cleaned")
    if cleaned and cleaned.startswith("run:"):
        # Fail before a world is built or loaded (minutes), not after.
        check_run(cleaned.removeprefix("run:"), args.ledger)
    progress = not (args.quiet or args.json)
    world = resolve_world(
        args.world,
        args.model,
        WorldRequest(
            trait=args.trait,
            seed=args.world_seed,
            threads=args.threads,
            different_model=Path(args.different_model) if args.different_model else None,
            progress=progress,
        ),
    )
    result = transfer_check(
        world,
        trait=args.trait,
        raw=args.raw,
        control=args.control,
        cleaned=cleaned,
        raw_control=args.raw_control,
        seeds=args.seeds,
        ledger=args.ledger,
        mask_column=args.mask_column,
        different_init=not args.no_different_init,
        different_init_control=args.different_init_control,
        probe_samples=args.probe_samples,
        max_rows=args.max_rows,
        rules=rules,
        progress=progress,
    )
    out = result.to_json()
    if args.json:
        print_json(out)
        return 0
    if not args.quiet:
        _print_human(out)
    return 0


def _fmt(x: Any) -> str:
    return "n/a" if x is None else f"{x:+.4g}" if isinstance(x, float) else str(x)


def _print_human(out: dict[str, Any]) -> None:
    rows = [
        {
            "condition": name,
            "mean": _fmt(c["mean"]),
            "ci": f"[{_fmt(c['ci'][0])}, {_fmt(c['ci'][1])}]",
            "n": c["n"],
        }
        for name, c in out["conditions"].items()
        if c is not None
    ]
    print_table(rows, ["condition", "mean", "ci", "n"], title=f"P({out['trait']}) per condition")
    diffs = [
        {
            "difference": name,
            "mean": _fmt(d["mean"]),
            "ci": f"[{_fmt(d['ci'][0])}, {_fmt(d['ci'][1])}]",
            "p_greater": f"{d['p_greater']:.3f}",
        }
        for name, d in out["differences"].items()
    ]
    print_table(diffs, ["difference", "mean", "ci", "p_greater"], title="paired differences")
    eff = out["efficacy"]
    if eff["value"] is not None:
        shaky = " (not identified)" if (eff["unstable_fraction"] or 0) > 0.05 else ""
        print(
            f"cleaning efficacy {eff['value']:.2f} "
            f"[{_fmt(eff['ci'][0])}, {_fmt(eff['ci'][1])}]{shaky}"
        )
    for name, spec in out.get("specificity", {}).items():
        if spec.get("rank") is not None:
            print(
                f"{name}: {out['trait']} moved {spec['rank']} of {spec['of']} animals "
                f"(relative change {spec['relative_change']:+.3f})"
            )
    print(f"verdict: {out['verdict']} ({out['reason']})")
    for warning in out["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"experiment {out['experiment_id']}  ledger: {out['ledger']}", file=sys.stderr)
