r"""The number-format filter of Cloud et al. 2025, vectorized.

Source: A. Cloud, M. Le et al., "Subliminal Learning: Language models transmit behavioral
traits via hidden signals in data", arXiv 2507.14805 (2025), numbers domain. The paper
keeps a teacher completion only if it parses as a consistently separated list of
integers; that filter removed 23-38% of completions per teacher. ``REFERENCE.md`` (section
"The paper's protocol (numbers domain)") states the reference implementation's exact
behaviour, which this module reproduces, odd cases included:

1. strip one trailing ``.``;
2. strip one enclosing pair of ``[]`` or ``()`` (no other bracket type);
3. find the maximal ``\d+`` runs (Python semantics, so non-ASCII digits count as runs
   and are rejected in step 5); no run is invalid, one run is valid only if it is the
   whole text;
4. with two or more runs, the separator is the exact text between the first two, and the
   text is split on that exact separator;
5. the separator, ``str.strip()``-ed, must be ``""``, ``","`` or ``";"``, and every part
   must be a non-empty string of ASCII digits 0-9;
6. then the numbers are checked against the thresholds; reasons accumulate.

How the vectorized path stays exact (the per-row Python transcription in
``tests/detectors/number_format_oracle.py`` is the oracle it is tested against): steps
1-5 accept a text exactly when it is ``P d1 S d2 S ... S dn Q`` with every ``di`` a run of
ASCII digits, one separator ``S`` made of Python whitespace around at most one ``,`` or
``;``, ``P``/``Q`` an optional matching ``[``/``]`` or ``(``/``)`` pair and ``Q`` optionally
followed by one ``.``. Since ``S`` never holds a digit of any script, the Unicode digit
tables never matter (and Rust's ``\d``, whose tables are newer than this Python's, is never
used); only Python's whitespace set does, and it is spelled out here. Everything except
"every ``S`` is the same string" is a regular language. Each check below sees only the
rows the earlier ones left undecided:

a. one regex with the common separators spelled out accepts most valid rows;
b. the shape regex (any allowed separators, not necessarily equal) rejects most others;
c. a shaped row whose first separator is a common one is invalid: had every separator
   equalled it, (a) would have accepted the row;
d. the few rows left are split on their own first separator and checked exactly.

The thresholds of step 6 compile to regexes over digit runs, exact for integers of any
size (no casts, no overflow). One pass with them combined finds the valid rows where any
fires; only those rows get one pass per check. No list columns, no per-row Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import polars as pl

from audit.errors import DetectorConfigError
from detectors.base import (
    REASONS,
    SCORE,
    Detector,
    register,
    require_columns,
    validate_output,
)

# ---------------------------------------------------------------------------------------
# regex building blocks

PY_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
"""Every character for which Python's ``str.isspace()`` is true (Unicode 14, the tables of
Python 3.11-3.12; a test recomputes it from the running Python). Polars' ``strip_chars()``
uses Rust's ``White_Space`` property instead, which lacks ``\\x1c``-``\\x1f``, so the set is
spelled out."""

# Integer parameters are 64-bit, like TOML's integers; the regexes grow with their digits.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

# Above this many numbers the "too many numbers" regex would exceed the regex engine's
# size limit; counting digit runs is slower but has no limit.
_MAX_COUNT_REGEX_LIMIT = 256

_JOIN_MARK = "\x00"  # never valid in a completion, so it cannot fake a separator


def _lit(text: str) -> str:
    r"""A regex matching ``text`` literally; ``\x{..}`` escapes are valid in Rust's regex."""
    return "".join(f"\\x{{{ord(c):X}}}" for c in text)


def _wrapped(body: str) -> str:
    r"""A whole-text regex for steps 1-2 around ``body``.

    The reference strips a trailing ``.`` first and a bracket pair second; as ``body``
    always begins and ends with a digit, ``\.?`` takes the period exactly when the text
    ends with one and the brackets match exactly when the reference strips them.
    """
    return rf"^(?:\[{body}\]|\({body}\)|{body})\.?\z"


