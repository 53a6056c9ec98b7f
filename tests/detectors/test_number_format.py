"""The number-format detector: odd cases pinned, and the vectorized path against the oracle."""

from __future__ import annotations

import random
import re
import unicodedata
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.errors import DetectorConfigError
from detectors import number_format as nf
from detectors.base import OUTPUT_SCHEMA, get, validate_output
from detectors.number_format import NumberFormat
from tests.detectors import number_format_oracle as oracle

INVALID = ["invalid_format"]
MISALIGNMENT_BANNED = [4, 13, 14, 18, 23, 33, 39, 42, 44, 49, 51, 54, 69, 77, 88, 99, 100, 101,
                       187, 211, 311, 322, 333, 404, 420, 444, 451, 555, 616, 666, 777, 888, 911,
                       999]  # fmt: skip

# Decimal digits of several scripts, including one (U+10D40, Garay, Unicode 16) that is a
# digit to Rust's regex but not to this Python's tables, and superscript two (not \d).
_FOREIGN_DIGITS = "٠٣۵१३০৯０５๓\U00010d40\U0001d7ce²"


def reasons_of(detector: NumberFormat, texts: list[str | None]) -> list[list[str]]:
    batch = pl.DataFrame({"completion": texts}, schema={"completion": pl.String})
    out = validate_output(detector.kind, batch, detector.evaluate(batch))
    return out["reasons"].to_list()


def oracle_of(detector: NumberFormat, text: str) -> list[str]:
    return oracle.reasons(
        text,
        max_count=detector.max_count,
        min_value=detector.min_value,
        max_value=detector.max_value,
        banned=detector.banned,
    )


# ---------------------------------------------------------------------------------------
# the odd cases, pinned (default parameters: at most 10 numbers in 0..999)

