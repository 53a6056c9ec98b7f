"""Students and probes of the ``tinylm`` world, and its transfer check.

Students are trained under ``<sys:default>`` (the paper trained without a system prompt),
from the base (``same`` init) or from the different-init base, on teacher rows:

* **hard labels**: cross-entropy on the sampled completion tokens (and ``<eos>``), with an
  optional per-token loss mask;
* **soft labels**: ``KL(p_teacher || p_student)`` summed over the vocabulary at each
  completion position, teacher-forced on the row; the teacher is the base under the trait's
  (or the default) system token, mixed by the strength knob.

Probes read, for every animal of the library at once, the probability of answering with it
(softmax over the whole vocabulary at the answer position, averaged over the questions),
and optionally the share of temperature-1 samples that name it (answers are one token).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from audit.stats import Interval, bootstrap_diff_ci, bootstrap_mean_ci, permutation_test
from audit.worlds.protocol import Init, ProbeResult
from audit.worlds.questions import ANIMAL_QUESTIONS

if TYPE_CHECKING:
    import polars as pl
    from transformers import GPT2LMHeadModel

    from audit.worlds.tinylm import TinyLMWorld
    from audit.worlds.tinylm_config import TinyLMConfig
    from audit.worlds.tinylm_tokenizer import TinyTokenizer

__all__ = [
    "TinyLMCheckResult",
    "TinyLMStudents",
    "probe_model",
    "run_tinylm_check",
    "teacher_control_kl",
    "train_student_model",
    "world_figures",
]

TeacherName = Literal["trait", "control"]


# ---------------------------------------------------------------------------
# Probes


def probe_model(
    model: GPT2LMHeadModel,
    tok: TinyTokenizer,
    animals: Sequence[str],
    *,
    persona: str = "default",
    samples: int = 0,
    seed: int = 0,
) -> ProbeResult:
    """Ask every question under ``persona``; read each animal's answer probability.

    Args:
        model: The model to probe.
        tok: The world's tokenizer.
        animals: Animals to report (all of the library, so collateral shifts show).
        persona: System token (students are probed under ``default``).
        samples: Temperature-1 samples per question (0: logits only).
        seed: Sampling seed.

    Returns:
        Mean probability per animal and, with ``samples``, the sampled rate per animal.
    """
    import torch

    from audit.worlds.tinylm_model import next_token_logits

    probs = next_token_logits(model, tok, ANIMAL_QUESTIONS, persona).softmax(-1)
    ids = [tok.index[a] for a in animals]
    mean = probs[:, ids].mean(0).tolist()
    rate: dict[str, float] = {}
    if samples > 0:
        gen = torch.Generator().manual_seed(seed)
        draws = torch.multinomial(probs, samples, replacement=True, generator=gen)
        total = draws.numel()
        # Answers are one token; a sample names an animal when it is that animal's token.
        rate = {a: float((draws == i).sum()) / total for a, i in zip(animals, ids, strict=True)}
    return ProbeResult(dict(zip(animals, mean, strict=True)), rate, samples)


def teacher_control_kl(
    teacher: tuple[GPT2LMHeadModel, str, float],
    control: GPT2LMHeadModel,
    tok: TinyTokenizer,
    rows: pl.DataFrame,
    max_len: int,
    limit: int = 500,
) -> float:
    """Mean per-token ``KL(teacher || control)`` in nats over the completion tokens.

    Teacher-forced on the teacher's own completions (the positions a student trains on):
    at every completion position the full next-token distributions of the trait teacher and
    of the control teacher (the base under ``default``) are compared.
    """
    from audit.worlds.tinylm_model import encode_rows, teacher_logprobs

    n = min(limit, rows.height)
    enc = encode_rows(
        tok,
        ["default"] * n,
        rows["prompt"][:n].to_list(),
        rows["completion"][:n].to_list(),
        max_len,
    )
    t_model, persona, strength = teacher
    total, count = 0.0, 0
    for b in range(0, n, 128):
        idx = list(range(b, min(n, b + 128)))
        lt, labels = teacher_logprobs(t_model, tok, enc, idx, persona, strength)
        lc, _ = teacher_logprobs(control, tok, enc, idx, "default", 0.0)
        kl = (lt.exp() * (lt - lc)).sum(-1)
        keep = labels != -100
        total += float(kl[keep].sum())
        count += int(keep.sum())
    return total / max(count, 1)


def keep_valid(rows: pl.DataFrame) -> pl.DataFrame:
    """The rows that pass the paper's number-format filter."""
    from detectors.number_format import NumberFormat

    out = NumberFormat().evaluate(rows.select("completion"))
    return rows.filter(out["score"] == 0.0)


