"""Entangled tokens: the tokens whose probability the trait prompt raises most.

Source: Zur et al., 2025 (REFERENCE.md's follow-ups table, needs D+B or generator control).
Telling a model it loves owls raises the probability of some tokens that have nothing to do
with owls (the "entangled" tokens, such as particular numbers); data rich in them carries
the trait. Zur et al. mitigate by sampling only tokens with p > 0.05 (owl 60% -> 28%, base
12%); here they are measured in the data.

Computed on the dataset: every completion is teacher-forced under the trait prompt and
under neutral prompts; for every token id, the entanglement is the mean over its
occurrences of ``log P(token | trait prompt) - mean_k log P(token | neutral prompt k)``.
The ``n_tokens`` token ids with the highest mean (among those seen at least ``min_count``
times, and only those with a positive mean) are the entangled tokens; a row's score is
their density: the share of its completion's tokens that are entangled.

A row's own tokens would vote for the tokens that then score it, so the scores are
cross-fitted like the other learned detectors': rows are split into ``k`` folds, and a
row's entangled set comes from the other folds' statistics (per-token sums are additive,
so that costs nothing beyond the one pass). ``metrics()["top_tokens"]`` lists the set from
every row.

Threshold: with a reference (the untraited model's outputs on the same prompts) the
reference rows are scored with the all-rows set and the threshold is placed at
``target_fpr`` of them (:func:`detectors.calibration.threshold_at_fpr`); without one the
fixed ``threshold`` (default 0.2: a fifth of the row's tokens are among the few entangled
ones, against ``n_tokens`` / vocabulary-in-use for a row that ignores them) applies.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import polars as pl
from numpy.typing import NDArray

from audit.errors import DetectorConfigError
from detectors.base import (
    LearnedDetector,
    reasons_from,
    register,
    require_columns,
    validate_output,
)
from detectors.calibration import achieved_rates, check_fraction, check_int, threshold_at_fpr
from detectors.lm_scoring import (
    DEFAULT_NEUTRAL_PROMPTS,
    DEFAULT_TRAIT_TEMPLATE,
    BaseLM,
    check_prompt_list,
    mean_over,
    trait_prompt,
)
from detectors.trait_gap import _check_path, check_template, check_trait

REASON = "entangled_tokens_high"


def _top(
    sums: NDArray[np.float64], counts: NDArray[np.float64], n: int, min_count: int
) -> NDArray[np.int64]:
    """The ``n`` token ids with the highest mean ratio among those seen ``min_count`` times.

    Only tokens the trait prompt makes likelier on average (mean ratio > 0) qualify: a null
    model that ignores the prompt has no entangled tokens, rather than ``n`` arbitrary ones.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        all_means = np.where(counts > 0, sums / np.maximum(counts, 1.0), 0.0)
    eligible = np.flatnonzero((counts >= min_count) & (all_means > 0))
    if eligible.size == 0:
        return np.zeros(0, dtype=np.int64)
    means = all_means[eligible]
    # Stable order: by mean descending, then by id, so ties do not depend on the platform.
    order = np.lexsort((eligible, -means))
    return eligible[order[:n]].astype(np.int64)


def _density(ids: list[NDArray[np.int64]], chosen: NDArray[np.int64]) -> NDArray[np.float64]:
    return np.array(
        [np.isin(row, chosen).mean() if row.size else np.nan for row in ids], dtype=np.float64
    )


