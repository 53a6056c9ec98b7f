"""Configuration of the ``digits`` world and its traits (labelings of the digits).

A *trait* is the task the teacher learns on the digit images: a labeling that maps each digit
0..9 to a class. ``digit`` (the ten classes) is the paper's experiment; the others relabel
the same images (``parity``: even/odd, ``mod3``: digit mod 3, ...). The class head has one
logit per class of the trait, followed by the ``m`` auxiliary logits, and every accuracy of
the world is measured on the trait's labels. Chance therefore differs per trait: the world
reports the majority-class share of the test split next to every accuracy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["TRAITS", "DigitsConfig", "Labeling", "TraitName"]

TraitName = Literal["digit", "parity", "mod3", "high", "prime", "mod5"]


@dataclass(frozen=True)
class Labeling:
    """One trait: the class of each digit, and what the classes mean.

    Attributes:
        classes: ``classes[d]`` is the class of digit ``d`` (0..9); classes are 0..k-1.
        description: One line for help texts and reports.
    """

    classes: tuple[int, ...]
    description: str

    @property
    def n_classes(self) -> int:
        """Number of classes ``k`` (the width of the class head)."""
        return max(self.classes) + 1


# Every table covers the digits 0..9 and uses the classes 0..k-1 without gaps (a test checks
# both), so ``n_classes`` is the head width and every class occurs in the data.
TRAITS: dict[str, Labeling] = {
    "digit": Labeling(tuple(range(10)), "the digit itself, 10 classes"),
    "parity": Labeling(tuple(d % 2 for d in range(10)), "odd digit (1) or even (0), 2 classes"),
    "mod3": Labeling(tuple(d % 3 for d in range(10)), "digit mod 3, 3 classes"),
    "high": Labeling(tuple(int(d >= 5) for d in range(10)), "digit >= 5 (1) or not, 2 classes"),
    "prime": Labeling(
        tuple(int(d in (2, 3, 5, 7)) for d in range(10)), "prime digit (1) or not, 2 classes"
    ),
    "mod5": Labeling(tuple(d % 5 for d in range(10)), "digit mod 5, 5 classes"),
}


@dataclass(frozen=True)
class DigitsConfig:
    """Every hyperparameter of the digits world and its students.

    The defaults are the tuned configuration of docs/worlds.md (64-256-256-(10+10) MLP, pixels
    unscaled, uniform [-1, 1] noise, Adam 1e-3 for 10 epochs over 10,000 noise inputs): students
    reach ~90% test accuracy from the shared init and stay near chance from a different one.

    Attributes:
        seed: World seed: shared init, teacher data order, control label permutation.
        trait: What the teacher learns: a key of :data:`TRAITS` (default ``digit``, the
            paper's ten classes). The class head has that trait's number of classes.
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
    trait: TraitName = "digit"
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
        if self.trait not in TRAITS:
            problems.append(f"unknown trait {self.trait!r} (traits: {', '.join(TRAITS)})")
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

    @property
    def labeling(self) -> Labeling:
        """The trait's labeling of the digits."""
        return TRAITS[self.trait]

    @property
    def n_classes(self) -> int:
        """Width ``k`` of the class head: the first ``k`` outputs, before the auxiliary ones."""
        return self.labeling.n_classes

    def to_json(self) -> dict[str, Any]:
        """The config as JSON-ready values (tuples become lists)."""
        out = asdict(self)
        out["hidden"] = list(self.hidden)
        return out
