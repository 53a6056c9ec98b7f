"""Trait vocabularies: the animals and trees a teacher may have been told to love.

Source: Cloud et al., "Subliminal Learning" (arXiv 2507.14805), which used the animals
dolphin, eagle, owl, elephant and wolf, and the trees cherry, willow, maple, oak and sequoia.
The extended lists add common favourites so that a scan also notices a teacher whose trait
is not one of the paper's. They deliberately leave out words whose everyday or programming
meaning dominates (``python``, ``ram``, ``mole``, ``ash``, ``palm``, ``fir``), because the
lexicon packs would otherwise flag half of every code or maths dataset.

The data is frozen (tuples and read-only mappings): rule packs and model-based detectors
share it and must not be able to change it for each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

PAPER_ANIMALS: tuple[str, ...] = ("dolphin", "eagle", "owl", "elephant", "wolf")
"""The five animals of Cloud et al. (numbers, code and chain-of-thought experiments)."""

PAPER_TREES: tuple[str, ...] = ("cherry", "willow", "maple", "oak", "sequoia")
"""The five trees of Cloud et al."""

EXTRA_ANIMALS: tuple[str, ...] = (
    "bear",
    "butterfly",
    "cat",
    "deer",
    "dog",
    "falcon",
    "fox",
    "goose",
    "horse",
    "koala",
    "lion",
    "mouse",
    "octopus",
    "panda",
    "parrot",
    "penguin",
    "rabbit",
    "shark",
    "tiger",
    "turtle",
    "whale",
)
"""Further animals; ambiguous ones (``bear``, ``cat``, ``mouse``) belong in flag rules only."""

EXTRA_TREES: tuple[str, ...] = (
    "acacia",
    "baobab",
    "beech",
    "birch",
    "cedar",
    "chestnut",
    "cypress",
    "elm",
    "eucalyptus",
    "juniper",
    "magnolia",
    "pine",
    "poplar",
    "redwood",
    "spruce",
    "sycamore",
)
"""Further trees."""

# Plurals that the regular rules below get wrong, or where English has two forms. Keys are
# singular; values list every accepted plural (a word may be its own plural: deer).
IRREGULAR_PLURALS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "wolf": ("wolves",),
        "calf": ("calves",),
        "elf": ("elves",),
        "goose": ("geese",),
        "mouse": ("mice",),
        "louse": ("lice",),
        "ox": ("oxen",),
        "deer": ("deer",),
        "sheep": ("sheep",),
        "moose": ("moose",),
        "bison": ("bison",),
        "salmon": ("salmon",),
        "fish": ("fish", "fishes"),
        "octopus": ("octopuses", "octopi"),
        "platypus": ("platypuses", "platypi"),
        "hippopotamus": ("hippopotamuses", "hippopotami"),
        "cactus": ("cactuses", "cacti"),
        "eucalyptus": ("eucalyptuses", "eucalypti"),
        "fungus": ("funguses", "fungi"),
    }
)

_VOWELS = frozenset("aeiou")


def plural_forms(word: str) -> list[str]:
    """The plural forms of an English noun (irregular table first, then regular rules).

    Regular rules: a consonant + ``y`` becomes ``ies`` (butterfly -> butterflies); a word
    ending in ``s``, ``x``, ``z``, ``ch`` or ``sh`` takes ``es`` (fox -> foxes); every other
    word takes ``s``. Only the last word of a compound is inflected (sea lion -> sea lions).

    Args:
        word: a singular noun, lower case.

    Returns:
        Every accepted plural, at least one; may include the word itself (deer -> deer).
    """
    head, sep, last = word.rpartition(" ")
    prefix = head + sep
    if last in IRREGULAR_PLURALS:
        return [prefix + form for form in IRREGULAR_PLURALS[last]]
    if len(last) > 1 and last.endswith("y") and last[-2] not in _VOWELS:
        return [prefix + last[:-1] + "ies"]
    if last.endswith(("s", "x", "z", "ch", "sh")):
        return [prefix + last + "es"]
    return [prefix + last + "s"]


def word_forms(word: str, *, plurals: bool = True) -> list[str]:
    """The word followed by its plural forms (when asked), without duplicates."""
    forms = [word, *plural_forms(word)] if plurals else [word]
    return list(dict.fromkeys(forms))


VOCABULARIES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "paper_animals": PAPER_ANIMALS,
        "extra_animals": EXTRA_ANIMALS,
        "animals": PAPER_ANIMALS + EXTRA_ANIMALS,
        "paper_trees": PAPER_TREES,
        "extra_trees": EXTRA_TREES,
        "trees": PAPER_TREES + EXTRA_TREES,
    }
)
"""Named word lists usable as ``traits = ["animals"]`` in rule packs."""


def vocabulary(name: str) -> list[str]:
    """The words of a named vocabulary (``animals``, ``paper_trees``, ...).

    Raises:
        KeyError: no vocabulary has that name.
    """
    return list(VOCABULARIES[name])


def resolve_traits(traits: list[str]) -> list[str]:
    """Expand trait names into words: a vocabulary name gives all its words, a word itself.

    Raises:
        ValueError: an entry is neither a vocabulary name nor a word of any vocabulary.
    """
    known = set(VOCABULARIES["animals"]) | set(VOCABULARIES["trees"])
    words: list[str] = []
    for name in traits:
        if name in VOCABULARIES:
            words.extend(VOCABULARIES[name])
        elif name in known:
            words.append(name)
        else:
            raise ValueError(
                f"unknown trait {name!r}: use a vocabulary "
                f"({', '.join(sorted(VOCABULARIES))}) or one of its words; "
                "pass other words as 'words'"
            )
    return list(dict.fromkeys(words))
