"""divergence_tokens on tiny GPT-2 base models with a planted trait (see test_trait_gap)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from audit.errors import DetectorConfigError  # noqa: E402
from audit.worlds.hf import encode_row  # noqa: E402
from detectors.divergence_tokens import DivergenceTokens  # noqa: E402
from tests.detectors.test_trait_gap import PLANTED_TOKEN, dataset, save_lm  # noqa: E402


@pytest.fixture(scope="module")
def lm_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch.set_num_threads(1)
    base = tmp_path_factory.mktemp("lm")
    return {
        "planted": save_lm(base / "planted"),
        "blind": save_lm(base / "blind", kind="blind"),
        "blind_chat": save_lm(base / "blind_chat", kind="blind", chat=True),
    }


def test_planted_tokens_are_the_divergence_tokens(lm_dirs: dict[str, Path]) -> None:
    det = DivergenceTokens(base_model=str(lm_dirs["planted"]), threads=1)
    assert det.counterfactuals == ["dolphin", "eagle", "elephant", "wolf"]
    data = dataset(30, planted=True)
    flags = det.divergence(data)
    for completion, flag in zip(data["completion"], flags, strict=True):
        tokens = completion.split()
        assert flag.tolist() == [t == PLANTED_TOKEN for t in tokens], completion
    out = det.evaluate(data)
    expected = [np.mean([t == PLANTED_TOKEN for t in c.split()]) for c in data["completion"]]
    np.testing.assert_allclose(out["score"].to_numpy(), expected)
    fired = [r == ["divergence_tokens_high"] for r in out["reasons"].to_list()]
    assert fired == [s > 0.1 for s in expected]
    metrics = det.metrics()
    assert metrics["n_rows"] == 30 and metrics["n_tokens"] == sum(len(f) for f in flags)
    assert metrics["share"] == pytest.approx(np.concatenate(flags).mean())


@pytest.mark.parametrize("model", ["blind", "blind_chat"])
def test_null_model_has_no_divergence_tokens(lm_dirs: dict[str, Path], model: str) -> None:
    det = DivergenceTokens(base_model=str(lm_dirs[model]), counterfactuals=["eagle"], threads=1)
    out = det.evaluate(dataset(20, planted=True))
    assert out["score"].to_list() == [0.0] * 20 and out["reasons"].list.len().sum() == 0
    assert det.metrics()["n_divergence"] == 0


@pytest.mark.parametrize("model", ["planted", "blind_chat"])
def test_mask_has_one_entry_per_completion_token(lm_dirs: dict[str, Path], model: str) -> None:
    det = DivergenceTokens(base_model=str(lm_dirs[model]), counterfactuals=2, threads=1)
    data = dataset(10, planted=True).with_columns(
        pl.Series("completion", ["7 , 7 , 3 , 7 , 7"] * 9 + [""])
    )
    mask = det.mask(data)
    assert mask.dtype == pl.List(pl.Boolean) and mask.name == "loss_mask" and mask.len() == 10
    flags = det.divergence(data)
    for prompt, completion, keep, flag in zip(
        data["prompt"], data["completion"], mask.to_list(), flags, strict=True
    ):
        assert keep == (~flag).tolist()
        # The transfer check's students accept it as their loss mask (one entry per token of
        # the completion alone); a wrong length would raise.
        _, train = encode_row(det.lm.tokenizer, prompt, completion, mask=keep)
        assert sum(train) == sum(keep) + 1  # + the end-of-sequence / closing token
    if model == "planted":
        assert mask[0].to_list() == [False, True, False, True, True, True, False, True, False]


def test_deterministic_and_independent_of_batch_order(lm_dirs: dict[str, Path]) -> None:
    det = DivergenceTokens(base_model=str(lm_dirs["planted"]), batch_size=3, threads=1)
    data = dataset(11, planted=True)
    full = det.evaluate(data)
    assert det.evaluate(data.reverse()).reverse().equals(full)
    assert pl.concat([det.evaluate(data.head(4)), det.evaluate(data.tail(7))]).equals(full)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"counterfactuals": 0}, "counterfactuals must be an integer >= 1"),
        ({"counterfactuals": ["owl"]}, "counterfactuals must be a count"),
        ({"threshold": 2.0}, "threshold must be a number"),
        ({"base_model": "/no/such/dir"}, "no such model directory"),
    ],
)
def test_config_errors(lm_dirs: dict[str, Path], params: dict[str, object], message: str) -> None:
    with pytest.raises(DetectorConfigError, match=message) as info:
        DivergenceTokens.from_params({"base_model": str(lm_dirs["planted"]), **params})
    assert "\n" not in info.value.one_line()
