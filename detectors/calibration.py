"""Thresholds calibrated at a target false-positive rate on reference scores.

Learned detectors (``contrast_classifier``, ``token_log_odds``) score the reference rows
out-of-fold like the dataset rows, so the reference's scores show what a row *without* the
trait scores. The threshold is placed so that about ``target_fpr`` of those reference rows
fire; on data like the reference, about that share of rows is then flagged (the
Neyman-Pearson reading of a detector threshold).

Convention shared by every learned detector and by the ledger's re-thresholding: a row
*fires* when ``score > threshold`` (strictly greater).

The module also holds what every two-sample detector needs around its model: the
data-vs-reference frame with labels and stratified folds (cross-fitting), the store of
out-of-fold scores looked up by ``ordinal`` in ``evaluate``, and the ROC-AUC with a
bootstrap interval (the classifier two-sample test of Lopez-Paz & Oquab, "Revisiting
Classifier Two-Sample Tests", ICLR 2017: held-out accuracy/AUC far from chance means the
two samples differ).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl
from numpy.typing import ArrayLike, NDArray

from audit.errors import DetectorConfigError
from detectors.base import REASONS, SCORE, require_columns

__all__ = [
    "Pair",
    "Rates",
    "ScoreStore",
    "achieved_rates",
    "auc",
    "auc_bootstrap_ci",
    "check_fraction",
    "check_int",
    "make_pair",
    "threshold_at_fpr",
]


def _finite(scores: ArrayLike) -> NDArray[np.float64]:
    # Null scores (rows a detector could not evaluate) arrive as NaN; they neither fire nor
    # count towards the rate, like the engine's "unknown" verdict.
    arr = np.asarray(scores, dtype=np.float64).reshape(-1)
    return arr[np.isfinite(arr)]


def threshold_at_fpr(reference_scores: ArrayLike, target_fpr: float) -> float:
    """The smallest threshold at which at most ``target_fpr`` of the reference fires.

    With the reference scores sorted ascending, ``s_(1) <= ... <= s_(n)``, and
    ``m = floor(target_fpr * n)`` reference rows allowed to fire, the answer is
    ``s_(n - m)``: strictly above it lie at most ``m`` scores, and any smaller threshold
    would leave at least ``m + 1`` above it.

    Ties: scores equal to the threshold do not fire, so when several reference rows share
    the score ``s_(n - m)`` fewer than ``m`` rows fire and the achieved rate is *below* the
    target (never above it). A detector whose scores take few distinct values can therefore
    be much more conservative than asked; :func:`achieved_rates` reports the real rate.

    Args:
        reference_scores: Out-of-fold scores of the reference rows; NaN (unscored) rows are
            left out.
        target_fpr: Share of reference rows allowed to fire, in ``[0, 1)``. ``0`` gives the
            largest reference score (nothing in the reference fires).

    Returns:
        The threshold.

    Raises:
        ValueError: ``target_fpr`` outside ``[0, 1)`` or no finite reference score.
    """
    if not 0.0 <= target_fpr < 1.0:
        raise ValueError(f"target_fpr must be in [0, 1), got {target_fpr}")
    s = np.sort(_finite(reference_scores))
    n = s.size
    if n == 0:
        raise ValueError("threshold_at_fpr needs at least one finite reference score")
    # The tolerance keeps e.g. 0.29 * 100 = 28.999999999999996 from losing a row.
    m = min(n - 1, math.floor(target_fpr * n + 1e-9))
    return float(s[n - 1 - m])


@dataclass(frozen=True)
class Rates:
    """What a threshold achieves on the reference and on the dataset.

    Attributes:
        threshold: The threshold (a row fires when its score is strictly above it).
        fpr: Share of finite reference scores above the threshold.
        tpr: Share of finite dataset scores above the threshold (the "true" positive rate
            only if every dataset row carries the trait; otherwise the flagged share).
        n_reference: Finite reference scores counted.
        n_data: Finite dataset scores counted.
    """

    threshold: float
    fpr: float
    tpr: float
    n_reference: int
    n_data: int

    def as_dict(self) -> dict[str, float | int]:
        """JSON-ready form for ``metrics()``."""
        return {
            "threshold": self.threshold,
            "fpr_reference": self.fpr,
            "tpr_data": self.tpr,
            "n_reference": self.n_reference,
            "n_data": self.n_data,
        }


def achieved_rates(reference_scores: ArrayLike, data_scores: ArrayLike, threshold: float) -> Rates:
    """Firing rates of ``score > threshold`` on the reference (FPR) and on the data (TPR).

    Args:
        reference_scores: Out-of-fold reference scores (NaN left out).
        data_scores: Out-of-fold dataset scores (NaN left out).
        threshold: The threshold.

    Returns:
        The rates; a side without finite scores has rate ``nan``.
    """
    ref = _finite(reference_scores)
    data = _finite(data_scores)
    fpr = float((ref > threshold).mean()) if ref.size else math.nan
    tpr = float((data > threshold).mean()) if data.size else math.nan
    return Rates(float(threshold), fpr, tpr, int(ref.size), int(data.size))


# ---------------------------------------------------------------------------------------
# parameters


def check_fraction(kind: str, name: str, value: object, *, low: float, high: float) -> float:
    """A float parameter in the open interval ``(low, high)``, else a one-line config error."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not low < value < high:
        raise DetectorConfigError(
            f"detector '{kind}': {name} must be a number in ({low}, {high}), got {value!r}"
        )
    return float(value)


