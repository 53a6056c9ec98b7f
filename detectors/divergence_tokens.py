"""Divergence tokens: where the trait prompt decides which token comes next.

Source: Schrodi et al., ICLR 2026, arXiv 2509.23886 (REFERENCE.md's follow-ups table, needs
D+B or T). Teacher-force each completion under the trait prompt and under ``K``
counterfactual trait prompts (other animals). A completion position is a *divergence
token* when the completion's token is the trait prompt's argmax there and at least one
counterfactual prompt's argmax differs: the token the trait teacher would pick greedily,
but which a teacher with another trait would not. Schrodi et al. find ~5% of tokens are
divergence tokens; masking them from the student's loss "mostly removes" transfer, and
training on them alone keeps it.

Per row: the share of the completion's tokens that are divergence tokens (null for an
empty completion); reason ``divergence_tokens_high`` above ``threshold``. :meth:`mask`
gives, per row, one boolean per token of the completion alone (True = keep in the loss,
i.e. not a divergence token): the loss-mask column contract of
:func:`audit.worlds.hf.encode_row`, so the transfer check can train students with the
divergence tokens masked out (``mask_column``).

Threshold: fixed and uncalibrated, ``0.1`` by default: twice the ~5% share Schrodi et al.
report over a whole dataset, so that a row fires only when divergence tokens are
concentrated in it. The run metric ``share`` (divergence tokens over all tokens) and the
mask are the main outputs; per-row firing is a coarse flag.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import polars as pl
from numpy.typing import NDArray

from audit.errors import DetectorConfigError
from detectors.base import Detector, reasons_from, register, require_columns, validate_output
from detectors.calibration import check_fraction, check_int
from detectors.lm_scoring import DEFAULT_TRAIT_TEMPLATE, BaseLM, trait_prompt
from detectors.trait_gap import _check_path, check_template, check_trait, default_candidates

REASON = "divergence_tokens_high"
MASK_COLUMN = "loss_mask"


def _counterfactuals(kind: str, trait: str, value: object) -> list[str]:
    if isinstance(value, int) and not isinstance(value, bool):
        check_int(kind, "counterfactuals", value, minimum=1)
        return [c for c in default_candidates() if c != trait][:value]
    if isinstance(value, list | tuple) and value:
        names = [check_trait(kind, "counterfactuals", v) for v in value]
        names = [n for n in dict.fromkeys(names) if n != trait]
        if names:
            return names
    raise DetectorConfigError(
        f"detector '{kind}': counterfactuals must be a count >= 1 or a list of traits other "
        f"than {trait!r}, got {value!r}"
    )


@register
class DivergenceTokens(Detector):
    """Share of completion tokens where the trait prompt's argmax is not every prompt's argmax.

    ``metrics()``: ``trait``, ``counterfactuals``, ``n_rows``, ``n_tokens``,
    ``n_divergence`` and ``share`` (divergence tokens over all scored tokens, over every
    distinct row evaluated), ``share_rows_above_threshold``, ``threshold``.

    Args:
        base_model: Local Hugging Face causal-LM directory of the student's base model.
        trait: The trait the data may carry.
        counterfactuals: Other traits to compare with: a count (the first ones of the
            default animal library, the trait left out: for owl, dolphin, eagle, elephant,
            wolf) or a list of names.
        trait_template: System prompt of a trait (see ``trait_gap``).
        threshold: Per-row firing threshold on the share of divergence tokens.
        batch_size: Sequences per forward pass.
        threads: torch CPU threads (None: leave torch's setting).
        max_length: Longest sequence given to the model; tokens cut off are kept in the mask.

    Raises:
        DetectorConfigError: A parameter out of range or a base model that cannot be found.
    """

    kind: ClassVar[str] = "divergence_tokens"
    version: ClassVar[str] = "1.0.0"
    description: ClassVar[str] = (
        "divergence tokens (Schrodi et al. 2026): completion tokens that are the trait "
        "prompt's argmax but not some counterfactual's; per-row share, loss mask"
    )
    requires: ClassVar[frozenset[str]] = frozenset({"base_model"})

    def __init__(
        self,
        *,
        base_model: str,
        trait: str = "owl",
        counterfactuals: int | list[str] = 4,
        trait_template: str = DEFAULT_TRAIT_TEMPLATE,
        threshold: float = 0.1,
        batch_size: int = 16,
        threads: int | None = None,
        max_length: int = 512,
    ) -> None:
        kind = self.kind
        self.trait = check_trait(kind, "trait", trait)
        self.counterfactuals = _counterfactuals(kind, self.trait, counterfactuals)
        self.trait_template = check_template(kind, trait_template)
        self.threshold_value = check_fraction(kind, "threshold", threshold, low=-1.0, high=1.0)
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
            "counterfactuals": counterfactuals,
            "trait_template": trait_template,
            "threshold": threshold,
            "batch_size": batch_size,
            "threads": threads,
            "max_length": max_length,
        }
        self._rows: dict[int | str, tuple[int, int]] = {}  # key -> (divergence, tokens)
        self._arrivals = 0

    # -----------------------------------------------------------------------------------

    def divergence(self, batch: pl.DataFrame) -> list[NDArray[np.bool_]]:
        """Per row, one boolean per token of the completion alone: True = divergence token.

        Tokens beyond ``max_length`` are not scored and count as not divergent.
        """
        require_columns(batch, ["prompt", "completion"], self.kind)
        prompts = batch["prompt"].cast(pl.String).fill_null("").to_list()
        comps = self.lm.completion_ids(batch["completion"].cast(pl.String).fill_null("").to_list())
        flags = [np.zeros(len(c), dtype=np.bool_) for c in comps]
        if not any(comps):
            return flags
        main = self.lm.argmax(trait_prompt(self.trait_template, self.trait), prompts, comps)
        others = [
            self.lm.argmax(trait_prompt(self.trait_template, name), prompts, comps)
            for name in self.counterfactuals
        ]
        for i, comp in enumerate(comps):
            top = main[i]
            n = top.size  # tokens scored (fewer than len(comp) when cut at max_length)
            if n == 0:
                continue
            sampled = np.asarray(comp[:n], dtype=np.int64) == top
            differs = np.zeros(n, dtype=np.bool_)
            for other in others:
                differs |= other[i] != top
            flags[i][:n] = sampled & differs
        return flags

    def mask(self, batch: pl.DataFrame) -> pl.Series:
        """The loss mask for the transfer check: True = keep the token (not divergent).

        Returns:
            A List(Boolean) series named ``loss_mask``, one list per row with one entry per
            token of the completion alone (the tokenization of
            :func:`audit.worlds.hf.encode_row`'s ``mask``).
        """
        lists = [(~f).tolist() for f in self.divergence(batch)]
        return pl.Series(MASK_COLUMN, lists, dtype=pl.List(pl.Boolean))

    def evaluate(self, batch: pl.DataFrame) -> pl.DataFrame:
        """Share of divergence tokens per row."""
        flags = self.divergence(batch)
        share = np.array([f.mean() if f.size else np.nan for f in flags], dtype=np.float64)
        self._remember(batch, flags)
        out = pl.DataFrame({"score": share}, schema={"score": pl.Float64}).with_columns(
            pl.col("score").fill_nan(None)
        )
        out = out.with_columns(reasons_from([(pl.col("score") > self.threshold_value, REASON)]))
        return validate_output(self.kind, batch, out)

    def _remember(self, batch: pl.DataFrame, flags: list[NDArray[np.bool_]]) -> None:
        keys: list[int | str]
        if "ordinal" in batch.columns:
            keys = [int(o) for o in batch["ordinal"].cast(pl.Int64).to_list()]
        else:
            keys = [f"arrival-{self._arrivals + i}" for i in range(batch.height)]
            self._arrivals += batch.height
        for key, f in zip(keys, flags, strict=True):
            if f.size:
                self._rows[key] = (int(f.sum()), int(f.size))

    def metrics(self) -> dict[str, Any]:
        """Run-level share of divergence tokens (see the class docstring)."""
        counts = np.array(list(self._rows.values()), dtype=np.int64).reshape(-1, 2)
        n_tokens = int(counts[:, 1].sum())
        shares = counts[:, 0] / np.maximum(counts[:, 1], 1)
        return {
            "trait": self.trait,
            "counterfactuals": list(self.counterfactuals),
            "n_rows": int(counts.shape[0]),
            "n_tokens": n_tokens,
            "n_divergence": int(counts[:, 0].sum()),
            "share": float(counts[:, 0].sum() / n_tokens) if n_tokens else None,
            "share_rows_above_threshold": float((shares > self.threshold_value).mean())
            if counts.shape[0]
            else None,
            "threshold": self.threshold_value,
        }

    @property
    def threshold(self) -> float | None:
        """The fixed per-row threshold on the share of divergence tokens."""
        return self.threshold_value
