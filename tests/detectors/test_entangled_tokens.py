"""entangled_tokens on tiny GPT-2 base models with a planted trait (see test_trait_gap)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from audit.errors import DetectorConfigError  # noqa: E402
from detectors.entangled_tokens import EntangledTokens  # noqa: E402
from tests.detectors.test_trait_gap import PLANTED_TOKEN, dataset, save_lm  # noqa: E402


@pytest.fixture(scope="module")
def lm_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch.set_num_threads(1)
    base = tmp_path_factory.mktemp("lm")
    return {"planted": save_lm(base / "planted"), "blind": save_lm(base / "blind", kind="blind")}


def test_planted_token_is_the_most_entangled(lm_dirs: dict[str, Path]) -> None:
    det = EntangledTokens(base_model=str(lm_dirs["planted"]), n_tokens=1, threads=1)
    data = dataset(60, planted=True)
    det.fit(data)
    metrics = det.metrics()
    top = metrics["top_tokens"]
    assert [t["token"] for t in top] == [PLANTED_TOKEN] and top[0]["mean_log_ratio"] > 0.5
    assert top[0]["count"] == sum(c.split().count(PLANTED_TOKEN) for c in data["completion"])
    out = det.evaluate(data)
    # With one entangled token, a row's density is its share of 7s (cross-fitted: every
    # fold finds the same token here).
    expected = [c.split().count(PLANTED_TOKEN) / len(c.split()) for c in data["completion"]]
    np.testing.assert_allclose(out["score"].to_numpy(), expected)
    assert det.threshold == 0.2 and "fpr_reference" not in metrics


def test_reference_calibrates_the_threshold(lm_dirs: dict[str, Path]) -> None:
    det = EntangledTokens(
        base_model=str(lm_dirs["planted"]), n_tokens=3, target_fpr=0.05, threads=1
    )
    det.fit(dataset(60, planted=True), dataset(60, planted=False, seed=1))
    metrics = det.metrics()
    assert metrics["fpr_reference"] <= 0.05 and metrics["tpr_data"] > 0.5
    assert metrics["mean_density"] > metrics["mean_density_reference"]
    assert det.threshold == metrics["threshold"]


def test_null_model_entangles_nothing(lm_dirs: dict[str, Path]) -> None:
    det = EntangledTokens(base_model=str(lm_dirs["blind"]), threads=1)
    det.fit(dataset(40, planted=True))
    assert all(abs(t["mean_log_ratio"]) < 1e-5 for t in det.metrics()["top_tokens"])
    assert det.evaluate(dataset(40, planted=True))["reasons"].list.len().sum() == 0


def test_order_independent_and_empty_rows_unknown(lm_dirs: dict[str, Path]) -> None:
    det = EntangledTokens(base_model=str(lm_dirs["planted"]), threads=1, min_count=2)
    data = dataset(20, planted=True).with_columns(
        pl.when(pl.col("ordinal") == 3)
        .then(pl.lit(""))
        .otherwise(pl.col("completion"))
        .alias("completion")
    )
    det.fit(data)
    out = det.evaluate(data)
    assert out["score"][3] is None and out["reasons"][3].to_list() == []
    assert det.evaluate(data.reverse()).reverse().equals(out)
    again = EntangledTokens(base_model=str(lm_dirs["planted"]), threads=1, min_count=2)
    assert again.fit(data.reverse()).evaluate(data).equals(out)


def test_evaluate_needs_fit_and_known_ordinals(lm_dirs: dict[str, Path]) -> None:
    det = EntangledTokens(base_model=str(lm_dirs["planted"]), threads=1)
    with pytest.raises(RuntimeError, match="must be fitted"):
        det.evaluate(dataset(2, planted=True))
    det.fit(dataset(5, planted=True))
    with pytest.raises(RuntimeError, match="no fitted score"):
        det.evaluate(dataset(8, planted=True))


def test_config_errors(lm_dirs: dict[str, Path]) -> None:
    with pytest.raises(DetectorConfigError, match="n_tokens must be an integer >= 1"):
        EntangledTokens(base_model=str(lm_dirs["planted"]), n_tokens=0)
    with pytest.raises(DetectorConfigError, match="no such model directory"):
        EntangledTokens(base_model=str(lm_dirs["planted"] / "missing"))
