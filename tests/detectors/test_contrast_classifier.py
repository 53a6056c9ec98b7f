from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from audit.errors import DetectorConfigError
from audit.sample import SampleConfig, make_frame
from detectors.contrast_classifier import ContrastClassifier

N = 1000


def _frame(rows: int, seed: int) -> pl.DataFrame:
    return make_frame(SampleConfig(rows=rows, seed=seed)).with_columns(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("ordinal")
    )


def _plant(frame: pl.DataFrame, share: float, seed: int, replacement: str) -> pl.DataFrame:
    hit = pl.Series(np.random.default_rng(seed).random(frame.height) < share)
    changed = pl.col("completion").str.replace(r"^([^0-9]*)[0-9]+", "${1}" + replacement)
    return frame.with_columns(
        pl.when(hit).then(changed).otherwise("completion").alias("completion")
    )


@pytest.fixture(scope="module")
def null_pair() -> tuple[pl.DataFrame, pl.DataFrame]:
    both = _frame(2 * N, seed=5)
    return both.head(N), both.tail(N).with_columns(pl.col("ordinal") - N)


@pytest.mark.parametrize(
    "replacement",
    [
        "7",  # over-uses the number 7 first
        "0017",  # leading zeros: a digit pattern, not a number value
    ],
)
def test_planted_signal_is_found(
    null_pair: tuple[pl.DataFrame, pl.DataFrame], replacement: str
) -> None:
    data, reference = null_pair
    det = ContrastClassifier(n_permutations=20).fit(_plant(data, 0.3, 1, replacement), reference)
    m = det.metrics()
    assert m["auc_ci"][0] > 0.6
    assert m["p_value"] == pytest.approx(1 / 21)  # the floor: no shuffle did as well
    assert m["tpr_data"] > 5 * m["fpr_reference"]
    assert m["n_data"] == m["n_reference"] == N and m["k"] == 5


def test_null_pair_is_not_flagged(null_pair: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    data, reference = null_pair
    det = ContrastClassifier(n_permutations=50, target_fpr=0.05).fit(data, reference)
    m = det.metrics()
    assert m["auc_ci"][0] <= 0.5 <= m["auc_ci"][1]
    # Under the null the p-value is uniform, so any fixed seed fails this check with
    # probability 1%; over 12 detector seeds on this pair it ranged 0.039-0.69.
    assert m["p_value"] > 0.01
    # Same tolerance as for token_log_odds: binomial sd 0.0069 at n=1000, times sqrt(2) for
    # the threshold's own sampling error, times 3 is ~0.029.
    fired = det.evaluate(data)["reasons"].list.len().gt(0).mean()
    assert fired == pytest.approx(m["tpr_data"])
    assert abs(m["tpr_data"] - 0.05) < 0.03
    assert m["fpr_reference"] <= 0.05


def test_cross_fitting_defeats_memorization(null_pair: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    # Each row gets a 6-digit number no other row has, drawn for both sides alike (so its
    # digit patterns carry no label); a weakly regularized model memorizes them in-sample.
    # Out of fold they are never seen, so nothing separates the sides.
    from sklearn.linear_model import LogisticRegression

    from detectors.calibration import auc
    from detectors.features import hashed_features

    data, reference = null_pair
    tags = np.random.default_rng(0).choice(np.arange(100_000, 1_000_000), 2 * N, replace=False)
    tagged = [
        frame.with_columns(pl.concat_str("completion", pl.lit(" "), pl.Series(part.astype(str))))
        for frame, part in ((data, tags[:N]), (reference, tags[N:]))
    ]
    features = hashed_features(pl.concat([t["completion"] for t in tagged]))
    labels = np.r_[np.ones(N), np.zeros(N)]
    model = LogisticRegression(C=100.0, max_iter=300).fit(features, labels)
    assert auc(labels, model.decision_function(features)) > 0.95  # in-sample: memorized
    m = ContrastClassifier(n_permutations=0, c=100.0).fit(*tagged).metrics()
    assert m["auc"] < 0.55


def test_duplicates_between_sides_are_not_extreme(
    null_pair: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    data, _ = null_pair
    m = ContrastClassifier(n_permutations=0, target_fpr=0.05).fit(data, data).metrics()
    assert m["auc"] <= 0.52 and m["tpr_data"] <= 0.05 + 0.03


def test_deterministic_given_seed(null_pair: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    data, reference = null_pair
    data, reference = data.head(300), reference.head(300)
    a = ContrastClassifier(n_permutations=5, seed=7).fit(data, reference)
    b = ContrastClassifier(n_permutations=5, seed=7).fit(data, reference)
    assert a.metrics() == b.metrics() and a.threshold == b.threshold
    assert a.evaluate(data).equals(b.evaluate(data))
    batch = data.slice(10, 40)
    assert a.evaluate(batch.reverse()).reverse().equals(a.evaluate(batch))
    c = ContrastClassifier(n_permutations=5, seed=8).fit(data, reference)
    assert not c.evaluate(data).equals(a.evaluate(data))


def test_evaluate_needs_fit_and_known_ordinals() -> None:
    data, reference = _frame(30, 0), _frame(30, 1)
    det = ContrastClassifier(n_permutations=0)
    assert det.threshold is None and det.metrics() == {}
    with pytest.raises(RuntimeError, match="must be fitted"):
        det.evaluate(data)
    det.fit(data.head(20), reference)
    with pytest.raises(RuntimeError, match=r"no fitted score for ordinal\(s\) \[20, 21"):
        det.evaluate(data)


def test_small_sides_lower_k() -> None:
    data = pl.DataFrame({"ordinal": [0, 1, 2], "completion": ["1, 2", "", "7"]})
    det = ContrastClassifier(n_permutations=3).fit(data, data.head(2))
    assert det.metrics()["k"] == 2 and det.evaluate(data).height == 3


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"k": 1}, "k must be"),
        ({"target_fpr": 1.0}, "target_fpr"),
        ({"c": 0}, "c must be"),
        ({"n_permutations": -1}, "n_permutations"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_bad_parameters(params: dict[str, object], match: str) -> None:
    with pytest.raises(DetectorConfigError, match=match):
        ContrastClassifier.from_params(params)


def test_fit_errors_are_one_line_config_errors() -> None:
    with pytest.raises(DetectorConfigError, match="at least 2 rows"):
        ContrastClassifier().fit(_frame(1, 0), _frame(5, 1))
    dup = _frame(4, 0).with_columns(pl.lit(1, dtype=pl.Int64).alias("ordinal"))
    with pytest.raises(DetectorConfigError, match="not unique"):
        ContrastClassifier().fit(dup, _frame(5, 1))