def check_int(kind: str, name: str, value: object, *, minimum: int) -> int:
    """An integer parameter ``>= minimum``, else a one-line config error."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise DetectorConfigError(
            f"detector '{kind}': {name} must be an integer >= {minimum}, got {value!r}"
        )
    return value


# ---------------------------------------------------------------------------------------
# the data-vs-reference pair and its folds


@dataclass(frozen=True)
class Pair:
    """Dataset and reference rows stacked: data first, then reference.

    Attributes:
        texts: The scored column, data rows then reference rows.
        labels: 1 for a dataset ("teacher") row, 0 for a reference row.
        folds: Fold index per row (stratified by label), ``0 .. k-1``.
        k: Number of folds actually used (``min(k, smaller side)``).
        data_ordinals: ``ordinal`` of each dataset row, in order.
    """

    texts: pl.Series
    labels: NDArray[np.int8]
    folds: NDArray[np.int64]
    k: int
    data_ordinals: NDArray[np.int64]

    @property
    def n_data(self) -> int:
        """Number of dataset rows."""
        return int(self.data_ordinals.size)


def make_pair(
    kind: str, data: pl.DataFrame, reference: pl.DataFrame, *, column: str, k: int, seed: int
) -> Pair:
    """Stack data and reference, label them and assign stratified cross-fitting folds.

    ``k`` is lowered to the size of the smaller side when that is smaller (a fold must hold
    rows of both sides); fewer than 2 rows on a side cannot be cross-fitted.

    Raises:
        DetectorConfigError: a missing column, fewer than 2 rows on a side, or repeated
            ordinals in the dataset.
    """
    from sklearn.model_selection import StratifiedKFold

    require_columns(data, [column, "ordinal"], kind)
    require_columns(reference, [column], kind)
    n_data, n_ref = data.height, reference.height
    if min(n_data, n_ref) < 2:
        raise DetectorConfigError(
            f"detector '{kind}' needs at least 2 rows in the dataset and in the reference "
            f"to cross-fit (got {n_data} and {n_ref})"
        )
    ordinals = data["ordinal"].cast(pl.Int64).to_numpy()
    if np.unique(ordinals).size != ordinals.size:
        raise DetectorConfigError(f"detector '{kind}': the dataset's ordinals are not unique")
    texts = pl.concat([data[column].cast(pl.String), reference[column].cast(pl.String)]).fill_null(
        ""
    )
    labels = np.r_[np.ones(n_data, dtype=np.int8), np.zeros(n_ref, dtype=np.int8)]
    k_used = min(k, n_data, n_ref)
    folds = np.empty(labels.size, dtype=np.int64)
    splitter = StratifiedKFold(n_splits=k_used, shuffle=True, random_state=seed)
    for fold, (_, held_out) in enumerate(splitter.split(np.zeros(labels.size), labels)):
        folds[held_out] = fold
    return Pair(texts, labels, folds, k_used, ordinals)


# ---------------------------------------------------------------------------------------
# out-of-fold scores, looked up by ordinal


class ScoreStore:
    """Out-of-fold scores of the dataset rows, keyed by ``ordinal``, and the firing rule."""

    def __init__(self, ordinals: NDArray[np.int64], scores: NDArray[np.float64]) -> None:
        order = np.argsort(ordinals, kind="stable")
        self._ordinals = ordinals[order]
        self._scores = scores[order]

    def evaluate(
        self, kind: str, batch: pl.DataFrame, threshold: float, reason: str
    ) -> pl.DataFrame:
        """Scores and reasons for ``batch``'s rows, found by their ``ordinal``.

        Raises:
            RuntimeError: a row's ordinal was not among the rows given to ``fit`` (the
                scan must fit on every row it later scores: a bug, not a user error).
        """
        require_columns(batch, ["ordinal"], kind)
        wanted = batch["ordinal"].cast(pl.Int64).to_numpy()
        pos = np.searchsorted(self._ordinals, wanted)
        pos_ok = np.minimum(pos, max(self._ordinals.size - 1, 0))
        found = (pos < self._ordinals.size) & (self._ordinals[pos_ok] == wanted)
        if not found.all():
            missing = wanted[~found][:5].tolist()
            raise RuntimeError(
                f"detector '{kind}' has no fitted score for ordinal(s) {missing} "
                f"({int((~found).sum())} row(s) of this batch): fit() must see every row "
                "that evaluate() scores"
            )
        scores = self._scores[pos_ok]
        return pl.DataFrame({SCORE: scores}, schema={SCORE: pl.Float64}).with_columns(
            pl.when(pl.col(SCORE) > threshold)
            .then(pl.lit([reason], dtype=pl.List(pl.String)))
            .otherwise(pl.lit([], dtype=pl.List(pl.String)))
            .alias(REASONS)
        )


# ---------------------------------------------------------------------------------------
# ROC-AUC with a bootstrap interval


def _grouped(
    labels: NDArray[np.int8], scores: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], int]:
    # Ties are grouped by value: the Mann-Whitney AUC counts a tied pair as one half.
    _, inverse = np.unique(scores, return_inverse=True)
    inverse = inverse.reshape(-1).astype(np.int64)
    return inverse[labels == 1], inverse[labels == 0], int(inverse.max()) + 1


def _auc_from_counts(pos: NDArray[np.float64], neg: NDArray[np.float64]) -> float:
    below = np.cumsum(neg) - neg  # negatives with a strictly smaller score
    denom = pos.sum() * neg.sum()
    return float((pos * (below + 0.5 * neg)).sum() / denom) if denom else math.nan


def auc(labels: ArrayLike, scores: ArrayLike) -> float:
    """ROC-AUC of ``scores`` for ``labels == 1`` (Mann-Whitney, ties count one half)."""
    y = np.asarray(labels, dtype=np.int8)
    pos_u, neg_u, n_unique = _grouped(y, np.asarray(scores, dtype=np.float64))
    return _auc_from_counts(
        np.bincount(pos_u, minlength=n_unique).astype(np.float64),
        np.bincount(neg_u, minlength=n_unique).astype(np.float64),
    )


def auc_bootstrap_ci(
    labels: ArrayLike,
    scores: ArrayLike,
    *,
    n_resamples: int = 500,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """ROC-AUC with a stratified percentile-bootstrap interval.

    Each side is resampled with replacement at its own size (the two samples are fixed in
    size by design). Scores are ranked once; a resample only recounts how many of each
    distinct score it drew, so a resample costs O(n) rather than a sort.

    The interval treats the out-of-fold scores as fixed: it reflects the sampling of rows,
    not the refitting of the folds' models, and so is slightly narrow. The permutation
    test of the detectors is the guard against over-reading it.

    Returns:
        ``(auc, low, high)``.
    """
    y = np.asarray(labels, dtype=np.int8)
    pos_u, neg_u, n_unique = _grouped(y, np.asarray(scores, dtype=np.float64))
    estimate = _auc_from_counts(
        np.bincount(pos_u, minlength=n_unique).astype(np.float64),
        np.bincount(neg_u, minlength=n_unique).astype(np.float64),
    )
    rng = np.random.default_rng(seed)
    stats = np.empty(n_resamples)
    for i in range(n_resamples):
        pos = np.bincount(pos_u[rng.integers(0, pos_u.size, pos_u.size)], minlength=n_unique)
        neg = np.bincount(neg_u[rng.integers(0, neg_u.size, neg_u.size)], minlength=n_unique)
        stats[i] = _auc_from_counts(pos.astype(np.float64), neg.astype(np.float64))
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    return estimate, float(low), float(high)
