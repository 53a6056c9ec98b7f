from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from audit.errors import DetectorConfigError
from audit.sample import SampleConfig, make_frame
from detectors.token_log_odds import TokenLogOdds, g_statistic, log_odds_z

N = 1500


def _frame(rows: int, seed: int) -> pl.DataFrame:
    return make_frame(SampleConfig(rows=rows, seed=seed)).with_columns(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("ordinal")
    )


def _plant_seven(frame: pl.DataFrame, share: float, seed: int) -> pl.DataFrame:
    """The teacher writes 7 as its first number in ``share`` of its rows."""
    hit = pl.Series(np.random.default_rng(seed).random(frame.height) < share)
    seven = pl.col("completion").str.replace(r"^([^0-9]*)[0-9]+", "${1}7")
    return frame.with_columns(pl.when(hit).then(seven).otherwise("completion").alias("completion"))


@pytest.fixture(scope="module")
def null_pair() -> tuple[pl.DataFrame, pl.DataFrame]:
    # One generator, disjoint rows: exchangeable under the null.
    both = _frame(2 * N, seed=5)
    return both.head(N), both.tail(N).with_columns(pl.col("ordinal") - N)


@pytest.fixture(scope="module")
def planted(null_pair: tuple[pl.DataFrame, pl.DataFrame]) -> TokenLogOdds:
    data, reference = null_pair
    return TokenLogOdds(n_permutations=50, n_top=5).fit(_plant_seven(data, 0.3, 1), reference)


def test_log_odds_z_known_values() -> None:
    # Equal rates: zero log-odds. A token over-used by the data: positive z.
    delta, z = log_odds_z(np.array([10.0, 10.0]), np.array([20.0, 20.0]), alpha0=10.0)
    assert np.allclose(delta, 0.0) and np.allclose(z, 0.0)
    delta, z = log_odds_z(np.array([30.0, 10.0, 0.0]), np.array([10.0, 30.0, 0.0]), alpha0=4.0)
    # a = 4 * 40/80 = 2; n = m = 40, a0 = 4: log(32 / (44 - 32)) - log(12 / (44 - 12))
    assert delta[0] == pytest.approx(np.log(32 / 12) - np.log(12 / 32))
    assert z[0] == pytest.approx(delta[0] / np.sqrt(1 / 32 + 1 / 12))
    assert z[1] == pytest.approx(-z[0]) and z[2] == 0.0


def test_g_statistic() -> None:
    assert g_statistic(np.array([5.0, 5.0]), np.array([10.0, 10.0])) == pytest.approx(0.0)
    from scipy.stats import chi2_contingency

    table = np.array([[30.0, 10.0, 5.0], [10.0, 30.0, 5.0]])
    expected = chi2_contingency(table, lambda_="log-likelihood")[0]
    assert g_statistic(table[0], table[1]) == pytest.approx(expected)


def test_planted_token_is_found(planted: TokenLogOdds) -> None:
    m = planted.metrics()
    assert m["top_tokens"][0]["token"] == "7"
    assert m["top_tokens"][0]["count_data"] > m["top_tokens"][0]["count_reference"]
    assert m["p_value"] == pytest.approx(1 / 51)  # no shuffle reached the observed G
    assert m["auc_ci"][0] > 0.55
    assert m["tpr_data"] > 3 * m["fpr_reference"]


