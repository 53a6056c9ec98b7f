import polars as pl
import pytest

from audit.errors import DetectorConfigError
from detectors.base import get, validate_output
from detectors.regex import Regex


def run(detector: Regex, texts: list[str | None]) -> list[tuple[float | None, list[str]]]:
    batch = pl.DataFrame({"completion": texts}, schema={"completion": pl.String})
    out = validate_output(detector.kind, batch, detector.evaluate(batch))
    return list(zip(out["score"].to_list(), out["reasons"].to_list(), strict=True))


@pytest.mark.parametrize(
    ("params", "text", "fires"),
    [
        ({"pattern": r"\d{4,}"}, "call 5551234", True),
        ({"pattern": r"\d{4,}"}, "12, 345", False),
        ({"pattern": "owl"}, "OWL", False),
        ({"pattern": "owl", "flags": "i"}, "OWL", True),
        ({"pattern": "^b$"}, "a\nb", False),
        ({"pattern": "^b$", "flags": "m"}, "a\nb", True),
        ({"pattern": "a.b"}, "a\nb", False),
        ({"pattern": "a.b", "flags": "s"}, "a\nb", True),
        # flags apply to every branch of a top-level alternation
        ({"pattern": "x|owl", "flags": "i"}, "OWL", True),
        # invert: "must look like numbers"
        ({"pattern": r"^[\d\s,]+$", "invert": True}, "1, 2, 3", False),
        ({"pattern": r"^[\d\s,]+$", "invert": True}, "1, 2, owl", True),
    ],
)
def test_matching(params: dict[str, object], text: str, fires: bool) -> None:
    detector = get("regex").from_params(params)
    assert isinstance(detector, Regex)
    assert run(detector, [text]) == [(1.0, ["regex_match"]) if fires else (0.0, [])]


def test_reason_null_and_column() -> None:
    detector = Regex(pattern="owl", reason="owl_pattern", invert=True, column="prompt")
    batch = pl.DataFrame({"prompt": ["owl", "cat", None], "completion": ["", "", ""]})
    out = detector.evaluate(batch)
    assert out["score"].to_list() == [0.0, 1.0, None]
    assert out["reasons"].to_list() == [[], ["owl_pattern"], []]
    with pytest.raises(DetectorConfigError, match="'prompt'"):
        detector.evaluate(batch.drop("prompt"))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"pattern": "("}, r"does not compile: unclosed group"),
        ({"pattern": "(?<=a)b"}, "does not compile: look-around"),
        ({"pattern": r"(a)\1"}, "does not compile: backreferences"),
        ({"pattern": ""}, "non-empty"),
        ({"pattern": "a", "flags": "x"}, "letters from 'ims'"),
        ({"pattern": "a", "invert": 1}, "'invert' must be true or false"),
        ({"pattern": "a", "reason": "bad-reason"}, "snake_case"),
        ({}, r"needs parameter\(s\): pattern"),
    ],
)
def test_config_errors(params: dict[str, object], message: str) -> None:
    with pytest.raises(DetectorConfigError, match=message) as info:
        get("regex").from_params(params)
    assert "\n" not in str(info.value)