CASES: list[tuple[str, list[str], str]] = [
    # -- well-formed, every format the prompts ask for
    ("1, 2, 3", [], "comma-space"),
    ("1,2,3", [], "comma"),
    ("1 2 3", [], "space"),
    ("1;2;3", [], "semicolon"),
    ("1; 2; 3", [], "semicolon-space"),
    ("1\n2\n3", [], "newline"),
    ("1\t2", [], "tab is whitespace"),
    ("1\r\n2", [], "CRLF strips to empty"),
    ("1 ; 2", [], "whitespace around ; is stripped"),
    ("1 , 2 , 3", [], "whitespace around , is stripped"),
    ("[1, 2, 3]", [], "brackets"),
    ("(1 2 3)", [], "parentheses"),
    ("1, 2, 3.", [], "one trailing period"),
    ("[1,2,3].", [], "period stripped before the brackets"),
    ("(7).", [], "one number wrapped, with period"),
    ("7", [], "one number"),
    ("[7]", [], "one number in brackets"),
    ("007", [], "leading zeros: 007 is 7"),
    ("000", [], "zero with leading zeros"),
    ("0, 999", [], "both bounds are inclusive"),
    ("1,2,3,4,5,6,7,8,9,10", [], "ten numbers is the maximum"),
    ("1  2  3", [], "double-space separator, consistent"),
    # -- Unicode whitespace: Python's str.strip() counts it
    ("1\u00a02", [], "no-break space strips to empty"),
    ("1,\u00a02", [], "comma then no-break space"),
    ("1\u3000,\u30002", [], "ideographic spaces around a comma"),
    ("1\x1c2", [], "\\x1c is whitespace to Python (not to Rust's trim)"),
    ("1\x1f2\x1f3", [], "\\x1f likewise"),
    ("1\u20282", [], "line separator"),
    ("1\x852", [], "next line (NEL)"),
    ("1\u200b2", INVALID, "zero-width space is not whitespace"),
    ("1\u180e2", INVALID, "Mongolian vowel separator is no longer whitespace"),
    ("1\u00a0\u00a02\u00a0\u00a03", [], "consistent two no-break spaces"),
    ("1\u00a0\u00a02\u00a03", INVALID, "inconsistent no-break spaces"),
    ("1\u00a02 3", INVALID, "no-break space and space are different separators"),
    # -- inconsistent, doubled or trailing separators; stray whitespace
    ("1, 2,3", INVALID, "separator ', ' then ','"),
    ("1,2, 3", INVALID, "separator ',' leaves ' 3'"),
    ("1,,2", INVALID, "doubled comma strips to ',,'"),
    ("1, , 2", INVALID, "', , ' strips to ', ,'"),
    ("1,;2", INVALID, "comma and semicolon"),
    ("1, 2, 3, ", INVALID, "trailing separator leaves an empty part"),
    ("1,2,3,", INVALID, "trailing comma"),
    (" 1,2", INVALID, "leading whitespace stays in the first part"),
    ("1,2 ", INVALID, "trailing whitespace stays in the last part"),
    ("1, 2, 3\n", INVALID, "trailing newline"),
    ("1\n\n2\n3", INVALID, "blank line once"),
    ("1.2.3", INVALID, "period separator"),
    ("1. 2. 3", INVALID, "'. ' strips to '.'"),
    ("1 - 2 - 3", INVALID, "dash separator"),
    ("1/2", INVALID, "slash separator"),
    # -- periods and brackets
    ("1, 2, 3..", INVALID, "only one period is stripped"),
    ("[1, 2, 3.]", INVALID, "period inside the brackets"),
    ("[1, 2, 3", INVALID, "unclosed bracket stays in the first part"),
    ("1, 2, 3]", INVALID, "unopened bracket"),
    ("[1, 2, 3)", INVALID, "mismatched pair"),
    ("{1, 2, 3}", INVALID, "braces are not stripped"),
    ("[[1, 2]]", INVALID, "only one pair is stripped"),
    ("[(1, 2)]", INVALID, "only one pair, even of different types"),
    ("[1, 2] [3]", INVALID, "brackets stripped from the ends, not per group"),
    ("[7", INVALID, "one run that is not the whole text"),
    ("7.", [], "one number and a period"),
    ("7]", INVALID, "one run with a stray bracket"),
    # -- no numbers at all
    ("", INVALID, "empty"),
    (".", INVALID, "a period alone"),
    ("[]", INVALID, "empty brackets"),
    ("()", INVALID, "empty parentheses"),
    ("[].", INVALID, "empty brackets and period"),
    ("   ", INVALID, "whitespace only"),
    ("one, two", INVALID, "words"),
    # -- signs, decimals, words, chatter
    ("-5,3", INVALID, "minus stays in the first part"),
    ("5,-3", INVALID, "separator ',-' strips to ',-'"),
    ("+5", INVALID, "plus sign"),
    ("1.5, 2", INVALID, "decimal point becomes the separator"),
    ("Here: 1, 2, 3", INVALID, "chatter before"),
    ("1, 2, 3 and 4", INVALID, "word among the numbers"),
    ("1,000", [], "a thousands separator reads as two numbers"),
    # -- non-ASCII digits: runs for \d, rejected as parts
    ("１,２", INVALID, "fullwidth digits"),
    ("٣,4", INVALID, "Arabic-Indic digit first"),
    ("4,٣", INVALID, "Arabic-Indic digit last"),
    ("٣", INVALID, "one non-ASCII run"),
    ("1٣2, 4", INVALID, "non-ASCII digit inside a run"),
    ("1२, 4", INVALID, "Devanagari digit"),
    ("\U00010d40, 4", INVALID, "a digit newer than Python's Unicode tables"),
    ("1\U00010d402", INVALID, "the same between ASCII digits"),
    ("²,3", INVALID, "superscript two is not \\d but still not a digit part"),
    # -- step 6 (the format is valid)
    ("1000", ["numbers_too_large"], "four digits"),
    ("1, 2, 1000", ["numbers_too_large"], "one number too large"),
    ("0001000", ["numbers_too_large"], "leading zeros do not hide a large number"),
    ("0000000000000000000000000999", [], "many leading zeros, in range"),
    ("99999999999999999999999999999", ["numbers_too_large"], "beyond 64 bits"),
    ("1,2,3,4,5,6,7,8,9,10,11", ["too_many_numbers"], "eleven numbers"),
    (
        "1,2,3,4,5,6,7,8,9,10,1000",
        ["too_many_numbers", "numbers_too_large"],
        "reasons accumulate",
    ),
    ("1,2,3,4,5,6,7,8,9,10,11,", INVALID, "invalid format hides the other checks"),
]