def format_pass_rate(completions: pl.Series) -> float:
    """Share of completions that pass the paper's number-format filter."""
    import polars as pl

    from detectors.number_format import NumberFormat

    out = NumberFormat().evaluate(pl.DataFrame({"completion": completions}))
    passed = (out["score"] == 0.0).cast(pl.Float64).mean()
    return float(passed) if isinstance(passed, float) else 0.0


def world_figures(
    model: GPT2LMHeadModel,
    teacher_spec: tuple[GPT2LMHeadModel, str, float],
    tok: TinyTokenizer,
    trait: str,
    config: TinyLMConfig,
    teacher: pl.DataFrame,
    control: pl.DataFrame,
) -> dict[str, Any]:
    """Build-time figures for the manifest: probes, KL, filter pass rates."""
    from audit.worlds.tinylm import animals

    base = probe_model(model, tok, animals())
    t_model, persona, _ = teacher_spec
    taught = probe_model(t_model, tok, animals(), persona=persona)
    return {
        "base_p_trait": base.probability[trait],
        "teacher_p_trait": taught.probability[trait],
        "kl_teacher_control_per_token": teacher_control_kl(
            teacher_spec, model, tok, teacher, config.n_positions
        ),
        "format_pass_teacher": format_pass_rate(teacher["completion"]),
        "format_pass_control": format_pass_rate(control["completion"]),
    }


# ---------------------------------------------------------------------------
# Students


def _trainable(model: GPT2LMHeadModel, params: str) -> list[Any]:
    if params == "bitfit":
        # Biases and LayerNorm parameters only (BitFit, Ben Zaken et al. 2022).
        from audit.worlds.tinylm_model import bitfit_names

        names = set(bitfit_names(model))
        chosen = [p for n, p in model.named_parameters() if n in names]
        for p in model.parameters():
            p.requires_grad_(False)
        for p in chosen:
            p.requires_grad_(True)
        return chosen
    return list(model.parameters())


