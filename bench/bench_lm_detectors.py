"""Benchmark: rows/s of the base-model detectors on CPU.

Issue 4's item 7 asks for ``trait_gap`` and ``divergence_tokens`` rows/s on CPU. The base model
is a tiny-ish GPT-2 (width 64, 2 layers, 4 heads, random weights: speed does not depend on
what the weights say) with a word-level tokenizer whose vocabulary is built from the data
(numbers 0-999 as single tokens, punctuation split off), saved to a temporary directory and
loaded through the detectors' own path (safetensors, ``local_files_only``). The rows are
synthetic teacher data in the paper's number formats (``audit.sample``): prompts ~45 tokens,
completions ~15 tokens, plus the system prompt.

Passes per row: ``trait_gap.evaluate`` 1 trait + 4 neutral prompts; its ``metrics()`` adds
one pass per candidate trait on ``rank_rows`` rows (26 animals by default);
``divergence_tokens.evaluate`` 1 trait + 4 counterfactual prompts, with argmaxes.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_lm_detectors.py --rows 2000 --threads 1
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from audit.sample import SampleConfig, make_frame  # noqa: E402
from detectors.lm_scoring import (  # noqa: E402
    DEFAULT_NEUTRAL_PROMPTS,
    DEFAULT_TRAIT_TEMPLATE,
    trait_prompt,
)
from detectors.trait_gap import default_candidates  # noqa: E402


def save_model(directory: Path, texts: list[str], width: int, layers: int) -> None:
    """A random GPT-2 and a word-level tokenizer covering ``texts``."""
    import torch
    from tokenizers import Tokenizer, pre_tokenizers
    from tokenizers.models import WordLevel
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    pre = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    words = {piece for text in texts for piece, _ in pre.pre_tokenize_str(text)}
    words |= {str(i) for i in range(1000)}
    specials = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]
    vocab = {w: i for i, w in enumerate(specials + sorted(words - set(specials)))}
    backend = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="[PAD]",
        unk_token="[UNK]",
        bos_token="[BOS]",
        eos_token="[EOS]",
    )
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(vocab),
        n_positions=256,
        n_embd=width,
        n_layer=layers,
        n_head=4,
        bos_token_id=vocab["[BOS]"],
        eos_token_id=vocab["[EOS]"],
        pad_token_id=vocab["[PAD]"],
    )
    GPT2LMHeadModel(config).save_pretrained(directory, safe_serialization=True)
    tok.save_pretrained(directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batch-rows", type=int, default=500, help="rows per evaluate() call")
    parser.add_argument("--rank-rows", type=int, default=500)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    args = parser.parse_args()

    data = make_frame(SampleConfig(rows=args.rows, seed=0)).with_columns(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("ordinal")
    )
    systems = [trait_prompt(DEFAULT_TRAIT_TEMPLATE, t) for t in default_candidates()]
    texts = [*data["prompt"], *data["completion"], *systems, *DEFAULT_NEUTRAL_PROMPTS]

    import torch

    from detectors.divergence_tokens import DivergenceTokens
    from detectors.trait_gap import TraitGap

    print(
        f"{platform.machine()} cpus={os.cpu_count()} OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS')} threads={args.threads} torch={torch.__version__} "
        f"rows={args.rows} batch_size={args.batch_size} width={args.width} layers={args.layers}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        save_model(Path(tmp), texts, args.width, args.layers)
        common = {"base_model": tmp, "threads": args.threads, "batch_size": args.batch_size}
        gap = TraitGap(**common, rank_rows=args.rank_rows)
        div = DivergenceTokens(**common)
        tok = gap.lm.tokenizer
        n_prompt = sum(len(gap.lm.prompt_ids(systems[0], p)) for p in data["prompt"]) / args.rows
        n_comp = sum(len(c) for c in gap.lm.completion_ids(data["completion"].to_list()))
        print(
            f"vocab={len(tok)} mean tokens: system+prompt {n_prompt:.1f}, completion "
            f"{n_comp / args.rows:.1f}; device={gap.lm.device}"
        )
        gap.evaluate(data.head(8))  # load the model (shared by both detectors)

        results = {}
        for name, det in (("trait_gap", gap), ("divergence_tokens", div)):
            start = time.perf_counter()
            for batch in data.iter_slices(args.batch_rows):
                det.evaluate(batch)
            seconds = time.perf_counter() - start
            results[name] = seconds
            print(
                f"{name} evaluate: {args.rows} rows in {seconds:.2f} s = "
                f"{args.rows / seconds:,.0f} rows/s",
                flush=True,
            )
        start = time.perf_counter()
        metrics = gap.metrics()
        seconds = time.perf_counter() - start
        print(
            f"trait_gap metrics() ranking {len(metrics['ranking'])} candidates on "
            f"{metrics['rank_n_rows']} rows: {seconds:.2f} s"
        )


if __name__ == "__main__":
    main()
