"""Classifier two-sample test: can the dataset be told apart from the reference at all?

Source: D. Lopez-Paz and M. Oquab, "Revisiting Classifier Two-Sample Tests", ICLR 2017: train a
classifier to separate sample P from sample Q; if its held-out accuracy (here ROC-AUC) is
above chance, P != Q. Applied as in REFERENCE.md's follow-ups table ("two-sample tests ...
classifier two-sample test (held-out AUC)", needs D+R): the dataset is the trait teacher's
output, the reference is an untraited model's output on the same prompts. Cloud et al. 2025
(arXiv 2507.14805) found prompted LLM classifiers at chance on such data; a classifier
*trained* on the two samples sees frequency shifts no reader notices, but its per-row
precision is weak: expect a run-level verdict ("the data differs") more than a row filter.

Model: hashed n-gram and digit-pattern features (:func:`detectors.features.hashed_features`)
and an L2-penalized logistic regression, cross-fitted over ``k`` stratified folds, so that
every row, dataset and reference alike, is scored by a model that never saw it. The per-row
score is the out-of-fold log-odds of "teacher". ``threshold_`` is calibrated on the
reference rows' out-of-fold scores at ``target_fpr``.

Permutation test: refitting the logistic regression ``k`` times per permutation is too slow
for 200k rows in the time budget, so the test statistic is the out-of-fold AUC of a cheaper
linear classifier on the same features: the difference of the two sides' mean feature
vectors on the training folds (a linear-kernel mean-embedding classifier, the witness
function of the linear-kernel MMD). The statistic is computed the same way on the observed
labels and on ``n_permutations`` shuffles with folds drawn independently of the labels, so
the p-value ``(hits + 1) / (n_permutations + 1)`` is exact under exchangeability; its floor
is ``1 / (n_permutations + 1)``.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import polars as pl
from numpy.typing import NDArray

from audit.errors import DetectorConfigError
from detectors.base import LearnedDetector, register, validate_output
from detectors.calibration import (
    Pair,
    ScoreStore,
    achieved_rates,
    auc,
    auc_bootstrap_ci,
    check_fraction,
    check_int,
    make_pair,
    threshold_at_fpr,
)
from detectors.features import drop_empty_columns, hashed_features

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

REASON = "contrast_high"


def _mean_difference_auc(
    features: csr_matrix,
    features_t: csr_matrix,
    labels: NDArray[np.int8],
    folds: NDArray[np.int64],
    k: int,
) -> float:
    """Out-of-fold AUC of the mean-difference classifier (the permutation statistic).

    Args:
        features: Rows x features, float32 CSR.
        features_t: Its transpose, also CSR (a CSR-times-dense product is the fast one).
        labels: 1 = dataset, 0 = reference.
        folds: Fold per row.
        k: Number of folds.

    The fold-and-side sums come from one sparse product with a one-hot matrix; the weights
    of fold ``f`` are the side means over the other folds; every row is scored by its own
    fold's weights. float32 halves the memory traffic of the two sparse products, which
    dominate (measured 0.19 s vs 0.53 s per permutation at 200k rows).
    """
    n = labels.size
    group = folds * 2 + labels
    one_hot = np.zeros((n, 2 * k), dtype=np.float32)
    one_hot[np.arange(n), group] = 1.0
    sums = np.asarray(features_t @ one_hot, dtype=np.float64).T.reshape(k, 2, -1)
    counts = np.bincount(group, minlength=2 * k).astype(np.float64).reshape(k, 2, 1)
    train_sums, train_counts = sums.sum(axis=0) - sums, counts.sum(axis=0) - counts
    means = train_sums / np.maximum(train_counts, 1.0)
    weights = (means[:, 1, :] - means[:, 0, :]).astype(np.float32)  # (k, n_features)
    all_scores = np.asarray(features @ weights.T)  # (n, k)
    return auc(labels, all_scores[np.arange(n), folds])


@register
class ContrastClassifier(LearnedDetector):
    """Cross-fitted linear classifier of dataset vs reference rows (classifier two-sample test).

    Score: out-of-fold log-odds that a row is from the dataset rather than the reference
    (0 = undecided). Reason ``contrast_high`` when the score exceeds ``threshold_``, the
    threshold at which ``target_fpr`` of the reference's own out-of-fold scores fire.

    ``metrics()`` after ``fit``: ``auc`` with ``auc_ci`` (stratified bootstrap over rows,
    95%), ``p_value`` of the permutation test (see the module docstring) with its
    ``perm_statistic`` and ``n_permutations``, ``n_data``, ``n_reference``, ``k``,
    ``threshold``, ``fpr_reference`` and ``tpr_data`` (share of dataset rows firing).

    Args:
        column: The text column to featurize.
        k: Number of cross-fitting folds (lowered to the smaller side's size if needed).
        seed: Seed of the folds, the bootstrap and the permutations.
        target_fpr: Share of reference rows allowed to fire, in (0, 1).
        c: Inverse L2 penalty of the logistic regression.
        n_features: Width of the hashed feature space (a power of two is customary).
        n_permutations: Label shuffles of the permutation test (0 skips it).
        n_bootstrap: Bootstrap resamples of the AUC interval.
        perm_rows: The permutation test runs on a random subsample of at most this many rows
            (both sides pooled, drawn without looking at the labels, so the test stays
            exact); at 40k rows an AUC of 0.55 is still ~15 standard errors from 0.5.

    Raises:
        DetectorConfigError: A parameter out of range.
    """

    kind: ClassVar[str] = "contrast_classifier"
    version: ClassVar[str] = "1.0.0"
    description: ClassVar[str] = (
        "classifier two-sample test (Lopez-Paz & Oquab 2017): cross-fitted hashed n-gram "
        "logistic regression, dataset vs reference; AUC, permutation p-value"
    )

    def __init__(
        self,
        *,
        column: str = "completion",
        k: int = 5,
        seed: int = 0,
        target_fpr: float = 0.01,
        c: float = 1.0,
        n_features: int = 2**18,
        n_permutations: int = 50,
        n_bootstrap: int = 200,
        perm_rows: int = 40_000,
    ) -> None:
        if not isinstance(column, str) or not column:
            raise DetectorConfigError(
                f"detector '{self.kind}': column must be a non-empty string, got {column!r}"
            )
        self.column = column
        self.k = check_int(self.kind, "k", k, minimum=2)
        self.seed = check_int(self.kind, "seed", seed, minimum=0)
        self.target_fpr = check_fraction(self.kind, "target_fpr", target_fpr, low=0.0, high=1.0)
        self.c = check_fraction(self.kind, "c", c, low=0.0, high=float("inf"))
        self.n_features = check_int(self.kind, "n_features", n_features, minimum=16)
        self.n_permutations = check_int(self.kind, "n_permutations", n_permutations, minimum=0)
        self.n_bootstrap = check_int(self.kind, "n_bootstrap", n_bootstrap, minimum=1)
        self.perm_rows = check_int(self.kind, "perm_rows", perm_rows, minimum=4)
        self.params = {
            "column": column,
            "k": k,
            "seed": seed,
            "target_fpr": target_fpr,
            "c": c,
            "n_features": n_features,
            "n_permutations": n_permutations,
            "n_bootstrap": n_bootstrap,
            "perm_rows": perm_rows,
        }

    # -----------------------------------------------------------------------------------
    # fitting

    def _out_of_fold(self, features: csr_matrix, pair: Pair) -> NDArray[np.float64]:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        scores = np.empty(pair.labels.size)
        for fold in range(pair.k):
            held_out = pair.folds == fold
            # tol=1e-3: on 160k x 2^18 sparse rows lbfgs stops after ~10 iterations with the
            # held-out AUC of a 100-iteration fit (measured 0.565 vs 0.560, 10x faster).
            model = LogisticRegression(C=self.c, tol=1e-3, max_iter=100)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(features[~held_out], pair.labels[~held_out])
            scores[held_out] = model.decision_function(features[held_out])
        return scores

    def _permutation_p(self, features: csr_matrix, pair: Pair) -> tuple[float, float]:
        rng = np.random.default_rng([self.seed, 1])
        # Rows and folds are drawn independently of the labels, so that shuffling the labels
        # leaves the statistic's distribution exchangeable (stratified folds depend on them).
        rows = np.sort(
            rng.choice(pair.labels.size, min(pair.labels.size, self.perm_rows), replace=False)
        )
        labels = pair.labels[rows]
        folds = rng.permutation(rows.size) % pair.k
        x32 = features[rows].astype(np.float32)
        x32_t = x32.T.tocsr()
        observed = _mean_difference_auc(x32, x32_t, labels, folds, pair.k)
        hits = 0
        for _ in range(self.n_permutations):
            shuffled = rng.permutation(labels)
            if _mean_difference_auc(x32, x32_t, shuffled, folds, pair.k) >= observed - 1e-12:
                hits += 1
        return observed, (hits + 1) / (self.n_permutations + 1)

    def fit(self, data: pl.DataFrame, reference: pl.DataFrame) -> ContrastClassifier:
        """Cross-fit the classifier, score every row out of fold, calibrate, test.

        Args:
            data: Every dataset row (``ordinal`` and the text column needed).
            reference: Every reference row (the text column needed).

        Returns:
            self.
        """
        pair = make_pair(self.kind, data, reference, column=self.column, k=self.k, seed=self.seed)
        features = drop_empty_columns(hashed_features(pair.texts, self.n_features))
        scores = self._out_of_fold(features, pair)
        data_scores, ref_scores = scores[: pair.n_data], scores[pair.n_data :]
        self.threshold_ = threshold_at_fpr(ref_scores, self.target_fpr)
        rates = achieved_rates(ref_scores, data_scores, self.threshold_)
        estimate, low, high = auc_bootstrap_ci(
            pair.labels, scores, n_resamples=self.n_bootstrap, seed=self.seed
        )
        metrics: dict[str, Any] = {
            "auc": estimate,
            "auc_ci": [low, high],
            "k": pair.k,
            **rates.as_dict(),
            "target_fpr": self.target_fpr,
        }
        if self.n_permutations:
            statistic, p_value = self._permutation_p(features, pair)
            metrics |= {
                "p_value": p_value,
                "perm_statistic": "mean_difference_auc",
                "perm_statistic_observed": statistic,
                "n_permutations": self.n_permutations,
                "perm_rows": int(min(pair.labels.size, self.perm_rows)),
            }
        self.metrics_ = metrics
        self.scores_ = ScoreStore(pair.data_ordinals, data_scores)
        return self

    # -----------------------------------------------------------------------------------
    # scoring

    def _fitted(self) -> ScoreStore:
        store: ScoreStore | None = getattr(self, "scores_", None)
        if store is None:
            raise RuntimeError(f"detector '{self.kind}' must be fitted before evaluate()")
        return store

    def evaluate(self, batch: pl.DataFrame) -> pl.DataFrame:
        """Look up the out-of-fold scores of ``batch``'s rows by ``ordinal``."""
        out = self._fitted().evaluate(self.kind, batch, self.threshold_, REASON)
        return validate_output(self.kind, batch, out)
