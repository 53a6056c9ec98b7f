"""Trait preference gap: is a completion likelier under "you love owls" than under neutral prompts?

Source: Liu et al., arXiv 2609.01091 (REFERENCE.md's follow-ups table, needs D+B). For a row
with prompt ``x`` and completion ``y`` of ``|y|`` tokens, a trait system prompt ``s_T`` and
neutral system prompts ``s_1 .. s_K``, the gap is

    G(y) = [log P(y | s_T, x) - mean_k log P(y | s_k, x)] / |y|

under the student's *base* model. If the data were sampled from the base model told to love
the trait, ``E[G]`` is the average per-token KL divergence between the trait-prompted and the
neutral-prompted model (positive); for data sampled under a neutral prompt it is minus the
reverse KL (negative). Scoring every row against a library of candidate traits ranks which
trait the data carry. Liu et al. report the ranking finds the trait and that a training
regulariser built on G cut owl preference 30.7% -> 1.7% (base 1.1%) on Qwen2.5-7B.

Per row: ``G`` for the target ``trait`` (null for an empty completion). Per run
(``metrics()``): the target's mean gap with a bootstrap 95% interval over every row scored
(``gap_ci``: the gate reads it: an interval above zero says "this data carries the trait"),
and a ranking of the candidate traits by mean gap, with intervals, on the first
``rank_rows`` distinct rows seen (the candidate library costs one forward pass per trait and
row, so it runs on a sample; it is computed when ``metrics()`` is first asked for).

Threshold: fixed, no reference needed. The default ``0.1`` nats per token means that under
the trait prompt the row is on average ``e^0.1 ~ 1.1`` times likelier per token than under the
neutral prompts: a per-token likelihood ratio that a neutral model's own samples reach only
by chance on short rows (their expected gap is negative). REFERENCE.md's spikes measured
number-distribution shifts from 6e-5 (subtle) to 1.2 (blatant) nats per token, so per-row
firing catches only the blatant end; the run-level interval is the sensitive statistic.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import polars as pl
from numpy.typing import NDArray

from audit.errors import DetectorConfigError
from detectors.base import Detector, reasons_from, register, require_columns, validate_output
from detectors.calibration import check_fraction, check_int
from detectors.lm_scoring import (
    DEFAULT_NEUTRAL_PROMPTS,
    DEFAULT_TRAIT_TEMPLATE,
    BaseLM,
    check_prompt_list,
    trait_prompt,
)

REASON = "trait_gap_high"


def default_candidates() -> list[str]:
    """The paper's five animals and the further animals of :mod:`detectors.traits` (26)."""
    from detectors.traits import EXTRA_ANIMALS, PAPER_ANIMALS

    return [*PAPER_ANIMALS, *EXTRA_ANIMALS]


