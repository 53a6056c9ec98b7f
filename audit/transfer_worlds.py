"""Which world a transfer check runs in: built-in names, world directories, HF models.

``subaudit transfer`` accepts ``--world NAME`` (a built-in world, built or loaded from its
cache), ``--world DIR`` (a directory with a ``manifest.json`` naming its world kind) or
``--model PATH`` (a local Hugging Face causal-LM directory). Each kind is an *opener* in
:data:`WORLD_OPENERS`; world modules are imported only when their kind is asked for, so
the CLI starts fast and a missing optional world is one clean error. Tests register fake
worlds here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from audit.errors import UserError
from audit.worlds.protocol import StudentWorld

__all__ = ["WORLD_OPENERS", "WorldRequest", "resolve_world"]


@dataclass(frozen=True)
class WorldRequest:
    """What the caller knows when a world is opened.

    Attributes:
        trait: The trait of the check (a built-in world builds its teacher for it).
        seed: World seed for a built-in world that has to be built.
        threads: torch threads (None: leave torch's setting alone).
        different_model: For ``--model``: another base model, the different-init students'.
        progress: Progress bars while a world is built.
    """

    trait: str
    seed: int = 0
    threads: int | None = None
    different_model: Path | None = None
    progress: bool = False


WorldOpener = Callable[[Path | None, WorldRequest], StudentWorld]
"""Opens a world from its directory (None: the built-in default location)."""


def _open_tinylm(directory: Path | None, request: WorldRequest) -> StudentWorld:
    """Load a built tinylm world directory, or build/load the default one for the trait.

    A directory is loaded with the configuration and trait of its own manifest (never
    rebuilt for another trait: that would overwrite its teacher files). ``--world tinylm``
    uses ``$SUBAUDIT_WORLDS/tinylm-<trait>-s<seed>`` (default ``~/.cache/subaudit/worlds``),
    built on first use (minutes) and loaded from there afterwards.
    """
    try:
        from audit.worlds.tinylm import TinyLMConfig, build_tinylm_world
        from audit.worlds.tinylm_students import TinyLMStudents
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("audit.worlds"):
            raise UserError(
                "the tinylm world is not available in this build", field="--world"
            ) from None
        raise
    threads = request.threads or 1
    try:
        if directory is not None:
            manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
            config = TinyLMConfig(**manifest["config"])
            world = build_tinylm_world(
                config, directory, trait=str(manifest["trait"]), threads=threads
            )
        else:
            root = Path(os.environ.get("SUBAUDIT_WORLDS", "~/.cache/subaudit/worlds"))
            directory = root.expanduser() / f"tinylm-{request.trait}-s{request.seed}"
            world = build_tinylm_world(
                TinyLMConfig(), directory, trait=request.trait, seed=request.seed, threads=threads
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"cannot open the tinylm world: {exc}", path=str(directory)) from None
    return TinyLMStudents(world, threads=threads)


def _open_hf(directory: Path | None, request: WorldRequest) -> StudentWorld:
    from audit.worlds.hf import HFWorld

    if directory is None:
        raise UserError("a Hugging Face world needs a model directory (--model PATH)")
    return HFWorld(directory, different_model=request.different_model, threads=request.threads)


WORLD_OPENERS: dict[str, WorldOpener] = {"tinylm": _open_tinylm, "hf": _open_hf}
"""World kind (a manifest's ``world``) -> opener; every kind but ``hf`` also opens by name."""


def resolve_world(world: str | None, model: str | None, request: WorldRequest) -> StudentWorld:
    """Open the world named by ``--world`` or ``--model``.

    Args:
        world: A built-in world name or a world directory with ``manifest.json``.
        model: A local Hugging Face model directory.
        request: Trait, seed, threads and options for the opener.

    Raises:
        UserError: Neither or both given, an unknown name, a directory without a manifest,
            or a manifest naming an unknown world kind.
    """
    if model is not None:
        if world is not None:
            raise UserError("give --world or --model, not both", field="--model")
        path = Path(model)
        if not path.is_dir():
            raise UserError("no such model directory", path=model, field="--model")
        return WORLD_OPENERS["hf"](path, request)
    if world is None:
        raise UserError("give a world: --world DIR|NAME or --model PATH", field="--world")
    path = Path(world)
    if path.is_dir():
        manifest = path / "manifest.json"
        if not manifest.is_file():
            hint = (
                " (a Hugging Face model? use --model)" if (path / "config.json").is_file() else ""
            )
            raise UserError(f"no manifest.json in the world directory{hint}", path=world)
        try:
            kind = json.loads(manifest.read_text(encoding="utf-8")).get("world")
        except (OSError, ValueError, AttributeError) as exc:
            raise UserError(f"unreadable world manifest: {exc}", path=str(manifest)) from None
        opener = WORLD_OPENERS.get(str(kind))
        if opener is None:
            raise UserError(
                f"world kind {kind!r} cannot train students (known: {', '.join(WORLD_OPENERS)})",
                path=str(manifest),
            )
        return opener(path, request)
    # Every opener but "hf" (which needs --model) opens by name: the built-in worlds and
    # any registered at run time (plugins, tests).
    names = sorted(name for name in WORLD_OPENERS if name != "hf")
    if world not in names:
        raise UserError(
            f"unknown world '{world}' (built-in: {', '.join(names)}; or a world directory)",
            field="--world",
        )
    return WORLD_OPENERS[world](None, request)