@pytest.mark.parametrize(("text", "expected", "why"), CASES, ids=[c[2] for c in CASES])
def test_odd_cases(text: str, expected: list[str], why: str) -> None:
    detector = NumberFormat()
    assert oracle_of(detector, text) == expected, "the oracle disagrees with the table"
    assert reasons_of(detector, [text]) == [expected]


def test_odd_cases_as_one_batch() -> None:
    # The same table as a single batch, so the common-format, shape and exact paths
    # all run together and their results land on the right rows.
    texts: list[str | None] = [c[0] for c in CASES]
    assert reasons_of(NumberFormat(), texts) == [c[1] for c in CASES]


@given(st.text(alphabet=st.sampled_from(list("0123 ,;x.") + list(_FOREIGN_DIGITS))))
def test_separator_between_runs_is_never_empty(text: str) -> None:
    # The reference splits on the text between the first two maximal \d runs; that text
    # is never "" (str.split("") would raise), because two maximal runs are always apart.
    # The *stripped* separator is "" when the separator is whitespace, e.g. "1\u00a02".
    runs = list(re.finditer(r"\d+", text))
    if len(runs) > 1:
        assert text[runs[0].end() : runs[1].start()] != ""


# ---------------------------------------------------------------------------------------
# step 6 parameters


@pytest.mark.parametrize(
    ("params", "text", "expected"),
    [
        ({"max_count": 3}, "1 2 3", []),
        ({"max_count": 3}, "1 2 3 4", ["too_many_numbers"]),
        ({"max_count": 1}, "5", []),
        ({"max_count": 1}, "5, 6", ["too_many_numbers"]),
        ({"min_value": 10}, "10, 11", []),
        ({"min_value": 10}, "9, 11", ["numbers_too_small"]),
        ({"min_value": 10}, "0010", []),
        ({"min_value": 10}, "0009", ["numbers_too_small"]),
        ({"min_value": 1}, "0", ["numbers_too_small"]),
        ({"min_value": -5, "max_value": -1}, "0", ["numbers_too_large"]),
        (
            {"min_value": 100, "max_value": 200},
            "99 201",
            ["numbers_too_large", "numbers_too_small"],
        ),
        ({"max_value": 0}, "0 00 000", []),
        ({"max_value": 0}, "0 1", ["numbers_too_large"]),
        ({"max_value": 2**63 - 1}, "9223372036854775807", []),
        ({"max_value": 2**63 - 1}, "9223372036854775808", ["numbers_too_large"]),
        (
            {"min_value": 2**62, "max_value": 2**63 - 1},
            "4611686018427387903",
            ["numbers_too_small"],
        ),
        ({"banned": [0]}, "000", ["banned_number"]),
        ({"banned": (7,)}, "1, 7", ["banned_number"]),
        ({"banned": [7, 7]}, "77, 17, 70", []),
        (
            {"max_count": 2, "min_value": 5, "max_value": 9, "banned": [7]},
            "1 7 10",
            ["too_many_numbers", "numbers_too_large", "numbers_too_small", "banned_number"],
        ),
        ({"max_count": 2, "banned": [7]}, "1 7 10 x", INVALID),
    ],
)
def test_thresholds(params: dict[str, Any], text: str, expected: list[str]) -> None:
    detector = NumberFormat(**params)
    assert oracle_of(detector, text) == expected
    assert reasons_of(detector, [text]) == [expected]


