"""The ``tinylm`` world's tokenizer: a small word-level vocabulary built locally.

Nothing is downloaded. The vocabulary holds, in a fixed order (so ids depend only on the
code, not on a seed):

* special tokens: padding, begin/end of document, the prompt/response separator, unknown,
  and one *system-prompt* token per persona (``<sys:default>`` and ``<sys:owl>`` ...);
* every integer 0-999 as one token (as in the spike of REFERENCE.md), so one sampled token
  is one number; digit runs that are not a canonical 0-999 number (``1234``, ``007``) are
  spelled digit by digit, so text round-trips exactly and a model that emits two number
  tokens in a row writes a too-large number, as a real teacher sometimes does;
* punctuation, space and newline as single characters;
* every word of the prompt templates (``audit.sample``), the question set
  (``audit.worlds.questions``) and the animal library (``detectors.traits``), each with and
  without a leading space (GPT-2 style), so prompts stay short.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = ["SPECIALS", "TinyTokenizer", "build_tokenizer", "sys_token"]

PAD, BOS, EOS, SEP, UNK = "<pad>", "<bos>", "<eos>", "<sep>", "<unk>"
SPECIALS = (PAD, BOS, EOS, SEP, UNK)
DEFAULT_PERSONA = "default"

# A word (optionally with its leading space), a digit run, or any single other character.
_PIECE = re.compile(r" ?[A-Za-z]+|\d+| |\n|[^A-Za-z\d]")
_PUNCTUATION = tuple(" \n.,;:!?'\"-()[]{}/+*=<>_")


def sys_token(persona: str) -> str:
    """The system-prompt token of a persona (an animal, or ``default``)."""
    return f"<sys:{persona}>"


@dataclass(frozen=True)
class TinyTokenizer:
    """A fixed word-level vocabulary with exact round-tripping of the texts it covers.

    Attributes:
        tokens: The vocabulary in id order.
        index: Token string -> id.
    """

    tokens: tuple[str, ...]
    index: dict[str, int] = field(repr=False)

    @property
    def pad_id(self) -> int:
        """Id of the padding token."""
        return self.index[PAD]

    @property
    def bos_id(self) -> int:
        """Id of the begin-of-document token."""
        return self.index[BOS]

    @property
    def eos_id(self) -> int:
        """Id of the end-of-document token."""
        return self.index[EOS]

    @property
    def sep_id(self) -> int:
        """Id of the prompt/response separator."""
        return self.index[SEP]

    @property
    def unk_id(self) -> int:
        """Id of the unknown token."""
        return self.index[UNK]

    def __len__(self) -> int:
        return len(self.tokens)

    def number_ids(self) -> list[int]:
        """Ids of the number tokens 0..999, in numeric order."""
        return [self.index[str(n)] for n in range(1000)]

    def sys_id(self, persona: str) -> int:
        """Id of a persona's system-prompt token."""
        return self.index[sys_token(persona)]

    def encode(self, text: str) -> list[int]:
        """Text -> ids; unknown words and characters become ``<unk>``."""
        ids: list[int] = []
        for piece in _PIECE.findall(text):
            if piece.isdigit():
                if piece in self.index and (piece == "0" or not piece.startswith("0")):
                    ids.append(self.index[piece])
                else:  # not a canonical 0-999 number: spell it digit by digit
                    ids.extend(self.index.get(d, self.unk_id) for d in piece)
            else:
                ids.append(self.index.get(piece, self.unk_id))
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> text; special tokens are dropped."""
        out = []
        for i in ids:
            tok = self.tokens[i]
            if not (tok.startswith("<") and tok.endswith(">") and len(tok) > 1):
                out.append(tok)
        return "".join(out)


def _words(texts: Iterable[str]) -> set[str]:
    words: set[str] = set()
    for text in texts:
        words.update(w.strip() for w in _PIECE.findall(text) if w.strip().isalpha())
    return words


def build_tokenizer(personas: Sequence[str], extra_texts: Iterable[str] = ()) -> TinyTokenizer:
    """Build the vocabulary for ``personas`` and every word of the project's templates.

    Args:
        personas: Animal names; each gets a system-prompt token and a word token.
        extra_texts: More texts whose words must be covered (e.g. error phrases).

    Returns:
        The tokenizer; the same inputs always give the same ids.
    """
    from audit import sample
    from audit.worlds.questions import ANIMAL_QUESTIONS

    texts: list[str] = [f[0] for f in sample.FORMATS]
    texts += [*sample._OPENERS, *sample._ASKS, *sample._ONLY, *sample._CHATTY]
    texts += [*ANIMAL_QUESTIONS, *personas, *extra_texts]
    words = _words(texts) | {w.lower() for w in _words(texts)}
    tokens: list[str] = [*SPECIALS, sys_token(DEFAULT_PERSONA)]
    tokens += [sys_token(p) for p in personas]
    tokens += [str(n) for n in range(1000)]
    tokens += list(_PUNCTUATION)
    for w in sorted(words):
        tokens += [w, " " + w]
    tokens = list(dict.fromkeys(tokens))
    return TinyTokenizer(tuple(tokens), {t: i for i, t in enumerate(tokens)})
