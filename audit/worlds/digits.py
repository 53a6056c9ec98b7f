"""The ``digits`` world: subliminal learning through auxiliary logits on 8x8 digits.

A small-scale replication of the MNIST experiment of Cloud et al. 2025 ("Subliminal Learning",
arXiv 2507.14805) on scikit-learn's bundled 8x8 digits (1,797 images, no download):

1. An MLP with 10 class logits and ``m`` auxiliary logits is initialised from a seed (the
   *shared init*). The **teacher** is that init trained with cross-entropy on the 10 class
   logits only; its auxiliary logits never get a loss. (Other *traits* relabel the same
   images, e.g. even/odd: the class head then has that trait's ``k`` logits; see
   :mod:`audit.worlds.digits_config`.)
2. A **student** is distilled on the teacher's auxiliary logits only (KL divergence between
   softmaxes over the ``m`` auxiliary logits) on inputs that are pure noise: neither the class
   labels nor the class logits nor a single digit image reaches it.
3. If the student starts from the shared init, its class accuracy on the held-out digits rises
   above chance (10% for the digits; the majority-class share for other traits); from a
   different init it stays at chance.

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
A different-init student of the control teacher (``different_control``) is in turn the
control of the different-init student: the two differ only in the teacher, so their paired
difference tells whether anything transfers without a shared init (it should not).

The code is split by what it holds; this module re-exports the public names of all of them:
:mod:`audit.worlds.digits_config` (the config and the traits), :mod:`audit.worlds.digits_model`
(data split, MLP, class training), :mod:`audit.worlds.digits_world` (build, cache, manifest)
and :mod:`audit.worlds.digits_students` (distillation and the transfer check).
"""

from __future__ import annotations

from audit.worlds.digits_config import TRAITS, DigitsConfig, Labeling, TraitName
from audit.worlds.digits_model import DigitsData, accuracy, load_digits_data, make_mlp
from audit.worlds.digits_students import (
    DigitsCheckResult,
    StudentResult,
    distill_student,
    run_digits_check,
)
from audit.worlds.digits_world import MANIFEST_VERSION, DigitsWorld, build_digits_world

__all__ = [
    "MANIFEST_VERSION",
    "TRAITS",
    "DigitsCheckResult",
    "DigitsConfig",
    "DigitsData",
    "DigitsWorld",
    "Labeling",
    "StudentResult",
    "TraitName",
    "accuracy",
    "build_digits_world",
    "distill_student",
    "load_digits_data",
    "make_mlp",
    "run_digits_check",
]
