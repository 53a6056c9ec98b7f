"""The ``digits`` world: subliminal learning through auxiliary logits on 8x8 digits.

A small-scale replication of the MNIST experiment of Cloud et al. 2025 ("Subliminal Learning",
arXiv 2507.14805) on scikit-learn's bundled 8x8 digits (1,797 images, no download):

1. An MLP with 10 class logits and ``m`` auxiliary logits is initialised from a seed (the
   *shared init*). The **teacher** is that init trained with cross-entropy on the 10 class
   logits only; its auxiliary logits never get a loss.
2. A **student** is distilled on the teacher's auxiliary logits only (KL divergence between
   softmaxes over the ``m`` auxiliary logits) on inputs that are pure noise: neither the class
   labels nor the class logits nor a single digit image reaches it.
3. If the student starts from the shared init, its class accuracy on the held-out digits rises
   above chance (10%); from a different init it stays at chance.

Why it works (the paper's theorem, to first order): let the teacher be ``θ_T = θ_0 + Δθ_T``
with a small step. A student at ``θ_0`` taking one gradient step on *any* imitation loss of the
teacher's outputs, on *any* input distribution, moves by ``Δθ_S`` with ``Δθ_S · Δθ_T >= 0``:
the student's step has a non-negative component along the teacher's. The auxiliary head is
untouched by the teacher's training, so what it reveals on noise is only the change of the
hidden features ``h_T(x) - h_0(x)``; matching it pulls the student's hidden layers toward the
teacher's, and the student's class head (still at ``θ_0``, the same as the teacher's start)
reads them out as digits. From a different init none of this lines up.

The **control** teacher is the same init trained by the same procedure on the same images with
the labels shuffled (a fixed permutation): it moved from the init as a trained model does, but
holds no digit knowledge. That is the "untraited teacher" analogue of the transfer check: the
paper's control students are trained on data of the same model and process without the trait.
The bare init would be a degenerate control here: a same-init student distilled from it starts
at zero loss with zero gradient, and only float round-off (which Adam rescales to full-size
steps) moves it; it stays at the init's accuracy and controls for nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from audit.stats import Interval, bootstrap_diff_ci, bootstrap_mean_ci, permutation_test
from audit.worlds.determinism import derived_seed, sha256_file, torch_session

if TYPE_CHECKING:
    import torch

__all__ = [
    "DigitsCheckResult",
    "DigitsConfig",
    "DigitsData",
    "DigitsWorld",
    "StudentResult",
    "accuracy",
    "build_digits_world",
    "distill_student",
    "load_digits_data",
    "make_mlp",
    "run_digits_check",
]

MANIFEST_VERSION = 1
N_CLASSES = 10
WEIGHT_FILES = ("init", "teacher", "control")


# ---------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class DigitsConfig:
    """Every hyperparameter of the digits world and its students.

    The defaults are the tuned configuration of docs/worlds.md (64-256-256-(10+10) MLP, pixels
    unscaled, uniform [-1, 1] noise, Adam 1e-3 for 10 epochs over 10,000 noise inputs): students
    reach ~90% test accuracy from the shared init and stay near chance from a different one.

    Attributes:
        seed: World seed: shared init, teacher data order, control label permutation.
        split_seed: Seed of the stratified train/test split (fixed across world seeds).
        test_fraction: Share of the 1,797 images held out for evaluation.
        scaling: Input scaling: ``raw`` (the dataset's own pixel values 0..16; best in the
            sweep of docs/worlds.md), ``standardize`` (z-score per pixel on the train split),
            ``signed`` (0..16 mapped to [-1, 1]) or ``unit`` ([0, 1]).
        hidden: Widths of the hidden layers.
        activation: Hidden activation.
        n_aux: Number of auxiliary logits ``m``.
        teacher_epochs: Epochs of class-logit training of the teacher.
        teacher_lr: Adam learning rate of the teacher.
        teacher_batch: Teacher batch size.
        student_inputs: ``noise`` (the experiment) or ``images`` (the train images without
            labels; meant as an upper bound, it transfers less than noise: docs/worlds.md).
        noise: Noise distribution of the student inputs.
        noise_low: Lower bound of uniform noise.
        noise_high: Upper bound of uniform noise.
        noise_std: Standard deviation of Gaussian noise.
        n_student_inputs: Number of noise inputs (fixed set, reused each epoch).
        student_epochs: Epochs of distillation.
        student_lr: Student learning rate.
        student_batch: Student batch size.
        student_optimizer: ``adam`` or ``sgd`` (plain, no momentum).
        loss: ``kl`` on the softmax of the auxiliary logits, or ``mse`` on the raw logits.
        temperature: Softmax temperature of the KL (the loss is scaled by ``T**2``).
    """

    seed: int = 0
    split_seed: int = 0
    test_fraction: float = 0.25
    scaling: Literal["raw", "standardize", "signed", "unit"] = "raw"
    hidden: tuple[int, ...] = (256, 256)
    activation: Literal["relu", "tanh", "gelu"] = "relu"
    n_aux: int = 10
    teacher_epochs: int = 5
    teacher_lr: float = 3e-4
    teacher_batch: int = 64
    student_inputs: Literal["noise", "images"] = "noise"
    noise: Literal["uniform", "gaussian"] = "uniform"
    noise_low: float = -1.0
    noise_high: float = 1.0
    noise_std: float = 1.0
    n_student_inputs: int = 10_000
    student_epochs: int = 10
    student_lr: float = 1e-3
    student_batch: int = 256
    student_optimizer: Literal["adam", "sgd"] = "adam"
    loss: Literal["kl", "mse"] = "kl"
    temperature: float = 1.0

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 < self.test_fraction < 1.0:
            problems.append(f"test_fraction must be in (0, 1), got {self.test_fraction}")
        if not self.hidden or min(self.hidden) < 1:
            problems.append(f"hidden needs at least one positive width, got {self.hidden}")
        # A softmax over a single logit is constant: KL on m=1 has no gradient at all.
        min_aux = 2 if self.loss == "kl" else 1
        if self.n_aux < min_aux:
            problems.append(f"n_aux must be >= {min_aux} with loss={self.loss!r}")
        for name in ("teacher_epochs", "student_epochs"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0")
        for name in ("teacher_batch", "student_batch", "n_student_inputs"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        for name in ("teacher_lr", "student_lr", "temperature", "noise_std"):
            if not getattr(self, name) > 0.0:
                problems.append(f"{name} must be > 0")
        if not self.noise_low < self.noise_high:
            problems.append("noise_low must be below noise_high")
        if problems:
            raise ValueError("invalid DigitsConfig: " + "; ".join(problems))

    def to_json(self) -> dict[str, Any]:
        """The config as JSON-ready values (tuples become lists)."""
        out = asdict(self)
        out["hidden"] = list(self.hidden)
        return out


# ---------------------------------------------------------------------------
# Data and model


@dataclass(frozen=True)
class DigitsData:
    """The scaled train/test split as float32 tensors."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    sha256: str


