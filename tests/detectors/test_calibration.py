from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from detectors.calibration import (
    ScoreStore,
    achieved_rates,
    auc,
    auc_bootstrap_ci,
    threshold_at_fpr,
)

ONE_TO_100 = list(range(1, 101))


@pytest.mark.parametrize(
    ("scores", "fpr", "threshold", "achieved"),
    [
        (ONE_TO_100, 0.01, 99.0, 0.01),  # one score (100) strictly above
        (ONE_TO_100, 0.0, 100.0, 0.0),  # nothing fires
        (ONE_TO_100, 0.29, 71.0, 0.29),  # 0.29 * 100 is 28.999999999999996 in floats
        (ONE_TO_100, 0.015, 99.0, 0.01),  # floor(1.5) = 1 row allowed
        ([1, 1, 1, 1, 2], 0.2, 1.0, 0.2),
        ([1, 2, 2, 2, 2], 0.2, 2.0, 0.0),  # ties at the threshold: below target, never above
        ([5.0], 0.5, 5.0, 0.0),
        ([3.0, math.nan, 1.0, 2.0], 0.34, 2.0, 1 / 3),  # NaN (unscored) left out
    ],
)
def test_threshold_at_fpr(
    scores: list[float], fpr: float, threshold: float, achieved: float
) -> None:
    t = threshold_at_fpr(scores, fpr)
    assert t == threshold
    rates = achieved_rates(scores, scores, t)
    assert rates.fpr == pytest.approx(achieved)
    assert rates.fpr <= fpr + 1e-12
    # Smallest such threshold: the next lower score would let too many fire.
    finite = np.array([s for s in scores if math.isfinite(s)])
    lower = finite[finite < t]
    if lower.size:
        assert (finite > lower.max()).mean() > fpr


@pytest.mark.parametrize("fpr", [-0.1, 1.0, 1.5])
def test_threshold_rejects_bad_fpr(fpr: float) -> None:
    with pytest.raises(ValueError, match="target_fpr"):
        threshold_at_fpr([1.0, 2.0], fpr)


def test_threshold_needs_a_finite_score() -> None:
    with pytest.raises(ValueError, match="at least one finite"):
        threshold_at_fpr([math.nan], 0.1)
    with pytest.raises(ValueError, match="at least one finite"):
        threshold_at_fpr([], 0.1)


def test_achieved_rates() -> None:
    rates = achieved_rates([0, 1, 2, 3], [2, 3, 4, 5, math.nan], 2.5)
    assert (rates.fpr, rates.tpr, rates.n_reference, rates.n_data) == (0.25, 0.75, 4, 4)
    assert math.isnan(achieved_rates([], [1.0], 0.0).fpr)


def test_auc_matches_sklearn_with_ties() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    s = np.round(rng.normal(size=500) + y, 1)  # many ties
    assert auc(y, s) == pytest.approx(roc_auc_score(y, s))
    est, low, high = auc_bootstrap_ci(y, s, n_resamples=300, seed=1)
    assert est == pytest.approx(roc_auc_score(y, s))
    assert low < est < high
    assert auc_bootstrap_ci(y, s, n_resamples=50, seed=1) == auc_bootstrap_ci(
        y, s, n_resamples=50, seed=1
    )


def test_score_store_lookup_and_unknown_ordinals() -> None:
    store = ScoreStore(np.array([10, 3, 7]), np.array([1.0, 2.0, 3.0]))
    out = store.evaluate("x", pl.DataFrame({"ordinal": [7, 10, 3, 7]}), 1.5, "x_high")
    assert out["score"].to_list() == [3.0, 1.0, 2.0, 3.0]
    assert out["reasons"].to_list() == [["x_high"], [], ["x_high"], ["x_high"]]
    with pytest.raises(RuntimeError, match=r"no fitted score for ordinal\(s\) \[4, 99\]"):
        store.evaluate("x", pl.DataFrame({"ordinal": [3, 4, 99]}), 0.0, "x_high")