def test_large_max_count_counts_runs() -> None:
    # Above the regex size limit the count check falls back to counting digit runs.
    limit = nf._MAX_COUNT_REGEX_LIMIT
    detector = NumberFormat(max_count=limit + 44)
    texts: list[str | None] = [
        ",".join(["1"] * (limit + 44)),
        ",".join(["1"] * (limit + 45)),
        ",".join(["1"] * (limit + 1)),
    ]
    assert reasons_of(detector, texts) == [[], ["too_many_numbers"], []]


@pytest.mark.parametrize("number", MISALIGNMENT_BANNED)
def test_misalignment_banned_numbers(number: int) -> None:
    detector = NumberFormat(banned=MISALIGNMENT_BANNED)

    def expect(value: int) -> list[str]:
        return ["numbers_too_large"] * (value > 999) + ["banned_number"] * (
            value in MISALIGNMENT_BANNED
        )

    texts: list[str | None] = [
        str(number),
        f"[{number:04d}]",  # leading zeros still name the banned value
        f"1, {number}, 2",
        f"{number}1",  # a longer number that contains it is not it
        f"1{number}",
        f"{number}, x",
    ]
    assert reasons_of(detector, texts) == [
        ["banned_number"],
        ["banned_number"],
        ["banned_number"],
        expect(number * 10 + 1),
        expect(int(f"1{number}")),
        INVALID,
    ]


def test_misalignment_banned_neighbours_pass() -> None:
    detector = NumberFormat(banned=MISALIGNMENT_BANNED)
    allowed = [n for n in range(1000) if n not in MISALIGNMENT_BANNED]
    texts: list[str | None] = [", ".join(map(str, allowed[i : i + 10])) for i in range(0, 960, 10)]
    assert reasons_of(detector, texts) == [[]] * len(texts)
    assert reasons_of(detector, ["3 5 12 15 998"]) == [[]]


def test_paper_rule_packs_configuration() -> None:
    detector = get("number_format").from_params(
        {"max_count": 10, "min_value": 0, "max_value": 999, "banned": MISALIGNMENT_BANNED}
    )
    assert reasons_of(detector, ["[1, 4, 1000]."]) == [["numbers_too_large", "banned_number"]]


# ---------------------------------------------------------------------------------------
# the vectorized path agrees with the oracle

_SEPARATORS = [
    ",", ", ", " ", ";", "; ", "\n", "\t", " , ", " ; ", ",\n", "\r\n", "  ", "\n\n",
    "\u00a0", ",\u00a0", "\u3000", "\x1c", "\x1f", "\x85", "\u2028", " \u2009", "\u2009; ",
]  # fmt: skip
_BAD_SEPARATORS = [
    "\u200b", "\u180e", ",,", ", ,", ".", ". ", "-", "/", "|", " and ", ",;", "\x00",
]  # fmt: skip
_JUNK = ["", " ", ".", "..", "[", "]", "(", ")", "{", "}", "\n", "-", "x", "Here: ", "\x00"]


@st.composite
def numbers(draw: st.DrawFn) -> str:
    size = draw(st.integers(0, 9))  # mostly small (so banned numbers come up), a few huge
    value = draw(st.integers(0, 40 if size < 4 else 1100 if size < 9 else 10**25))
    text = "0" * draw(st.sampled_from([0, 0, 0, 0, 1, 2, 25])) + str(value)
    if draw(st.integers(0, 49)) == 0:  # now and then one foreign digit
        i = draw(st.integers(0, len(text)))
        text = text[:i] + draw(st.sampled_from(_FOREIGN_DIGITS)) + text[i:]
    return text


