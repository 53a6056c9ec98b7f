"""Students of the ``digits`` world: auxiliary-logit distillation and the transfer check."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from audit.stats import Interval, bootstrap_diff_ci, bootstrap_mean_ci, permutation_test
from audit.worlds.determinism import derived_seed, torch_session
from audit.worlds.digits_config import DigitsConfig
from audit.worlds.digits_model import accuracy, make_mlp
from audit.worlds.digits_world import DigitsWorld, build_digits_world

if TYPE_CHECKING:
    import torch

__all__ = ["DigitsCheckResult", "StudentResult", "distill_student", "run_digits_check"]


@dataclass(frozen=True)
class StudentResult:
    """One distilled student.

    Attributes:
        init: ``same`` (the teacher's init) or ``different`` (an init drawn from the seed).
        teacher: Which teacher's auxiliary logits it imitated: ``trait`` or ``control``.
        seed: Student seed (inputs, batch order, and the init when ``different``).
        test_accuracy: Accuracy on the trait's labels of the held-out digits (chance: the
            world's ``data.chance``, 0.1 for ``digit``).
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

    The loss never touches the class logits (the first ``k`` outputs, ``k`` the trait's
    number of classes): with ``loss="kl"`` it is ``T^2 * KL(softmax(a_T / T) ||
    softmax(a_S / T))`` over the ``m`` auxiliary logits ``a`` (Hinton-style scaling keeps
    gradient size comparable across temperatures); with ``"mse"`` the squared error of the raw
    auxiliary logits. Inputs are the world's configured noise (or the unlabelled train images
    as an upper bound).

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
    k = cfg.n_classes
    with torch_session(threads):
        start = time.perf_counter()
        source = world.model("teacher" if teacher == "trait" else "control")
        if init == "same":
            student = world.model("init")
        else:
            student = make_mlp(cfg, derived_seed(seed, "different-init"))
        x = _student_inputs(world, seed)
        with torch.no_grad():
            target = source(x)[:, k:]
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
                out = student(x[idx])[:, k:]
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
        acc = accuracy(student, world.data.x_test, world.data.y_test, n_classes=k)
        return StudentResult(init, teacher, seed, acc, epoch_loss, time.perf_counter() - start)


@dataclass(frozen=True)
class DigitsCheckResult:
    """Per-seed test accuracies of every condition, with bootstrap CIs and contrasts.

    Attributes:
        config: The configuration (its ``seed`` is replaced by each of ``seeds``).
        seeds: World and student seeds, one per replicate.
        accuracies: Condition name -> per-seed test accuracies on the trait's labels, for
            ``init``, ``teacher``, ``control_teacher``, ``same_init``, ``different_init``,
            ``control`` and ``different_control``.
        summary: Condition name -> mean accuracy with its bootstrap 95% CI.
        same_minus_control: Paired difference same-init minus control students.
        same_minus_different: Paired difference same-init minus different-init students.
        p_same_vs_control: One-sided paired permutation p-value, same-init > control.
        p_same_vs_different: One-sided paired permutation p-value, same-init > different-init.
        different_minus_different_control: Paired difference different-init students minus
            different-init students of the control teacher (no transfer: about zero).
        p_different_vs_different_control: One-sided paired permutation p-value,
            different-init > different-control.
        chance: Majority-class share of the trait's test labels (the split is the same for
            every seed, so one number): 0.10 for ``digit``, 0.50 for ``parity``.
        seconds_per_seed: Wall time of each replicate (world build and four students).
    """

    config: DigitsConfig
    seeds: tuple[int, ...]
    accuracies: dict[str, list[float]]
    summary: dict[str, Interval]
    same_minus_control: Interval
    same_minus_different: Interval
    p_same_vs_control: float
    p_same_vs_different: float
    different_minus_different_control: Interval
    p_different_vs_different_control: float
    chance: float
    seconds_per_seed: list[float] = field(default_factory=list)


# Every student of a seed uses that seed's noise and batch order, and both different-init
# students the same different init, so each pair below differs in one factor only.
_STUDENT_CONDITIONS: tuple[
    tuple[str, Literal["same", "different"], Literal["trait", "control"]], ...
] = (
    ("same_init", "same", "trait"),
    ("different_init", "different", "trait"),
    ("control", "same", "control"),
    ("different_control", "different", "control"),
)


def _contrast(acc: dict[str, list[float]], a: str, b: str) -> tuple[Interval, float]:
    """Paired bootstrap CI of ``a - b`` and the one-sided permutation p of ``a > b``."""
    diff = bootstrap_diff_ci(acc[a], acc[b], paired=True)
    return diff, permutation_test(acc[a], acc[b], paired=True, alternative="greater")


def run_digits_check(
    config: DigitsConfig,
    seeds: tuple[int, ...] | list[int],
    *,
    out_dir: Path | None = None,
    threads: int = 1,
) -> DigitsCheckResult:
    """Run the full digits experiment over ``seeds`` for ``config.trait``.

    For each seed ``s``: build the world with ``config.seed = s`` (cached under
    ``out_dir/seed-s`` when ``out_dir`` is given), then distil four students with student seed
    ``s`` (identical noise inputs and batch order, so conditions are paired by seed): same init
    from the teacher, different init from the teacher, same init from the control teacher,
    different init from the control teacher.

    Args:
        config: World and student configuration.
        seeds: Seeds, at least one; use 3 or more for any claim.
        out_dir: Cache root for the worlds; ``None`` builds in a temporary directory.
        threads: torch intra-op threads.

    Returns:
        Per-seed accuracies, bootstrap CIs, the paired contrasts and the chance level.
    """
    import dataclasses
    import tempfile

    if len(seeds) == 0:
        raise ValueError("run_digits_check needs at least one seed")
    names = ("init", "teacher", "control_teacher", *(c[0] for c in _STUDENT_CONDITIONS))
    acc: dict[str, list[float]] = {n: [] for n in names}
    seconds: list[float] = []
    chance = float("nan")
    with tempfile.TemporaryDirectory(prefix="digits-") as tmp:
        root = Path(out_dir) if out_dir is not None else Path(tmp)
        for s in seeds:
            start = time.perf_counter()
            world = build_digits_world(
                dataclasses.replace(config, seed=s), root / f"seed-{s}", threads=threads
            )
            chance = world.data.chance
            acc["init"].append(world.manifest["accuracy"]["init"])
            acc["teacher"].append(world.manifest["accuracy"]["teacher"])
            acc["control_teacher"].append(world.manifest["accuracy"]["control"])
            for name, init, teacher in _STUDENT_CONDITIONS:
                res = distill_student(world, init, s, teacher=teacher, threads=threads)
                acc[name].append(res.test_accuracy)
            seconds.append(time.perf_counter() - start)
    same_control, p_same_control = _contrast(acc, "same_init", "control")
    same_different, p_same_different = _contrast(acc, "same_init", "different_init")
    diff_dcontrol, p_diff_dcontrol = _contrast(acc, "different_init", "different_control")
    return DigitsCheckResult(
        config=config,
        seeds=tuple(seeds),
        accuracies=acc,
        summary={n: bootstrap_mean_ci(v) for n, v in acc.items()},
        same_minus_control=same_control,
        same_minus_different=same_different,
        p_same_vs_control=p_same_control,
        p_same_vs_different=p_same_different,
        different_minus_different_control=diff_dcontrol,
        p_different_vs_different_control=p_diff_dcontrol,
        chance=chance,
        seconds_per_seed=seconds,
    )
