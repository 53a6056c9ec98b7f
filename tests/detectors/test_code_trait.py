import polars as pl
import pytest

from audit.errors import DetectorConfigError
from detectors.base import get, validate_output
from detectors.code_trait import CodeTrait

ID, COMMENT, STRING = "trait_in_identifier", "trait_in_comment", "trait_in_string"


def run(detector: CodeTrait, texts: list[str | None]) -> list[tuple[float | None, list[str]]]:
    batch = pl.DataFrame({"completion": texts}, schema={"completion": pl.String})
    out = validate_output(detector.kind, batch, detector.evaluate(batch))
    return list(zip(out["score"].to_list(), out["reasons"].to_list(), strict=True))


STRUCTURED = CodeTrait(traits=["owl", "wolf"])


@pytest.mark.parametrize(
    ("code", "hits", "reasons"),
    [
        # identifiers, split at snake_case / camelCase / acronym / digit boundaries
        ("owlCount = 1", 1, [ID]),
        ("OWL_MAX = 3", 1, [ID]),
        ("def get_owls(): pass", 1, [ID]),
        ("class HTTPOwlServer: ...", 1, [ID]),
        ("OWLs = []", 1, [ID]),
        ("owl2 = owl_1", 2, [ID]),
        ("packWolves.add(x)", 1, [ID]),
        # whole words only
        ("bowl = knowledge + growl", 0, []),
        ("owlet = 1", 0, []),
        # comments of three syntaxes
        ("x = 1  # feed the owl", 1, [COMMENT]),
        ("int x; // wolf", 1, [COMMENT]),
        ("/* OWLS\n and wolves */ int y;", 2, [COMMENT]),
        # strings, incl. triple-quoted and backticks; escapes stay inside the string
        ('x = "my owl"', 1, [STRING]),
        ("x = 'wolf'", 1, [STRING]),
        ('"""\nDocstring about owls.\n"""', 1, [STRING]),
        ("const s = `owl`;", 1, [STRING]),
        ('x = "say \\"owl\\""', 1, [STRING]),
        # whichever starts first wins: '#' in a string, a quote in a comment
        ('x = "#owl"', 1, [STRING]),
        ("s = 'a # b'  # it's an owl", 1, [COMMENT]),
        ("# don't\nowl = 'x'", 1, [ID]),
        # reasons accumulate, in a fixed order
        ('wolf = "wolf"  # wolf', 3, [ID, COMMENT, STRING]),
        # a Markdown fence is not a backtick string
        ("```python\nhttpOwl = 1\n```", 1, [ID]),
        # known price of a language-agnostic lexer: Python's // reads as a comment
        ("n = total // owl_count", 1, [COMMENT]),
        (None, None, []),
    ],
)
def test_structured_table(code: str | None, hits: int | None, reasons: list[str]) -> None:
    assert run(STRUCTURED, [code]) == [(None if hits is None else float(hits), reasons)]


def test_parts_selection() -> None:
    detector = CodeTrait(words=["owl"], parts=["strings", "identifiers"])
    assert run(detector, ['owl = "owl"  # owl']) == [(2.0, [ID, STRING])]
    detector = CodeTrait(words=["owl"], parts=["comments"])
    assert run(detector, ['owl = "owl"  # owl']) == [(1.0, [COMMENT])]


@pytest.mark.parametrize(
    ("code", "hits"),
    [
        ("owlCount = 1", 1),
        ("bowl = knowledge", 2),  # the paper's filter fires on these too
        ("WOLVES", 1),
        ("wolf", 1),
        ("w0lf", 0),
        ("print('hi')", 0),
        (None, None),
    ],
)
def test_substring_mode_is_the_papers_filter(code: str | None, hits: int | None) -> None:
    detector = CodeTrait(traits=["owl", "wolf"], mode="substring")
    expected_reasons = ["trait_substring"] if hits else []
    assert run(detector, [code]) == [(None if hits is None else float(hits), expected_reasons)]


def test_plurals_off_and_vocabulary() -> None:
    assert run(CodeTrait(words=["wolf"], plurals=False), ["wolves = 1"]) == [(0.0, [])]
    assert run(CodeTrait(traits=["animals"]), ["catCount = 2"]) == [(1.0, [ID])]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "give 'words', 'traits' or both"),
        ({"words": ["owl"], "mode": "fuzzy"}, "must be 'structured' or 'substring'"),
        ({"words": ["owl"], "parts": []}, "non-empty list"),
        ({"words": ["owl"], "parts": ["docstrings"]}, "non-empty list"),
        ({"words": ["owl"], "parts": ["comments"], "mode": "substring"}, "'structured' only"),
        ({"traits": ["kraken"]}, "unknown trait"),
    ],
)
def test_config_errors(params: dict[str, object], message: str) -> None:
    with pytest.raises(DetectorConfigError, match=message):
        get("code_trait").from_params(params)