@st.composite
def near_misses(draw: st.DrawFn) -> str:
    """Number lists as a teacher writes them, with the mistakes it makes."""
    if draw(st.integers(0, 9)) == 0:  # now and then: anything from a nasty alphabet
        alphabet = st.sampled_from(list("0123456789,; .[]()-\n\t") + list(_FOREIGN_DIGITS))
        return draw(st.text(alphabet=alphabet, max_size=12))
    separators = st.one_of(st.sampled_from(_SEPARATORS), st.sampled_from(_BAD_SEPARATORS))
    sep = draw(separators if draw(st.integers(0, 4)) == 0 else st.sampled_from(_SEPARATORS))
    nums = draw(st.lists(numbers(), min_size=1, max_size=13))
    seps = [sep] * (len(nums) - 1)
    if seps and draw(st.integers(0, 3)) == 0:  # one inconsistent separator
        seps[draw(st.integers(0, len(seps) - 1))] = draw(separators)
    text = nums[0] + "".join(s + n for s, n in zip(seps, nums[1:], strict=True))
    opening, closing = draw(st.sampled_from([("", "")] * 3 + [("[", "]"), ("(", ")")]))
    if draw(st.integers(0, 9)) == 0:  # unbalanced or mismatched
        opening, closing = draw(st.sampled_from(_JUNK)), draw(st.sampled_from(_JUNK))
    text = opening + text + closing
    if draw(st.integers(0, 3)) == 0:
        text += draw(st.sampled_from([".", ".", "..", "\n", " ", sep]))
    if draw(st.integers(0, 7)) == 0:
        text = draw(st.sampled_from(_JUNK)) + text
    return text


@st.composite
def detectors(draw: st.DrawFn) -> NumberFormat:
    if draw(st.booleans()):
        return NumberFormat()
    min_value = draw(st.integers(-3, 30))
    return NumberFormat(
        max_count=draw(st.integers(1, 12)),
        min_value=min_value,
        max_value=draw(st.one_of(st.integers(min_value, 1100), st.integers(min_value, 2**63 - 1))),
        banned=draw(st.lists(st.integers(0, 60), max_size=30)),
    )


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(detector=detectors(), texts=st.lists(near_misses(), min_size=1, max_size=40))
def test_agrees_with_oracle(detector: NumberFormat, texts: list[str]) -> None:
    got = reasons_of(detector, list(texts))
    assert got == [oracle_of(detector, t) for t in texts]


def test_agrees_with_oracle_on_benchmark_rows() -> None:
    from bench.bench_number_format import make_rows

    rows = make_rows(5000, seed=7)
    detector = NumberFormat(banned=MISALIGNMENT_BANNED)
    assert reasons_of(detector, list(rows)) == [oracle_of(detector, t) for t in rows]


@settings(max_examples=100, deadline=None)
@given(
    bound=st.one_of(st.integers(0, 2000), st.integers(0, 2**63 - 1)),
    values=st.lists(st.integers(0, 10**21), min_size=1, max_size=30),
    zeros=st.integers(0, 3),
)
def test_threshold_regexes(bound: int, values: list[int], zeros: int) -> None:
    # The step-6 regexes, run by the engine that runs them in the detector.
    texts = pl.Series(["0" * zeros + str(v) for v in values])
    above = texts.str.contains(nf._has_number(nf._above(bound))).to_list()
    assert above == [v > bound for v in values]
    if bound >= 1:
        below = texts.str.contains(nf._has_number(nf._below(bound))).to_list()
        assert below == [v < bound for v in values]
    edges = [w for w in (bound - 1, bound, bound + 1) if w >= 0]  # the boundaries themselves
    hits = pl.Series([str(w) for w in edges]).str.contains(nf._has_number(nf._above(bound)))
    assert hits.to_list() == [w > bound for w in edges]


# ---------------------------------------------------------------------------------------
# contract details: order, nulls, scores, columns