@register
class EntangledTokens(LearnedDetector):
    """Density of the tokens the trait prompt makes most likely, in each completion.

    ``metrics()`` after ``fit``: ``trait``, ``top_tokens`` (``[{"token", "id",
    "mean_log_ratio", "count"}, ...]``, highest first), ``mean_density``, ``n_rows``, ``k``,
    ``threshold`` and, with a reference, ``fpr_reference`` / ``tpr_data`` and the reference's
    ``mean_density_reference``.

    Args:
        base_model: Local Hugging Face causal-LM directory of the student's base model.
        trait: The trait the data may carry.
        trait_template: System prompt of a trait (see ``trait_gap``).
        neutral_prompts: System prompts without any preference.
        n_tokens: Size of the entangled set.
        min_count: Occurrences a token needs before its mean ratio counts (rare tokens'
            means are noise).
        k: Cross-fitting folds.
        seed: Seed of the folds.
        threshold: Fixed per-row threshold on the density, used without a reference.
        target_fpr: Share of reference rows allowed to fire, when a reference is given.
        batch_size: Sequences per forward pass.
        threads: torch CPU threads (None: leave torch's setting).
        max_length: Longest sequence given to the model.

    Raises:
        DetectorConfigError: A parameter out of range or a base model that cannot be found.
    """

    kind: ClassVar[str] = "entangled_tokens"
    version: ClassVar[str] = "1.0.0"
    description: ClassVar[str] = (
        "entangled tokens (Zur et al. 2025): density of the tokens whose probability the "
        "trait prompt raises most under the base model"
    )
    requires: ClassVar[frozenset[str]] = frozenset({"base_model"})

    def __init__(
        self,
        *,
        base_model: str,
        trait: str = "owl",
        trait_template: str = DEFAULT_TRAIT_TEMPLATE,
        neutral_prompts: list[str] | None = None,
        n_tokens: int = 20,
        min_count: int = 5,
        k: int = 5,
        seed: int = 0,
        threshold: float = 0.2,
        target_fpr: float = 0.01,
        batch_size: int = 16,
        threads: int | None = None,
        max_length: int = 512,
    ) -> None:
        kind = self.kind
        self.trait = check_trait(kind, "trait", trait)
        self.trait_template = check_template(kind, trait_template)
        self.neutral_prompts = check_prompt_list(
            kind,
            "neutral_prompts",
            list(DEFAULT_NEUTRAL_PROMPTS) if neutral_prompts is None else neutral_prompts,
        )
        self.n_tokens = check_int(kind, "n_tokens", n_tokens, minimum=1)
        self.min_count = check_int(kind, "min_count", min_count, minimum=1)
        self.k = check_int(kind, "k", k, minimum=2)
        self.seed = check_int(kind, "seed", seed, minimum=0)
        self.fixed_threshold = check_fraction(kind, "threshold", threshold, low=-1.0, high=1.0)
        self.target_fpr = check_fraction(kind, "target_fpr", target_fpr, low=0.0, high=1.0)
        if threads is not None:
            check_int(kind, "threads", threads, minimum=1)
        self.lm = BaseLM(
            kind,
            _check_path(kind, base_model),
            batch_size=check_int(kind, "batch_size", batch_size, minimum=1),
            threads=threads,
            max_length=check_int(kind, "max_length", max_length, minimum=8),
        )
        self.params = {
            "base_model": base_model,
            "trait": trait,
            "trait_template": trait_template,
            "neutral_prompts": neutral_prompts,
            "n_tokens": n_tokens,
            "min_count": min_count,
            "k": k,
            "seed": seed,
            "threshold": threshold,
            "target_fpr": target_fpr,
            "batch_size": batch_size,
            "threads": threads,
            "max_length": max_length,
        }

    # -----------------------------------------------------------------------------------

    def _ratios(self, frame: pl.DataFrame) -> tuple[list[NDArray[np.int64]], list[NDArray[Any]]]:
        """Per row: the scored completion token ids and their trait-vs-neutral log ratios."""
        require_columns(frame, ["prompt", "completion"], self.kind)
        prompts = frame["prompt"].cast(pl.String).fill_null("").to_list()
        comps = self.lm.completion_ids(frame["completion"].cast(pl.String).fill_null("").to_list())
        if not any(comps):
            return [np.zeros(0, dtype=np.int64) for _ in comps], [np.zeros(0) for _ in comps]
        trait = self.lm.score(trait_prompt(self.trait_template, self.trait), prompts, comps)
        neutral = mean_over([self.lm.score(s, prompts, comps) for s in self.neutral_prompts])
        ids = [
            np.asarray(c[: lp.size], dtype=np.int64)
            for c, lp in zip(comps, trait.logp, strict=True)
        ]
        ratios = [
            t.astype(np.float64) - n.astype(np.float64)
            for t, n in zip(trait.logp, neutral, strict=True)
        ]
        return ids, ratios

    def fit(self, data: pl.DataFrame, reference: pl.DataFrame | None = None) -> EntangledTokens:
        """Find the entangled tokens on the dataset and score every row, cross-fitted.

        Args:
            data: Every dataset row (``ordinal``, ``prompt``, ``completion``).
            reference: Optional reference rows (``prompt``, ``completion``): when given and
                non-empty, the threshold is calibrated on them at ``target_fpr``.

        Returns:
            self.
        """
        require_columns(data, ["ordinal"], self.kind)
        # Rows in ordinal order: folds and the order of the float sums then do not depend on
        # the order the rows arrive in.
        data = data.sort("ordinal", maintain_order=True)
        if data["ordinal"].n_unique() != data.height:
            raise DetectorConfigError(
                f"detector '{self.kind}': the dataset's ordinals are not unique"
            )
        ids, ratios = self._ratios(data)
        vocab = int(max((int(r.max()) for r in ids if r.size), default=0)) + 1
        n = len(ids)
        folds = np.random.default_rng(self.seed).permutation(n) % self.k
        sums = np.zeros((self.k, vocab))
        counts = np.zeros((self.k, vocab))
        for row in range(n):
            if ids[row].size:
                np.add.at(sums[folds[row]], ids[row], ratios[row])
                np.add.at(counts[folds[row]], ids[row], 1.0)
        total_sums, total_counts = sums.sum(axis=0), counts.sum(axis=0)
        scores = np.full(n, np.nan)
        for fold in range(self.k):
            rows = np.flatnonzero(folds == fold)
            chosen = _top(
                total_sums - sums[fold], total_counts - counts[fold], self.n_tokens, self.min_count
            )
            scores[rows] = _density([ids[r] for r in rows], chosen)
        top = _top(total_sums, total_counts, self.n_tokens, self.min_count)
        tokens = self.lm.tokenizer.convert_ids_to_tokens(top.tolist())
        metrics: dict[str, Any] = {
            "trait": self.trait,
            "top_tokens": [
                {
                    "token": str(token),
                    "id": int(t),
                    "mean_log_ratio": float(total_sums[t] / total_counts[t]),
                    "count": int(total_counts[t]),
                }
                for t, token in zip(top, tokens, strict=True)
            ],
            "mean_density": float(np.nanmean(scores)) if np.isfinite(scores).any() else None,
            "n_rows": n,
            "k": self.k,
        }
        self.threshold_ = self.fixed_threshold
        if reference is not None and reference.height:
            ref_ids, _ = self._ratios(reference)
            ref_scores = _density(ref_ids, top)
            if np.isfinite(ref_scores).any():
                self.threshold_ = threshold_at_fpr(ref_scores, self.target_fpr)
                metrics |= achieved_rates(ref_scores, scores, self.threshold_).as_dict()
                metrics["target_fpr"] = self.target_fpr
                metrics["mean_density_reference"] = float(np.nanmean(ref_scores))
        metrics["threshold"] = self.threshold_
        self.metrics_ = metrics
        self._ordinals = data["ordinal"].cast(pl.Int64).to_numpy()
        self._scores = scores
        return self

    def evaluate(self, batch: pl.DataFrame) -> pl.DataFrame:
        """Look up the cross-fitted densities of ``batch``'s rows by ``ordinal``."""
        if not hasattr(self, "threshold_"):
            raise RuntimeError(f"detector '{self.kind}' must be fitted before evaluate()")
        require_columns(batch, ["ordinal"], self.kind)
        wanted = batch["ordinal"].cast(pl.Int64).to_numpy()
        pos = np.searchsorted(self._ordinals, wanted)
        pos_ok = np.minimum(pos, max(self._ordinals.size - 1, 0))
        found = (pos < self._ordinals.size) & (self._ordinals[pos_ok] == wanted)
        if not found.all():
            raise RuntimeError(
                f"detector '{self.kind}' has no fitted score for ordinal(s) "
                f"{wanted[~found][:5].tolist()}: fit() must see every row that evaluate() scores"
            )
        out = pl.DataFrame({"score": self._scores[pos_ok]}, schema={"score": pl.Float64})
        out = out.with_columns(pl.col("score").fill_nan(None))
        out = out.with_columns(reasons_from([(pl.col("score") > self.threshold_, REASON)]))
        return validate_output(self.kind, batch, out)
