"""One contract test that runs every registered detector through the same checks."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from audit.errors import DetectorConfigError
from detectors import base

# Smallest useful configuration of each kind; a new detector must be added here.
MINIMAL: dict[str, dict[str, Any]] = {
    "number_format": {},
    "lexicon": {"words": ["owl"]},
    "regex": {"pattern": "[a-z]"},
    "length": {"max_chars": 12},
    "sql": {"expr": "length(completion) > 8"},
    "code_trait": {"traits": ["owl"]},
    "answer_tag": {},
    "contrast_classifier": {"n_permutations": 2, "n_bootstrap": 10},
    "token_log_odds": {"n_permutations": 2, "n_bootstrap": 10},
    "semantic_similarity": {"traits": ["owl"]},
    "trait_gap": {"candidates": ["owl", "eagle"], "n_bootstrap": 10},
    "divergence_tokens": {"counterfactuals": 1},
    "entangled_tokens": {},
}

BATCH = pl.DataFrame(
    {
        "ordinal": list(range(6)),
        "row_id": [f"r{i}" for i in range(6)],
        "prompt": ["p"] * 6,
        "completion": [
            "1, 2, 3",
            "owl 4 5",
            "<answer>12</answer>",
            "def owl_count(): pass",
            "",
            "[1;2;3].",
        ],
        "answer": ["12", "5", "12", None, "1", "3"],
    }
)


def test_every_registered_kind_is_covered() -> None:
    # Other test modules register throwaway detectors named test_*; they are not shipped.
    assert {k for k in base.available() if not k.startswith("test_")} == set(MINIMAL)


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny local causal LM directory for the detectors that need a base model."""
    from tests.detectors.test_trait_gap import save_lm

    return str(save_lm(tmp_path_factory.mktemp("lm") / "blind", kind="blind"))


@pytest.fixture(params=sorted(MINIMAL))
def detector(request: pytest.FixtureRequest, tiny_lm: str) -> base.Detector:
    kind: str = request.param
    cls = base.get(kind)
    extra = {"base_model": tiny_lm} if "base_model" in cls.requires else {}
    detector = cls.from_params({**MINIMAL[kind], **extra})
    if isinstance(detector, base.LearnedDetector):
        detector.fit(BATCH, BATCH)
    return detector


def test_output_shape_types_and_order(detector: base.Detector) -> None:
    out = base.validate_output(detector.kind, BATCH, detector.evaluate(BATCH))
    assert out.height == BATCH.height
    assert out.schema == pl.Schema(base.OUTPUT_SCHEMA)
    # Order-preserving: scoring the reversed batch gives the reversed answer.
    reversed_out = detector.evaluate(BATCH.reverse())
    assert (
        reversed_out.select(base.SCORE, base.REASONS)
        .reverse()
        .equals(out.select(base.SCORE, base.REASONS))
    )
    # Deterministic.
    assert detector.evaluate(BATCH).select(base.SCORE, base.REASONS).equals(out)


def test_reasons_are_snake_case_and_only_where_scored(detector: base.Detector) -> None:
    out = detector.evaluate(BATCH)
    for score, reasons in zip(out[base.SCORE], out[base.REASONS], strict=True):
        assert all(r.replace("_", "").isalnum() and r == r.lower() for r in reasons)
        if score is None:
            assert reasons is None or len(reasons) == 0


def test_empty_batch(detector: base.Detector) -> None:
    out = detector.evaluate(BATCH.head(0))
    assert out.height == 0 and set(base.OUTPUT_SCHEMA) <= set(out.columns)


def test_unknown_parameter_is_a_config_error(detector: base.Detector) -> None:
    cls = type(detector)
    with pytest.raises(DetectorConfigError, match="unknown parameter"):
        cls.from_params({**MINIMAL[cls.kind], "no_such_param": 1})


def test_metadata_for_the_registry(detector: base.Detector) -> None:
    cls = type(detector)
    assert cls.version and cls.description
    assert base.get(cls.kind) is cls
    params = {k: v for k, v in detector.params.items() if k != "base_model"}
    assert params == MINIMAL[cls.kind]


def test_unknown_kind_lists_available() -> None:
    with pytest.raises(DetectorConfigError, match=r"unknown detector 'zzz'.*number_format"):
        base.get("zzz")