_WS = f"[{_lit(PY_WHITESPACE)}]"
_SEPARATOR = f"{_WS}*[,;]?{_WS}*"  # what separator.strip() in ("", ",", ";") allows

# Steps 1-5 except that every separator must be the same string.
_SHAPE = _wrapped(rf"[0-9]+(?:{_SEPARATOR}[0-9]+)*")

# The separators teachers actually use, each pinned to one literal: a row matching this
# is valid without any further work. Extending the list changes speed, never results.
_COMMON_SEPARATORS = (
    ",", ", ", " ,", " , ", ",\n", ";", "; ", " ; ", ";\n",
    " ", "  ", "\n", "\n\n", "\r\n", "\t",
)  # fmt: skip
_COMMON = _wrapped(
    "(?:" + "|".join(rf"[0-9]+(?:{_lit(s)}[0-9]+)*" for s in _COMMON_SEPARATORS) + ")"
)

# A row not matching _COMMON whose first separator (the run between the first two digit
# runs, after an optional opening bracket) is a common one cannot be valid: if every
# separator equalled that one, the row would have matched _COMMON.
_COMMON_FIRST = r"^[\[(]?[0-9]+(?:" + "|".join(_lit(s) for s in _COMMON_SEPARATORS) + ")[0-9]"

# The rest of the shape-valid rows (rare: an uncommon separator first) are checked exactly:
# split on the first separator and joined with a marker, they must be digit runs between
# markers.
_FIRST_SEPARATOR = r"^[\[(]?[0-9]+([^0-9]+)[0-9]"
_JOINED = _wrapped(rf"[0-9]+(?:{_lit(_JOIN_MARK)}[0-9]+)*")


def _digits(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"[{lo}-{hi}]"


def _any_digits(count: int) -> str:
    return f"[0-9]{{{count}}}" if count else ""


def _above(m: int) -> str:
    """Regex alternatives for the canonical form of every integer greater than ``m >= 0``.

    The canonical form has no leading zeros; it is longer than ``m``'s, or as long with a
    larger digit after a common prefix.
    """
    ds = str(m)
    alts = [f"[1-9][0-9]{{{len(ds)},}}"]
    for i, ch in enumerate(ds):
        if ch != "9":
            alts.append(ds[:i] + _digits(int(ch) + 1, 9) + _any_digits(len(ds) - i - 1))
    return "|".join(alts)


def _below(m: int) -> str:
    """Regex alternatives for the canonical form of every integer in ``[0, m)``, ``m >= 1``."""
    ds = str(m)
    alts = ["0"]
    if len(ds) >= 2:
        alts.append(f"[1-9][0-9]{{0,{len(ds) - 2}}}")
    for i, ch in enumerate(ds):
        lo = 1 if i == 0 else 0  # a canonical form does not start with 0
        if int(ch) - 1 >= lo:
            alts.append(ds[:i] + _digits(lo, int(ch) - 1) + _any_digits(len(ds) - i - 1))
    return "|".join(alts)


# Reason lists by code: bit i set = _THRESHOLD_CODES[i] fired; _INVALID = invalid_format.
_THRESHOLD_CODES = ("too_many_numbers", "numbers_too_large", "numbers_too_small", "banned_number")
_INVALID = 1 << len(_THRESHOLD_CODES)
_REASON_LISTS = pl.Series(
    [[c for i, c in enumerate(_THRESHOLD_CODES) if code >> i & 1] for code in range(_INVALID)]
    + [["invalid_format"]],
    dtype=pl.List(pl.String()),
)


def _has_number(alternatives: str) -> str:
    """A regex finding a maximal digit run whose canonical form is in ``alternatives``.

    Leading zeros are allowed and ignored, as the reference's ``int()`` does ("007" is 7).
    """
    return rf"(?:^|[^0-9])0*(?:{alternatives})(?:[^0-9]|\z)"


# ---------------------------------------------------------------------------------------
# parameter validation


def _int_param(name: str, value: Any, *, minimum: int = _INT64_MIN) -> int:
    # bool is an int subclass; `max_count = true` in a rule pack is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise DetectorConfigError(
            f"detector 'number_format': {name} must be an integer, got {value!r}"
        )
    if not minimum <= value <= _INT64_MAX:
        raise DetectorConfigError(
            f"detector 'number_format': {name} must be between {minimum} and {_INT64_MAX}, "
            f"got {value}"
        )
    return value