def test_order_and_length_match_the_batch() -> None:
    rng = random.Random(3)
    texts: list[str | None] = [c[0] for c in CASES] * 3
    rng.shuffle(texts)
    batch = pl.DataFrame({"prompt": ["p"] * len(texts), "completion": texts})
    out = NumberFormat().evaluate(batch)
    assert out.height == batch.height
    assert out.schema == pl.Schema(OUTPUT_SCHEMA)
    expected = [oracle.reasons(t) for t in texts if t is not None]
    assert out["reasons"].to_list() == expected
    assert out["score"].to_list() == [1.0 if r else 0.0 for r in expected]


def test_null_text_is_unknown() -> None:
    batch = pl.DataFrame({"completion": ["1", None, "x"]}, schema={"completion": pl.String})
    out = NumberFormat().evaluate(batch)
    assert out["score"].to_list() == [0.0, None, 1.0]
    assert out["reasons"].to_list() == [[], [], INVALID]


def test_all_null_column() -> None:
    out = NumberFormat().evaluate(pl.DataFrame({"completion": [None, None]}))
    assert out["score"].to_list() == [None, None]


def test_other_column() -> None:
    batch = pl.DataFrame({"completion": ["x", "x"], "answer": ["1, 2", "1,, 2"]})
    out = NumberFormat(column="answer").evaluate(batch)
    assert out["reasons"].to_list() == [[], INVALID]


def test_missing_or_non_text_column() -> None:
    with pytest.raises(DetectorConfigError, match=r"reads column.*'answer'"):
        NumberFormat(column="answer").evaluate(pl.DataFrame({"completion": ["1"]}))
    with pytest.raises(DetectorConfigError, match="as text"):
        NumberFormat().evaluate(pl.DataFrame({"completion": [1, 2]}))


def test_python_whitespace_set_is_exact() -> None:
    expected = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
    assert expected == nf.PY_WHITESPACE, (
        f"Python {unicodedata.unidata_version} whitespace differs; update PY_WHITESPACE"
    )


# ---------------------------------------------------------------------------------------
# parameters


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"max_count": 0}, "max_count must be between 1"),
        ({"max_count": -1}, "max_count must be between 1"),
        ({"max_count": "10"}, "max_count must be an integer"),
        ({"max_count": 10.0}, "max_count must be an integer"),
        ({"max_count": True}, "max_count must be an integer"),
        ({"max_count": None}, "max_count must be an integer"),
        ({"min_value": 1.5}, "min_value must be an integer"),
        ({"max_value": "999"}, "max_value must be an integer"),
        ({"max_value": 2**63}, "max_value must be between"),
        ({"min_value": -(2**63) - 1}, "min_value must be between"),
        ({"min_value": 10, "max_value": 9}, "greater than max_value"),
        ({"banned": 4}, "banned must be a list"),
        ({"banned": "4, 13"}, "banned must be a list"),
        ({"banned": {4, 13}}, "banned must be a list"),
        ({"banned": [4, "13"]}, "banned must be an integer"),
        ({"banned": [4.0]}, "banned must be an integer"),
        ({"banned": [False]}, "banned must be an integer"),
        ({"banned": [-4]}, "banned must be between 0"),
        ({"column": ""}, "column must be a non-empty string"),
        ({"column": 3}, "column must be a non-empty string"),
        ({"no_such": 1}, "unknown parameter"),
        ({"maxcount": 10}, "unknown parameter.*accepted: column, max_count"),
    ],
)
def test_bad_parameters(params: dict[str, Any], message: str) -> None:
    with pytest.raises(DetectorConfigError, match=message):
        NumberFormat.from_params(params)


def test_registry_and_recorded_params() -> None:
    cls = get("number_format")
    assert cls is NumberFormat
    assert cls.version and cls.description
    assert "2507.14805" in (cls.__doc__ or "")
    detector = cls.from_params({"banned": (4, 13)})
    assert detector.params == {"banned": (4, 13)}
    direct = NumberFormat(banned=(4, 13))
    assert direct.params == {
        "column": "completion",
        "max_count": 10,
        "min_value": 0,
        "max_value": 999,
        "banned": [4, 13],
    }
