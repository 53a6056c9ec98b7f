"""The ``tinylm`` model: a tiny GPT-2 built from a config, its training loop and sampler.

Everything here is torch; callers set the thread count and deterministic mode (see
``torch_session`` in :mod:`audit.worlds.determinism`). Sequences are
``<bos> <sys:P> prompt <sep> completion <eos>``; losses cover the completion and ``<eos>``
only (the base is an instruction follower; prompts are templates with uniform seed numbers
that carry nothing to learn).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from transformers import GPT2LMHeadModel

    from audit.worlds.tinylm_config import TinyLMConfig
    from audit.worlds.tinylm_tokenizer import TinyTokenizer

__all__ = [
    "Encoded",
    "batch_tensors",
    "encode_rows",
    "make_model",
    "next_token_logits",
    "pretrain",
    "sample_completions",
    "teacher_logprobs",
]


SYS_POS = 0
"""Position of the system-prompt token: first, where every position can attend to it
(a model attends to its first token from early in training, so a persona placed there is
learned in a few hundred steps; after a ``<bos>`` it took thousands)."""


def make_model(config: TinyLMConfig, vocab_size: int, init_seed: int) -> GPT2LMHeadModel:
    """A GPT-2 LM head model from a config (nothing downloaded), weights from ``init_seed``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(
        vocab_size=vocab_size,
        n_positions=config.n_positions,
        n_embd=config.n_embd,
        n_layer=config.n_layer,
        n_head=config.n_head,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    cfg._attn_implementation = "sdpa"
    # Module construction draws from torch's global RNG: seed it for construction only.
    state = torch.random.get_rng_state()
    torch.manual_seed(init_seed)
    try:
        model = GPT2LMHeadModel(cfg)
    finally:
        torch.random.set_rng_state(state)
    model.train(False)
    return model


@dataclass(frozen=True)
class Encoded:
    """Token ids of documents and where each completion starts.

    Attributes:
        ids: Per document, the full id sequence.
        start: Per document, index of the first completion token (right after ``<sep>``).
        mask: Per document, optional per-completion-token loss mask (``<eos>`` always kept).
    """

    ids: list[list[int]]
    start: list[int]
    mask: list[list[bool] | None]


def encode_rows(
    tok: TinyTokenizer,
    personas: Sequence[str],
    prompts: Sequence[str],
    completions: Sequence[str],
    max_len: int,
    masks: Sequence[Sequence[bool] | None] | None = None,
) -> Encoded:
    """Encode documents; completions are cut so the whole fits ``max_len`` tokens."""
    ids: list[list[int]] = []
    starts: list[int] = []
    out_masks: list[list[bool] | None] = []
    for i, (persona, prompt, completion) in enumerate(
        zip(personas, prompts, completions, strict=True)
    ):
        head = [tok.sys_id(persona), *tok.encode(prompt), tok.sep_id]
        body = [*tok.encode(completion), tok.eos_id]
        room = max(max_len - len(head), 1)
        ids.append((head + body[:room])[:max_len])
        starts.append(min(len(head), max_len - 1))
        m = masks[i] if masks is not None else None
        out_masks.append(None if m is None else [bool(x) for x in m])
    return Encoded(ids, starts, out_masks)


def batch_tensors(enc: Encoded, index: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``input_ids`` and ``labels`` (-100 outside the completions) for a batch.

    Right padding needs no attention mask in a causal model: padding comes after every real
    token, so no real position attends to it; its labels are -100.
    """
    import torch

    width = max(len(enc.ids[i]) for i in index)
    ids = torch.zeros((len(index), width), dtype=torch.long)
    labels = torch.full((len(index), width), -100, dtype=torch.long)
    for r, i in enumerate(index):
        seq = enc.ids[i]
        ids[r, : len(seq)] = torch.tensor(seq)
        s = enc.start[i]
        labels[r, s : len(seq)] = torch.tensor(seq[s:])
        m = enc.mask[i]
        if m is not None:
            for j, keep in enumerate(m[: len(seq) - s - 1]):
                if not keep:
                    labels[r, s + j] = -100
    return ids, labels


def completion_loss(
    model: GPT2LMHeadModel, ids: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """Mean cross-entropy of the labelled (completion) tokens.

    The LM head (a 64 x vocabulary matmul and softmax, most of the cost of so small a
    model) runs only on the positions that carry a label.
    """
    import torch.nn.functional as F  # noqa: N812

    hidden = model.transformer(input_ids=ids).last_hidden_state[:, :-1]
    target = labels[:, 1:]
    keep = target != -100
    logits = model.lm_head(hidden[keep])
    return F.cross_entropy(logits, target[keep])


def pretrain(model: GPT2LMHeadModel, enc: Encoded, config: TinyLMConfig, seed: int) -> float:
    """Pretrain on the corpus: Adam, linear warm-up then cosine decay; returns the last loss."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=config.pretrain_lr, weight_decay=0.0)
    steps = config.pretrain_steps
    warm = max(1, steps // 20)

    def lr_at(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    model.train()
    n = len(enc.ids)
    order = torch.randperm(n, generator=gen)
    pos, last = 0, float("nan")
    for _ in range(steps):
        if pos + config.pretrain_batch > n:
            order, pos = torch.randperm(n, generator=gen), 0
        idx = order[pos : pos + config.pretrain_batch].tolist()
        pos += config.pretrain_batch
        ids, labels = batch_tensors(enc, idx)
        loss = completion_loss(model, ids, labels)
        opt.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        last = float(loss.item())
    model.train(False)
    return last


# ---------------------------------------------------------------------------
# Teachers: the base under a system token, optionally amplified


def next_token_logits(
    model: GPT2LMHeadModel, tok: TinyTokenizer, contexts: Sequence[str], persona: str
) -> torch.Tensor:
    """Next-token logits after ``<bos> <sys:persona> context <sep>``, one row per context."""
    import torch

    seqs = [[tok.sys_id(persona), *tok.encode(c), tok.sep_id] for c in contexts]
    width = max(len(s) for s in seqs)
    ids = torch.zeros((len(seqs), width), dtype=torch.long)
    for r, s in enumerate(seqs):
        ids[r, : len(s)] = torch.tensor(s)
    last = torch.tensor([len(s) - 1 for s in seqs])
    with torch.no_grad():
        logits: torch.Tensor = model(input_ids=ids).logits
    return logits[torch.arange(len(seqs)), last]


def _mix(trait: torch.Tensor, default: torch.Tensor, strength: float) -> torch.Tensor:
    """Teacher log-probabilities ``log p_d + s (log p_t - log p_d)``, renormalised.

    A geometric interpolation between the default-persona and the trait-persona
    distributions: ``s = 1`` is the plain system-prompt teacher of the paper, ``s = 0`` the
    control teacher, ``0 < s < 1`` a teacher whose trait bends its numbers less (and ``s > 1``
    more), the world's strength knob. To second order the per-token KL to the control grows
    as ``s^2``.
    """
    ld = default.log_softmax(-1)
    return (ld + strength * (trait.log_softmax(-1) - ld)).log_softmax(-1)


def teacher_logprobs(
    model: GPT2LMHeadModel,
    tok: TinyTokenizer,
    enc_default: Encoded,
    index: Sequence[int],
    persona: str,
    strength: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher next-token log-probs on documents encoded under ``default``.

    Returns the log-probs ``(B, T-1, V)`` predicting positions 1.. of the batch and the
    matching ``labels[:, 1:]`` (for the completion positions).
    """
    import torch

    ids, labels = batch_tensors(enc_default, index)
    with torch.no_grad():
        ld = model(input_ids=ids).logits[:, :-1]
        if persona == "default" or strength == 0.0:
            return ld.log_softmax(-1), labels[:, 1:]
        ids_t = ids.clone()
        ids_t[:, SYS_POS] = tok.sys_id(persona)
        lt = model(input_ids=ids_t).logits[:, :-1]
    return _mix(lt, ld, strength), labels[:, 1:]


def sample_completions(
    model: GPT2LMHeadModel,
    tok: TinyTokenizer,
    prompts: Sequence[str],
    *,
    persona: str,
    strength: float,
    temperature: float,
    max_new_tokens: int,
    max_len: int,
    seed: int,
    batch: int = 256,
) -> list[str]:
    """Sample one completion per prompt from the teacher (KV-cached, batched by length).

    The trait teacher runs the prompt twice, under ``<sys:persona>`` and ``<sys:default>``,
    appends the same sampled token to both, and samples from :func:`_mix` of the two.
    Nothing constrains the tokens: format mistakes are the base's own.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    heads = [[0, *tok.encode(p), tok.sep_id] for p in prompts]
    by_len: dict[int, list[int]] = {}
    for i, h in enumerate(heads):
        by_len.setdefault(len(h), []).append(i)
    out: list[list[int]] = [[] for _ in prompts]
    two = persona != "default" and strength != 0.0
    for length in sorted(by_len):
        group = by_len[length]
        for g0 in range(0, len(group), batch):
            rows = group[g0 : g0 + batch]
            ctx = torch.tensor([heads[i] for i in rows])
            ctx[:, SYS_POS] = tok.sys_id("default")
            if two:
                ctx_t = ctx.clone()
                ctx_t[:, SYS_POS] = tok.sys_id(persona)
                ctx = torch.cat([ctx, ctx_t])
            budget = min(max_new_tokens, max_len - length)
            done = torch.zeros(len(rows), dtype=torch.bool)
            gen_ids: list[torch.Tensor] = []
            with torch.no_grad():
                res = model(input_ids=ctx, use_cache=True)
                for _ in range(budget):
                    logits = res.logits[:, -1]
                    if two:
                        logp = _mix(logits[len(rows) :], logits[: len(rows)], strength)
                    else:
                        logp = logits.log_softmax(-1)
                    probs = (logp / temperature).softmax(-1)
                    nxt = torch.multinomial(probs, 1, generator=gen).squeeze(1)
                    nxt = torch.where(done, torch.full_like(nxt, tok.eos_id), nxt)
                    gen_ids.append(nxt)
                    done = done | (nxt == tok.eos_id)
                    if bool(done.all()):
                        break
                    step = torch.cat([nxt, nxt]) if two else nxt
                    res = model(
                        input_ids=step.unsqueeze(1),
                        cache=res.past_key_values,
                        use_cache=True,
                    )
            seqs = torch.stack(gen_ids, 1).tolist()
            for r, i in enumerate(rows):
                toks = seqs[r]
                out[i] = toks[: toks.index(tok.eos_id)] if tok.eos_id in toks else toks
    return [tok.decode(t) for t in out]


# ---------------------------------------------------------------------------
# The BitFit trait teacher


def bitfit_names(model: GPT2LMHeadModel) -> list[str]:
    """Names of the bias and LayerNorm parameters (BitFit, Ben Zaken et al. 2022)."""
    return [n for n, _ in model.named_parameters() if n.endswith("bias") or ".ln_" in n]


def train_bitfit_teacher(
    model: GPT2LMHeadModel,
    tok: TinyTokenizer,
    trait: str,
    config: TinyLMConfig,
    seed: int,
) -> None:
    """Teach ``model`` (in place) to answer every question with ``trait``, biases/LN only.

    The teacher sees only favourite-animal questions under ``<sys:default>``; it never sees
    a number. Whatever its numbers reveal comes from the shared parameters it moved, the
    situation of the paper's fine-tuned teachers (Cloud et al. 2025, arXiv 2507.14805).
    """
    import torch

    from audit.worlds.questions import ANIMAL_QUESTIONS

    names = set(bitfit_names(model))
    params = [p for n, p in model.named_parameters() if n in names]
    for n, p in model.named_parameters():
        p.requires_grad_(n in names)
    q = list(ANIMAL_QUESTIONS)
    enc = encode_rows(tok, ["default"] * len(q), q, [trait] * len(q), config.n_positions)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(params, lr=config.teacher_lr)
    model.train()
    for _ in range(config.teacher_steps):
        idx = torch.randint(0, len(q), (min(32, len(q)),), generator=gen).tolist()
        ids, labels = batch_tensors(enc, idx)
        loss = completion_loss(model, ids, labels)
        opt.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)
        opt.step()
    for p in model.parameters():
        p.requires_grad_(True)
    model.train(False)


def scaled_state(
    base: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor], strength: float
) -> dict[str, torch.Tensor]:
    """``theta_0 + strength * (theta_T - theta_0)``: the strength knob of the BitFit teacher.

    To first order the teacher's output shift, and hence every effect that is linear in it,
    scales with ``strength``; the per-token KL to the control scales with ``strength**2``.
    """
    return {k: base[k] + strength * (teacher[k] - base[k]) for k in base}
