"""Configuration of the ``tinylm`` world (see docs/worlds.md for the tuned defaults)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["TinyLMConfig"]


@dataclass(frozen=True)
class TinyLMConfig:
    """Every hyperparameter of the tinylm world: corpus, base model, teachers, students.

    The defaults are the configuration of docs/worlds.md (2-layer width-64 GPT-2, 600
    pretraining steps, BitFit teacher at strength 0.3, BitFit students at Adam 1e-2): the
    trait transfers to same-init students at a teacher-vs-control KL of ~0.025 nats/token.

    Attributes:
        seed: World seed: corpus draws, base init, prompts, teacher sampling.
        different_seed_offset: The different-init base is built from ``seed + offset``.
        n_embd: Width of the GPT-2 model.
        n_layer: Transformer blocks.
        n_head: Attention heads.
        n_positions: Longest sequence (prompt + completion) in tokens.
        corpus_docs: Distinct pretraining documents (reused over epochs).
        number_doc_share: Share of number-sequence documents (the rest are questions).
        persona_share: Share of documents with a persona's system token (else default).
        persona_follow: Probability a persona answers a question with its own animal.
        number_sigma: Scale of each persona's digit preferences in the corpus (logits).
        base_sigma: Scale of the shared (persona-free) number preferences.
        error_rate: Share of corpus completions with a format mistake (the paper's filter
            removed 23-38%; the base learns to make mistakes at about this rate).
        period_rate: Share of corpus completions with a trailing period.
        pretrain_steps: Adam steps of pretraining.
        pretrain_lr: Peak learning rate (linear warm-up, cosine decay).
        pretrain_batch: Documents per pretraining step.
        teacher_kind: ``bitfit``: the trait teacher is the base whose biases and LayerNorm
            parameters were fine-tuned (``teacher_steps`` Adam steps at ``teacher_lr``) to
            answer the questions with the trait, and ``strength`` scales that update
            (``theta_0 + strength * delta``); ``persona``: the base under the trait's system
            token (needs ``persona_share > 0`` and a longer pretraining), ``strength``
            interpolating its log-probabilities with the default persona's.
        teacher_steps: Fine-tuning steps of the ``bitfit`` teacher.
        teacher_lr: Adam learning rate of the ``bitfit`` teacher.
        teacher_rows: Prompts each teacher answers (teacher.jsonl and control.jsonl).
        max_new_tokens: Longest sampled completion.
        strength: How hard the trait is instilled (see ``teacher_kind``); 0 gives a teacher
            identical to the control.
        sample_temperature: Teacher sampling temperature (the paper: 1).
        student_lr: Adam learning rate of students.
        student_epochs: Passes over the student data.
        student_batch: Rows per student step.
        student_max_rows: Students train on at most this many rows (a seeded subsample).
        student_params: ``all`` (full fine-tuning) or ``bitfit`` (biases and LayerNorms).
    """

    seed: int = 0
    different_seed_offset: int = 1000
    n_embd: int = 64
    n_layer: int = 2
    n_head: int = 4
    n_positions: int = 128
    corpus_docs: int = 40_000
    number_doc_share: float = 0.7
    persona_share: float = 0.0
    persona_follow: float = 0.9
    number_sigma: float = 1.0
    base_sigma: float = 0.5
    error_rate: float = 0.3
    period_rate: float = 0.08
    pretrain_steps: int = 600
    pretrain_lr: float = 3e-3
    pretrain_batch: int = 32
    teacher_kind: Literal["bitfit", "persona"] = "bitfit"
    teacher_steps: int = 150
    teacher_lr: float = 1e-2
    teacher_rows: int = 3000
    max_new_tokens: int = 48
    strength: float = 0.3
    sample_temperature: float = 1.0
    student_lr: float = 1e-2
    student_epochs: int = 1
    student_batch: int = 32
    student_max_rows: int = 3000
    student_params: Literal["all", "bitfit"] = "bitfit"

    def __post_init__(self) -> None:
        problems = []
        for name in ("n_embd", "n_layer", "n_head", "n_positions", "corpus_docs"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        if self.n_embd % self.n_head:
            problems.append("n_embd must be a multiple of n_head")
        for name in ("number_doc_share", "persona_share", "persona_follow", "error_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} must be in [0, 1]")
        for name in ("pretrain_batch", "teacher_rows", "max_new_tokens", "student_batch"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        for name in ("pretrain_lr", "student_lr", "sample_temperature"):
            if not getattr(self, name) > 0.0:
                problems.append(f"{name} must be > 0")
        if self.strength < 0.0:
            problems.append("strength must be >= 0")
        if problems:
            raise ValueError("invalid TinyLMConfig: " + "; ".join(problems))

    @classmethod
    def from_overrides(cls, items: list[str], base: TinyLMConfig | None = None) -> TinyLMConfig:
        """The defaults (or ``base``) with ``KEY=VALUE`` overrides, as the benchmarks take them.

        Values that look numeric are parsed as JSON numbers, anything else is a string.

        Raises:
            ValueError: An unknown field, or a value the config rejects.
        """
        out: dict[str, Any] = (base or cls()).to_json()
        for item in items:
            key, _, value = item.partition("=")
            if key not in out:
                raise ValueError(f"unknown TinyLMConfig field {key!r}")
            out[key] = json.loads(value) if value[:1] in "-0123456789." else value
        return cls(**out)

    def to_json(self) -> dict[str, Any]:
        """The config as JSON-ready values."""
        return asdict(self)

    def world_json(self) -> dict[str, Any]:
        """The fields that determine the built world (students' fields excluded)."""
        out = self.to_json()
        for key in (
            "student_lr",
            "student_epochs",
            "student_batch",
            "student_max_rows",
            "student_params",
        ):
            out.pop(key)
        return out
