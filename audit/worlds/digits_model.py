"""Data and model of the ``digits`` world: the labelled split, the MLP, class training."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from audit.worlds.digits_config import DigitsConfig

if TYPE_CHECKING:
    import torch

__all__ = ["DigitsData", "accuracy", "load_digits_data", "make_mlp", "train_classes"]


@dataclass(frozen=True)
class DigitsData:
    """The scaled train/test split as tensors, labelled with the config's trait.

    Attributes:
        x_train: Train images, float32, one row of 64 pixels each.
        y_train: Train labels of the trait (the digits themselves for ``digit``).
        x_test: Test images.
        y_test: Test labels of the trait.
        sha256: Hash of the scaled images, the digit labels and (for any other trait) the
            trait's labels: it pins what the world was trained and evaluated on.
        digits_train: The digit (0..9) of each train image.
        digits_test: The digit of each test image.
        n_classes: Number of classes of the trait.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    sha256: str
    digits_train: torch.Tensor
    digits_test: torch.Tensor
    n_classes: int

    @property
    def chance(self) -> float:
        """Majority-class share of the test labels: what always answering one class scores."""
        import torch

        counts = torch.bincount(self.y_test, minlength=self.n_classes)
        return float(counts.max()) / float(self.y_test.shape[0])


def load_digits_data(config: DigitsConfig) -> DigitsData:
    """Load scikit-learn's bundled digits, split (stratified) and scale as configured.

    The split is stratified by digit whatever the trait, so every trait sees the same images
    in the same split; only the labels differ.
    """
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
    table = np.asarray(config.labeling.classes, dtype=np.int64)
    t_tr, t_te = table[y_tr], table[y_te]
    h = hashlib.sha256()
    for arr in (x_tr, y_tr, x_te, y_te):
        h.update(np.ascontiguousarray(arr).tobytes())
    # The digit trait's labels are the digits: hashing them again would change the hash the
    # default worlds have always had. Any other trait adds its labels.
    if config.trait != "digit":
        h.update(config.trait.encode())
        for arr in (t_tr, t_te):
            h.update(np.ascontiguousarray(arr).tobytes())
    return DigitsData(
        x_train=torch.from_numpy(x_tr.astype(np.float32)),
        y_train=torch.from_numpy(t_tr),
        x_test=torch.from_numpy(x_te.astype(np.float32)),
        y_test=torch.from_numpy(t_te),
        sha256=h.hexdigest(),
        digits_train=torch.from_numpy(y_tr),
        digits_test=torch.from_numpy(y_te),
        n_classes=config.n_classes,
    )


def make_mlp(config: DigitsConfig, init_seed: int) -> torch.nn.Sequential:
    """An MLP 64 -> hidden... -> (k + n_aux) with weights drawn from ``init_seed``.

    ``k`` is the trait's number of classes. The hidden layers are drawn first, so one seed
    gives the same hidden layers for every trait; only the last layer's shape differs.
    """
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
        layers.append(nn.Linear(width, config.n_classes + config.n_aux))
        return nn.Sequential(*layers)
    finally:
        torch.random.set_rng_state(rng_state)


def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, n_classes: int) -> float:
    """Class accuracy from the first ``n_classes`` logits (the auxiliary ones are ignored).

    ``n_classes`` has no default on purpose: a default of 10 would silently read auxiliary
    logits as classes for any trait with fewer classes.
    """
    import torch

    with torch.no_grad():
        pred = model(x)[:, :n_classes].argmax(dim=1)
    return float((pred == y).float().mean())


def train_classes(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, config: DigitsConfig, seed: int
) -> None:
    """Train on the class logits only; the auxiliary head gets no gradient at all."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    k = config.n_classes
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=config.teacher_lr)
    for _ in range(config.teacher_epochs):
        order = torch.randperm(x.shape[0], generator=gen)
        for i in range(0, x.shape[0], config.teacher_batch):
            idx = order[i : i + config.teacher_batch]
            loss = F.cross_entropy(model(x[idx])[:, :k], y[idx])
            opt.zero_grad(set_to_none=True)
            torch.autograd.backward(loss)
            opt.step()
