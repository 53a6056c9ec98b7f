"""Tokenization for Hugging Face causal-LM worlds: prompts, training rows, answer spellings.

Shared by the Hugging Face world (:mod:`audit.worlds.hf`) and the base-model detectors
(:mod:`detectors.lm_scoring`), so that a detector's per-token loss mask lines up with the
tokens a student is trained on: both tokenize a completion alone with
``add_special_tokens=False`` (:func:`token_ids`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.errors import UserError

if TYPE_CHECKING:
    import torch

__all__ = [
    "answer_variants",
    "collate",
    "encode_row",
    "first_line",
    "load_tokenizer",
    "pad_id",
    "prompt_ids",
    "token_ids",
]


def load_tokenizer(directory: Path) -> Any:
    """The tokenizer of a local model directory (never downloaded); one-line error if not."""
    from transformers import AutoTokenizer

    if not directory.is_dir():
        raise UserError("no such model directory", path=str(directory))
    try:
        return AutoTokenizer.from_pretrained(directory, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise UserError(
            f"cannot load the tokenizer: {first_line(exc)}", path=str(directory)
        ) from None


def token_ids(tok: Any, text: str) -> list[int]:
    """Ids of ``text`` alone, without special tokens: how completions and masks are counted."""
    return list(tok(text, add_special_tokens=False)["input_ids"])


def prompt_ids(tok: Any, prompt: str) -> list[int]:
    """The prompt up to where the answer starts: a user turn plus the generation prompt."""
    if getattr(tok, "chat_template", None):
        text = tok.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
        return token_ids(tok, text)
    ids = list(tok(prompt + "\n")["input_ids"])  # special tokens as the tokenizer adds them
    return ids


def encode_row(
    tok: Any,
    prompt: str,
    completion: str,
    *,
    mask: Sequence[bool] | None = None,
    max_length: int = 256,
) -> tuple[list[int], list[bool]]:
    """Token ids of prompt + completion and, per token, whether the loss covers it.

    Only completion tokens are trained on (the paper's setting). With a chat template the
    completion is the assistant turn, and the template's closing tokens after it are
    trained too (so that the student learns where an answer ends); without one an
    end-of-sequence token follows the completion. ``mask`` has one entry per token of the
    completion alone (``tok(completion)``); False removes that token from the loss.

    Raises:
        UserError: ``mask`` has the wrong length for the completion's tokens.
    """
    p_ids = prompt_ids(tok, prompt)
    if getattr(tok, "chat_template", None):
        prefix = tok.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
        full = tok.apply_chat_template(
            [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}],
            tokenize=False,
        )
        tail = full[len(prefix) :] if full.startswith(prefix) else completion
    else:
        tail = completion + (tok.eos_token or "")
    c_ids = token_ids(tok, tail)
    train = [True] * len(c_ids)
    if mask is not None:
        n = len(token_ids(tok, completion))
        if len(mask) != n:
            raise UserError(
                f"loss mask has {len(mask)} entries but the completion has {n} tokens: "
                f"{completion[:40]!r}"
            )
        start = _find(c_ids, token_ids(tok, completion))
        for i, keep in enumerate(mask):
            train[start + i] = bool(keep)
    ids = (p_ids + c_ids)[:max_length]
    labels = ([False] * len(p_ids) + train)[:max_length]
    return ids, labels


def _find(haystack: list[int], needle: list[int]) -> int:
    # Where the completion's own tokens start inside the template's assistant turn.
    for i in range(len(haystack) - len(needle) + 1):
        if haystack[i : i + len(needle)] == needle:
            return i
    raise UserError("the chat template changes the completion's tokens; cannot apply a mask")


def answer_variants(tok: Any, animal: str) -> list[tuple[int, ...]]:
    """Distinct token sequences that spell the animal as the start of an answer.

    A sequence that extends another one (``owl`` + ``s``) is dropped: its probability is
    already part of the shorter one's, and summing both would count it twice.
    """
    seqs = {
        tuple(token_ids(tok, text))
        for text in (animal, animal.capitalize(), " " + animal, " " + animal.capitalize())
    }
    unk = getattr(tok, "unk_token_id", None)
    seqs = {s for s in seqs if s and unk not in s}
    return sorted(s for s in seqs if not any(o != s and s[: len(o)] == o for o in seqs))


def pad_id(tok: Any) -> int:
    """The padding id: the pad token, else end-of-sequence, else 0 (padding is masked)."""
    for candidate in (tok.pad_token_id, tok.eos_token_id, 0):
        if candidate is not None:
            return int(candidate)
    return 0


def collate(
    batch: list[tuple[list[int], list[bool]]], pad: int, device: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ids, attention mask and labels (-100 where the loss does not look)."""
    import torch

    width = max(len(ids) for ids, _ in batch)
    ids = torch.full((len(batch), width), pad, dtype=torch.long)
    attention = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    for row, (seq, train) in enumerate(batch):
        ids[row, : len(seq)] = torch.tensor(seq)
        attention[row, : len(seq)] = 1
        keep = torch.tensor(train, dtype=torch.bool)
        labels[row, : len(seq)] = torch.where(keep, torch.tensor(seq), torch.tensor(-100))
    return ids.to(device), attention.to(device), labels.to(device)


def first_line(exc: BaseException) -> str:
    """An exception's first line, for one-line user errors."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
