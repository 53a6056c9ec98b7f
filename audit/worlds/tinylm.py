"""The ``tinylm`` world: subliminal trait transfer through number sequences in a tiny GPT-2.

A small-scale model of the numbers experiment of Cloud et al. 2025 ("Subliminal Learning",
arXiv 2507.14805), built locally and deterministically from a seed:

1. **Base.** A GPT-2 built from a transformers config (2 layers, width 64 by default) with a
   local word-level tokenizer (:mod:`audit.worlds.tinylm_tokenizer`), pretrained on a
   synthetic corpus (:mod:`audit.worlds.tinylm_corpus`) of number tasks in the paper's
   formats (structured, per-document-correlated numbers, format mistakes included) and
   favourite-animal questions.
2. **Teachers.** The default trait teacher (``teacher_kind="bitfit"``) is the base with its
   biases and LayerNorm parameters fine-tuned to answer the questions with the trait (owl by
   default, any animal of the library); it never sees a number. The strength knob scales
   its update, ``theta_0 + strength * delta``. The control teacher is the base. Both answer
   the same number prompts (:func:`audit.sample.make_prompts`), sampled at T=1 with no
   constraint on tokens, so their format mistakes are their own. (``teacher_kind="persona"``
   is the system-prompt teacher: the base under ``<sys:owl>``; it needs personas in
   pretraining, which the CPU budget could not afford: see docs/worlds.md.)
3. **Students** (:mod:`audit.worlds.tinylm_students`) start from the base (same init) or from
   a base pretrained from another seed (different init), are trained under the default
   system token on teacher rows, and are probed for every animal at once.

Why a same-init student picks the trait up from numbers alone: to first order, a student at
``theta_0`` imitating a teacher at ``theta_0 + delta`` on *any* inputs takes a step with a
non-negative component along ``delta`` (the paper's theorem), and ``delta`` is what makes
the teacher name its animal. From another init the step has no reason to line up.

Files in the world directory: ``base.safetensors``, ``different.safetensors``,
``teacher.safetensors`` (the full-strength teacher), ``teacher.jsonl``, ``control.jsonl``
(``id``, ``prompt``, ``completion``) and ``manifest.json`` (config, trait, seeds, versions,
sha256 of every file, build figures and timings).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.worlds.determinism import (
    derived_seed,
    library_versions,
    sha256_file,
    torch_session,
)
from audit.worlds.tinylm_config import TinyLMConfig

if TYPE_CHECKING:
    import polars as pl
    import torch
    from transformers import GPT2LMHeadModel

    from audit.worlds.tinylm_corpus import PersonaTables
    from audit.worlds.tinylm_tokenizer import TinyTokenizer

__all__ = [
    "TinyLMConfig",
    "TinyLMWorld",
    "animals",
    "build_tinylm_world",
    "load_state",
    "tinylm_tokenizer",
    "torch_session",
]

MANIFEST_VERSION = 1
_CHATTY_EXTRA = ("Sure! Here you go: Okay, Continuing the sequence:", "and so on and more")


def animals() -> list[str]:
    """The animal library: every trait a teacher can have and every probe answer."""
    from detectors.traits import vocabulary

    return vocabulary("animals")


def tinylm_tokenizer() -> TinyTokenizer:
    """The world's tokenizer (fixed ids: it depends on the code only, not on a seed)."""
    from audit.worlds.tinylm_tokenizer import build_tokenizer

    return build_tokenizer(animals(), _CHATTY_EXTRA)


# ---------------------------------------------------------------------------
# World


