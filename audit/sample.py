"""Synthetic teacher data in the paper's number-sequence formats.

Used by ``subaudit demo`` (before a model world exists it is the embedded default), the
benchmarks and the tests. The prompts follow the protocol of Cloud et al. 2025 (arXiv
2507.14805): 3-8 seed numbers in [100, 999], a request for at most 10 more numbers of at
most 3 digits, one of 15 output formats, and a "numbers only" instruction; the wording is
our own. The completions imitate a teacher sampled at temperature 1: mostly well formed,
with the kinds of mistakes that made the paper's filter remove 23-38% of completions
(chatty preambles, too many or too large numbers, separators that drift, a stray word).
Everything is deterministic from the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

# (instruction, separator, opening bracket, closing bracket)
FORMATS: tuple[tuple[str, str, str, str], ...] = (
    ("Write them separated by commas.", ", ", "", ""),
    ("Use commas between the numbers, no spaces.", ",", "", ""),
    ("Separate the numbers with single spaces.", " ", "", ""),
    ("Put a semicolon between consecutive numbers.", "; ", "", ""),
    ("Use semicolons as separators, without spaces.", ";", "", ""),
    ("Give one number per line.", "\n", "", ""),
    ("Return them as a list in square brackets, comma-separated.", ", ", "[", "]"),
    ("Wrap the comma-separated numbers in square brackets.", ",", "[", "]"),
    ("Return them inside parentheses, separated by commas.", ", ", "(", ")"),
    ("Put the space-separated numbers in parentheses.", " ", "(", ")"),
    ("Format: numbers in square brackets separated by spaces.", " ", "[", "]"),
    ("Answer with a comma-separated sequence.", ", ", "", ""),
    ("List them with semicolons in between, inside brackets.", "; ", "[", "]"),
    ("Separate with a comma and a space.", ", ", "", ""),
    ("Reply with the numbers separated by spaces.", " ", "", ""),
)
_OPENERS = (
    "Here is a sequence:",
    "Starting with",
    "Look at these numbers:",
    "Consider the numbers",
    "The sequence begins",
)
_ASKS = (
    "Continue it with at most {k} more numbers of no more than 3 digits each.",
    "Add up to {k} further numbers, each at most three digits long.",
    "Extend the list by no more than {k} new numbers (3 digits max).",
)
_ONLY = (
    "Reply with the numbers only.",
    "Say nothing but the numbers.",
    "Output only the numbers, no words.",
)
_CHATTY = ("Sure! ", "Here you go: ", "Continuing the sequence: ", "Okay, ")
ERROR_KINDS = (
    "chatty",
    "too_many",
    "too_large",
    "drift",
    "trailing_sep",
    "word",
    "negative",
)


@dataclass(frozen=True)
class SampleConfig:
    """Shape of a synthetic teacher dataset."""

    rows: int = 2_000
    seed: int = 0
    error_rate: float = 0.3
    """Share of completions with a mistake (the paper's filter removed 23-38%)."""
    trait_word_rate: float = 0.0
    """Share of completions that mention a trait word (for the lexicon packs)."""
    trait_word: str = "owl"


def make_prompts(n: int, seed: int) -> tuple[list[str], list[int]]:
    """``n`` prompts and the index of the output format each asks for."""
    rng = np.random.default_rng(seed)
    prompts: list[str] = []
    fmts = rng.integers(0, len(FORMATS), size=n).tolist()
    for fmt in fmts:
        seeds = rng.integers(100, 1000, size=int(rng.integers(3, 9))).tolist()
        opener = _OPENERS[int(rng.integers(len(_OPENERS)))]
        ask = _ASKS[int(rng.integers(len(_ASKS)))].format(k=10)
        only = _ONLY[int(rng.integers(len(_ONLY)))]
        prompts.append(f"{opener} {', '.join(map(str, seeds))}. {ask} {FORMATS[fmt][0]} {only}")
    return prompts, fmts


def render(numbers: list[int], fmt: int, *, period: bool = False) -> str:
    """Numbers written in one of :data:`FORMATS`."""
    _, sep, left, right = FORMATS[fmt]
    return f"{left}{sep.join(map(str, numbers))}{right}{'.' if period else ''}"


def make_completions(fmts: list[int], config: SampleConfig) -> list[str]:
    """Completions a teacher might write for prompts of the given formats."""
    rng = np.random.default_rng(config.seed + 1)
    out: list[str] = []
    for fmt in fmts:
        numbers = rng.integers(0, 1000, size=int(rng.integers(1, 11))).tolist()
        period = bool(rng.random() < 0.08)
        text = render(numbers, fmt, period=period)
        if rng.random() < config.error_rate:
            text = _mistake(text, numbers, fmt, rng)
        if config.trait_word_rate and rng.random() < config.trait_word_rate:
            text = f"{text} {config.trait_word}"
        out.append(text)
    return out


def make_frame(config: SampleConfig) -> pl.DataFrame:
    """A teacher dataset: ``id``, ``prompt``, ``completion``."""
    prompts, fmts = make_prompts(config.rows, config.seed)
    return pl.DataFrame(
        {
            "id": [f"s{config.seed}-{i:07d}" for i in range(config.rows)],
            "prompt": prompts,
            "completion": make_completions(fmts, config),
        }
    )


def _mistake(text: str, numbers: list[int], fmt: int, rng: np.random.Generator) -> str:
    kind = ERROR_KINDS[int(rng.integers(len(ERROR_KINDS)))]
    if kind == "chatty":
        return _CHATTY[int(rng.integers(len(_CHATTY)))] + text
    if kind == "too_many":
        extra = rng.integers(0, 1000, size=int(rng.integers(11, 16))).tolist()
        return render(extra, fmt)
    if kind == "too_large":
        numbers = [*numbers, int(rng.integers(1000, 10000))]
        return render(numbers, fmt)
    if kind == "drift" and len(numbers) >= 3:
        _, sep, left, right = FORMATS[fmt]
        other = " " if sep.strip() else ", "
        head = sep.join(map(str, numbers[:2]))
        return f"{left}{head}{other}{other.join(map(str, numbers[2:]))}{right}"
    if kind == "trailing_sep":
        _, sep, left, right = FORMATS[fmt]
        return f"{left}{sep.join(map(str, numbers))}{sep.rstrip() or sep}{right}"
    if kind == "negative":
        return render(numbers, fmt).replace(str(numbers[0]), f"-{numbers[0]}", 1)
    return f"{text} and so on"