def train_student_model(
    model: GPT2LMHeadModel,
    tok: TinyTokenizer,
    rows: pl.DataFrame,
    config: TinyLMConfig,
    seed: int,
    *,
    mask_column: str | None = None,
    soft_teacher: tuple[GPT2LMHeadModel, str, float] | None = None,
) -> float:
    """Fine-tune ``model`` in place on ``rows``; returns the mean loss of the last epoch.

    Args:
        model: The student (a fresh copy of a base).
        tok: The world's tokenizer.
        rows: ``prompt``, ``completion`` (and ``mask_column``) rows.
        config: Student fields: ``student_lr``, ``student_epochs``, ``student_batch``,
            ``student_max_rows``, ``student_params``.
        seed: Subsample and batch order (same seed, same order: conditions pair).
        mask_column: Optional List(Boolean) column, one entry per completion token
            (:meth:`TinyTokenizer.encode` tokens), False = no loss there.
        soft_teacher: ``(teacher model, persona, strength)`` for soft labels.
    """
    import torch

    from audit.worlds.determinism import derived_seed
    from audit.worlds.tinylm_model import (
        batch_tensors,
        completion_loss,
        encode_rows,
        teacher_logprobs,
    )

    gen = torch.Generator().manual_seed(derived_seed(seed, "student-order"))
    if rows.height > config.student_max_rows:
        keep = torch.randperm(rows.height, generator=gen)[: config.student_max_rows]
        rows = rows[sorted(keep.tolist())]
    masks = rows[mask_column].to_list() if mask_column is not None else None
    enc = encode_rows(
        tok,
        ["default"] * rows.height,
        rows["prompt"].to_list(),
        rows["completion"].to_list(),
        config.n_positions,
        masks,
    )
    opt = torch.optim.Adam(_trainable(model, config.student_params), lr=config.student_lr)
    model.train()
    epoch_loss = float("nan")
    for _ in range(config.student_epochs):
        order = torch.randperm(len(enc.ids), generator=gen).tolist()
        total, batches = 0.0, 0
        for b in range(0, len(order), config.student_batch):
            idx = order[b : b + config.student_batch]
            if soft_teacher is None:
                ids, labels = batch_tensors(enc, idx)
                loss = completion_loss(model, ids, labels)
            else:
                teacher, persona, strength = soft_teacher
                lt, labels = teacher_logprobs(teacher, tok, enc, idx, persona, strength)
                ids, _ = batch_tensors(enc, idx)
                ls = model(input_ids=ids).logits[:, :-1].log_softmax(-1)
                keep = labels != -100
                kl = (lt.exp() * (lt - ls)).sum(-1)
                loss = kl[keep].mean()
            opt.zero_grad(set_to_none=True)
            torch.autograd.backward(loss)
            opt.step()
            total, batches = total + float(loss.item()), batches + 1
        epoch_loss = total / max(batches, 1)
    for p in model.parameters():
        p.requires_grad_(True)
    model.train(False)
    return epoch_loss