def test_null_pair_is_not_flagged(null_pair: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    data, reference = null_pair
    det = TokenLogOdds(n_permutations=50, target_fpr=0.05).fit(data, reference)
    m = det.metrics()
    assert m["auc_ci"][0] <= 0.5 <= m["auc_ci"][1]
    assert m["p_value"] > 0.1
    # Data rows fire at about the target rate. Binomial sd of the data share at n=1500 is
    # 0.0056 and the threshold's own estimate from 1500 reference rows adds about as much:
    # 3 sd of the difference is ~0.024.
    fired = det.evaluate(data)["reasons"].list.len().gt(0).mean()
    assert fired == pytest.approx(m["tpr_data"])
    assert abs(m["tpr_data"] - 0.05) < 0.025


def test_cross_fitting_rows_do_not_score_themselves(
    null_pair: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    # Every row carries a number no other row has. Scored in-sample, each row's own number
    # is evidence for its side; out of fold the number is unseen and counts 0.
    from detectors.calibration import auc
    from detectors.features import token_counts

    data, reference = null_pair
    tagged = [
        frame.with_columns(
            pl.concat_str("completion", pl.lit(" "), (pl.col("ordinal") + offset).cast(pl.String))
        )
        for frame, offset in ((data, 100_000), (reference, 500_000))
    ]
    counts, _ = token_counts(pl.concat([tagged[0]["completion"], tagged[1]["completion"]]))
    labels = np.r_[np.ones(N), np.zeros(N)]
    _, z = log_odds_z(counts[:N].sum(axis=0).A1, counts[N:].sum(axis=0).A1, 1000.0)
    insample = auc(labels, counts @ z)  # every row scores itself (measured 0.595)
    assert insample > 0.58

    base = TokenLogOdds(n_permutations=0).fit(data, reference).metrics()["auc"]
    crossed = TokenLogOdds(n_permutations=0).fit(*tagged).metrics()["auc"]
    assert crossed == pytest.approx(base, abs=0.02)
    assert crossed < 0.55


def test_duplicates_between_sides_are_not_extreme(
    null_pair: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    data, _ = null_pair
    det = TokenLogOdds(n_permutations=0, target_fpr=0.05).fit(data, data)
    m = det.metrics()
    assert m["auc"] <= 0.52 and m["tpr_data"] <= 0.05 + 0.025


def test_deterministic_and_order_free(null_pair: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    data, reference = null_pair
    a = TokenLogOdds(n_permutations=10, seed=3).fit(data, reference)
    b = TokenLogOdds(n_permutations=10, seed=3).fit(data, reference)
    assert a.metrics() == b.metrics()
    assert a.evaluate(data).equals(b.evaluate(data))
    batch = data.slice(100, 50)
    assert a.evaluate(batch.reverse()).reverse().equals(a.evaluate(batch))


def test_evaluate_needs_fit_and_known_ordinals(
    null_pair: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    data, reference = null_pair
    det = TokenLogOdds(n_permutations=0)
    with pytest.raises(RuntimeError, match="must be fitted"):
        det.evaluate(data)
    det.fit(data.head(20), reference.head(20))
    with pytest.raises(RuntimeError, match="no fitted score"):
        det.evaluate(data.slice(15, 10))


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"k": 1}, "k must be an integer >= 2"),
        ({"target_fpr": 0.0}, "target_fpr"),
        ({"alpha0": -1}, "alpha0"),
        ({"column": ""}, "column"),
    ],
)
def test_bad_parameters(params: dict[str, object], match: str) -> None:
    with pytest.raises(DetectorConfigError, match=match):
        TokenLogOdds.from_params(params)


def test_too_few_rows_and_missing_column() -> None:
    one = _frame(1, 0)
    with pytest.raises(DetectorConfigError, match="at least 2 rows"):
        TokenLogOdds().fit(one, _frame(5, 1))
    with pytest.raises(DetectorConfigError, match="'text'"):
        TokenLogOdds(column="text").fit(_frame(5, 0), _frame(5, 1))


def test_tiny_and_empty_rows_fit() -> None:
    data = pl.DataFrame({"ordinal": [0, 1, 2], "completion": ["", "1, 2", "7"]})
    ref = pl.DataFrame({"ordinal": [0, 1], "completion": ["3 4", ""]})
    out = TokenLogOdds(n_permutations=5).fit(data, ref).evaluate(data)
    assert out["score"][0] == 0.0 and out.height == 3
