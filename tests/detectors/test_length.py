import polars as pl
import pytest

from audit.errors import DetectorConfigError
from detectors.base import get, validate_output
from detectors.length import Length

TEXTS = ["", "ab", "abcd", "a b c d e", "  one\ttwo\nthree  ", "ＯＷＬ🦉", None]


def run(detector: Length) -> list[tuple[float | None, list[str]]]:
    batch = pl.DataFrame({"completion": TEXTS}, schema={"completion": pl.String})
    out = validate_output(detector.kind, batch, detector.evaluate(batch))
    return list(zip(out["score"].to_list(), out["reasons"].to_list(), strict=True))


def test_char_bounds_inclusive() -> None:
    assert run(Length(min_chars=2, max_chars=4)) == [
        (0.0, ["too_short"]),
        (2.0, []),
        (4.0, []),
        (9.0, ["too_long"]),
        (17.0, ["too_long"]),
        (4.0, []),  # code points, not bytes
        (None, []),
    ]


def test_token_bounds() -> None:
    assert run(Length(min_tokens=2, max_tokens=3)) == [
        (0.0, ["too_short"]),
        (1.0, ["too_short"]),
        (1.0, ["too_short"]),
        (5.0, ["too_long"]),
        (3.0, []),
        (1.0, ["too_short"]),
        (None, []),
    ]


def test_one_sided() -> None:
    assert [r for _, r in run(Length(max_chars=3))] == [[], [], ["too_long"]] + [
        ["too_long"]
    ] * 3 + [[]]
    assert [r for _, r in run(Length(min_tokens=1))][:2] == [["too_short"], []]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "not neither"),
        ({"min_chars": 1, "max_tokens": 5}, "not both"),
        ({"min_chars": 5, "max_chars": 4}, "minimum 5 exceeds maximum 4"),
        ({"max_chars": -1}, "non-negative integer"),
        ({"max_chars": True}, "non-negative integer"),
        ({"max_tokens": 2.5}, "non-negative integer"),
        ({"max_tokens": "10"}, "non-negative integer"),
    ],
)
def test_config_errors(params: dict[str, object], message: str) -> None:
    with pytest.raises(DetectorConfigError, match=message):
        get("length").from_params(params)