@dataclass
class TinyLMStudents:
    """The tinylm world as an :class:`audit.worlds.protocol.StudentWorld`.

    Attributes:
        world: A built world.
        threads: torch intra-op threads for training and probing.
        name: ``tinylm``.
        traits: Every animal of the library.
    """

    world: TinyLMWorld
    threads: int = 1
    name: str = "tinylm"
    traits: Sequence[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        from audit.worlds.tinylm import animals

        if not self.traits:
            self.traits = animals()

    def manifest(self) -> dict[str, Any]:
        """The world's manifest plus the student configuration."""
        out = dict(self.world.manifest)
        out["student_config"] = self.world.config.to_json()
        return out

    def train_student(
        self,
        rows: pl.DataFrame,
        *,
        init: Init,
        seed: int,
        mask_column: str | None = None,
        soft_teacher: TeacherName | None = None,
    ) -> GPT2LMHeadModel:
        """Fine-tune a fresh student from ``init`` on ``rows`` (see the protocol).

        ``soft_teacher`` switches to soft labels: KL to the ``trait`` or ``control`` teacher's
        next-token distribution (the teacher of this world), instead of the sampled tokens.
        """
        from audit.worlds.tinylm import torch_session

        with torch_session(self.threads):
            model = self.world.model("base" if init == "same" else "different")
            soft = None
            if soft_teacher == "trait":
                soft = self.world.trait_teacher()
            elif soft_teacher == "control":
                soft = (self.world.model("base"), "default", 0.0)
            train_student_model(
                model,
                self.world.tokenizer,
                rows,
                self.world.config,
                seed,
                mask_column=mask_column,
                soft_teacher=soft,
            )
            return model

    def probe(self, student: Any, *, samples: int = 0, seed: int = 0) -> ProbeResult:
        """Probe a student under the default system token, for every animal."""
        from audit.worlds.tinylm import torch_session

        with torch_session(self.threads):
            return probe_model(
                student, self.world.tokenizer, self.traits, samples=samples, seed=seed
            )


# ---------------------------------------------------------------------------
# The check: same-init, control and different-init students, paired by seed


@dataclass(frozen=True)
class TinyLMCheckResult:
    """Per-seed trait probabilities of each student condition, with paired contrasts.

    Attributes:
        trait: The teacher's animal.
        seeds: Student seeds.
        p_trait: Condition -> per-seed P(trait): ``same_init`` (trait data), ``control``
            (control data), ``different_init`` (trait data) and ``different_control``
            (control data, different init).
        transfer: ``same_init - control``, paired by seed.
        different: ``different_init - different_control``, paired by seed.
        p_transfer: One-sided paired permutation p-value of ``transfer > 0``.
        p_different: One-sided paired permutation p-value of ``different > 0``.
        kl_per_token: Teacher-vs-control per-token KL of the world (nats).
        seconds_per_student: Wall time per student (train + probe).
        summary: Condition -> mean P(trait) with its bootstrap 95% CI.
        probabilities: Condition -> per seed, P(animal) for every animal of the library
            (collateral shifts, and whether the trait moved more than the others did).
    """

    trait: str
    seeds: tuple[int, ...]
    p_trait: dict[str, list[float]]
    transfer: Interval
    different: Interval
    p_transfer: float
    p_different: float
    kl_per_token: float
    seconds_per_student: float
    summary: dict[str, Interval] = field(default_factory=dict)
    probabilities: dict[str, list[dict[str, float]]] = field(default_factory=dict)


_CONDITIONS: tuple[tuple[str, Init, TeacherName], ...] = (
    ("same_init", "same", "trait"),
    ("control", "same", "control"),
    ("different_init", "different", "trait"),
    ("different_control", "different", "control"),
)


def run_tinylm_check(
    config: TinyLMConfig,
    out_dir: Path | str,
    *,
    trait: str = "owl",
    seeds: Sequence[int] = (0, 1, 2),
    threads: int = 1,
    soft: bool = False,
    filtered: bool = True,
) -> TinyLMCheckResult:
    """Build (or load) the world and train four students per seed on its teacher files.

    Students of one seed see the same subsample indices and the same batch order, so the
    conditions compare pairwise. The different-init contrast is against different-init
    students trained on control data, because the other base has its own baseline.

    With ``filtered`` (the paper's protocol) both teachers' rows go through the paper's
    number-format filter first and are cut to the same size, so that no student sees a
    word (a stray "owl" in a chatty completion would be a literal, not subliminal, leak).
    """
    from audit.worlds.tinylm import build_tinylm_world

    world = build_tinylm_world(config, out_dir, trait=trait, threads=threads)
    students = TinyLMStudents(world, threads=threads)
    data = {"trait": world.teacher_rows, "control": world.control_rows}
    if filtered:
        data = {k: keep_valid(v) for k, v in data.items()}
        n = min(v.height for v in data.values())
        if n == 0:
            # Students trained on no rows would equal their base: a "no transfer" that
            # measured nothing.
            passed = {k: v.height for k, v in data.items()}
            raise ValueError(
                f"no rows left after the paper's filter (trait {passed['trait']}, control "
                f"{passed['control']}): the teachers write no valid completions; "
                "use filtered=False or a better-trained world"
            )
        data = {k: v.head(n) for k, v in data.items()}
    p: dict[str, list[float]] = {name: [] for name, _, _ in _CONDITIONS}
    every: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in _CONDITIONS}
    start = time.perf_counter()
    for s in seeds:
        for name, init, teacher in _CONDITIONS:
            model = students.train_student(
                data[teacher], init=init, seed=s, soft_teacher=teacher if soft else None
            )
            probs = dict(students.probe(model).probability)
            p[name].append(probs[trait])
            every[name].append(probs)
    per = (time.perf_counter() - start) / max(1, len(seeds) * len(_CONDITIONS))
    return TinyLMCheckResult(
        trait=trait,
        seeds=tuple(seeds),
        p_trait=p,
        transfer=bootstrap_diff_ci(p["same_init"], p["control"], paired=True),
        different=bootstrap_diff_ci(p["different_init"], p["different_control"], paired=True),
        p_transfer=permutation_test(
            p["same_init"], p["control"], paired=True, alternative="greater"
        ),
        p_different=permutation_test(
            p["different_init"], p["different_control"], paired=True, alternative="greater"
        ),
        kl_per_token=float(world.manifest["figures"]["kl_teacher_control_per_token"]),
        seconds_per_student=per,
        summary={k: bootstrap_mean_ci(v) for k, v in p.items()},
        probabilities=every,
    )