def load_digits_data(config: DigitsConfig) -> DigitsData:
    """Load scikit-learn's bundled digits, split (stratified) and scale as configured."""
    import numpy as np
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=config.test_fraction, random_state=config.split_seed, stratify=y
    )
    if config.scaling == "standardize":
        mean, std = x_tr.mean(axis=0), x_tr.std(axis=0)
        std[std < 1e-6] = 1.0  # border pixels that are 0 in every training image
        x_tr, x_te = (x_tr - mean) / std, (x_te - mean) / std
    elif config.scaling == "signed":
        x_tr, x_te = x_tr / 8.0 - 1.0, x_te / 8.0 - 1.0
    elif config.scaling == "unit":
        x_tr, x_te = x_tr / 16.0, x_te / 16.0
    h = hashlib.sha256()
    for arr in (x_tr, y_tr, x_te, y_te):
        h.update(np.ascontiguousarray(arr).tobytes())
    return DigitsData(
        torch.from_numpy(x_tr.astype(np.float32)),
        torch.from_numpy(y_tr),
        torch.from_numpy(x_te.astype(np.float32)),
        torch.from_numpy(y_te),
        h.hexdigest(),
    )


def make_mlp(config: DigitsConfig, init_seed: int) -> torch.nn.Sequential:
    """An MLP 64 -> hidden... -> (10 + n_aux) with weights drawn from ``init_seed``."""
    import torch
    from torch import nn

    acts: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}
    # nn.Linear draws its weights from torch's global RNG when constructed: seed it for the
    # construction only, and give the caller's RNG state back afterwards.
    rng_state = torch.random.get_rng_state()
    torch.manual_seed(init_seed)
    try:
        layers: list[nn.Module] = []
        width = 64
        for h in config.hidden:
            layers += [nn.Linear(width, h), acts[config.activation]()]
            width = h
        layers.append(nn.Linear(width, N_CLASSES + config.n_aux))
        return nn.Sequential(*layers)
    finally:
        torch.random.set_rng_state(rng_state)


