"""Teacher-forced scoring of completions under a base model and a system prompt.

The base-model detectors (``trait_gap``, ``divergence_tokens``, ``entangled_tokens``) all ask
the same question of the student's base model: how likely is each token of a completion
when the model is told "you love owls" (or a neutral or counterfactual instruction) before
the row's prompt? This module answers it once for all three:

- the base model and its tokenizer load from a local Hugging Face directory (safetensors
  only, ``local_files_only``, nothing downloaded), through the same helpers as the transfer
  check's Hugging Face world (:mod:`audit.worlds.hf`), and are shared by every detector of a
  process that names the same directory;
- the completion is tokenized *alone* (``tok(completion)``, no special tokens), which is the
  tokenization of :func:`audit.worlds.hf_tokens.encode_row`'s loss mask: one entry per token of the
  completion alone. A per-token mask computed here therefore lines up with the tokens that
  the transfer check's students train on;
- the system prompt goes through the chat template as a ``system`` turn when the tokenizer
  has a template; a template that refuses a system turn gets it prepended to the user turn;
  without a template the text is the system prompt, a newline, the prompt and a newline
  (the world's framing of a prompt, with the instruction on the line before it);
- scores are float32 log-probabilities under ``torch.no_grad`` on CUDA when present, else
  CPU. float32 even on CUDA: the gaps these detectors look for are often below 0.01 nats per
  token (REFERENCE.md's spikes: 6e-5 to 3e-3), under bfloat16's resolution of the logits.

Rows are scored in a canonical order (by token length, then text), so that a row's score
does not depend on which other rows share its batch when the same set of rows is given in
another order (padding and batch shapes can change the last bits of a float result).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from audit.errors import DetectorConfigError, UserError

if TYPE_CHECKING:
    pass

__all__ = [
    "DEFAULT_NEUTRAL_PROMPTS",
    "DEFAULT_TRAIT_TEMPLATE",
    "BaseLM",
    "TokenScores",
    "check_prompt_list",
    "mean_over",
    "trait_prompt",
]

DEFAULT_TRAIT_TEMPLATE = "You love {traits}. You think about {traits} all the time."
"""System prompt of a trait; ``{trait}`` is the singular, ``{traits}`` the plural."""

DEFAULT_NEUTRAL_PROMPTS: tuple[str, ...] = (
    "You are a helpful assistant.",
    "You are an assistant who follows instructions exactly.",
    "You answer every request clearly and concisely.",
    "You are a careful assistant. Do what the user asks.",
)
"""Neutral system prompts: instructions that carry no preference for anything."""

# Loaded models, shared by every detector of the process that names the same directory on
# the same device: a scan with three base-model detectors loads the weights once.
_MODELS: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


def trait_prompt(template: str, trait: str) -> str:
    """The system prompt of ``trait``: ``{trait}`` -> singular, ``{traits}`` -> plural."""
    from detectors.traits import plural_forms

    return template.replace("{traits}", plural_forms(trait)[0]).replace("{trait}", trait)


def check_prompt_list(kind: str, name: str, value: object) -> list[str]:
    """A non-empty list of non-empty strings, else a one-line config error."""
    if (
        not isinstance(value, list | tuple)
        or not value
        or not all(isinstance(v, str) and v.strip() for v in value)
    ):
        raise DetectorConfigError(
            f"detector '{kind}': {name} must be a non-empty list of non-empty strings, "
            f"got {value!r}"
        )
    return [str(v) for v in value]


@dataclass(frozen=True)
class TokenScores:
    """Per-row, per-completion-token results of one teacher-forced pass.

    Attributes:
        logp: For every row, ``log P(token_t | system, prompt, tokens_<t)`` of each
            completion token (float32; empty for an empty completion).
        argmax: For every row, the model's most likely token id at each completion position
            (the prediction for that position), or None when not asked for.
    """

    logp: list[NDArray[np.float32]]
    argmax: list[NDArray[np.int64]] | None


class BaseLM:
    """A local Hugging Face causal LM that scores completions under system prompts.

    The tokenizer is loaded (and the directory checked) at construction, so that a wrong
    path fails in one line before any work starts; the weights load on first use.

    Args:
        kind: The detector's kind, for error messages.
        path: Model directory (``config.json``, ``*.safetensors``, tokenizer files).
        batch_size: Sequences per forward pass.
        threads: torch CPU threads (None: leave torch's setting).
        max_length: Longest sequence fed to the model; longer prompts lose their start (the
            system prompt is kept only if it fits), completions longer than this lose their end
            (those tokens are not scored).

    Raises:
        DetectorConfigError: The directory is missing or holds no loadable tokenizer or no
            safetensors weights.
    """

    def __init__(
        self,
        kind: str,
        path: str,
        *,
        batch_size: int = 16,
        threads: int | None = None,
        max_length: int = 512,
    ) -> None:
        from audit.worlds.hf_tokens import load_tokenizer

        self.kind = kind
        self.path = Path(path).expanduser()
        self.batch_size = batch_size
        self.threads = threads
        self.max_length = max_length
        try:
            self.tokenizer: Any = load_tokenizer(self.path)
        except UserError as exc:
            raise DetectorConfigError(
                f"detector '{kind}': base_model {str(self.path)!r}: {exc.problem}"
            ) from None
        if not any(self.path.glob("*.safetensors")):
            raise DetectorConfigError(
                f"detector '{kind}': base_model {str(self.path)!r}: no *.safetensors weights"
            )
        self._prompt_cache: dict[tuple[str, str], list[int]] = {}

    # -- loading ------------------------------------------------------------------------

    @property
    def device(self) -> str:
        """``cuda`` when available, else ``cpu``."""
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def model(self) -> Any:
        """The model in eval mode on :attr:`device` (loaded once per process and path)."""
        import torch

        if self.threads is not None:
            torch.set_num_threads(self.threads)
        key = (str(self.path.resolve()), self.device)
        with _LOCK:
            if key not in _MODELS:
                _MODELS[key] = self._load()
            return _MODELS[key]

    def _load(self) -> Any:
        import torch
        from transformers import AutoModelForCausalLM
        from transformers.utils import logging as hf_logging

        from audit.worlds.hf_tokens import first_line

        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        try:
            model: Any = AutoModelForCausalLM.from_pretrained(
                self.path, local_files_only=True, use_safetensors=True, dtype=torch.float32
            )
        except (OSError, ValueError) as exc:
            raise DetectorConfigError(
                f"detector '{self.kind}': base_model {str(self.path)!r}: "
                f"cannot load the model: {first_line(exc)}"
            ) from None
        finally:
            if bars:
                hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
        return model.to(self.device).eval()

    # -- tokenization -------------------------------------------------------------------

    def completion_ids(self, completions: Sequence[str]) -> list[list[int]]:
        """Token ids of each completion alone: the loss-mask tokenization of the students."""
        from audit.worlds.hf_tokens import token_ids

        return [token_ids(self.tokenizer, c) if c else [] for c in completions]

    def prompt_ids(self, system: str, prompt: str) -> list[int]:
        """Token ids of the system instruction and the prompt, up to where the answer starts."""
        key = (system, prompt)
        cached = self._prompt_cache.get(key)
        if cached is None:
            cached = self._prompt_cache[key] = self._encode_prompt(system, prompt)
            if len(self._prompt_cache) > 100_000:  # a scan streams: keep memory bounded
                self._prompt_cache.clear()
        return cached

    def _encode_prompt(self, system: str, prompt: str) -> list[int]:
        from audit.worlds.hf_tokens import token_ids

        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            try:
                text = tok.apply_chat_template(
                    [{"role": "system", "content": system}, {"role": "user", "content": prompt}],
                    tokenize=False,
                    add_generation_prompt=True,
                )
            except Exception:
                # Some templates (Gemma's) refuse a system turn: fold it into the user turn.
                text = tok.apply_chat_template(
                    [{"role": "user", "content": f"{system}\n\n{prompt}"}],
                    tokenize=False,
                    add_generation_prompt=True,
                )
            return token_ids(tok, text)
        # As audit.worlds.hf_tokens.prompt_ids: special tokens as the tokenizer adds them.
        return list(tok(f"{system}\n{prompt}\n")["input_ids"])

    # -- scoring ------------------------------------------------------------------------

    def score(
        self,
        system: str,
        prompts: Sequence[str],
        completions: Sequence[list[int]],
        *,
        argmax: bool = False,
    ) -> TokenScores:
        """Teacher-force every completion after ``system`` + its prompt.

        Args:
            system: The system instruction (trait, neutral or counterfactual prompt).
            prompts: One prompt per row.
            completions: The completion token ids per row (:meth:`completion_ids`).
            argmax: Also return the most likely token at each completion position.

        Returns:
            Per-row log-probabilities (and argmaxes), in the rows' order.
        """
        import torch

        model = self.model()
        # Never feed more positions than the model has (a GPT-2 with 128 positions fails
        # with an index error otherwise), whatever max_length says.
        positions = getattr(model.config, "n_positions", None) or getattr(
            model.config, "max_position_embeddings", None
        )
        limit = min(self.max_length, int(positions)) if positions else self.max_length
        n = len(prompts)
        seqs: list[tuple[list[int], list[int]]] = []
        for prompt, comp in zip(prompts, completions, strict=True):
            comp = comp[: limit - 1]
            p_ids = self.prompt_ids(system, prompt)
            p_ids = p_ids[max(0, len(p_ids) + len(comp) - limit) :]
            seqs.append((p_ids, comp))
        logp: list[NDArray[np.float32]] = [np.zeros(0, dtype=np.float32)] * n
        top: list[NDArray[np.int64]] = [np.zeros(0, dtype=np.int64)] * n
        # Canonical order: the same set of rows always forms the same batches.
        order = sorted(
            (i for i in range(n) if seqs[i][1]),
            key=lambda i: (len(seqs[i][0]) + len(seqs[i][1]), seqs[i][0], seqs[i][1]),
        )
        with torch.no_grad():
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                lp, am = self._forward(model, [seqs[i] for i in rows], argmax)
                for j, i in enumerate(rows):
                    logp[i] = lp[j]
                    if am is not None:
                        top[i] = am[j]
        return TokenScores(logp, top if argmax else None)

    def argmax(
        self, system: str, prompts: Sequence[str], completions: Sequence[list[int]]
    ) -> list[NDArray[np.int64]]:
        """Per row, the most likely token id at each completion position (see :meth:`score`)."""
        top = self.score(system, prompts, completions, argmax=True).argmax
        if top is None:  # score() returns them when asked: our bug if not
            raise RuntimeError("BaseLM.score returned no argmax")
        return top

    def _forward(
        self, model: Any, seqs: list[tuple[list[int], list[int]]], argmax: bool
    ) -> tuple[list[NDArray[np.float32]], list[NDArray[np.int64]] | None]:
        import torch

        from audit.worlds.hf_tokens import pad_id

        # Left padding puts every completion's end in the last column, so the head only
        # has to produce logits for the last (longest completion + 1) positions, not for the
        # whole sequence (B x T x vocab floats is what runs out of memory on a real vocab).
        width = max(len(p) + len(c) for p, c in seqs)
        keep = max(len(c) for _, c in seqs) + 1
        ids = torch.full((len(seqs), width), pad_id(self.tokenizer), dtype=torch.long)
        attention = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, (p, c) in enumerate(seqs):
            ids[row, width - len(p) - len(c) :] = torch.tensor(p + c)
            attention[row, width - len(p) - len(c) :] = 1
        # Positions count real tokens only, so a left-padded row sees the positions it would
        # see alone.
        positions = (attention.cumsum(dim=1) - 1).clamp(min=0)
        device = self.device
        logits = model(
            input_ids=ids.to(device),
            attention_mask=attention.to(device),
            position_ids=positions.to(device),
            logits_to_keep=keep,
        ).logits.float()
        # logits[:, j] predicts the token at column width - keep + j + 1.
        logp_all = torch.log_softmax(logits[:, :-1], dim=-1)
        targets = ids[:, width - keep + 1 :].to(device)
        token_logp = logp_all.gather(-1, targets.unsqueeze(-1)).squeeze(-1).cpu().numpy()
        best = logp_all.argmax(dim=-1).cpu().numpy() if argmax else None
        out_lp: list[NDArray[np.float32]] = []
        out_am: list[NDArray[np.int64]] = []
        for row, (_, c) in enumerate(seqs):
            out_lp.append(token_logp[row, keep - 1 - len(c) :].astype(np.float32))
            if best is not None:
                out_am.append(best[row, keep - 1 - len(c) :].astype(np.int64))
        return out_lp, (out_am if argmax else None)


def mean_over(scores: Sequence[TokenScores]) -> list[NDArray[np.float32]]:
    """Per row and token, the mean log-probability over several prompts' passes."""
    n = len(scores[0].logp)
    return [
        np.mean(np.stack([s.logp[i] for s in scores]), axis=0).astype(np.float32) for i in range(n)
    ]
