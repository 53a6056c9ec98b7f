"""Small-sample statistics for the trait-transfer check: bootstrap CIs and permutation tests.

The transfer check (Cloud et al. 2025, arXiv 2507.14805: 5 student seeds per condition, 95% CIs)
compares a handful of per-seed figures per condition: a student's test accuracy or trait
probability, one number per seed. Everything here works on such short 1-d arrays, is plain
numpy, and is deterministic given ``seed``.

Conventions:

* Intervals are percentile-bootstrap intervals at ``level`` (default 0.95). With 3-5 seeds a
  percentile bootstrap is known to be somewhat too narrow (it cannot see variance the sample did
  not show); it is what the issue asks for, and the permutation test is the guard against
  reading too much into one.
* *Paired* means that element ``i`` of both arrays comes from the same seed (same data order,
  same noise inputs), so the per-seed differences are resampled; *unpaired* resamples each
  group on its own.
* Permutation tests enumerate all relabellings exactly when there are at most
  ``max_exact`` of them (5 vs 5 seeds: 252 splits; 5 paired seeds: 32 sign flips), and draw
  ``n_permutations`` random ones otherwise, with the ``(hits + 1) / (draws + 1)`` correction so
  that a Monte-Carlo p-value is never 0. Note the floor this implies: with 5 paired seeds the
  smallest two-sided p-value is 2/32 = 0.0625 (one-sided 1/32).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

Alternative = Literal["two-sided", "greater", "less"]

__all__ = [
    "Alternative",
    "Efficacy",
    "Interval",
    "bootstrap_diff_ci",
    "bootstrap_mean_ci",
    "efficacy_ci",
    "permutation_test",
]


@dataclass(frozen=True)
class Interval:
    """A point estimate with a bootstrap confidence interval.

    Attributes:
        estimate: The statistic on the original sample (a mean or a difference of means).
        low: Lower end of the interval.
        high: Upper end of the interval.
        level: Confidence level, e.g. 0.95.
        n: Sample size (per group for a difference: the smaller group).

    """

    estimate: float
    low: float
    high: float
    level: float
    n: int

    def excludes_zero(self) -> bool:
        """Whether the interval lies strictly on one side of zero."""
        return self.low > 0.0 or self.high < 0.0

    def as_dict(self) -> dict[str, float | int | list[float]]:
        """JSON-ready form: ``{"mean": m, "ci": [lo, hi], "n": n}``."""
        return {"mean": self.estimate, "ci": [self.low, self.high], "n": self.n}


@dataclass(frozen=True)
class Efficacy:
    """Cleaning efficacy ``(raw - cleaned) / (raw - control)`` with a bootstrap CI.

    1 means the cleaning removed all the transferred trait, 0 that it removed none; values
    outside [0, 1] are possible (a cleaning that made things worse, or overshoot by noise).

    Attributes:
        value: Efficacy on the original sample; ``nan`` when raw and control means are equal.
        low: Lower end of the percentile interval over the resamples with a usable denominator.
        high: Upper end of that interval.
        level: Confidence level.
        unstable_fraction: Share of bootstrap resamples whose denominator ``raw - control`` was
            ``<= 0`` (no transfer left to clean). They are left out of the interval; above a few
            percent the ratio is not identified and the interval should not be trusted.

    """

    value: float
    low: float
    high: float
    level: float
    unstable_fraction: float


def _as_1d(values: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise ValueError(f"{name}: needs at least one value")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains NaN or infinite values")
    return arr


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")


def _percentiles(stats: NDArray[np.float64], level: float) -> tuple[float, float]:
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(stats, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def _resampled_means(
    x: NDArray[np.float64], n_resamples: int, rng: np.random.Generator
) -> NDArray[np.float64]:
    # One (n_resamples, n) index matrix: each row is a bootstrap sample with replacement.
    idx = rng.integers(0, x.size, size=(n_resamples, x.size))
    means: NDArray[np.float64] = x[idx].mean(axis=1)
    return means


# ---------------------------------------------------------------------------
# Bootstrap intervals


def bootstrap_mean_ci(
    values: ArrayLike, *, level: float = 0.95, n_resamples: int = 10_000, seed: int = 0
) -> Interval:
    """Percentile-bootstrap confidence interval of a mean.

    Args:
        values: Per-seed figures (1-d).
        level: Confidence level.
        n_resamples: Number of bootstrap resamples.
        seed: Seed of the resampling RNG.

    Returns:
        The mean with its interval. A constant sample gives a degenerate interval.

    """
    x = _as_1d(values, "values")
    _check_level(level)
    rng = np.random.default_rng(seed)
    lo, hi = _percentiles(_resampled_means(x, n_resamples, rng), level)
    return Interval(float(x.mean()), lo, hi, level, int(x.size))


def bootstrap_diff_ci(
    a: ArrayLike,
    b: ArrayLike,
    *,
    paired: bool,
    level: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> Interval:
    """Percentile-bootstrap confidence interval of ``mean(a) - mean(b)``.

    Args:
        a: First group's per-seed figures.
        b: Second group's per-seed figures.
        paired: Resample seeds jointly (``a[i]`` and ``b[i]`` share seed ``i``) rather than
            each group on its own. Pairing removes the between-seed variance both share.
        level: Confidence level.
        n_resamples: Number of bootstrap resamples.
        seed: Seed of the resampling RNG.

    Returns:
        The difference of means with its interval.

    Raises:
        ValueError: If ``paired`` and the groups differ in length.

    """
    xa, xb = _as_1d(a, "a"), _as_1d(b, "b")
    _check_level(level)
    rng = np.random.default_rng(seed)
    if paired:
        if xa.size != xb.size:
            raise ValueError(f"paired groups differ in length: {xa.size} vs {xb.size}")
        stats = _resampled_means(xa - xb, n_resamples, rng)
    else:
        stats = _resampled_means(xa, n_resamples, rng) - _resampled_means(xb, n_resamples, rng)
    lo, hi = _percentiles(stats, level)
    return Interval(float(xa.mean() - xb.mean()), lo, hi, level, int(min(xa.size, xb.size)))


def efficacy_ci(
    raw: ArrayLike,
    cleaned: ArrayLike,
    control: ArrayLike,
    *,
    raw_control: ArrayLike | None = None,
    paired: bool,
    level: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> Efficacy:
    """Estimate cleaning efficacy ``(raw - cleaned) / (raw - control)`` with a bootstrap CI.

    With ``raw_control`` (a baseline for the raw data apart from the cleaned data's, e.g. the
    control data unfiltered while ``control`` went through the cleaning's filters) it is the
    share of the raw effect that cleaning removed: ``1 - (cleaned - control) / (raw -
    raw_control)``, which is the formula above when both controls are the same.

    The ratio of two differences is resampled as a whole (each resample recomputes all three
    means), so the interval carries the uncertainty of the denominator too. Resamples in which
    the denominator is not positive (the raw data showed no transfer above control) leave the
    ratio undefined; they are dropped from the interval and counted in ``unstable_fraction``.

    Args:
        raw: Per-seed figures of students trained on the raw teacher data.
        cleaned: Per-seed figures of students trained on the cleaned data.
        control: Per-seed figures of students trained on the control teacher's data.
        raw_control: Per-seed figures of the raw data's own baseline (default: ``control``).
        paired: Resample seed indices jointly across the three groups (equal lengths).
        level: Confidence level.
        n_resamples: Number of bootstrap resamples.
        seed: Seed of the resampling RNG.

    Returns:
        The efficacy with its interval; bounds are ``nan`` when no resample was usable.

    Raises:
        ValueError: If ``paired`` and the groups differ in length.

    """
    r, c, k = _as_1d(raw, "raw"), _as_1d(cleaned, "cleaned"), _as_1d(control, "control")
    rk = k if raw_control is None else _as_1d(raw_control, "raw_control")
    _check_level(level)
    rng = np.random.default_rng(seed)
    if paired:
        if not r.size == c.size == k.size == rk.size:
            raise ValueError(
                f"paired groups differ in length: {r.size}, {c.size}, {k.size}, {rk.size}"
            )
        idx = rng.integers(0, r.size, size=(n_resamples, r.size))
        mr, mc, mk = r[idx].mean(axis=1), c[idx].mean(axis=1), k[idx].mean(axis=1)
        mrk = rk[idx].mean(axis=1)
    else:
        mr = _resampled_means(r, n_resamples, rng)
        mc = _resampled_means(c, n_resamples, rng)
        mk = _resampled_means(k, n_resamples, rng)
        mrk = mk if raw_control is None else _resampled_means(rk, n_resamples, rng)
    denom = mr - mrk
    ok = denom > 0.0
    denom0 = float(r.mean() - rk.mean())
    # (raw - raw_control) - (cleaned - control): equals raw - cleaned with one control.
    removed = float(r.mean() - c.mean() - (rk.mean() - k.mean()))
    value = removed / denom0 if denom0 != 0.0 else math.nan
    if not ok.any():
        return Efficacy(value, math.nan, math.nan, level, 1.0)
    lo, hi = _percentiles((mr[ok] - mc[ok] - (mrk[ok] - mk[ok])) / denom[ok], level)
    return Efficacy(value, lo, hi, level, float(1.0 - ok.mean()))


# ---------------------------------------------------------------------------
# Permutation test


def _as_extreme(
    observed: float, null: NDArray[np.float64], alternative: Alternative
) -> NDArray[np.bool_]:
    # A small tolerance so that ties (exactly equal statistics, common with accuracies on a
    # fixed test set) count as "at least as extreme" despite float rounding.
    tol = 1e-12 * max(1.0, abs(observed))
    if alternative == "greater":
        return null >= observed - tol
    if alternative == "less":
        return null <= observed + tol
    return np.abs(null) >= abs(observed) - tol


def permutation_test(
    a: ArrayLike,
    b: ArrayLike,
    *,
    paired: bool,
    alternative: Alternative = "two-sided",
    n_permutations: int = 10_000,
    max_exact: int = 100_000,
    seed: int = 0,
) -> float:
    """Permutation test p-value for a difference of means, ``mean(a) - mean(b)``.

    Under the null hypothesis the condition labels are exchangeable: unpaired, any split of the
    pooled values into groups of the original sizes is equally likely; paired, the sign of each
    per-seed difference is equally likely to be flipped.

    Args:
        a: First group's per-seed figures.
        b: Second group's per-seed figures.
        paired: Sign-flip test on per-seed differences (equal lengths) instead of relabelling.
        alternative: ``"greater"`` tests ``mean(a) > mean(b)``, ``"less"`` the reverse.
        n_permutations: Random relabellings drawn when exact enumeration is too large.
        max_exact: Enumerate exactly when the number of relabellings is at most this.
        seed: Seed of the RNG for the Monte-Carlo case.

    Returns:
        The p-value in (0, 1]. Identical groups give 1.

    Raises:
        ValueError: If ``paired`` and the groups differ in length, or ``alternative`` is unknown.

    """
    xa, xb = _as_1d(a, "a"), _as_1d(b, "b")
    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError(f"unknown alternative {alternative!r}")
    rng = np.random.default_rng(seed)
    if paired:
        if xa.size != xb.size:
            raise ValueError(f"paired groups differ in length: {xa.size} vs {xb.size}")
        d = xa - xb
        observed = float(d.mean())
        if 2**d.size <= max_exact:
            signs = np.array(list(itertools.product((1.0, -1.0), repeat=d.size)))
            return float(_as_extreme(observed, (signs * d).mean(axis=1), alternative).mean())
        signs = rng.choice(np.array([1.0, -1.0]), size=(n_permutations, d.size))
        hits = _as_extreme(observed, (signs * d).mean(axis=1), alternative).sum()
        return float((hits + 1) / (n_permutations + 1))

    pooled = np.concatenate([xa, xb])
    n, na = pooled.size, xa.size
    observed = float(xa.mean() - xb.mean())
    total = pooled.sum()
    if math.comb(n, na) <= max_exact:
        groups = np.array(list(itertools.combinations(range(n), na)))
        sum_a = pooled[groups].sum(axis=1)
        null = sum_a / na - (total - sum_a) / (n - na)
        return float(_as_extreme(observed, null, alternative).mean())
    perms = np.argsort(rng.random((n_permutations, n)), axis=1)[:, :na]
    sum_a = pooled[perms].sum(axis=1)
    null = sum_a / na - (total - sum_a) / (n - na)
    hits = _as_extreme(observed, null, alternative).sum()
    return float((hits + 1) / (n_permutations + 1))
