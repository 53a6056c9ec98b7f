"""Token log-odds ratios with an informative Dirichlet prior ("Fightin' Words").

Source: B. L. Monroe, M. P. Colaresi and K. M. Quinn, "Fightin' Words: Lexical Feature
Selection and Evaluation for Identifying the Content of Political Conflict", Political
Analysis 16(4), 2008, section 3.5: for token ``w`` with counts ``y_w`` (dataset, total
``n``) and ``r_w`` (reference, total ``m``) and prior pseudo-counts ``a_w = alpha0 * p_w``
(``p_w`` the token's share of the pooled counts, ``a0 = sum a_w = alpha0``)::

    delta_w = log((y_w + a_w) / (n + a0 - y_w - a_w)) - log((r_w + a_w) / (m + a0 - r_w - a_w))
    var_w  ~= 1 / (y_w + a_w) + 1 / (r_w + a_w)
    z_w     = delta_w / sqrt(var_w)

The prior shrinks the log-odds of rare tokens towards zero and the z-score accounts for
the remaining uncertainty, so the ranking is not dominated by tokens seen twice. It is the
token-frequency two-sample test of REFERENCE.md's follow-ups table (needs D+R).

Tokens: number tokens and separators of the completion (the regex tokenizer of
:mod:`detectors.features`: digit runs as written, words, punctuation with its
whitespace, whitespace runs).

Per-row score: ``sum of z over the row's tokens / sqrt(number of tokens)``. Under the null
hypothesis the token z-scores are roughly standard normal, so this sum has about the same
spread for every row length and one threshold holds across lengths (a mean would make short
rows fire more often, a plain sum long ones). The z-scores are cross-fitted: a row of fold
``f`` is scored with z-scores (and a prior) counted on the other folds only, so a row never
scores itself; a row without tokens scores 0.

Dataset-level test: the G-test of homogeneity (log-likelihood ratio chi-square) on the
2 x V table of token counts, tokens whose pooled count is below 5 merged into one cell.
Its asymptotic p-value treats tokens as independent draws, which they are not (a row's
format repeats one separator ten times), so it is far too small on real data; the
reported ``p_value`` is therefore a permutation test of the same G statistic with *rows*
as the exchangeable units (labels shuffled ``n_permutations`` times, ``(hits + 1) /
(n_permutations + 1)``). Both are in ``metrics()``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import polars as pl
from numpy.typing import NDArray

from audit.errors import DetectorConfigError
from detectors.base import LearnedDetector, register, validate_output
from detectors.calibration import (
    ScoreStore,
    achieved_rates,
    auc_bootstrap_ci,
    check_fraction,
    check_int,
    make_pair,
    threshold_at_fpr,
)
from detectors.features import token_counts

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

REASON = "token_log_odds_high"
_MIN_CELL = 5  # pooled count below which tokens share one G-test cell (usual chi-square rule)


def log_odds_z(
    data_counts: NDArray[np.float64], reference_counts: NDArray[np.float64], alpha0: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Log-odds ratios (dataset vs reference) and their z-scores, informative Dirichlet prior.

    Monroe et al. 2008, eqs. 16-22; the prior is the pooled counts of both sides scaled to
    ``alpha0`` pseudo-counts. Tokens absent from both sides get 0 and 0.

    Args:
        data_counts: Token counts of the dataset, shape ``(V,)``.
        reference_counts: Token counts of the reference, shape ``(V,)``.
        alpha0: Total pseudo-count of the prior (> 0).

    Returns:
        ``(delta, z)``, each of shape ``(V,)``.
    """
    pooled = data_counts + reference_counts
    total = pooled.sum()
    delta = np.zeros_like(pooled)
    z = np.zeros_like(pooled)
    if total == 0:
        return delta, z
    prior = alpha0 * pooled / total
    seen = prior > 0
    y, r, a = data_counts[seen], reference_counts[seen], prior[seen]
    n, m = data_counts.sum(), reference_counts.sum()
    # n + alpha0 - y - a > 0 always: y <= n and a < alpha0 unless one token is everything,
    # in which case both log-odds are log(x / 0); guard with the smallest positive float.
    tiny = np.finfo(np.float64).tiny
    d = np.log((y + a) / np.maximum(n + alpha0 - y - a, tiny)) - np.log(
        (r + a) / np.maximum(m + alpha0 - r - a, tiny)
    )
    delta[seen] = d
    z[seen] = d / np.sqrt(1.0 / (y + a) + 1.0 / (r + a))
    return delta, z