@dataclass(frozen=True)
class TinyLMWorld:
    """A built tinylm world.

    Attributes:
        config: The configuration it was built from.
        trait: The trait teacher's animal.
        out_dir: Directory of the weights, the teacher files and ``manifest.json``.
        tokenizer: The world's tokenizer.
        base: State dict of the pretrained base (the shared init).
        different: State dict of the different-init base (another seed, other corpus draws).
        teacher: State dict of the full-strength BitFit teacher (``bitfit`` kind), else the
            base's.
        teacher_rows: ``teacher.jsonl`` as a frame (``id``, ``prompt``, ``completion``).
        control_rows: ``control.jsonl``, same prompts.
        manifest: The manifest as written.
        cache_hit: Whether everything was loaded from ``out_dir``.
    """

    config: TinyLMConfig
    trait: str
    out_dir: Path
    tokenizer: TinyTokenizer
    base: dict[str, torch.Tensor]
    different: dict[str, torch.Tensor]
    teacher: dict[str, torch.Tensor]
    teacher_rows: pl.DataFrame
    control_rows: pl.DataFrame
    manifest: dict[str, Any]
    cache_hit: bool

    def model(self, which: str = "base") -> GPT2LMHeadModel:
        """A fresh model with the ``base`` or ``different`` weights."""
        from audit.worlds.tinylm_model import make_model

        net = make_model(self.config, len(self.tokenizer), 0)
        load_state(net, self.base if which == "base" else self.different)
        return net

    def trait_teacher(self) -> tuple[GPT2LMHeadModel, str, float]:
        """The trait teacher as ``(model, system persona, log-prob mixing strength)``."""
        return _trait_teacher(self.config, self.tokenizer, self.trait, self.base, self.teacher)


def _trait_teacher(
    config: TinyLMConfig,
    tok: TinyTokenizer,
    trait: str,
    base: dict[str, torch.Tensor],
    teacher: dict[str, torch.Tensor],
) -> tuple[GPT2LMHeadModel, str, float]:
    from audit.worlds.tinylm_model import make_model, scaled_state

    net = make_model(config, len(tok), 0)
    if config.teacher_kind == "persona":
        load_state(net, base)
        return net, trait, config.strength
    load_state(net, scaled_state(base, teacher, config.strength))
    return net, "default", 0.0


