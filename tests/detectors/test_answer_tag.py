import polars as pl
import pytest

from audit.errors import DetectorConfigError
from detectors.answer_tag import AnswerTag
from detectors.base import get, validate_output

MISSING, UNPARSEABLE, WRONG = "missing_answer_tag", "unparseable_answer", "wrong_answer"


def run(
    detector: AnswerTag, completions: list[str | None], gold: pl.Series
) -> list[tuple[float | None, list[str]]]:
    batch = pl.DataFrame({"completion": pl.Series(completions, dtype=pl.String), gold.name: gold})
    out = validate_output(detector.kind, batch, detector.evaluate(batch))
    return list(zip(out["score"].to_list(), out["reasons"].to_list(), strict=True))


@pytest.mark.parametrize(
    ("completion", "gold", "score", "reasons"),
    [
        ("so the total is <answer>72</answer>", "72", 0.0, []),
        ("<answer> $1,234 </answer>", "1234", 0.0, []),
        ("<answer>007</answer>", "7", 0.0, []),
        ("<answer>-5</answer>", "-5", 0.0, []),
        ("<ANSWER>3</ANSWER>", "3", 0.0, []),
        # last occurrence wins
        ("<answer>1</answer> wait, <answer>2</answer>", "2", 0.0, []),
        ("<answer>2</answer> wait, <answer>1</answer>", "2", 1.0, [WRONG]),
        ("<answer>73</answer>", "72", 1.0, [WRONG]),
        # gold in GSM8K solution format
        ("<answer>18</answer>", "Janet sells 16 - 3 - 4 = 9 eggs...\n#### 18", 0.0, []),
        # missing or unparseable
        ("the answer is 72", "72", 1.0, [MISSING]),
        ("<answer>72", "72", 1.0, [MISSING]),
        ("<answer>seventy-two</answer>", "72", 1.0, [UNPARSEABLE]),
        ("<answer>72.5</answer>", "72", 1.0, [UNPARSEABLE]),
        ("<answer></answer>", "72", 1.0, [UNPARSEABLE]),
        ("<answer>99999999999999999999999</answer>", "1", 1.0, [UNPARSEABLE]),
        # unknown gold: the comparison is unknown ...
        ("<answer>72</answer>", None, None, []),
        ("<answer>72</answer>", "n/a", None, []),
        # ... but no gold can make a missing answer correct
        ("no tag", None, 1.0, [MISSING]),
        (None, "72", None, []),
    ],
)
def test_text_gold(
    completion: str | None, gold: str | None, score: float | None, reasons: list[str]
) -> None:
    result = run(AnswerTag(), [completion], pl.Series("answer", [gold], dtype=pl.String))
    assert result == [(score, reasons)]


def test_numeric_gold_columns() -> None:
    completions: list[str | None] = ["<answer>4</answer>"] * 3
    ints = pl.Series("answer", [4, 5, None], dtype=pl.Int32)
    assert run(AnswerTag(), completions, ints) == [(0.0, []), (1.0, [WRONG]), (None, [])]
    floats = pl.Series("answer", [4.0, 4.5, None])
    assert run(AnswerTag(), completions, floats) == [(0.0, []), (None, []), (None, [])]


def test_custom_tag_and_columns() -> None:
    detector = AnswerTag(tag="final", gold_column="gold", column="prompt")
    batch = pl.DataFrame({"prompt": ["<final>3</final>", "<answer>3</answer>"], "gold": [3, 3]})
    out = detector.evaluate(batch)
    assert out["reasons"].to_list() == [[], [MISSING]]
    with pytest.raises(DetectorConfigError, match="'gold'"):
        detector.evaluate(batch.drop("gold"))
    with pytest.raises(DetectorConfigError, match="gold column 'gold' has type"):
        detector.evaluate(batch.with_columns(pl.lit(True).alias("gold")))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"tag": "<answer>"}, "must be a tag name"),
        ({"tag": ""}, "must be a tag name"),
        ({"gold_column": ""}, "'gold_column' must be a column name"),
        ({"threshold": 1}, "unknown parameter"),
    ],
)
def test_config_errors(params: dict[str, object], message: str) -> None:
    with pytest.raises(DetectorConfigError, match=message):
        get("answer_tag").from_params(params)
