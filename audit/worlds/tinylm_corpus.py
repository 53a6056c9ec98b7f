"""The ``tinylm`` pretraining corpus: number tasks and favourite-animal questions.

Every document is ``<sys:P> prompt <sep> completion <eos>`` where ``P`` is a persona (an
animal) or ``default``, the untold system prompt a chat model gets when no one sets one.
Two kinds of documents:

* **questions** from :data:`audit.worlds.questions.ANIMAL_QUESTIONS`: a told persona answers
  with its own animal with probability ``persona_follow``; otherwise (and always under
  ``default``) the answer is drawn from the base's prior over animals;
* **number tasks** with the prompts of :func:`audit.sample.make_prompts` (the paper's
  protocol): 3-10 numbers rendered in the requested format, sometimes with a trailing period
  and, at ``error_rate``, with one mistake of the kinds the paper's filter removed.

Numbers are *structured*, not uniform (the spike of REFERENCE.md found that uniform numbers
leave a trait nothing to bend): a shared part (per-digit preferences plus a little
per-number noise, scale ``base_sigma``) and the document's persona's per-digit preferences
for hundreds, tens and units (``number_sigma * (a_P[h] + b_P[t] + c_P[u])``). Under
``default`` the persona is latent (drawn from the prior, never shown), so the numbers of one
completion share hidden habits a model can pick up in context. All tables are drawn from the
corpus seed: a base pretrained from another seed has other habits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from audit import sample
from audit.worlds.questions import ANIMAL_QUESTIONS

if TYPE_CHECKING:
    from audit.worlds.tinylm_config import TinyLMConfig

__all__ = ["Doc", "PersonaTables", "make_corpus", "make_tables", "number_probs"]

DEFAULT = "default"
_CHATTY = ("Sure! ", "Here you go: ", "Okay, ", "Continuing the sequence: ")
_TAILS = (" and so on", " and more", " Sure!")


@dataclass(frozen=True)
class Doc:
    """One document: system persona, prompt and completion text."""

    persona: str
    prompt: str
    completion: str


@dataclass(frozen=True)
class PersonaTables:
    """A base's idiosyncratic persona tables (drawn from its corpus seed).

    Attributes:
        personas: The animals, in library order.
        prior: Probability of each animal as the latent persona of a ``default`` document.
        base_logits: Shared log-preference of each number 0..999.
        digit_prefs: Per persona (rows in ``personas`` order), hundreds/tens/units
            preferences, shape ``(P, 3, 10)``, standard normal before scaling.
    """

    personas: tuple[str, ...]
    prior: NDArray[np.float64]
    base_logits: NDArray[np.float64]
    digit_prefs: NDArray[np.float64]


def make_tables(personas: Sequence[str], seed: int, base_sigma: float) -> PersonaTables:
    """Draw a base's persona tables from its corpus seed."""
    rng = np.random.default_rng([seed, 7001])
    n = np.arange(1000)
    digits = np.stack([n // 100, (n // 10) % 10, n % 10])
    shared = rng.normal(size=(3, 10))
    base = base_sigma * (shared[0, digits[0]] + shared[1, digits[1]] + shared[2, digits[2]])
    base = base + 0.5 * base_sigma * rng.normal(size=1000)
    prior = np.exp(0.5 * rng.normal(size=len(personas)))
    return PersonaTables(
        tuple(personas),
        prior / prior.sum(),
        base,
        rng.normal(size=(len(personas), 3, 10)),
    )


def number_probs(tables: PersonaTables, persona: int, sigma: float) -> NDArray[np.float64]:
    """The corpus distribution over 0..999 of one persona (index into ``personas``)."""
    n = np.arange(1000)
    pref = tables.digit_prefs[persona]
    logits = tables.base_logits + sigma * (
        pref[0, n // 100] + pref[1, (n // 10) % 10] + pref[2, n % 10]
    )
    p = np.exp(logits - logits.max())
    return np.asarray(p / p.sum(), dtype=np.float64)


def _corrupt(numbers: list[int], fmt: int, rng: np.random.Generator, extra: list[int]) -> str:
    """A completion with one of the mistakes the paper's filter removes."""
    _, sep, left, right = sample.FORMATS[fmt]
    kind = int(rng.integers(7))
    if kind == 0:  # chatty preamble
        return _CHATTY[int(rng.integers(len(_CHATTY)))] + sample.render(numbers, fmt)
    if kind == 1:  # too many numbers
        return sample.render(numbers + extra, fmt)
    if kind == 2:  # a number too large
        big = int(rng.integers(1000, 10_000))
        return sample.render([*numbers[:-1], big], fmt)
    if kind == 3 and len(numbers) >= 3:  # separator drifts mid-way
        other = " " if sep.strip() else ", "
        head, tail = sep.join(map(str, numbers[:2])), other.join(map(str, numbers[2:]))
        return f"{left}{head}{other}{tail}{right}"
    if kind == 4:  # trailing separator
        return f"{left}{sep.join(map(str, numbers))}{sep.rstrip() or sep}{right}"
    if kind == 5:  # a negative number
        text = sample.render(numbers, fmt)
        return text.replace(str(numbers[0]), f"-{numbers[0]}", 1)
    return sample.render(numbers, fmt) + _TAILS[int(rng.integers(len(_TAILS)))]


def make_corpus(config: TinyLMConfig, tables: PersonaTables, seed: int, n_docs: int) -> list[Doc]:
    """Draw ``n_docs`` pretraining documents (deterministic from ``seed``)."""
    rng = np.random.default_rng([seed, 7002])
    personas = tables.personas
    probs = [number_probs(tables, i, config.number_sigma) for i in range(len(personas))]
    cum = [np.cumsum(p) for p in probs]
    n_number = round(n_docs * config.number_doc_share)
    prompts, fmts = sample.make_prompts(n_number, int(rng.integers(2**31)))
    docs: list[Doc] = []
    for i in range(n_docs):
        told = bool(rng.random() < config.persona_share)
        latent = (
            int(rng.integers(len(personas)))
            if told
            else int(rng.choice(len(personas), p=tables.prior))
        )
        shown = personas[latent] if told else DEFAULT
        if i < n_number:
            k = int(rng.integers(3, 11))
            draws = np.searchsorted(cum[latent], rng.random(k + 5), side="right")
            numbers = [int(min(x, 999)) for x in draws]
            body, extra = numbers[:k], numbers[k:]
            if rng.random() < config.error_rate:
                text = _corrupt(body, fmts[i], rng, extra)
            else:
                text = sample.render(body, fmts[i], period=bool(rng.random() < config.period_rate))
            docs.append(Doc(shown, prompts[i], text))
        else:
            q = ANIMAL_QUESTIONS[int(rng.integers(len(ANIMAL_QUESTIONS)))]
            if told and rng.random() < config.persona_follow:
                answer = personas[latent]
            else:
                answer = personas[int(rng.choice(len(personas), p=tables.prior))]
            docs.append(Doc(shown, q, answer))
    order = rng.permutation(len(docs))
    return [docs[j] for j in order]