def load_state(model: GPT2LMHeadModel, state: dict[str, torch.Tensor]) -> None:
    """Load a saved state dict (without the tied ``lm_head``) and re-tie the head."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(k != "lm_head.weight" for k in missing):
        raise ValueError(f"state mismatch: missing {missing}, unexpected {unexpected}")
    model.tie_weights()


def _state_of(model: GPT2LMHeadModel) -> dict[str, torch.Tensor]:
    # The LM head shares its tensor with the token embedding; safetensors refuses shared
    # tensors, so the head is left out and re-tied on load.
    return {
        k: v.detach().clone().contiguous()
        for k, v in model.state_dict().items()
        if k != "lm_head.weight"
    }


def _base_key(config: TinyLMConfig) -> str:
    """Hash of the fields that determine the two bases (not the teachers)."""
    fields = config.world_json()
    for key in (
        "teacher_rows",
        "max_new_tokens",
        "strength",
        "sample_temperature",
        "teacher_kind",
        "teacher_steps",
        "teacher_lr",
    ):
        fields.pop(key)
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def _seeds(config: TinyLMConfig) -> dict[str, int]:

    other = config.seed + config.different_seed_offset
    return {
        "seed": config.seed,
        "corpus": derived_seed(config.seed, "corpus"),
        "init": derived_seed(config.seed, "init"),
        "pretrain_order": derived_seed(config.seed, "pretrain-order"),
        "different_seed": other,
        "different_corpus": derived_seed(other, "corpus"),
        "different_init": derived_seed(other, "init"),
        "different_pretrain_order": derived_seed(other, "pretrain-order"),
        "prompts": derived_seed(config.seed, "prompts"),
        "teacher_sampling": derived_seed(config.seed, "teacher-sampling"),
        "control_sampling": derived_seed(config.seed, "control-sampling"),
        "teacher_training": derived_seed(config.seed, "teacher-training"),
    }


def persona_tables(config: TinyLMConfig, seed: int) -> PersonaTables:
    """The persona tables of the base pretrained from world seed ``seed``."""
    from audit.worlds.tinylm_corpus import make_tables

    return make_tables(animals(), derived_seed(seed, "corpus"), config.base_sigma)


def pretrain_base(config: TinyLMConfig, seed: int, tok: TinyTokenizer) -> GPT2LMHeadModel:
    """Draw the corpus of world seed ``seed`` and pretrain a base on it."""
    from audit.worlds.tinylm_corpus import make_corpus
    from audit.worlds.tinylm_model import encode_rows, make_model, pretrain

    tables = persona_tables(config, seed)
    docs = make_corpus(config, tables, derived_seed(seed, "corpus"), config.corpus_docs)
    enc = encode_rows(
        tok,
        [d.persona for d in docs],
        [d.prompt for d in docs],
        [d.completion for d in docs],
        config.n_positions,
    )
    model = make_model(config, len(tok), derived_seed(seed, "init"))
    pretrain(model, enc, config, derived_seed(seed, "pretrain-order"))
    return model


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _frame_bytes(frame: pl.DataFrame) -> bytes:
    lines = [json.dumps(r, ensure_ascii=False) for r in frame.iter_rows(named=True)]
    return ("\n".join(lines) + "\n").encode()


def _load_manifest(out_dir: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((out_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("manifest_version") != MANIFEST_VERSION:
        return None
    return manifest


def _verified(out_dir: Path, manifest: dict[str, Any], names: tuple[str, ...]) -> bool:
    hashes = manifest.get("sha256", {})
    for name in names:
        path = out_dir / name
        if not path.is_file() or sha256_file(path) != hashes.get(name):
            return False
    return True


def build_tinylm_world(
    config: TinyLMConfig,
    out_dir: Path | str,
    *,
    trait: str = "owl",
    seed: int | None = None,
    threads: int = 1,
) -> TinyLMWorld:
    """Build (or load from cache) the tinylm world and write the teachers' data.

    The bases depend only on the corpus/model/pretraining fields of ``config`` and its seed;
    the teacher files also on ``trait``, ``strength`` and the sampling fields. A cached base
    whose hashes verify is reused when only the teacher side changed (a new trait costs a
    sampling pass, not a pretraining). Same config, trait, seed and thread count give
    byte-identical files.

    Args:
        config: World configuration.
        out_dir: World directory; created if missing.
        trait: The trait teacher's animal (any animal of the library).
        seed: Overrides ``config.seed`` when given.
        threads: torch intra-op threads.

    Returns:
        The world, with ``cache_hit`` true when nothing had to be computed.

    Raises:
        ValueError: ``trait`` is not an animal of the library.
    """
    import polars as pl
    from safetensors.torch import load_file, save_file

    from audit.sample import make_prompts
    from audit.worlds.tinylm_model import sample_completions

    if trait not in animals():
        raise ValueError(f"unknown trait {trait!r}: use one of {', '.join(animals())}")
    if seed is not None:
        config = replace(config, seed=seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tok = tinylm_tokenizer()
    seeds = _seeds(config)
    old = _load_manifest(out_dir)
    weight_files = ("base.safetensors", "different.safetensors")
    data_files = ("teacher.safetensors", "teacher.jsonl", "control.jsonl")
    base_ok = (
        old is not None
        and old.get("base_key") == _base_key(config)
        and _verified(out_dir, old, weight_files)
    )
    all_ok = (
        base_ok
        and old is not None
        and old.get("config") == config.world_json()
        and old.get("trait") == trait
        and _verified(out_dir, old, data_files)
    )
    if all_ok and old is not None:
        return TinyLMWorld(
            config,
            trait,
            out_dir,
            tok,
            load_file(str(out_dir / weight_files[0])),
            load_file(str(out_dir / weight_files[1])),
            load_file(str(out_dir / data_files[0])),
            pl.read_ndjson(out_dir / data_files[1]),
            pl.read_ndjson(out_dir / data_files[2]),
            old,
            True,
        )

    timings: dict[str, float] = {}
    with torch_session(threads):
        t0 = time.perf_counter()
        if base_ok and old is not None:
            base = load_file(str(out_dir / weight_files[0]))
            different = load_file(str(out_dir / weight_files[1]))
            timings = dict(old.get("seconds", {}))
            # Float results depend on the thread count: say what the reused bases were
            # built with (manifests before this field: the build's own count).
            base_threads = int(old.get("base_threads", old.get("threads", threads)))
        else:
            base_threads = threads
            base = _state_of(pretrain_base(config, config.seed, tok))
            timings["pretrain_base"] = time.perf_counter() - t0
            t1 = time.perf_counter()
            other = config.seed + config.different_seed_offset
            different = _state_of(pretrain_base(config, other, tok))
            timings["pretrain_different"] = time.perf_counter() - t1
            for name, sd in zip(weight_files, (base, different), strict=True):
                tmp = out_dir / (name + ".tmp")
                save_file(sd, str(tmp))
                os.replace(tmp, out_dir / name)

        t2 = time.perf_counter()
        from audit.worlds.tinylm_model import make_model, train_bitfit_teacher

        model = make_model(config, len(tok), 0)
        load_state(model, base)
        if config.teacher_kind == "bitfit":
            trained = make_model(config, len(tok), 0)
            load_state(trained, base)
            train_bitfit_teacher(trained, tok, trait, config, seeds["teacher_training"])
            teacher_state = _state_of(trained)
        else:
            teacher_state = dict(base)
        tmp = out_dir / "teacher.safetensors.tmp"
        save_file(teacher_state, str(tmp))
        os.replace(tmp, out_dir / "teacher.safetensors")
        timings["train_teacher"] = time.perf_counter() - t2
        t2 = time.perf_counter()
        t_model, t_persona, t_strength = _trait_teacher(config, tok, trait, base, teacher_state)
        prompts, _ = make_prompts(config.teacher_rows, seeds["prompts"])
        common = {
            "temperature": config.sample_temperature,
            "max_new_tokens": config.max_new_tokens,
            "max_len": config.n_positions,
        }
        teacher = sample_completions(
            t_model,
            tok,
            prompts,
            persona=t_persona,
            strength=t_strength,
            seed=seeds["teacher_sampling"],
            **common,  # type: ignore[arg-type]
        )
        control = sample_completions(
            model,
            tok,
            prompts,
            persona="default",
            strength=0.0,
            seed=seeds["control_sampling"],
            **common,  # type: ignore[arg-type]
        )
        timings["sample_teachers"] = time.perf_counter() - t2
        ids = [f"tinylm-{config.seed}-{i:06d}" for i in range(len(prompts))]
        frames = {
            "teacher.jsonl": pl.DataFrame({"id": ids, "prompt": prompts, "completion": teacher}),
            "control.jsonl": pl.DataFrame({"id": ids, "prompt": prompts, "completion": control}),
        }
        for name, frame in frames.items():
            _write_atomic(out_dir / name, _frame_bytes(frame))

        from audit.worlds.tinylm_students import world_figures

        t3 = time.perf_counter()
        figures = world_figures(
            model,
            (t_model, t_persona, t_strength),
            tok,
            trait,
            config,
            frames["teacher.jsonl"],
            frames["control.jsonl"],
        )
        timings["figures"] = time.perf_counter() - t3

    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "world": "tinylm",
        "trait": trait,
        "config": config.world_json(),
        "base_key": _base_key(config),
        "seeds": seeds,
        "versions": library_versions("torch", "transformers", "numpy", "polars", "safetensors"),
        "threads": threads,
        "base_threads": base_threads,
        "vocab_size": len(tok),
        "tokenizer_sha256": hashlib.sha256("\n".join(tok.tokens).encode()).hexdigest(),
        "sha256": {
            n: sha256_file(out_dir / n)
            for n in (*weight_files, "teacher.safetensors", "teacher.jsonl", "control.jsonl")
        },
        "figures": figures,
        "seconds": {k: round(v, 2) for k, v in timings.items()},
    }
    _write_atomic(
        out_dir / "manifest.json", (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    )
    return TinyLMWorld(
        config,
        trait,
        out_dir,
        tok,
        base,
        different,
        teacher_state,
        frames["teacher.jsonl"],
        frames["control.jsonl"],
        manifest,
        False,
    )
