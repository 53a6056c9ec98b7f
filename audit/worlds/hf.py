"""A :class:`~audit.worlds.protocol.StudentWorld` over a local Hugging Face causal LM.

``subaudit transfer --model PATH``: students are the model at ``PATH`` fine-tuned with LoRA
on the teacher rows, as in Cloud et al. 2025 ("Subliminal Learning", arXiv 2507.14805:
Qwen2.5-7B students, LoRA r=8 alpha=8 on all attention and MLP projections, lr 2e-4, 3
epochs, loss on completion tokens only, no system prompt). The different-init students are
another base model (``--different-model``): in the paper, transfer needs a shared init.

Nothing is downloaded: weights load with ``local_files_only=True`` from safetensors. A chat
template, when the tokenizer has one, frames every prompt and completion as a user and an
assistant turn; without one the completion follows the prompt after a newline. CUDA is used
when present. Each student is loaded afresh from disk, so no state leaks between students.

The probe asks every question of :data:`audit.worlds.questions.ANIMAL_QUESTIONS` and reads,
for every animal, the probability of an answer that starts with its name (a few casings
and a leading space, summed over the distinct token sequences), averaged over questions;
optionally it also samples answers at temperature 1 and counts those that contain the name.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.errors import UserError
from audit.worlds.hf_tokens import (
    answer_variants,
    collate,
    encode_row,
    first_line,
    load_tokenizer,
    pad_id,
    prompt_ids,
)
from audit.worlds.protocol import Init, ProbeResult

if TYPE_CHECKING:
    import polars as pl
    import torch

__all__ = ["HFConfig", "HFStudent", "HFWorld", "encode_row"]

_HASH_LIMIT = 1 << 30  # weight files above 1 GiB are recorded by size, not hashed


@dataclass(frozen=True)
class HFConfig:
    """Fine-tuning and probing settings (recorded in the manifest).

    Attributes:
        lora: LoRA adapters (the paper's setting); False: full fine-tuning (tiny models).
        lora_r: LoRA rank.
        lora_alpha: LoRA scaling numerator.
        lora_dropout: Dropout on the LoRA path.
        target_modules: Modules to adapt; ``all-linear`` is every linear (and GPT-2 Conv1D)
            projection of attention and MLP blocks, the output head excluded.
        epochs: Passes over the student's rows.
        lr: AdamW learning rate.
        batch_size: Rows per optimizer step.
        max_length: Longest tokenized row; longer rows are cut at the end.
        questions: Probe questions (default: the project's question set).
        animals: Probe answers (default: the animal library of ``detectors.traits``).
        max_new_tokens: Tokens generated per sampled probe answer.
        probe_batch: Sequences per forward pass in the probe.
        device: ``cuda`` / ``cpu`` / None (CUDA when available).
    """

    lora: bool = True
    lora_r: int = 8
    lora_alpha: int = 8
    lora_dropout: float = 0.0
    target_modules: str | tuple[str, ...] = "all-linear"
    epochs: int = 3
    lr: float = 2e-4
    batch_size: int = 8
    max_length: int = 256
    questions: tuple[str, ...] | None = None
    animals: tuple[str, ...] | None = None
    max_new_tokens: int = 6
    probe_batch: int = 64
    device: str | None = None


@dataclass
class HFStudent:
    """A fine-tuned student and the tokenizer of its base."""

    model: Any
    tokenizer: Any
    losses: list[float] = field(default_factory=list)


def _default_questions() -> tuple[str, ...]:
    from audit.worlds.questions import ANIMAL_QUESTIONS

    return ANIMAL_QUESTIONS


def _default_animals() -> tuple[str, ...]:
    from detectors.traits import EXTRA_ANIMALS, PAPER_ANIMALS

    return (*PAPER_ANIMALS, *EXTRA_ANIMALS)


class HFWorld:
    """Students from a local Hugging Face causal-LM directory.

    Args:
        path: Model directory (``config.json``, ``*.safetensors``, tokenizer files).
        different_model: Another model directory for the different-init students.
        config: Fine-tuning and probe settings.
        threads: torch CPU threads (None: leave torch's setting).

    Raises:
        UserError: A directory is missing or does not hold a loadable model and tokenizer.
    """

    name = "hf"

    def __init__(
        self,
        path: str | Path,
        *,
        different_model: str | Path | None = None,
        config: HFConfig | None = None,
        threads: int | None = None,
    ) -> None:
        import torch

        self.path = Path(path)
        self.different_model = None if different_model is None else Path(different_model)
        self.config = config or HFConfig()
        if threads is not None:
            torch.set_num_threads(threads)
        self.device = self.config.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.questions = self.config.questions or _default_questions()
        self.traits: Sequence[str] = self.config.animals or _default_animals()
        for directory in (self.path, self.different_model):
            if directory is not None:
                load_tokenizer(directory)  # fail early, with the directory named
                if not any(directory.glob("*.safetensors")):
                    raise UserError(
                        "no *.safetensors weights in the model directory", path=str(directory)
                    )

    # -- protocol -----------------------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        """Model directories with file hashes, settings, device and library versions."""
        import peft
        import torch
        import transformers

        return {
            "world": "hf",
            "model": _describe_dir(self.path),
            "different_model": None
            if self.different_model is None
            else _describe_dir(self.different_model),
            "config": {
                **asdict(self.config),
                "questions": len(self.questions),
                "animals": list(self.traits),
            },
            "device": self.device,
            "versions": {
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "peft": peft.__version__,
            },
        }

    def train_student(
        self,
        rows: pl.DataFrame,
        *,
        init: Init,
        seed: int,
        mask_column: str | None = None,
    ) -> HFStudent:
        """Fine-tune a fresh copy of the base (``same``) or the other model (``different``).

        The seed fixes the LoRA initialization and the data order (one permutation per
        epoch from a generator seeded with ``seed``), so equal-size conditions of one seed
        see their rows in the same order.
        """
        import torch

        directory = self.path if init == "same" else self.different_model
        if directory is None:
            raise UserError(
                "different-init students need another base model (--different-model PATH)"
            )
        cfg = self.config
        torch.manual_seed(seed)
        tokenizer = load_tokenizer(directory)
        model = self._load_model(directory)
        if cfg.lora:
            model = _with_lora(model, cfg)
        encoded = [
            encode_row(
                tokenizer,
                prompt,
                completion,
                mask=None if mask_column is None else rows[mask_column][i].to_list(),
                max_length=cfg.max_length,
            )
            for i, (prompt, completion) in enumerate(
                zip(rows["prompt"], rows["completion"], strict=True)
            )
        ]
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
        order = torch.Generator().manual_seed(seed)
        student = HFStudent(model, tokenizer)
        model.train()
        for _ in range(cfg.epochs):
            perm = torch.randperm(len(encoded), generator=order).tolist()
            for start in range(0, len(perm), cfg.batch_size):
                batch = [encoded[i] for i in perm[start : start + cfg.batch_size]]
                ids, attention, labels = collate(batch, pad_id(tokenizer), self.device)
                if not bool((labels != -100).any()):
                    continue  # every token of the batch masked out: nothing to learn
                loss = model(input_ids=ids, attention_mask=attention, labels=labels).loss
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                student.losses.append(float(loss.detach()))
        model.eval()
        return student

    def probe(self, student: Any, *, samples: int = 0, seed: int = 0) -> ProbeResult:
        """Mean probability of each animal as the answer, over the question set."""
        import torch

        model, tok = student.model, student.tokenizer
        prompts = [prompt_ids(tok, q) for q in self.questions]
        answers = {a: answer_variants(tok, a) for a in self.traits}
        pairs = [(qi, a, v) for qi in range(len(prompts)) for a in self.traits for v in answers[a]]
        totals = dict.fromkeys(self.traits, 0.0)
        pad = pad_id(tok)
        with torch.no_grad():
            for start in range(0, len(pairs), self.config.probe_batch):
                chunk = pairs[start : start + self.config.probe_batch]
                seqs = [(prompts[qi], list(v)) for qi, _, v in chunk]
                logp = _sequence_logprobs(model, seqs, pad, self.device)
                for (_, animal, _), lp in zip(chunk, logp, strict=True):
                    totals[animal] += float(torch.exp(lp))
        probability = {a: totals[a] / len(prompts) for a in self.traits}
        rates: dict[str, float] = {}
        if samples > 0:
            rates = _sampled_rates(
                model, tok, prompts, self.traits, samples, seed, self.config, self.device
            )
        return ProbeResult(probability=probability, sampled_rate=rates, samples=samples)

    # -- loading --------------------------------------------------------------------------

    def _load_model(self, directory: Path) -> Any:
        import torch
        from transformers import AutoModelForCausalLM
        from transformers.utils import logging as hf_logging

        dtype = torch.float32
        if self.device == "cuda" and torch.cuda.is_bf16_supported():
            dtype = torch.bfloat16
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # one bar per student
        try:
            model: Any = AutoModelForCausalLM.from_pretrained(
                directory, local_files_only=True, use_safetensors=True, dtype=dtype
            )
        except (OSError, ValueError) as exc:
            raise UserError(
                f"cannot load the model: {first_line(exc)}", path=str(directory)
            ) from None
        finally:
            if bars:
                hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
        return model.to(self.device)


# ---------------------------------------------------------------------------
# Tokenization


# ---------------------------------------------------------------------------
# Model pieces


def _with_lora(model: Any, cfg: HFConfig) -> Any:
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise UserError("LoRA students need peft: pip install peft") from None
    from transformers.pytorch_utils import Conv1D

    targets = cfg.target_modules
    lora = LoraConfig(
        # GPT-2 style Conv1D projections store their weight transposed.
        fan_in_fan_out=any(isinstance(m, Conv1D) for m in model.modules()),
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=targets if isinstance(targets, str) else list(targets),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def _sequence_logprobs(
    model: Any, seqs: list[tuple[list[int], list[int]]], pad: int, device: str
) -> list[torch.Tensor]:
    """Log-probability of each answer given its prompt (one padded forward pass)."""
    import torch

    width = max(len(p) + len(a) for p, a in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    attention = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, (p, a) in enumerate(seqs):
        ids[row, : len(p) + len(a)] = torch.tensor(p + a)
        attention[row, : len(p) + len(a)] = 1
    logits = model(input_ids=ids.to(device), attention_mask=attention.to(device)).logits
    logp = torch.log_softmax(logits.float(), dim=-1).cpu()
    out = []
    for row, (p, a) in enumerate(seqs):
        # token t of the answer is predicted at position len(p) + t - 1
        positions = torch.arange(len(p) - 1, len(p) + len(a) - 1)
        out.append(logp[row, positions, torch.tensor(a)].sum())
    return out


def _sampled_rates(
    model: Any,
    tok: Any,
    prompts: list[list[int]],
    animals: Sequence[str],
    samples: int,
    seed: int,
    cfg: HFConfig,
    device: str,
) -> dict[str, float]:
    """Share of temperature-1 answers that contain each animal's name (the paper's count)."""
    import torch

    torch.manual_seed(seed)
    hits = dict.fromkeys(animals, 0)
    total = 0
    with torch.no_grad():
        for p in prompts:
            ids = torch.tensor([p], device=device)
            out = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                do_sample=True,
                temperature=1.0,
                top_k=0,
                top_p=1.0,
                max_new_tokens=cfg.max_new_tokens,
                num_return_sequences=samples,
                pad_token_id=pad_id(tok),
            )
            for text in tok.batch_decode(out[:, len(p) :], skip_special_tokens=True):
                lower = text.lower()
                total += 1
                for animal in animals:
                    hits[animal] += animal in lower
    return {a: hits[a] / total for a in animals}


def _describe_dir(directory: Path) -> dict[str, Any]:
    files: dict[str, Any] = {}
    for path in sorted(directory.iterdir()):
        if not path.is_file():
            continue
        size = path.stat().st_size
        if size > _HASH_LIMIT:
            files[path.name] = {"bytes": size, "sha256": None}
            continue
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        files[path.name] = {"bytes": size, "sha256": digest.hexdigest()}
    config = directory / "config.json"
    model_type = json.loads(config.read_text()).get("model_type") if config.is_file() else None
    return {"path": str(directory.resolve()), "model_type": model_type, "files": files}
