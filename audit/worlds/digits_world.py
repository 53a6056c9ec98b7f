"""The built ``digits`` world: shared init, teacher and control teacher, cached with a manifest."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from audit.worlds.determinism import (
    derived_seed,
    library_versions,
    sha256_file,
    torch_session,
)
from audit.worlds.digits_config import DigitsConfig
from audit.worlds.digits_model import (
    DigitsData,
    accuracy,
    load_digits_data,
    make_mlp,
    train_classes,
)

if TYPE_CHECKING:
    import torch

__all__ = ["MANIFEST_VERSION", "DigitsWorld", "build_digits_world"]

# 2: the config gained ``trait``; the manifest records ``trait``, ``n_classes`` and ``chance``.
MANIFEST_VERSION = 2
WEIGHT_FILES = ("init", "teacher", "control")


@dataclass(frozen=True)
class DigitsWorld:
    """A built digits world: the shared init, the teacher and the control teacher.

    Attributes:
        config: The configuration it was built from.
        out_dir: Cache directory holding the weights and ``manifest.json``.
        data: The scaled train/test split, labelled with the config's trait.
        init: State dict of the shared initialisation.
        teacher: State dict of the teacher (trained on the trait's classes).
        control: State dict of the control teacher (same init, shuffled labels).
        manifest: The manifest as written (config, trait, seeds, versions, hashes, chance,
            accuracies).
        cache_hit: Whether the weights were loaded from ``out_dir`` instead of trained.
    """

    config: DigitsConfig
    out_dir: Path
    data: DigitsData
    init: dict[str, torch.Tensor]
    teacher: dict[str, torch.Tensor]
    control: dict[str, torch.Tensor]
    manifest: dict[str, Any]
    cache_hit: bool

    def model(self, which: Literal["init", "teacher", "control"]) -> torch.nn.Sequential:
        """A fresh model loaded with one of the world's state dicts."""
        net = make_mlp(self.config, 0)
        net.load_state_dict(getattr(self, which))
        return net


def _seeds(config: DigitsConfig) -> dict[str, int]:
    return {
        "seed": config.seed,
        "split_seed": config.split_seed,
        "init": derived_seed(config.seed, "init"),
        "teacher_order": derived_seed(config.seed, "teacher-order"),
        "control_labels": derived_seed(config.seed, "control-labels"),
    }


def _try_load_cached(
    config: DigitsConfig, out_dir: Path, data: DigitsData
) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any]] | None:
    """Load the cached weights if the manifest matches this config and every hash verifies."""
    from safetensors.torch import load_file

    manifest_path = out_dir / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return None
    if (
        not isinstance(manifest, dict)
        or manifest.get("manifest_version") != MANIFEST_VERSION
        or manifest.get("config") != config.to_json()
        or manifest.get("data_sha256") != data.sha256
    ):
        return None
    states: dict[str, dict[str, torch.Tensor]] = {}
    for name in WEIGHT_FILES:
        path = out_dir / f"{name}.safetensors"
        if not path.is_file() or sha256_file(path) != manifest.get("sha256", {}).get(name):
            return None
        states[name] = load_file(str(path))
    return states, manifest


def build_digits_world(config: DigitsConfig, out_dir: Path, *, threads: int = 1) -> DigitsWorld:
    """Build (or load from cache) the digits world for ``config``.

    The shared init, the teacher and the control teacher are derived from ``config.seed`` only,
    so two builds of one config give bit-identical weights (same torch build, same thread
    count). The teacher learns ``config.trait``; the control teacher learns the same labels
    shuffled by a fixed permutation. They are saved as safetensors next to a ``manifest.json``
    holding the config, the trait and its number of classes, the derived seeds, library
    versions, the sha256 of every weight file and of the data split, the chance level
    (majority-class share of the test labels) and the test accuracies. A later call with the
    same config whose hashes verify loads them instead of training; anything else (other
    config, edited or missing file) rebuilds.

    Args:
        config: World configuration (its ``seed`` picks the world).
        out_dir: Cache directory; created if missing.
        threads: torch intra-op threads for training.

    Returns:
        The world, with ``cache_hit`` telling whether it was loaded.
    """
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    with torch_session(threads):
        data = load_digits_data(config)
        cached = _try_load_cached(config, out_dir, data)
        if cached is not None:
            states, manifest = cached
            return DigitsWorld(config, out_dir, data, *_unpack(states), manifest, True)

        import torch

        start = time.perf_counter()
        seeds = _seeds(config)
        init = make_mlp(config, seeds["init"])
        teacher = make_mlp(config, 0)
        teacher.load_state_dict(init.state_dict())
        train_classes(teacher, data.x_train, data.y_train, config, seeds["teacher_order"])
        # Control: same init, same images, same order and steps; labels shuffled once. The
        # shuffle keeps the class balance, so the control learns the trait's label frequencies
        # and nothing about the images.
        perm = torch.randperm(
            data.y_train.shape[0], generator=torch.Generator().manual_seed(seeds["control_labels"])
        )
        control = make_mlp(config, 0)
        control.load_state_dict(init.state_dict())
        train_classes(control, data.x_train, data.y_train[perm], config, seeds["teacher_order"])
        seconds = time.perf_counter() - start

        out_dir.mkdir(parents=True, exist_ok=True)
        states = {}
        hashes = {}
        for name, net in (("init", init), ("teacher", teacher), ("control", control)):
            sd = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
            path = out_dir / f"{name}.safetensors"
            tmp = path.with_suffix(".safetensors.tmp")
            save_file(sd, str(tmp))
            os.replace(tmp, path)
            states[name], hashes[name] = sd, sha256_file(path)

        def test_accuracy(net: torch.nn.Module) -> float:
            return accuracy(net, data.x_test, data.y_test, n_classes=data.n_classes)

        manifest = {
            "manifest_version": MANIFEST_VERSION,
            "world": "digits",
            "trait": config.trait,
            "n_classes": data.n_classes,
            "config": config.to_json(),
            "seeds": seeds,
            "versions": library_versions("torch", "sklearn", "numpy", "safetensors"),
            "threads": threads,
            "data_sha256": data.sha256,
            "sha256": hashes,
            "chance": data.chance,
            "accuracy": {
                "init": test_accuracy(init),
                "teacher": test_accuracy(teacher),
                "control": test_accuracy(control),
            },
            "build_seconds": round(seconds, 3),
        }
        tmp = out_dir / "manifest.json.tmp"
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, out_dir / "manifest.json")
        return DigitsWorld(config, out_dir, data, *_unpack(states), manifest, False)


def _unpack(
    states: dict[str, dict[str, torch.Tensor]],
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    return states["init"], states["teacher"], states["control"]
