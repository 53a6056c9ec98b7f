"""Export a built ``tinylm`` world's models to local Hugging Face directories.

The base-model detectors (``trait_gap``, ``divergence_tokens``, ``entangled_tokens``) load
the student's base model from a local Hugging Face directory. The tinylm world keeps its
weights as safetensors state dicts and tokenizes with its own :class:`TinyTokenizer`; this
module writes a directory those detectors (and any ``AutoModelForCausalLM`` /
``AutoTokenizer`` user) can load, with nothing downloaded:

* ``model.safetensors`` + ``config.json``: the ``GPT2LMHeadModel`` with the chosen weights
  (``base``, ``different`` or the trait ``teacher`` at the world's strength), written by
  ``save_pretrained(safe_serialization=True)``;
* ``tokenizer.json`` + ``tokenizer_config.json``: a ``PreTrainedTokenizerFast`` over a
  ``tokenizers`` ``WordLevel`` model with the world's vocabulary and ids, and a pre-tokenizer
  that splits text exactly as ``TinyTokenizer.encode`` does: a word with its optional
  leading space, a canonical number 0-999 as one piece (a digit run that is not one --
  ``1234``, ``007`` -- digit by digit), space, newline, any other single character. Pieces
  outside the vocabulary become ``<unk>``, as in the world;
* a chat template that frames a prompt as the world's documents do --
  ``<sys:default>`` + prompt + ``<sep>`` -- with an optional system turn written as a line
  of text before the prompt (the world's models were never trained on such a line: the
  tinylm base does not follow instructions, see docs/detectors.md).

The special tokens (``<pad>``, ``<bos>``, ``<eos>``, ``<sep>``, ``<unk>``, ``<sys:...>``) are
registered as special tokens, so the literal text ``<sep>`` inside a completion becomes one
token here and three pieces (``<``, unknown, ``>``) in the world: the only known
difference, absent from every world's data (:func:`tokenization_mismatches` measures it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

    from audit.worlds.tinylm import TinyLMWorld
    from audit.worlds.tinylm_tokenizer import TinyTokenizer

__all__ = [
    "CHAT_TEMPLATE",
    "PIECE_PATTERN",
    "TokenizationCheck",
    "export_tinylm_hf",
    "hf_tokenizer",
    "tokenization_mismatches",
]

Which = Literal["base", "different", "teacher"]

PIECE_PATTERN = (
    r" ?[A-Za-z]+|(?<!\p{Nd})(?:0|[1-9][0-9]{0,2})(?!\p{Nd})|\p{Nd}| |\n|[^A-Za-z\p{Nd}]"
)
"""The pre-tokenizer's pieces: ``TinyTokenizer``'s, with the digit rule folded in.

``TinyTokenizer`` takes a whole digit run and spells it digit by digit unless it is a
canonical number 0-999; here a run is one piece only when it is such a number with no
digit on either side, else each digit is a piece. Same ids, one regular expression.
"""

CHAT_TEMPLATE = (
    "<sys:default>"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] }}\n"
    "{% elif message['role'] == 'user' %}{{ message['content'] }}<sep>"
    "{% else %}{{ message['content'] }}<eos>{% endif %}"
    "{% endfor %}"
)
"""``<sys:default>`` [system line] prompt ``<sep>`` [completion ``<eos>``]: the world's framing."""

EXPORT_MANIFEST = "tinylm_export.json"