def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Class accuracy from the first 10 logits (the auxiliary ones are ignored)."""
    import torch

    with torch.no_grad():
        pred = model(x)[:, :N_CLASSES].argmax(dim=1)
    return float((pred == y).float().mean())


def _train_classes(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, config: DigitsConfig, seed: int
) -> None:
    """Train on the class logits only; the auxiliary head gets no gradient at all."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=config.teacher_lr)
    for _ in range(config.teacher_epochs):
        order = torch.randperm(x.shape[0], generator=gen)
        for i in range(0, x.shape[0], config.teacher_batch):
            idx = order[i : i + config.teacher_batch]
            loss = F.cross_entropy(model(x[idx])[:, :N_CLASSES], y[idx])
            opt.zero_grad(set_to_none=True)
            torch.autograd.backward(loss)
            opt.step()


# ---------------------------------------------------------------------------
# World: shared init, teacher, control teacher; cached with a manifest


@dataclass(frozen=True)
class DigitsWorld:
    """A built digits world: the shared init, the teacher and the control teacher.

    Attributes:
        config: The configuration it was built from.
        out_dir: Cache directory holding the weights and ``manifest.json``.
        data: The scaled train/test split.
        init: State dict of the shared initialisation.
        teacher: State dict of the teacher (trained on the classes).
        control: State dict of the control teacher (same init, shuffled labels).
        manifest: The manifest as written (config, seeds, versions, hashes, accuracies).
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


def _versions() -> dict[str, str]:
    import numpy
    import safetensors
    import sklearn
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "sklearn": sklearn.__version__,
        "numpy": numpy.__version__,
        "safetensors": safetensors.__version__,
    }


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
    count). They are saved as safetensors next to a ``manifest.json`` holding the config, the
    derived seeds, library versions, the sha256 of every weight file and of the data split, and
    the test accuracies. A later call with the same config whose hashes verify loads them
    instead of training; anything else (other config, edited or missing file) rebuilds.

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
        _train_classes(teacher, data.x_train, data.y_train, config, seeds["teacher_order"])
        # Control: same init, same images, same order and steps; labels shuffled once.
        perm = torch.randperm(
            data.y_train.shape[0], generator=torch.Generator().manual_seed(seeds["control_labels"])
        )
        control = make_mlp(config, 0)
        control.load_state_dict(init.state_dict())
        _train_classes(control, data.x_train, data.y_train[perm], config, seeds["teacher_order"])
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
        manifest = {
            "manifest_version": MANIFEST_VERSION,
            "world": "digits",
            "config": config.to_json(),
            "seeds": seeds,
            "versions": _versions(),
            "threads": threads,
            "data_sha256": data.sha256,
            "sha256": hashes,
            "accuracy": {
                "init": accuracy(init, data.x_test, data.y_test),
                "teacher": accuracy(teacher, data.x_test, data.y_test),
                "control": accuracy(control, data.x_test, data.y_test),
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


# ---------------------------------------------------------------------------
# Students


@dataclass(frozen=True)
class StudentResult:
    """One distilled student.

    Attributes:
        init: ``same`` (the teacher's init) or ``different`` (an init drawn from the seed).
        teacher: Which teacher's auxiliary logits it imitated: ``trait`` or ``control``.
        seed: Student seed (inputs, batch order, and the init when ``different``).
        test_accuracy: Class accuracy on the held-out digits (chance 0.1).
        final_loss: Mean distillation loss of the last epoch.
        seconds: Wall time of the distillation.
    """

    init: Literal["same", "different"]
    teacher: Literal["trait", "control"]
    seed: int
    test_accuracy: float
    final_loss: float
    seconds: float


def _student_inputs(world: DigitsWorld, seed: int) -> torch.Tensor:
    import torch

    cfg = world.config
    if cfg.student_inputs == "images":
        return world.data.x_train
    gen = torch.Generator().manual_seed(derived_seed(seed, "noise"))
    shape = (cfg.n_student_inputs, world.data.x_train.shape[1])
    if cfg.noise == "gaussian":
        return torch.randn(shape, generator=gen) * cfg.noise_std
    return cfg.noise_low + (cfg.noise_high - cfg.noise_low) * torch.rand(shape, generator=gen)


def distill_student(
    world: DigitsWorld,
    init: Literal["same", "different"],
    seed: int,
    *,
    teacher: Literal["trait", "control"] = "trait",
    threads: int = 1,
) -> StudentResult:
    """Distil a student on a teacher's auxiliary logits only, and measure its class accuracy.

    The loss never touches the class logits: with ``loss="kl"`` it is
    ``T^2 * KL(softmax(a_T / T) || softmax(a_S / T))`` over the ``m`` auxiliary logits ``a``
    (Hinton-style scaling keeps gradient size comparable across temperatures); with ``"mse"``
    the squared error of the raw auxiliary logits. Inputs are the world's configured noise (or
    the unlabelled train images as an upper bound).

    Args:
        world: A built world.
        init: Start from the shared init (``same``) or from an init drawn from ``seed``.
        seed: Student seed: inputs, batch order and (for ``different``) the init.
        teacher: Imitate the trait teacher or the control teacher.
        threads: torch intra-op threads.

    Returns:
        The student's test accuracy and training summary.
    """
    import torch
    import torch.nn.functional as F  # noqa: N812

    cfg = world.config
    with torch_session(threads):
        start = time.perf_counter()
        source = world.model("teacher" if teacher == "trait" else "control")
        if init == "same":
            student = world.model("init")
        else:
            student = make_mlp(cfg, derived_seed(seed, "different-init"))
        x = _student_inputs(world, seed)
        with torch.no_grad():
            target = source(x)[:, N_CLASSES:]
        if cfg.student_optimizer == "sgd":
            opt: torch.optim.Optimizer = torch.optim.SGD(student.parameters(), lr=cfg.student_lr)
        else:
            opt = torch.optim.Adam(student.parameters(), lr=cfg.student_lr)
        gen = torch.Generator().manual_seed(derived_seed(seed, "student-order"))
        t = cfg.temperature
        epoch_loss = float("nan")
        for _ in range(cfg.student_epochs):
            order = torch.randperm(x.shape[0], generator=gen)
            total, batches = 0.0, 0
            for i in range(0, x.shape[0], cfg.student_batch):
                idx = order[i : i + cfg.student_batch]
                out = student(x[idx])[:, N_CLASSES:]
                if cfg.loss == "mse":
                    loss = F.mse_loss(out, target[idx])
                else:
                    loss = (t * t) * F.kl_div(
                        F.log_softmax(out / t, dim=1),
                        F.log_softmax(target[idx] / t, dim=1),
                        log_target=True,
                        reduction="batchmean",
                    )
                opt.zero_grad(set_to_none=True)
                torch.autograd.backward(loss)
                opt.step()
                total, batches = total + loss.item(), batches + 1
            epoch_loss = total / max(batches, 1)
        acc = accuracy(student, world.data.x_test, world.data.y_test)
        return StudentResult(init, teacher, seed, acc, epoch_loss, time.perf_counter() - start)


# ---------------------------------------------------------------------------
# The check: teacher, same-init, different-init and control students over seeds


@dataclass(frozen=True)
class DigitsCheckResult:
    """Per-seed test accuracies of every condition, with bootstrap CIs and contrasts.

    Attributes:
        config: The configuration (its ``seed`` is replaced by each of ``seeds``).
        seeds: World and student seeds, one per replicate.
        accuracies: Condition name -> per-seed test accuracies, for ``init``, ``teacher``,
            ``control_teacher``, ``same_init``, ``different_init`` and ``control``.
        summary: Condition name -> mean accuracy with its bootstrap 95% CI.
        same_minus_control: Paired difference same-init minus control students.
        same_minus_different: Paired difference same-init minus different-init students.
        p_same_vs_control: One-sided paired permutation p-value, same-init > control.
        p_same_vs_different: One-sided paired permutation p-value, same-init > different-init.
        seconds_per_seed: Wall time of each replicate (world build and three students).
    """

    config: DigitsConfig
    seeds: tuple[int, ...]
    accuracies: dict[str, list[float]]
    summary: dict[str, Interval]
    same_minus_control: Interval
    same_minus_different: Interval
    p_same_vs_control: float
    p_same_vs_different: float
    seconds_per_seed: list[float] = field(default_factory=list)


_STUDENT_CONDITIONS: tuple[
    tuple[str, Literal["same", "different"], Literal["trait", "control"]], ...
] = (
    ("same_init", "same", "trait"),
    ("different_init", "different", "trait"),
    ("control", "same", "control"),
)


def run_digits_check(
    config: DigitsConfig,
    seeds: tuple[int, ...] | list[int],
    *,
    out_dir: Path | None = None,
    threads: int = 1,
) -> DigitsCheckResult:
    """Run the full digits experiment over ``seeds``.

    For each seed ``s``: build the world with ``config.seed = s`` (cached under
    ``out_dir/seed-s`` when ``out_dir`` is given), then distil three students with student seed
    ``s`` (identical noise inputs and batch order, so conditions are paired by seed): same init
    from the teacher, different init from the teacher, same init from the control teacher.

    Args:
        config: World and student configuration.
        seeds: Seeds, at least one; use 3 or more for any claim.
        out_dir: Cache root for the worlds; ``None`` builds in a temporary directory.
        threads: torch intra-op threads.

    Returns:
        Per-seed accuracies, bootstrap CIs and the paired contrasts.
    """
    import dataclasses
    import tempfile

    if len(seeds) == 0:
        raise ValueError("run_digits_check needs at least one seed")
    names = ("init", "teacher", "control_teacher", "same_init", "different_init", "control")
    acc: dict[str, list[float]] = {n: [] for n in names}
    seconds: list[float] = []
    with tempfile.TemporaryDirectory(prefix="digits-") as tmp:
        root = Path(out_dir) if out_dir is not None else Path(tmp)
        for s in seeds:
            start = time.perf_counter()
            world = build_digits_world(
                dataclasses.replace(config, seed=s), root / f"seed-{s}", threads=threads
            )
            acc["init"].append(world.manifest["accuracy"]["init"])
            acc["teacher"].append(world.manifest["accuracy"]["teacher"])
            acc["control_teacher"].append(world.manifest["accuracy"]["control"])
            for name, init, teacher in _STUDENT_CONDITIONS:
                res = distill_student(world, init, s, teacher=teacher, threads=threads)
                acc[name].append(res.test_accuracy)
            seconds.append(time.perf_counter() - start)
    return DigitsCheckResult(
        config=config,
        seeds=tuple(seeds),
        accuracies=acc,
        summary={n: bootstrap_mean_ci(v) for n, v in acc.items()},
        same_minus_control=bootstrap_diff_ci(acc["same_init"], acc["control"], paired=True),
        same_minus_different=bootstrap_diff_ci(
            acc["same_init"], acc["different_init"], paired=True
        ),
        p_same_vs_control=permutation_test(
            acc["same_init"], acc["control"], paired=True, alternative="greater"
        ),
        p_same_vs_different=permutation_test(
            acc["same_init"], acc["different_init"], paired=True, alternative="greater"
        ),
        seconds_per_seed=seconds,
    )
