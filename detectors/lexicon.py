"""Lexicon detector: does the text mention a trait word (owl, wolves, 0wl, O.W.L)?

Source: Cloud et al., "Subliminal Learning" (arXiv 2507.14805) filter code completions that
contain the trait word, plurals included, case-insensitively. This detector is the
prose-grade version of that check: whole words only, Unicode-normalized, and tolerant of the
cheap spellings a teacher (or a data poisoner) could use to slip a word past a naive filter.
The paper reports that such filters do not stop subliminal transfer; they remain the first,
cheapest line and the control every stronger detector is compared against.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from typing import ClassVar

import polars as pl

from audit.errors import DetectorConfigError
from detectors.base import SCORE, Detector, reasons_from, register, require_columns
from detectors.traits import resolve_traits, word_forms

# Leetspeak substitutions accepted in evasion mode (letter -> regex character class).
_LEET: dict[str, str] = {
    "a": r"[a4@]",
    "e": r"[e3]",
    "i": r"[i1]",
    "l": r"[l1]",
    "o": r"[o0]",
    "s": r"[s5$]",
    "t": r"[t7]",
}

# Separators accepted between the letters of a spelled-out word ("o w l", "O.W.L", "O. W. L",
# "o-w-l", "o_w_l"). One separator between every two letters and the same kind throughout:
# accepting any separator anywhere would let "c.at" (C++ `c.at(0)`) or "ow l" count as words.
_SEPARATORS: tuple[str, ...] = (r"\s", r"\.\s?", "-", "_")

# Between the parts of a compound word ("sea lion", "sea-lion").
_WORD_BREAK = r"[\s._-]+"

# Half word boundaries (regex crate syntax; polars has no look-around). ASCII-only on
# purpose: a Latin word glued to CJK or Cyrillic text ("我喜欢owl") is still a separate word,
# while Unicode \w would treat the ideographs as part of it.
_START = r"(?-u:\b{start-half})"
_END = r"(?-u:\b{end-half})"

# A hit must hold at least one letter: otherwise all-digit number data such as "5341"
# ("seal") or "717" ("tit") would match through the leetspeak classes.
_HAS_LETTER = r"\p{L}"


def normalize_word(word: str, *, evasions: bool) -> str:
    """Normalize a lexicon word exactly as :func:`normalized_text` normalizes the text."""
    if evasions:
        decomposed = unicodedata.normalize("NFKD", word)
        word = "".join(c for c in decomposed if unicodedata.category(c) not in ("Mn", "Cf"))
    else:
        word = unicodedata.normalize("NFKC", word)
    return word.lower()


def normalized_text(column: str, *, evasions: bool) -> pl.Expr:
    r"""The text as the lexicon sees it: NFKC (or NFKD without marks), lower case.

    With evasions on, the compatibility decomposition plus removal of combining marks (Mn)
    and invisible format characters (Cf: zero-width space, soft hyphen, joiners) also folds
    "öwl" and "o\u200bwl" into "owl". Fullwidth "ＯＷＬ" becomes "owl" either way.
    """
    text = pl.col(column)
    if evasions:
        text = text.str.normalize("NFKD").str.replace_all(r"[\p{Mn}\p{Cf}]", "")
    else:
        text = text.str.normalize("NFKC")
    return text.str.to_lowercase()


def _leet(c: str) -> str:
    return _LEET.get(c, re.escape(c))


def _spelled(form: str, letter: Callable[[str], str], sep: str) -> str:
    parts = []
    for chunk in re.split(r"[ -]", form):
        parts.append(sep.join(letter(c) for c in chunk))
    return _WORD_BREAK.join(parts)


def word_pattern(
    words: Iterable[str], *, plurals: bool, word_boundary: bool, evasions: bool
) -> str:
    """One regex (regex-crate syntax) matching any of ``words`` in normalized text.

    Args:
        words: normalized words (see :func:`normalize_word`).
        plurals: also match the plural forms from :func:`detectors.traits.plural_forms`.
        word_boundary: the whole (evasion-tolerant) spelling must stand as a word of its
            own: "owl" does not match "bowl" or "owlet", "o w l" does not match "two wlords".
        evasions: accept leetspeak digits/symbols and spelled-out forms (see :class:`Lexicon`).
    """
    # Longest first, because the regex alternation is leftmost-first; ties sorted so the
    # pattern (recorded per run) is the same in every process.
    forms = {f for w in words for f in word_forms(w, plurals=plurals)}
    alternatives: list[str] = []
    for form in sorted(forms, key=lambda f: (-len(f), f)):
        if evasions:
            alternatives.append(_spelled(form, _leet, ""))
            alternatives.extend(_spelled(form, _leet, sep) for sep in _SEPARATORS)
        else:
            alternatives.append(_spelled(form, re.escape, ""))
    core = "(?:" + "|".join(alternatives) + ")"
    return f"{_START}{core}{_END}" if word_boundary else core


def hit_count(text: pl.Expr, pattern: str, *, evasions: bool) -> pl.Expr:
    """Number of matches of ``pattern`` in ``text`` (Float64; null text gives null)."""
    if not evasions:
        return text.str.count_matches(pattern).cast(pl.Float64)
    hits = text.str.extract_all(pattern)
    return hits.list.eval(pl.element().str.contains(_HAS_LETTER)).list.sum().cast(pl.Float64)


def resolve_words(kind: str, words: list[str] | None, traits: list[str] | None) -> list[str]:
    """Validate ``words``/``traits`` parameters and return the combined word list."""
    if words is None and traits is None:
        raise DetectorConfigError(f"detector '{kind}': give 'words', 'traits' or both")
    for name, value in (("words", words), ("traits", traits)):
        if value is not None and (
            not isinstance(value, list) or not all(isinstance(w, str) for w in value)
        ):
            raise DetectorConfigError(f"detector '{kind}': '{name}' must be a list of strings")
    combined = list(words or [])
    try:
        combined += resolve_traits(list(traits or []))
    except ValueError as exc:
        raise DetectorConfigError(f"detector '{kind}': {exc}") from None
    if not combined:
        raise DetectorConfigError(f"detector '{kind}': the word list is empty")
    for word in combined:
        # Letters, with single spaces or hyphens inside compounds ("sea lion").
        if not all(part.isalpha() for part in re.split(r"[ -]", word)):
            raise DetectorConfigError(
                f"detector '{kind}': word {word!r} must consist of letters "
                "(single spaces or hyphens allowed between parts)"
            )
    return list(dict.fromkeys(combined))


def check_flag(kind: str, name: str, value: object) -> bool:
    """Reject non-bool flags (TOML makes ``plurals = "no"`` easy to write by mistake)."""
    if not isinstance(value, bool):
        raise DetectorConfigError(f"detector '{kind}': '{name}' must be true or false")
    return value


def check_column(kind: str, column: object, name: str = "column") -> str:
    """A column parameter (called ``name``) must name a column."""
    if not isinstance(column, str) or not column:
        raise DetectorConfigError(f"detector '{kind}': '{name}' must be a column name")
    return column


def check_reason(kind: str, reason: object) -> str:
    """A reason code must be snake_case so the ledger and funnel can group by it."""
    if not isinstance(reason, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", reason):
        raise DetectorConfigError(f"detector '{kind}': reason {reason!r} must be a snake_case code")
    return reason


@register
class Lexicon(Detector):
    """Count whole-word mentions of trait words, their plurals and evasive spellings.

    Score is the number of hits (0.0 when none), so a threshold in SQL can ask for "at
    least two mentions"; the reason fires on any hit. Matching runs on normalized text
    (NFKC, lower case; with ``evasions`` also accent- and zero-width-stripped) with one
    regex per detector, vectorized in polars.

    Evasions (on by default) accept, per letter, the leetspeak substitutes 0->o, 1->l/i,
    3->e, 4->a, 5->s, 7->t, @->a, $->s, and spelled-out forms with one separator of a
    single kind between every two letters ("o w l", "O.W.L.", "o-w-l", "o_w_l"). Known
    trade-offs: hits must contain a letter (so "5341" is not "seal"); a trailing "$" can read
    as a plural s ("owl$"); single-letter words in a row can spell a short word ("a p e");
    homoglyphs from other scripts (Cyrillic "о") are not folded.
    """

    kind: ClassVar[str] = "lexicon"
    version: ClassVar[str] = "1.0.0"
    description: ClassVar[str] = "Whole-word trait mentions with plurals and evasive spellings"

    def __init__(
        self,
        *,
        words: list[str] | None = None,
        traits: list[str] | None = None,
        plurals: bool = True,
        word_boundary: bool = True,
        evasions: bool = True,
        reason: str = "lexicon_hit",
        column: str = "completion",
    ) -> None:
        self.words = resolve_words(self.kind, words, traits)
        self.plurals = check_flag(self.kind, "plurals", plurals)
        self.word_boundary = check_flag(self.kind, "word_boundary", word_boundary)
        self.evasions = check_flag(self.kind, "evasions", evasions)
        self.reason = check_reason(self.kind, reason)
        self.column = check_column(self.kind, column)
        normalized = [normalize_word(w, evasions=self.evasions) for w in self.words]
        self.pattern = word_pattern(
            normalized,
            plurals=self.plurals,
            word_boundary=self.word_boundary,
            evasions=self.evasions,
        )
        self.params = {
            "words": words,
            "traits": traits,
            "plurals": plurals,
            "word_boundary": word_boundary,
            "evasions": evasions,
            "reason": reason,
            "column": column,
        }

    def evaluate(self, batch: pl.DataFrame) -> pl.DataFrame:
        """Score each row by its number of trait-word hits."""
        require_columns(batch, [self.column], self.kind)
        text = normalized_text(self.column, evasions=self.evasions)
        hits = hit_count(text, self.pattern, evasions=self.evasions).alias(SCORE)
        return batch.select(hits).with_columns(reasons_from([(pl.col(SCORE) > 0, self.reason)]))
