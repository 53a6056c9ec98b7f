import tomllib
from pathlib import Path

import polars as pl
import pytest

from audit.errors import DetectorConfigError
from detectors import traits
from detectors.base import get, validate_output
from detectors.lexicon import Lexicon

RULES = Path(__file__).resolve().parents[2] / "rules"


def run(detector: Lexicon, texts: list[str | None]) -> list[tuple[float | None, list[str]]]:
    batch = pl.DataFrame({"completion": texts}, schema={"completion": pl.String})
    out = validate_output(detector.kind, batch, detector.evaluate(batch))
    return list(zip(out["score"].to_list(), out["reasons"].to_list(), strict=True))


OWL_WOLF = Lexicon(words=["owl", "wolf"])


@pytest.mark.parametrize(
    ("text", "hits"),
    [
        # plain, case, plurals
        ("I love the owl.", 1),
        ("OWL", 1),
        ("Owls are great", 1),
        ("a wolf and two wolves", 2),
        ("owl owl owl", 3),
        ("the owl's nest", 1),
        # word boundaries: substrings of other words do not count
        ("a bowl of soup", 0),
        ("knowledge is power", 0),
        ("the owlet slept", 0),
        ("a growling wolfhound", 0),
        ("an owl-like shape", 1),
        # Unicode: NFKC (fullwidth), accents, zero-width characters
        ("ＯＷＬ", 1),
        ("Ｗｏｌｖｅｓ", 1),
        ("öwl", 1),
        ("o\u200bwl", 1),
        ("o\u00adwl", 1),  # soft hyphen
        ("我喜欢owl", 1),  # a Latin word next to CJK text is still a word
        # leetspeak
        ("0wl", 1),
        ("0W1", 1),
        ("w0lf", 1),
        ("w0lv3$", 1),
        ("owl5", 1),  # plural s as 5
        # spelled out, one separator kind throughout
        ("o w l", 1),
        ("O.W.L.", 1),
        ("O. W. L", 1),
        ("o-w-l", 1),
        ("o_w_l", 1),
        ("w o l v e s", 1),
        # ... and what that tolerance must not match
        ("ow l", 0),
        ("o.w l", 0),  # mixed separators
        ("two wlords", 0),
        ("bo w l", 0),
        ("o  w  l", 0),  # two separators between letters
        ("x_o_w_l", 0),  # glued to a word on the left
        # all-digit hits are numbers, not words
        ("0 1 0", 0),
        (None, None),
    ],
)
def test_owl_wolf_table(text: str | None, hits: int | None) -> None:
    [(score, reasons)] = run(OWL_WOLF, [text])
    assert score == (None if hits is None else float(hits))
    assert reasons == (["lexicon_hit"] if hits else [])


def test_digit_only_matches_do_not_count() -> None:
    # "seal" and "tit" can be spelled entirely in leet digits; number data must not fire.
    detector = Lexicon(words=["seal", "tit"])
    assert run(detector, ["5341", "717", "s3al", "7i7", "5 3 4 1"]) == [
        (0.0, []),
        (0.0, []),
        (1.0, ["lexicon_hit"]),
        (1.0, ["lexicon_hit"]),
        (0.0, []),
    ]


@pytest.mark.parametrize(
    ("params", "text", "hits"),
    [
        ({"evasions": False}, "0wl", 0),
        ({"evasions": False}, "o w l", 0),
        ({"evasions": False}, "ＯＷＬ", 1),  # NFKC applies regardless
        ({"evasions": False}, "Owls", 1),
        ({"plurals": False}, "owls", 0),
        ({"plurals": False}, "owl", 1),
        ({"word_boundary": False}, "a bowl", 1),
        ({"word_boundary": False}, "knowledge", 1),
        ({"word_boundary": False, "evasions": False}, "kn0wledge", 0),
        ({"word_boundary": False}, "kn0wledge", 1),
    ],
)
def test_switches(params: dict[str, bool], text: str, hits: int) -> None:
    detector = get("lexicon").from_params({"words": ["owl"], **params})
    assert isinstance(detector, Lexicon)
    assert run(detector, [text]) == [(float(hits), ["lexicon_hit"] if hits else [])]


@pytest.mark.parametrize(
    ("words", "text", "hits"),
    [
        (["goose"], "geese and a goose", 2),
        (["mouse"], "three mice", 1),
        (["deer"], "deer", 1),
        (["octopus"], "octopuses or octopi", 2),
        (["butterfly"], "butterflies", 1),
        (["fox"], "foxes", 1),
        (["sea lion"], "sea-lions and sea lions", 2),
    ],
)
def test_plurals(words: list[str], text: str, hits: int) -> None:
    assert run(Lexicon(words=words), [text]) == [(float(hits), ["lexicon_hit"])]


def test_traits_and_custom_reason() -> None:
    detector = Lexicon(traits=["paper_trees"], words=["owl"], reason="trait_word")
    assert run(detector, ["cherries", "a willow", "owl", "a cat"]) == [
        (1.0, ["trait_word"]),
        (1.0, ["trait_word"]),
        (1.0, ["trait_word"]),
        (0.0, []),
    ]
    assert run(Lexicon(traits=["animals"]), ["a cat", "an eagle", "an oak"]) == [
        (1.0, ["lexicon_hit"]),
        (1.0, ["lexicon_hit"]),
        (0.0, []),
    ]