def g_statistic(data_counts: NDArray[np.float64], reference_counts: NDArray[np.float64]) -> float:
    """G = 2 sum O log(O / E) on the 2 x V table (cells with O = 0 contribute 0)."""
    table = np.vstack([data_counts, reference_counts])
    total = table.sum()
    if total == 0:
        return 0.0
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / total
    nonzero = table > 0
    return float(2.0 * (table[nonzero] * np.log(table[nonzero] / expected[nonzero])).sum())


@register
class TokenLogOdds(LearnedDetector):
    """Per-token log-odds z-scores (Monroe et al. 2008), cross-fitted, summed per row.

    Score: ``sum(z of the row's tokens) / sqrt(n tokens)`` with out-of-fold z-scores (see
    the module docstring); reason ``token_log_odds_high`` above ``threshold_``, calibrated at
    ``target_fpr`` on the reference rows' out-of-fold scores.

    ``metrics()`` after ``fit``: ``p_value`` (row-permutation G-test), ``g_stat``, ``g_df``,
    ``g_p_asymptotic`` (tokens-independent, anti-conservative), ``auc`` with ``auc_ci``
    (of the per-row scores), ``top_tokens`` (the ``n_top`` most over-represented tokens on
    all rows: token, z, log_odds, count_data, count_reference), ``vocabulary_size``,
    ``threshold``, ``fpr_reference``, ``tpr_data``, ``n_data``, ``n_reference``.

    Args:
        column: The text column to tokenize.
        k: Number of cross-fitting folds (lowered to the smaller side's size if needed).
        seed: Seed of the folds, the bootstrap and the permutations.
        target_fpr: Share of reference rows allowed to fire, in (0, 1).
        alpha0: Total pseudo-count of the informative Dirichlet prior.
        n_permutations: Row-label shuffles of the G permutation test (0 skips it).
        n_bootstrap: Bootstrap resamples of the AUC interval.
        n_top: How many over-represented tokens ``metrics()["top_tokens"]`` keeps.

    Raises:
        DetectorConfigError: A parameter out of range.
    """

    kind: ClassVar[str] = "token_log_odds"
    version: ClassVar[str] = "1.0.0"
    description: ClassVar[str] = (
        "token log-odds z-scores with an informative Dirichlet prior (Monroe et al. 2008), "
        "dataset vs reference, cross-fitted; G-test p-value, top tokens"
    )

    def __init__(
        self,
        *,
        column: str = "completion",
        k: int = 5,
        seed: int = 0,
        target_fpr: float = 0.01,
        alpha0: float = 1000.0,
        n_permutations: int = 200,
        n_bootstrap: int = 200,
        n_top: int = 20,
    ) -> None:
        if not isinstance(column, str) or not column:
            raise DetectorConfigError(
                f"detector '{self.kind}': column must be a non-empty string, got {column!r}"
            )
        self.column = column
        self.k = check_int(self.kind, "k", k, minimum=2)
        self.seed = check_int(self.kind, "seed", seed, minimum=0)
        self.target_fpr = check_fraction(self.kind, "target_fpr", target_fpr, low=0.0, high=1.0)
        self.alpha0 = check_fraction(self.kind, "alpha0", alpha0, low=0.0, high=float("inf"))
        self.n_permutations = check_int(self.kind, "n_permutations", n_permutations, minimum=0)
        self.n_bootstrap = check_int(self.kind, "n_bootstrap", n_bootstrap, minimum=1)
        self.n_top = check_int(self.kind, "n_top", n_top, minimum=0)
        self.params = {
            "column": column,
            "k": k,
            "seed": seed,
            "target_fpr": target_fpr,
            "alpha0": alpha0,
            "n_permutations": n_permutations,
            "n_bootstrap": n_bootstrap,
            "n_top": n_top,
        }

    # -----------------------------------------------------------------------------------
    # fitting

    def _side_counts(
        self, counts_t: csr_matrix, labels: NDArray[np.int8]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        data = np.asarray(counts_t @ labels.astype(np.float64)).reshape(-1)
        return data, np.asarray(counts_t.sum(axis=1)).reshape(-1) - data

    def _g_test(
        self, counts_t: csr_matrix, labels: NDArray[np.int8]
    ) -> dict[str, float | int | None]:
        from scipy.stats import chi2

        data, ref = self._side_counts(counts_t, labels)
        # Rare tokens share one cell; the merge depends on pooled counts only, which a
        # label shuffle does not change, so the permutation statistic is the same function.
        rare = (data + ref) < _MIN_CELL

        def g_of(d: NDArray[np.float64], r: NDArray[np.float64]) -> float:
            return g_statistic(
                np.append(d[~rare], d[rare].sum()), np.append(r[~rare], r[rare].sum())
            )

        observed = g_of(data, ref)
        cells = int((~rare).sum()) + int(rare.any())
        df = max(cells - 1, 1)
        out: dict[str, float | int | None] = {
            "g_stat": observed,
            "g_df": df,
            "g_p_asymptotic": float(chi2.sf(observed, df)),
            "p_value": None,
        }
        if self.n_permutations:
            rng = np.random.default_rng([self.seed, 2])
            hits = sum(
                g_of(*self._side_counts(counts_t, rng.permutation(labels))) >= observed - 1e-9
                for _ in range(self.n_permutations)
            )
            out["p_value"] = (hits + 1) / (self.n_permutations + 1)
            out["n_permutations"] = self.n_permutations
        return out

    def fit(self, data: pl.DataFrame, reference: pl.DataFrame) -> TokenLogOdds:
        """Count tokens, cross-fit the z-scores, score every row out of fold, test.

        Args:
            data: Every dataset row (``ordinal`` and the text column needed).
            reference: Every reference row (the text column needed).

        Returns:
            self.
        """
        pair = make_pair(self.kind, data, reference, column=self.column, k=self.k, seed=self.seed)
        counts, vocabulary = token_counts(pair.texts)
        counts_t = counts.T.tocsr()
        n_rows, k = pair.labels.size, pair.k
        # Token counts per (fold, side): one sparse product with a one-hot matrix.
        group = pair.folds * 2 + pair.labels
        one_hot = np.zeros((n_rows, 2 * k))
        one_hot[np.arange(n_rows), group] = 1.0
        by_group = np.asarray(counts_t @ one_hot).T.reshape(k, 2, -1)
        train = by_group.sum(axis=0) - by_group  # counts of the other folds, per fold
        z_by_fold = np.stack(
            [log_odds_z(train[f, 1], train[f, 0], self.alpha0)[1] for f in range(k)], axis=1
        )  # (V, k)
        n_tokens = np.asarray(counts.sum(axis=1)).reshape(-1)
        sums = np.asarray(counts @ z_by_fold)[np.arange(n_rows), pair.folds]
        scores = np.where(n_tokens > 0, sums / np.sqrt(np.maximum(n_tokens, 1.0)), 0.0)

        data_scores, ref_scores = scores[: pair.n_data], scores[pair.n_data :]
        self.threshold_ = threshold_at_fpr(ref_scores, self.target_fpr)
        rates = achieved_rates(ref_scores, data_scores, self.threshold_)
        estimate, low, high = auc_bootstrap_ci(
            pair.labels, scores, n_resamples=self.n_bootstrap, seed=self.seed
        )
        totals = by_group.sum(axis=0)  # (2, V): reference, data
        delta, z = log_odds_z(totals[1], totals[0], self.alpha0)
        top = np.argsort(-z, kind="stable")[: self.n_top]
        self.metrics_: dict[str, Any] = {
            **self._g_test(counts_t, pair.labels),
            "auc": estimate,
            "auc_ci": [low, high],
            "top_tokens": [
                {
                    "token": vocabulary[i],
                    "z": float(z[i]),
                    "log_odds": float(delta[i]),
                    "count_data": int(totals[1, i]),
                    "count_reference": int(totals[0, i]),
                }
                for i in top
                if math.isfinite(z[i])
            ],
            "vocabulary_size": len(vocabulary),
            "k": k,
            "alpha0": self.alpha0,
            **rates.as_dict(),
            "target_fpr": self.target_fpr,
        }
        self.scores_ = ScoreStore(pair.data_ordinals, data_scores)
        return self

    # -----------------------------------------------------------------------------------
    # scoring

    def evaluate(self, batch: pl.DataFrame) -> pl.DataFrame:
        """Look up the out-of-fold scores of ``batch``'s rows by ``ordinal``."""
        store: ScoreStore | None = getattr(self, "scores_", None)
        if store is None:
            raise RuntimeError(f"detector '{self.kind}' must be fitted before evaluate()")
        out = store.evaluate(self.kind, batch, self.threshold_, REASON)
        return validate_output(self.kind, batch, out)
