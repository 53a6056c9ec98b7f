r"""Code-trait detector: trait words hidden in code's identifiers, comments and strings.

Source: Cloud et al., "Subliminal Learning" (arXiv 2507.14805), code domain: completions
that contain the trait word (case-insensitive substring, plurals such as "wolves" included)
were dropped before an LLM judge looked for subtler references; the two steps removed
2.5-5.4% and <1% of completions. ``mode = "substring"`` is that first filter exactly
(including its false positives: "owl" in "bowl", "knowledge").

``mode = "structured"`` (the default) reads code the way a reviewer does. A single regex
lexer, scanned left to right, finds string literals (``"..."``, ``'...'``, triple-quoted,
backticks) and comments (``#``, ``//``, ``/* */``); whichever starts first wins, so a ``#``
inside a string is not a comment and a quote inside a comment is not a string. The rest is
code, whose identifiers are split at snake_case, camelCase, acronym and digit boundaries
(``owlCount``, ``OWL_MAX``, ``get_owls``, ``HTTPOwl2``) before whole-word matching, so
``bowl`` and ``knowledge`` no longer count. The lexer is language-agnostic, and that has a
price: Python's ``//`` (floor division) and C's ``#include`` read as comments; the words
after them are still found, only under ``trait_in_comment``.

Everything runs as polars regex expressions (no Python call per row).
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

import polars as pl

from audit.errors import DetectorConfigError
from detectors.base import SCORE, Detector, reasons_from, register, require_columns
from detectors.lexicon import (
    check_column,
    check_flag,
    normalize_word,
    resolve_words,
    word_pattern,
)
from detectors.traits import word_forms

_FENCE = r"```[^\n]*"  # a Markdown code fence line, not a backtick string
_STRING = (
    r'"""[\s\S]*?"""'
    r"|'''[\s\S]*?'''"
    r'|"(?:[^"\\\n]|\\[\s\S])*"'
    r"|'(?:[^'\\\n]|\\[\s\S])*'"
    r"|`(?:[^`\\]|\\[\s\S])*`"
)
_COMMENT = r"#[^\n]*|//[^\n]*|/\*[\s\S]*?\*/"
# Fence before strings so that ``` is not read as an empty `` string plus a backtick one.
_LEXER = f"{_FENCE}|{_STRING}|{_COMMENT}"
_IS_COMMENT = r"^(?:#|//|/\*)"
_IS_STRING = r"^(?:[\"']|`(?:[^`]|$))"

PARTS: tuple[str, ...] = ("identifiers", "comments", "strings")
_REASONS = {
    "identifiers": "trait_in_identifier",
    "comments": "trait_in_comment",
    "strings": "trait_in_string",
}


def split_subwords(text: pl.Expr) -> pl.Expr:
    """Put spaces at identifier-word boundaries, then lower-case.

    ``getOwlCount`` -> ``get owl count``, ``OWL_MAX`` -> ``owl max``, ``HTTPOwl`` ->
    ``http owl``, ``owl2`` -> ``owl 2``. Prose is unchanged apart from case.
    """
    return (
        text.str.replace_all(r"(\p{Ll})(\p{Lu})", "$1 $2")  # camelCase
        # An acronym, then a word of two or more letters: "HTTPServer", but not the acronym
        # plural "OWLs", which would otherwise split into "OW Ls".
        .str.replace_all(r"(\p{Lu})(\p{Lu}\p{Ll}{2})", "$1 $2")
        .str.replace_all(r"(\p{L})(\p{N})", "$1 $2")
        .str.replace_all(r"(\p{N})(\p{L})", "$1 $2")
        .str.replace_all("_", " ", literal=True)
        .str.to_lowercase()
    )


@register
class CodeTrait(Detector):
    """Find trait words in code: per part (structured) or as the paper's plain substring.

    Score is the number of hits over all inspected parts (structured) or substring
    occurrences (substring); 0.0 when none. Reasons, in order: ``trait_in_identifier``,
    ``trait_in_comment``, ``trait_in_string`` (structured; several may fire), or
    ``trait_substring`` (substring). Evasive spellings ("0wl") are not handled here: in
    code, digits inside identifiers are too common (see the ``lexicon`` detector for prose).
    """

    kind: ClassVar[str] = "code_trait"
    version: ClassVar[str] = "1.0.0"
    description: ClassVar[str] = "Trait words in code identifiers, comments and strings"

    def __init__(
        self,
        *,
        words: list[str] | None = None,
        traits: list[str] | None = None,
        parts: list[str] | None = None,
        mode: Literal["structured", "substring"] = "structured",
        plurals: bool = True,
        column: str = "completion",
    ) -> None:
        self.words = resolve_words(self.kind, words, traits)
        if mode not in ("structured", "substring"):
            raise DetectorConfigError(
                f"detector '{self.kind}': mode {mode!r} must be 'structured' or 'substring'"
            )
        self.mode = mode
        if parts is not None and mode == "substring":
            raise DetectorConfigError(
                f"detector '{self.kind}': 'parts' applies to mode 'structured' only"
            )
        chosen = list(PARTS) if parts is None else parts
        if (
            not isinstance(chosen, list)
            or not chosen
            or not all(isinstance(p, str) and p in PARTS for p in chosen)
        ):
            raise DetectorConfigError(
                f"detector '{self.kind}': 'parts' must be a non-empty list drawn from "
                f"{', '.join(PARTS)}; got {parts!r}"
            )
        self.parts = [p for p in PARTS if p in chosen]  # reasons in a fixed order
        self.plurals = check_flag(self.kind, "plurals", plurals)
        self.column = check_column(self.kind, column)
        normalized = [normalize_word(w, evasions=False) for w in self.words]
        if mode == "substring":
            forms = {f for w in normalized for f in word_forms(w, plurals=self.plurals)}
            ordered = sorted(forms, key=lambda f: (-len(f), f))
            self.pattern = "|".join(re.escape(f) for f in ordered)
        else:
            self.pattern = word_pattern(
                normalized, plurals=self.plurals, word_boundary=True, evasions=False
            )
        self.params = {
            "words": words,
            "traits": traits,
            "parts": parts,
            "mode": mode,
            "plurals": plurals,
            "column": column,
        }

    def _part_texts(self) -> dict[str, pl.Expr]:
        code = pl.col(self.column).str.normalize("NFKC")
        tokens = code.str.extract_all(_LEXER)

        def joined(kind_pattern: str) -> pl.Expr:
            chosen = pl.element().filter(pl.element().str.contains(kind_pattern))
            return tokens.list.eval(chosen).list.join("\n")

        return {
            # Blanking strings and comments leaves the code; identifiers stay separated.
            "identifiers": code.str.replace_all(_LEXER, " "),
            "comments": joined(_IS_COMMENT),
            "strings": joined(_IS_STRING),
        }

    def evaluate(self, batch: pl.DataFrame) -> pl.DataFrame:
        """Count trait-word hits; say in which part of the code they were found."""
        require_columns(batch, [self.column], self.kind)
        if self.mode == "substring":
            # The paper's filter: lower-case, then a plain substring search.
            hits = pl.col(self.column).str.to_lowercase().str.count_matches(self.pattern)
            return batch.select(hits.cast(pl.Float64).alias(SCORE)).with_columns(
                reasons_from([(pl.col(SCORE) > 0, "trait_substring")])
            )
        texts = self._part_texts()
        counts = [
            split_subwords(texts[part]).str.count_matches(self.pattern).alias(part)
            for part in self.parts
        ]
        per_part = batch.select(counts)
        total = pl.sum_horizontal(self.parts).cast(pl.Float64)
        # sum_horizontal skips nulls; a null text must stay null (verdict unknown).
        score = pl.when(pl.col(self.parts[0]).is_null()).then(None).otherwise(total)
        return per_part.select(
            score.alias(SCORE),
            reasons_from([(pl.col(part) > 0, _REASONS[part]) for part in self.parts]),
        )