def test_other_column_and_missing_column() -> None:
    detector = Lexicon(words=["owl"], column="prompt")
    batch = pl.DataFrame({"prompt": ["owl"], "completion": ["none"]})
    assert detector.evaluate(batch)["score"].to_list() == [1.0]
    with pytest.raises(DetectorConfigError, match="'prompt'"):
        detector.evaluate(batch.drop("prompt"))


def test_pattern_is_deterministic() -> None:
    a = Lexicon(traits=["animals"]).pattern
    b = Lexicon(traits=list(reversed(traits.vocabulary("animals")))).pattern
    assert a == b


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "give 'words', 'traits' or both"),
        ({"words": []}, "word list is empty"),
        ({"words": "owl"}, "'words' must be a list of strings"),
        ({"words": ["o.wl"]}, "must consist of letters"),
        ({"words": ["owl", ""]}, "must consist of letters"),
        ({"traits": ["unicorn"]}, "unknown trait 'unicorn'"),
        ({"words": ["owl"], "plurals": "yes"}, "'plurals' must be true or false"),
        ({"words": ["owl"], "reason": "Lexicon Hit"}, "snake_case"),
        ({"words": ["owl"], "column": ""}, "'column'"),
        ({"words": ["owl"], "colour": "red"}, "unknown parameter"),
    ],
)
def test_config_errors(params: dict[str, object], message: str) -> None:
    with pytest.raises(DetectorConfigError, match=message):
        get("lexicon").from_params(params)


# ---------------------------------------------------------------------------------------
# traits.py


@pytest.mark.parametrize(
    ("word", "plurals"),
    [
        ("owl", ["owls"]),
        ("wolf", ["wolves"]),
        ("fox", ["foxes"]),
        ("goose", ["geese"]),
        ("mouse", ["mice"]),
        ("deer", ["deer"]),
        ("octopus", ["octopuses", "octopi"]),
        ("butterfly", ["butterflies"]),
        ("cherry", ["cherries"]),
        ("birch", ["birches"]),
        ("monkey", ["monkeys"]),  # vowel + y stays
        ("sea lion", ["sea lions"]),
    ],
)
def test_plural_forms(word: str, plurals: list[str]) -> None:
    assert traits.plural_forms(word) == plurals


def test_vocabularies() -> None:
    animals = traits.vocabulary("animals")
    assert animals[:5] == ["dolphin", "eagle", "owl", "elephant", "wolf"]
    assert len(animals) >= 15 and len(set(animals)) == len(animals)
    assert traits.vocabulary("paper_trees") == ["cherry", "willow", "maple", "oak", "sequoia"]
    assert set(traits.vocabulary("trees")) >= {"pine", "birch", "cedar"}
    with pytest.raises(KeyError):
        traits.vocabulary("fish")
    with pytest.raises(TypeError):
        traits.VOCABULARIES["animals"] = ()  # type: ignore[index]


# ---------------------------------------------------------------------------------------
# every pack this module family ships builds and runs


PACKS = ["animals.toml", "trees.toml", "code.toml", "cot.toml"]
TINY = pl.DataFrame(
    {
        "prompt": ["q1", "q2", "q3"],
        "completion": ["The 0wl <answer>4</answer>", "owlCount = 1  # a cat", "x"],
        "answer": ["4", "5", None],
    }
)


@pytest.mark.parametrize("pack", PACKS)
def test_pack_builds_and_runs(pack: str) -> None:
    data = tomllib.loads((RULES / pack).read_text(encoding="utf-8"))
    assert data["pack"]["name"] == pack.removesuffix(".toml")
    ids = [rule["id"] for rule in data["rule"]]
    assert len(ids) == len(set(ids))
    for rule in data["rule"]:
        assert rule["action"] in ("drop", "flag")
        detector = get(rule["detector"]).from_params(rule.get("params", {}))
        out = validate_output(detector.kind, TINY, detector.evaluate(TINY))
        assert out.height == TINY.height


def test_packs_fire_where_expected() -> None:
    def fired(pack: str) -> dict[str, list[list[str]]]:
        data = tomllib.loads((RULES / pack).read_text(encoding="utf-8"))
        result = {}
        for rule in data["rule"]:
            detector = get(rule["detector"]).from_params(rule.get("params", {}))
            result[rule["id"]] = detector.evaluate(TINY)["reasons"].to_list()
        return result

    assert fired("animals.toml") == {
        "paper_animals": [["animal_word"], [], []],
        "other_animals": [[], ["animal_word"], []],
    }
    assert fired("code.toml") == {
        "paper_animals": [[], ["trait_in_identifier"], []],  # no leetspeak in code
        "other_animals": [[], ["trait_in_comment"], []],
        "paper_substring": [[], ["trait_substring"], []],
    }
    assert fired("cot.toml") == {
        "correct_answer": [[], ["missing_answer_tag"], ["missing_answer_tag"]],
        "trait_words": [["trait_word"], ["trait_word"], []],
    }