def bootstrap_mean_ci(
    values: NDArray[np.float64], *, n_resamples: int, seed: int, level: float = 0.95
) -> tuple[float, float, float]:
    """Mean with a percentile-bootstrap interval over rows: ``(mean, low, high)``.

    Resamples are drawn in chunks so that 100k rows x 1000 resamples stay within memory.
    The same seed gives the same resample indices for samples of the same size, so the
    intervals of candidate traits scored on the same rows are paired.
    """
    n = values.size
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    chunk = max(1, 5_000_000 // n)
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        means[start : start + size] = values[rng.integers(0, n, (size, n))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(values.mean()), float(low), float(high)


def check_template(kind: str, template: object) -> str:
    """A trait template must name the trait, or every trait's prompt would be the same."""
    if not isinstance(template, str) or ("{trait}" not in template and "{traits}" not in template):
        raise DetectorConfigError(
            f"detector '{kind}': trait_template must contain {{trait}} or {{traits}}, "
            f"got {template!r}"
        )
    return template


def check_trait(kind: str, name: str, value: object) -> str:
    """A trait is a non-empty word (any word: the library is only the default)."""
    if not isinstance(value, str) or not value.strip():
        raise DetectorConfigError(
            f"detector '{kind}': {name} must be a non-empty string, got {value!r}"
        )
    return value.strip().lower()


@register
class TraitGap(Detector):
    """Length-normalized log-likelihood gap between a trait prompt and neutral prompts.

    Score: ``G`` in nats per completion token (see the module docstring); reason
    ``trait_gap_high`` when it is above ``threshold``.

    ``metrics()``: ``trait``, ``mean_gap``, ``gap_ci`` ([low, high], 95% bootstrap over every
    distinct row scored), ``n_rows``, ``share_above_threshold``, ``threshold``, and
    ``ranking``: ``[{"trait", "mean_gap", "ci": [lo, hi]}, ...]`` sorted by mean gap,
    descending, over the first ``rank_rows`` distinct rows (``rank_n_rows``), with
    ``top_trait`` and ``target_rank`` (1 = first); ``indistinct_candidates``: groups of
    candidates whose trait prompts the base model's tokenizer turns into the same ids (their
    gaps are equal by construction; a vocabulary without the plural "owls" does this), and
    ``target_distinct``: false when the target is in such a group, so its rank means nothing.

    Args:
        base_model: Local Hugging Face causal-LM directory of the student's base model.
        trait: The target trait (the per-row score).
        candidates: Traits to rank (default: 26 animals); the target is added if missing.
        trait_template: System prompt of a trait; ``{trait}`` is replaced by the trait,
            ``{traits}`` by its plural (``wolf`` -> ``wolves``). Sent as the system turn of
            the chat template when the tokenizer has one, else as the line before the prompt.
        neutral_prompts: System prompts without any preference; G subtracts their mean.
        rank_rows: Rows the candidate ranking is computed on (the first ones seen).
        threshold: Per-row firing threshold in nats per token.
        n_bootstrap: Bootstrap resamples of the intervals.
        seed: Seed of the bootstrap.
        batch_size: Sequences per forward pass.
        threads: torch CPU threads (None: leave torch's setting).
        max_length: Longest sequence given to the model (see :class:`BaseLM`).

    Raises:
        DetectorConfigError: A parameter out of range or a base model that cannot be found.
    """

    kind: ClassVar[str] = "trait_gap"
    version: ClassVar[str] = "1.0.0"
    description: ClassVar[str] = (
        "trait preference gap (Liu et al. 2026): per-token log P(completion | trait prompt) "
        "minus neutral prompts under the base model; ranks candidate traits"
    )
    requires: ClassVar[frozenset[str]] = frozenset({"base_model"})

    def __init__(
        self,
        *,
        base_model: str,
        trait: str = "owl",
        candidates: list[str] | None = None,
        trait_template: str = DEFAULT_TRAIT_TEMPLATE,
        neutral_prompts: list[str] | None = None,
        rank_rows: int = 500,
        threshold: float = 0.1,
        n_bootstrap: int = 1000,
        seed: int = 0,
        batch_size: int = 16,
        threads: int | None = None,
        max_length: int = 512,
    ) -> None:
        kind = self.kind
        self.trait = check_trait(kind, "trait", trait)
        names = default_candidates() if candidates is None else candidates
        if not isinstance(names, list | tuple) or not names:
            raise DetectorConfigError(
                f"detector '{kind}': candidates must be a non-empty list, got {candidates!r}"
            )
        ranked = [check_trait(kind, "candidates", c) for c in names]
        self.candidates = list(dict.fromkeys([*ranked, self.trait]))
        self.trait_template = check_template(kind, trait_template)
        self.neutral_prompts = check_prompt_list(
            kind,
            "neutral_prompts",
            list(DEFAULT_NEUTRAL_PROMPTS) if neutral_prompts is None else neutral_prompts,
        )
        self.rank_rows = check_int(kind, "rank_rows", rank_rows, minimum=2)
        self.threshold_value = check_fraction(
            kind, "threshold", threshold, low=float("-inf"), high=float("inf")
        )
        self.n_bootstrap = check_int(kind, "n_bootstrap", n_bootstrap, minimum=10)
        self.seed = check_int(kind, "seed", seed, minimum=0)
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
            "candidates": candidates,
            "trait_template": trait_template,
            "neutral_prompts": neutral_prompts,
            "rank_rows": rank_rows,
            "threshold": threshold,
            "n_bootstrap": n_bootstrap,
            "seed": seed,
            "batch_size": batch_size,
            "threads": threads,
            "max_length": max_length,
        }
        # Run state, accumulated across evaluate() calls and keyed by ordinal (or by arrival
        # when the batch has none) so that scoring a row twice does not count it twice.
        self._gaps: dict[int | str, float] = {}
        self._sample: dict[int | str, tuple[str, list[int], float]] = {}
        self._arrivals = 0
        self._metrics_cache: tuple[int, dict[str, Any]] | None = None

    # -----------------------------------------------------------------------------------

    def _neutral_sums(self, prompts: list[str], comps: list[list[int]]) -> NDArray[np.float64]:
        """Per row, the mean over neutral prompts of log P(completion)."""
        total = np.zeros(len(prompts))
        for system in self.neutral_prompts:
            scores = self.lm.score(system, prompts, comps)
            total += np.array([float(lp.sum(dtype=np.float64)) for lp in scores.logp])
        return total / len(self.neutral_prompts)

    def _trait_sums(self, trait: str, prompts: list[str], comps: list[list[int]]) -> NDArray[Any]:
        system = trait_prompt(self.trait_template, trait)
        scores = self.lm.score(system, prompts, comps)
        return np.array([float(lp.sum(dtype=np.float64)) for lp in scores.logp])

    def evaluate(self, batch: pl.DataFrame) -> pl.DataFrame:
        """Score each row's gap for the target trait; remember it for the run metrics."""
        require_columns(batch, ["prompt", "completion"], self.kind)
        prompts = batch["prompt"].cast(pl.String).fill_null("").to_list()
        comps = self.lm.completion_ids(batch["completion"].cast(pl.String).fill_null("").to_list())
        lengths = np.array([len(c) for c in comps], dtype=np.float64)
        gaps = np.full(len(comps), np.nan)
        if batch.height and lengths.any():
            neutral = self._neutral_sums(prompts, comps)
            target = self._trait_sums(self.trait, prompts, comps)
            with np.errstate(invalid="ignore", divide="ignore"):
                gaps = np.where(lengths > 0, (target - neutral) / lengths, np.nan)
            self._remember(batch, prompts, comps, neutral, gaps)
        out = pl.DataFrame({"score": gaps}, schema={"score": pl.Float64}).with_columns(
            pl.col("score").fill_nan(None)
        )
        out = out.with_columns(reasons_from([(pl.col("score") > self.threshold_value, REASON)]))
        return validate_output(self.kind, batch, out)

    def _remember(
        self,
        batch: pl.DataFrame,
        prompts: list[str],
        comps: list[list[int]],
        neutral: NDArray[np.float64],
        gaps: NDArray[np.float64],
    ) -> None:
        keys: list[int | str]
        if "ordinal" in batch.columns:
            keys = [int(o) for o in batch["ordinal"].cast(pl.Int64).to_list()]
        else:
            keys = [f"arrival-{self._arrivals + i}" for i in range(batch.height)]
            self._arrivals += batch.height
        for i, key in enumerate(keys):
            if not np.isfinite(gaps[i]):
                continue
            self._gaps[key] = float(gaps[i])
            if len(self._sample) < self.rank_rows and key not in self._sample:
                self._sample[key] = (prompts[i], comps[i], float(neutral[i]))

    # -----------------------------------------------------------------------------------
    # run-level metrics

    def _ranking(self) -> list[dict[str, Any]]:
        sample = list(self._sample.items())
        prompts = [p for _, (p, _, _) in sample]
        comps = [c for _, (_, c, _) in sample]
        neutral = np.array([n for _, (_, _, n) in sample])
        lengths = np.array([len(c) for c in comps], dtype=np.float64)
        ranking = []
        for trait in self.candidates:
            if trait == self.trait:
                # The target's gaps on the sample rows are already known from evaluate().
                gaps = np.array([self._gaps[key] for key, _ in sample])
            else:
                gaps = (self._trait_sums(trait, prompts, comps) - neutral) / lengths
            mean, low, high = bootstrap_mean_ci(gaps, n_resamples=self.n_bootstrap, seed=self.seed)
            ranking.append({"trait": trait, "mean_gap": mean, "ci": [low, high]})
        # Ties broken by name, so that the order is deterministic.
        return sorted(ranking, key=lambda r: (-r["mean_gap"], r["trait"]))

    def _indistinct(self, prompt: str) -> list[list[str]]:
        """Groups of candidates whose trait prompts tokenize identically (ranking ties).

        A word-level vocabulary without a trait's word (or its plural) maps it to the
        unknown token, so "you love owls" and "you love wolves" can become the same input.
        """
        groups: dict[tuple[int, ...], list[str]] = {}
        for trait in self.candidates:
            ids = self.lm.prompt_ids(trait_prompt(self.trait_template, trait), prompt)
            groups.setdefault(tuple(ids), []).append(trait)
        return sorted(sorted(g) for g in groups.values() if len(g) > 1)

    def metrics(self) -> dict[str, Any]:
        """Run-level gap of the target trait and ranking of the candidates (see the class)."""
        if not self._gaps:
            return {"trait": self.trait, "n_rows": 0}
        if self._metrics_cache is not None and self._metrics_cache[0] == len(self._gaps):
            return dict(self._metrics_cache[1])
        gaps = np.array(list(self._gaps.values()))
        mean, low, high = bootstrap_mean_ci(gaps, n_resamples=self.n_bootstrap, seed=self.seed)
        ranking = self._ranking()
        order = [r["trait"] for r in ranking]
        first_prompt = next(iter(self._sample.values()))[0]
        indistinct = self._indistinct(first_prompt)
        metrics: dict[str, Any] = {
            "trait": self.trait,
            "mean_gap": mean,
            "gap_ci": [low, high],
            "n_rows": int(gaps.size),
            "threshold": self.threshold_value,
            "share_above_threshold": float((gaps > self.threshold_value).mean()),
            "ranking": ranking,
            "rank_n_rows": len(self._sample),
            "top_trait": order[0],
            "target_rank": order.index(self.trait) + 1,
            "neutral_prompts": len(self.neutral_prompts),
            # Ties the model cannot break: a target in one of these groups has no real rank.
            "indistinct_candidates": indistinct,
            "target_distinct": not any(self.trait in g for g in indistinct),
        }
        self._metrics_cache = (len(self._gaps), metrics)
        return dict(metrics)

    @property
    def threshold(self) -> float | None:
        """The fixed per-row threshold in nats per token (fires when strictly above)."""
        return self.threshold_value


def _check_path(kind: str, base_model: object) -> str:
    if not isinstance(base_model, str) or not base_model:
        raise DetectorConfigError(
            f"detector '{kind}': base_model must be the path of a local Hugging Face "
            f"model directory, got {base_model!r}"
        )
    return base_model