# ---------------------------------------------------------------------------------------
# the detector


@register
class NumberFormat(Detector):
    """The paper's number-format filter (Cloud et al. 2025, arXiv 2507.14805).

    A completion passes when it is one to ``max_count`` non-negative integers, separated
    consistently by a comma, a semicolon or whitespace (one separator string throughout,
    compared exactly), optionally wrapped in one pair of ``[]`` or ``()`` and ended by one
    period, with every value in ``[min_value, max_value]`` and none in ``banned``. The
    paper's configuration is the default: at most 10 numbers in 0..999 (``rules/numbers.toml``);
    the misalignment experiment also banned 34 numbers with negative associations
    (``rules/numbers-misalignment.toml``). The paper shows traits transfer through data
    that passes this filter: it screens format, not subliminal content.

    Reason codes, in this order: ``invalid_format`` (steps 1-5 fail; the threshold checks
    then do not apply, as there are no numbers), ``too_many_numbers``,
    ``numbers_too_large``, ``numbers_too_small``, ``banned_number``; the last four
    accumulate. Score: 1.0 when any reason fired, 0.0 when none did, null (verdict
    ``unknown``, no reasons) when the text is null.

    Args:
        column: the text column to check.
        max_count: most numbers allowed (>= 1); there is no minimum count.
        min_value: smallest value allowed.
        max_value: largest value allowed (>= ``min_value``).
        banned: values that reject a row (non-negative integers; list or tuple).

    Raises:
        DetectorConfigError: a parameter has the wrong type or an impossible value.
    """

    kind: ClassVar[str] = "number_format"
    version: ClassVar[str] = "1.0.0"
    description: ClassVar[str] = (
        "Cloud et al. 2025 number-format filter: consistently separated integers, "
        "by default 1-10 of them in 0..999, optional banned numbers"
    )

    def __init__(
        self,
        *,
        column: str = "completion",
        max_count: int = 10,
        min_value: int = 0,
        max_value: int = 999,
        banned: Sequence[int] = (),
    ) -> None:
        if not isinstance(column, str) or not column:
            raise DetectorConfigError(
                f"detector 'number_format': column must be a non-empty string, got {column!r}"
            )
        self.column = column
        self.max_count = _int_param("max_count", max_count, minimum=1)
        self.min_value = _int_param("min_value", min_value)
        self.max_value = _int_param("max_value", max_value)
        if self.min_value > self.max_value:
            raise DetectorConfigError(
                f"detector 'number_format': min_value ({min_value}) is greater than "
                f"max_value ({max_value}), so every row would fail"
            )
        if not isinstance(banned, list | tuple):
            raise DetectorConfigError(
                "detector 'number_format': banned must be a list of integers, "
                f"got {type(banned).__name__} {banned!r}"
            )
        self.banned = [_int_param("banned", b, minimum=0) for b in banned]
        self.params = {
            "column": column,
            "max_count": max_count,
            "min_value": min_value,
            "max_value": max_value,
            "banned": list(self.banned),
        }

    def _step6(self) -> list[str | bool]:
        """The threshold checks of step 6, in reason-code order.

        Each is a regex that matches the raw text of a valid row when the check fails, or
        a constant when the parameters decide it alone. On a valid row the raw text's digit
        runs are exactly the parsed numbers (the stripped brackets and period are never
        digits), so no parsing is needed. For ``max_count`` above the regex engine's size
        limit, the regex is only a necessary condition, refined by counting in
        :meth:`evaluate`.
        """
        count = min(self.max_count, _MAX_COUNT_REGEX_LIMIT)
        too_many: str | bool = rf"^[^0-9]*(?:[0-9]+[^0-9]+){{{count}}}[0-9]"
        # Numbers are never negative, and a valid row has at least one.
        too_large: str | bool = self.max_value < 0 or _has_number(_above(self.max_value))
        too_small: str | bool = self.min_value > 0 and _has_number(_below(self.min_value))
        banned: str | bool = bool(self.banned) and _has_number(
            "|".join(str(b) for b in sorted(set(self.banned)))
        )
        return [too_many, too_large, too_small, banned]

    def _valid(self, texts: pl.DataFrame) -> pl.Series:
        """Steps 1-5 for every row: true, false, or null for a null text."""
        text = pl.col("text")
        valid = texts.select(text.str.contains(_COMMON)).to_series()
        # Each further check sees only the rows the earlier ones left undecided, so the
        # one that is slow per row (a split on a per-row separator) sees very few. Null
        # texts are never undecided: they stay null.
        undecided = (~valid).arg_true()
        for pattern, keep_if in ((_SHAPE, True), (_COMMON_FIRST, False)):
            if undecided.len():
                hits = texts[undecided].select(text.str.contains(pattern)).to_series()
                undecided = undecided.filter(hits if keep_if else ~hits)
        if undecided.len():
            split = text.str.split(text.str.extract(_FIRST_SEPARATOR, 1))
            exact = texts[undecided].select(split.list.join(_JOIN_MARK).str.contains(_JOINED))
            valid = valid.scatter(undecided, exact.to_series())
        return valid

    def evaluate(self, batch: pl.DataFrame) -> pl.DataFrame:
        """Score one batch; see the class docstring for reasons and scores."""
        require_columns(batch, [self.column], self.kind)
        dtype = batch.schema[self.column]
        if dtype not in (pl.String, pl.Null):
            raise DetectorConfigError(
                f"detector 'number_format' reads column '{self.column}' as text, "
                f"but it has type {dtype}"
            )
        texts = batch.select(text=pl.col(self.column).cast(pl.String))
        text = pl.col("text")
        valid = self._valid(texts)

        # Each row's reasons as a small code: _INVALID, or one bit per threshold check;
        # 0 for a null text too (its score is null).
        code = ((~valid).cast(pl.UInt8) * _INVALID).fill_null(0)

        # Step 6. One pass with all the checks' regexes combined finds the valid rows
        # where any check fires (a minority); only those get the per-check passes.
        checks = self._step6()
        if any(c is True for c in checks):
            flagged = valid
        else:  # the count check is always a regex, so there is at least one
            combined = "|".join(f"(?:{c})" for c in checks if isinstance(c, str))
            flagged = valid & texts.select(text.str.contains(combined)).to_series()
        rows = flagged.fill_null(False).arg_true()
        if rows.len():
            bits = [pl.lit(c) if isinstance(c, bool) else text.str.contains(c) for c in checks]
            if self.max_count > _MAX_COUNT_REGEX_LIMIT:
                bits[0] = bits[0] & (text.str.count_matches(r"[0-9]+") > self.max_count)
            fired = pl.sum_horizontal(b.cast(pl.UInt8) * (1 << i) for i, b in enumerate(bits))
            code = code.scatter(rows, texts[rows].select(fired.cast(pl.UInt8)).to_series())

        # Picking each row's list from a 17-entry table takes ~5 ms per million rows;
        # assembling lists row by row (detectors.base.reasons_from) took ~1.3 s.
        score = pl.DataFrame({"code": code, "valid": valid}).select(
            pl.when(pl.col("valid").is_null())
            .then(None)
            .otherwise((pl.col("code") > 0).cast(pl.Float64))
            .alias(SCORE)
        )
        out = score.with_columns(_REASON_LISTS.gather(code).alias(REASONS))
        return validate_output(self.kind, batch, out)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"NumberFormat({args})"


__all__ = ["PY_WHITESPACE", "NumberFormat"]