def hf_tokenizer(tok: TinyTokenizer) -> PreTrainedTokenizerFast:
    """A ``PreTrainedTokenizerFast`` with ``tok``'s vocabulary, ids and splitting.

    Args:
        tok: The world's tokenizer.

    Returns:
        The fast tokenizer (padding on the left is not set; the detectors pad themselves).
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from audit.worlds.tinylm_tokenizer import BOS, EOS, PAD, SEP, UNK

    vocab = {t: i for i, t in enumerate(tok.tokens)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(PIECE_PATTERN), behavior="isolated")
    core.decoder = decoders.Fuse()
    specials = [t for t in tok.tokens if t.startswith("<") and t.endswith(">") and len(t) > 2]
    fast = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        sep_token=SEP,
        additional_special_tokens=[t for t in specials if t not in (BOS, EOS, PAD, UNK, SEP)],
        model_max_length=10_000,
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHAT_TEMPLATE
    bad = {t: fast.convert_tokens_to_ids(t) for t in specials}
    moved = {t: i for t, i in bad.items() if i != tok.index[t]}
    if moved or len(fast) != len(tok):
        raise RuntimeError(f"special tokens changed ids: {moved} (size {len(fast)}/{len(tok)})")
    return fast


@dataclass(frozen=True)
class TokenizationCheck:
    """How often the exported tokenizer's ids differ from ``TinyTokenizer.encode``.

    Attributes:
        n_texts: Texts compared.
        n_mismatch: Texts whose id lists differ.
        examples: Up to five differing texts.
    """

    n_texts: int
    n_mismatch: int
    examples: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Share of texts whose ids differ (0.0 for no texts)."""
        return self.n_mismatch / self.n_texts if self.n_texts else 0.0

    def to_json(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "n_texts": self.n_texts,
            "n_mismatch": self.n_mismatch,
            "rate": self.rate,
            "examples": self.examples,
        }


def tokenization_mismatches(
    tok: TinyTokenizer, fast: PreTrainedTokenizerFast, texts: Iterable[str]
) -> TokenizationCheck:
    """Compare ``fast(text, add_special_tokens=False)`` with ``tok.encode(text)`` per text."""
    items = list(texts)
    bad = 0
    examples: list[str] = []
    encoded = fast(items, add_special_tokens=False)["input_ids"] if items else []
    for text, ids in zip(items, encoded, strict=True):
        if list(ids) != tok.encode(text):
            bad += 1
            if len(examples) < 5:
                examples.append(text)
    return TokenizationCheck(len(items), bad, examples)


def export_tinylm_hf(
    world: TinyLMWorld,
    out_dir: str | Path,
    *,
    which: Which = "base",
    check: bool = True,
) -> Path:
    """Write one of the world's models and its tokenizer as a Hugging Face directory.

    Args:
        world: A built world (:func:`audit.worlds.tinylm.build_tinylm_world`).
        out_dir: Directory to write (created; files in it are overwritten).
        which: ``base`` (the students' shared init: what the base-model detectors need),
            ``different`` (the different-init base) or ``teacher`` (the trait teacher at the
            world's strength; ``bitfit`` teachers only).
        check: Verify that the exported tokenizer gives ``TinyTokenizer``'s ids on every
            prompt and completion of the world's teacher and control data.

    Returns:
        ``out_dir``.

    Raises:
        ValueError: ``which`` is ``teacher`` for a ``persona`` world (its teacher is the base
            under a system token, not a weight set).
        RuntimeError: ``check`` found a text whose ids differ.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if which == "teacher":
        if world.config.teacher_kind != "bitfit":
            raise ValueError("a persona world's teacher is the base under <sys:trait>")
        model = world.trait_teacher()[0]
    elif which in ("base", "different"):
        model = world.model(which)
    else:
        raise ValueError(f"which must be base, different or teacher, got {which!r}")
    tok = world.tokenizer
    fast = hf_tokenizer(tok)
    report: dict[str, Any] = {}
    if check:
        texts = [
            *world.teacher_rows["prompt"].to_list(),
            *world.teacher_rows["completion"].to_list(),
            *world.control_rows["completion"].to_list(),
        ]
        result = tokenization_mismatches(tok, fast, (str(t) for t in texts))
        report = result.to_json()
        if result.n_mismatch:
            raise RuntimeError(
                f"exported tokenizer differs from TinyTokenizer on {result.n_mismatch} of "
                f"{result.n_texts} texts, e.g. {result.examples[0]!r}"
            )
    model.config.bos_token_id = tok.bos_id
    model.config.eos_token_id = tok.eos_id
    model.config.pad_token_id = tok.pad_id
    model.save_pretrained(out, safe_serialization=True)
    fast.save_pretrained(out)
    manifest = {
        "source": "tinylm",
        "which": which,
        "trait": world.trait,
        "strength": world.config.strength,
        "world_dir": str(world.out_dir),
        "base_key": world.manifest.get("base_key"),
        "tokenization_check": report,
    }
    (out / EXPORT_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return out
