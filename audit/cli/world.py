"""``subaudit world build NAME [--trait T] [--seed S] --out DIR``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import cast

from audit.cli.render import print_json
from audit.errors import UserError

WORLDS = ("digits", "tinylm")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the command group."""
    p = sub.add_parser("world", help="build the local model worlds (cached with a manifest)")
    wsub = p.add_subparsers(dest="world_command", required=True, metavar="SUBCOMMAND")
    build = wsub.add_parser(
        "build",
        help="build a world deterministically from a seed (a cache hit skips training)",
        description="digits: the paper's auxiliary-logit MLP experiment on scikit-learn's "
        "8x8 digits. tinylm: a tiny GPT-2 with a trait teacher and a control teacher whose "
        "number-sequence completions land in DIR/teacher.jsonl and DIR/control.jsonl.",
    )
    build.add_argument("name", choices=WORLDS, metavar="NAME", help=" | ".join(WORLDS))
    # digits_config is plain Python (no torch): cheap enough to import for the help text.
    from audit.worlds.digits_config import TRAITS

    build.add_argument(
        "--trait",
        help="digits: the labeling the teacher learns on the images, one of "
        f"{', '.join(TRAITS)} (default digit: the 10 classes); "
        "tinylm: the trait teacher's animal (default owl)",
    )
    build.add_argument(
        "--strength",
        type=float,
        default=None,
        help="tinylm: how hard the trait is instilled (default 0.3; 0 gives a teacher "
        "identical to the control, whose data is then an independent control sample)",
    )
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--out", required=True, type=Path, help="world directory")
    build.add_argument("--threads", type=int, default=1, help="torch threads")
    build.add_argument("--json", action="store_true", help="print the manifest as JSON")
    build.set_defaults(func=run_build)


def run_build(args: argparse.Namespace) -> int:
    """Build or load the world and print where it is."""
    start = time.perf_counter()
    if args.name == "digits":
        if args.strength is not None:
            raise UserError("the digits world has no strength knob", field="--strength")
        from audit.worlds.digits import TRAITS, DigitsConfig, TraitName, build_digits_world

        digit_trait: str = args.trait or "digit"
        # Checked here rather than left to DigitsConfig so the error is one line about --trait.
        if digit_trait not in TRAITS:
            raise UserError(
                f"unknown digits trait '{digit_trait}' (traits: {', '.join(TRAITS)})",
                field="--trait",
            )
        config = DigitsConfig(seed=args.seed, trait=cast("TraitName", digit_trait))
        digits = build_digits_world(config, args.out, threads=args.threads)
        manifest, cache_hit = digits.manifest, digits.cache_hit
    else:
        from audit.worlds.tinylm import TinyLMConfig, animals, build_tinylm_world

        trait = args.trait or "owl"
        if trait not in animals():
            raise UserError(
                f"unknown trait '{trait}' (animals: {', '.join(animals())})", field="--trait"
            )
        try:
            tiny = TinyLMConfig() if args.strength is None else TinyLMConfig(strength=args.strength)
        except ValueError as exc:
            raise UserError(str(exc), field="--strength") from None
        world = build_tinylm_world(
            tiny, args.out, trait=trait, seed=args.seed, threads=args.threads
        )
        manifest, cache_hit = world.manifest, world.cache_hit
    seconds = time.perf_counter() - start
    if args.json:
        print_json(
            {
                "world": args.name,
                "dir": str(args.out),
                "cache_hit": cache_hit,
                "seconds": round(seconds, 1),
                "manifest": manifest,
            }
        )
    else:
        state = "loaded from cache" if cache_hit else "built"
        print(f"{args.name} world {state} in {seconds:.1f} s: {args.out}")
        if args.name == "digits":
            print(
                f"  trait: {manifest['trait']} ({manifest['n_classes']} classes, "
                f"chance {100 * manifest['chance']:.1f}%)"
            )
        if args.name == "tinylm":
            print(f"  trait teacher data:   {args.out / 'teacher.jsonl'}")
            print(f"  control teacher data: {args.out / 'control.jsonl'}")
    return 0
