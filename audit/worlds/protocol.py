"""What the transfer check needs from a language-model world.

A world owns a base initialization, a tokenizer, a set of favourite-animal questions and
a way to fine-tune students on teacher data; the transfer check (``audit.transfer``) only
talks to it through :class:`StudentWorld`. Implementations: the built-in ``tinylm`` world
(``audit.worlds.tinylm``) and a local Hugging Face causal-LM directory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import polars as pl

Init = Literal["same", "different"]
"""``same``: the teacher's base initialization; ``different``: another seed's base."""


@dataclass(frozen=True)
class ProbeResult:
    """A student's answers to the favourite-animal questions."""

    probability: Mapping[str, float]
    """Per animal of the library: mean probability mass of answering with it, over the
    question set (read from the logits, no sampling noise)."""
    sampled_rate: Mapping[str, float] = field(default_factory=dict)
    """Per animal: share of temperature-1 samples that name it (empty if not sampled)."""
    samples: int = 0


class StudentWorld(Protocol):
    """A world in which students can be distilled from teacher data and probed."""

    name: str
    traits: Sequence[str]
    """Every animal the probes report (collateral shifts show)."""

    def manifest(self) -> dict[str, Any]:
        """The world's configuration, seeds, versions and hashes (recorded per check)."""
        ...

    def train_student(
        self,
        rows: pl.DataFrame,
        *,
        init: Init,
        seed: int,
        mask_column: str | None = None,
    ) -> Any:
        """Fine-tune a fresh student from ``init`` on ``rows`` (``prompt``, ``completion``).

        The loss covers completion tokens only; ``mask_column`` (a List(Boolean) per row,
        one entry per completion token, True = train on it) removes tokens from the loss,
        for mitigations such as divergence-token masking. The same ``seed`` gives the same
        data order and the same initialization noise, so conditions compare pairwise.
        """
        ...

    def probe(self, student: Any, *, samples: int = 0, seed: int = 0) -> ProbeResult:
        """Ask the student the question set; ``samples`` > 0 also samples at T=1."""
        ...
