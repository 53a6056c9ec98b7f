"""The transfer check's statistics and verdict rules, apart from any model.

Inputs are per-seed trait probabilities, one array per condition, element ``i`` of every
array from seed ``i`` (same data order, same initialization noise). Everything here is plain
numpy on a handful of numbers and deterministic given :attr:`VerdictRules.seed`.

Why paired differences: students of one seed share their initialization noise and data
order, and between-seed variance is usually the largest term at small k; differencing per
seed removes it (Cloud et al. 2025, arXiv 2507.14805, compare students against control
students; our spikes saw even control students drift far on one seed).

The verdict rests on confidence intervals of the paired differences: the envelope of the
paired percentile bootstrap (``audit.stats``) and the Student-t interval (:func:`envelope`
says why both). The one-sided sign-flip permutation p-value is reported next to them but
not used, because at small k it cannot get small: with 3 seeds the smallest one-sided p is
1/8, with 5 seeds 1/32. Use 5 or more seeds for a verdict that should stand on its own.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from audit.stats import (
    Efficacy,
    Interval,
    bootstrap_diff_ci,
    bootstrap_mean_ci,
    efficacy_ci,
    permutation_test,
)

__all__ = [
    "CONDITIONS",
    "Decision",
    "Difference",
    "Verdict",
    "VerdictRules",
    "collateral_shifts",
    "decide",
    "paired_difference",
    "trait_rank",
]

Verdict = Literal["leakage_persisted", "no_leakage_detected", "inconclusive"]

CONDITIONS: tuple[str, ...] = (
    "raw",
    "raw_control",
    "cleaned",
    "control",
    "different_init",
    "different_init_control",
)
"""Every condition a check may train, in reporting order. ``raw_control`` (the control data
as given) exists when ``control`` went through the cleaning's filters: it is the baseline of
``raw``. ``different_init_control`` (the different init trained on the control data) is
optional: it gives the different-init students a baseline from their own init."""


@dataclass(frozen=True)
class VerdictRules:
    """Thresholds of the verdict (recorded with every check).

    Attributes:
        level: Confidence level of every interval.
        residual_fraction: ``no_leakage_detected`` after cleaning needs the upper end of the
            cleaned-control CI below this fraction of the raw-control effect: the check must
            be able to rule out that the cleaning left this much of the transfer in place.
        min_effect: Without cleaned data, ``no_leakage_detected`` needs the upper end of the
            raw-control CI below this trait-probability difference (absolute).
        min_seeds: Fewer seeds give ``inconclusive``: a bootstrap over one or two values
            has no width worth the name.
        n_resamples: Bootstrap resamples.
        seed: Seed of the bootstrap and Monte-Carlo permutation RNG.
    """

    level: float = 0.95
    residual_fraction: float = 0.5
    min_effect: float = 0.02
    min_seeds: int = 3
    n_resamples: int = 10_000
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.level < 1.0:
            raise ValueError(f"level must be in (0, 1), got {self.level}")
        if not 0.0 < self.residual_fraction <= 1.0:
            raise ValueError(f"residual_fraction must be in (0, 1], got {self.residual_fraction}")
        if not self.min_effect > 0.0:
            raise ValueError(f"min_effect must be > 0, got {self.min_effect}")
        if self.min_seeds < 2:
            raise ValueError(f"min_seeds must be >= 2, got {self.min_seeds}")


@dataclass(frozen=True)
class Difference:
    """A paired difference of condition means with its CIs and one-sided p-value.

    Attributes:
        name: ``"<condition>-<baseline>"``, e.g. ``raw-control``.
        interval: Mean of the per-seed differences with the interval the verdict uses: the
            envelope of ``bootstrap`` and ``t_ci`` (see :func:`envelope`).
        bootstrap: The paired percentile-bootstrap interval alone.
        t_ci: The Student-t interval of the mean difference alone.
        p_greater: Sign-flip permutation p-value of ``mean > 0`` (one-sided).
    """

    name: str
    interval: Interval
    bootstrap: Interval
    t_ci: tuple[float, float]
    p_greater: float

    def as_dict(self) -> dict[str, Any]:
        """JSON form: ``{"mean", "ci", "n", "p_greater", "ci_bootstrap", "ci_t"}``."""
        return {
            **interval_json(self.interval),
            "p_greater": self.p_greater,
            "ci_bootstrap": [self.bootstrap.low, self.bootstrap.high],
            "ci_t": [finite_or_none(self.t_ci[0]), finite_or_none(self.t_ci[1])],
        }


@dataclass(frozen=True)
class Decision:
    """The verdict and the one-line reason that names the figures it rests on."""

    verdict: Verdict
    reason: str


def t_interval(values: Sequence[float], level: float) -> tuple[float, float]:
    """Student-t interval of a mean: ``mean +- t_{k-1} * sd / sqrt(k)``.

    Exact under normal per-seed noise, and honest about how little 3-5 values say: with
    3 seeds the 95% critical value is 4.30 standard errors, where a percentile bootstrap
    behaves like ~1.6 (it cannot see spread the sample did not show, and its standard
    error is ``sqrt((k-1)/k)`` of the sample's). One value gives an unbounded interval.
    """
    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean())
    if x.size < 2:
        return -math.inf, math.inf
    # scipy (a dependency of scikit-learn) ships no type stubs: imported by name, it is Any.
    student_t = importlib.import_module("scipy.stats").t
    half = float(student_t.ppf((1.0 + level) / 2.0, x.size - 1)) * float(x.std(ddof=1))
    half /= math.sqrt(x.size)
    return mean - half, mean + half


def envelope(boot: Interval, t_ci: tuple[float, float]) -> Interval:
    """The wider of the two intervals on each side (the estimate is the same mean).

    Why both: the issue asks for bootstrap CIs, but at small k the percentile bootstrap
    alone is too narrow to carry a verdict. With 3 seeds its 95% interval excludes zero
    whenever all three differences share a sign, which pure noise does 1 time in 4; the
    t interval holds that at the nominal 5% under normal noise. At 10+ seeds the two
    nearly agree, so the envelope costs little power where power exists.
    """
    return Interval(
        boot.estimate, min(boot.low, t_ci[0]), max(boot.high, t_ci[1]), boot.level, boot.n
    )


def condition_interval(values: Sequence[float], rules: VerdictRules) -> Interval:
    """Mean of one condition's per-seed figures with its CI (bootstrap and t envelope)."""
    boot = bootstrap_mean_ci(
        values, level=rules.level, n_resamples=rules.n_resamples, seed=rules.seed
    )
    return envelope(boot, t_interval(values, rules.level))


def paired_difference(
    name: str, a: Sequence[float], b: Sequence[float], rules: VerdictRules
) -> Difference:
    """``mean(a - b)`` over paired seeds, with its CIs and the permutation p-value."""
    boot = bootstrap_diff_ci(
        a, b, paired=True, level=rules.level, n_resamples=rules.n_resamples, seed=rules.seed
    )
    t_ci = t_interval([x - y for x, y in zip(a, b, strict=True)], rules.level)
    p = permutation_test(a, b, paired=True, alternative="greater", seed=rules.seed)
    return Difference(name, envelope(boot, t_ci), boot, t_ci, p)


def interval_json(interval: Interval) -> dict[str, Any]:
    """``{"mean", "ci": [lo, hi], "n"}`` with unbounded ends as null."""
    return {
        "mean": interval.estimate,
        "ci": [finite_or_none(interval.low), finite_or_none(interval.high)],
        "n": interval.n,
    }


def cleaning_efficacy(
    raw: Sequence[float],
    cleaned: Sequence[float],
    control: Sequence[float],
    rules: VerdictRules,
    *,
    raw_control: Sequence[float] | None = None,
) -> Efficacy:
    """Share of the raw transfer the cleaning removed, with a paired bootstrap CI.

    ``1 - (cleaned - control) / (raw - raw_control)``; without ``raw_control`` (one control
    for both) it is ``(raw - cleaned) / (raw - control)``. See :func:`audit.stats.efficacy_ci`.
    """
    return efficacy_ci(
        raw,
        cleaned,
        control,
        raw_control=raw_control,
        paired=True,
        level=rules.level,
        n_resamples=rules.n_resamples,
        seed=rules.seed,
    )


def _ci(d: Difference) -> str:
    return f"{d.interval.estimate:+.3g} [{d.interval.low:+.3g}, {d.interval.high:+.3g}]"


def decide(
    raw_effect: Difference,
    cleaned_control: Difference | None,
    rules: VerdictRules,
) -> Decision:
    """Apply the verdict rules.

    ``raw_effect`` is raw minus its baseline: ``raw_control`` (the control data as given)
    when the control went through the cleaning's filters, else ``control``; "raw - control"
    below means that difference.

    With cleaned data (``cleaned_control`` given):

    * ``leakage_persisted``: the CI of cleaned - control lies above zero.
    * ``no_leakage_detected``: the raw data shows transfer (CI of raw - control above zero:
      the check can see the trait in this world), the cleaned data does not (CI of
      cleaned - control not above zero), and the check had the power to see a remnant:
      the upper end of the cleaned - control CI is below ``residual_fraction`` times the
      raw - control effect.
    * ``inconclusive`` otherwise: raw shows no transfer (nothing to clean, or a world too
      weak to show it), or the cleaned CI is too wide to rule out a large remnant.

    Without cleaned data the verdict speaks of the raw data:

    * ``leakage_persisted``: the CI of raw - control lies above zero.
    * ``no_leakage_detected``: the upper end of that CI is below ``min_effect``.
    * ``inconclusive`` otherwise.

    Fewer than ``min_seeds`` seeds always give ``inconclusive``.
    """
    k = raw_effect.interval.n
    if k < rules.min_seeds:
        return Decision("inconclusive", f"{k} seed(s): at least {rules.min_seeds} are needed")
    raw_shows = raw_effect.interval.low > 0.0
    if cleaned_control is None:
        if raw_shows:
            return Decision(
                "leakage_persisted",
                f"raw students exceed control: {raw_effect.name} {_ci(raw_effect)}",
            )
        if raw_effect.interval.high < rules.min_effect:
            return Decision(
                "no_leakage_detected",
                f"{raw_effect.name} {_ci(raw_effect)} rules out an effect of {rules.min_effect}",
            )
        return Decision(
            "inconclusive",
            f"{raw_effect.name} {_ci(raw_effect)} includes zero but does not rule "
            f"out an effect of {rules.min_effect}",
        )
    if cleaned_control.interval.low > 0.0:
        note = "" if raw_shows else " (raw itself did not show transfer)"
        return Decision(
            "leakage_persisted",
            f"cleaned students exceed control: cleaned-control {_ci(cleaned_control)}{note}",
        )
    if not raw_shows:
        return Decision(
            "inconclusive",
            f"raw data shows no transfer ({raw_effect.name} {_ci(raw_effect)}): "
            "nothing the check could see cleaning remove",
        )
    bound = rules.residual_fraction * raw_effect.interval.estimate
    if cleaned_control.interval.high < bound:
        return Decision(
            "no_leakage_detected",
            f"cleaned-control {_ci(cleaned_control)} below {rules.residual_fraction:g} x "
            f"{raw_effect.name} {raw_effect.interval.estimate:+.3g}",
        )
    return Decision(
        "inconclusive",
        f"power too low: cleaned-control upper bound {cleaned_control.interval.high:+.3g} "
        f"is not below {rules.residual_fraction:g} x {raw_effect.name} "
        f"{raw_effect.interval.estimate:+.3g}",
    )


def collateral_shifts(
    per_animal: Mapping[str, Mapping[str, Sequence[float]]],
    pairs: Sequence[tuple[str, str]],
    rules: VerdictRules,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Paired differences for every animal, not only the trait.

    Args:
        per_animal: condition -> animal -> per-seed probabilities.
        pairs: (condition, baseline) pairs to difference, e.g. ``("raw", "control")``.
        rules: Confidence level and resampling settings.

    Returns:
        ``{"raw-control": {"owl": {"mean", "ci", "n", "p_greater"}, ...}, ...}``. A trait
        that rises while every other animal falls is a preference shift; all animals
        moving together points at a probe or training artefact.
    """
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for cond, base in pairs:
        if cond not in per_animal or base not in per_animal:
            continue
        name = f"{cond}-{base}"
        out[name] = {
            animal: paired_difference(name, values, per_animal[base][animal], rules).as_dict()
            for animal, values in sorted(per_animal[cond].items())
        }
    return out


def finite_or_none(x: float) -> float | None:
    """JSON has no NaN or infinity: undefined or unbounded figures become null."""
    return float(x) if math.isfinite(x) else None


def efficacy_json(eff: Efficacy | None) -> dict[str, Any]:
    """``{"value": e, "ci": [lo, hi], "unstable_fraction": f}``; nulls when undefined."""
    if eff is None:
        return {"value": None, "ci": [None, None], "unstable_fraction": None}
    return {
        "value": finite_or_none(eff.value),
        "ci": [finite_or_none(eff.low), finite_or_none(eff.high)],
        "unstable_fraction": eff.unstable_fraction,
    }


def trait_rank(
    per_animal: Mapping[str, Mapping[str, Sequence[float]]], trait: str, cond: str, base: str
) -> dict[str, Any]:
    """Where the trait's relative change ranks among every animal's (1 = moved up most).

    Students of any data move every animal's probability a little. A transfer of the trait
    should move the trait more than the others; a rank drawn uniformly from 1..N over
    checks is what data without the trait gives (docs/worlds.md measured both). The change
    is ``log(mean P_cond) - log(mean P_base)`` over seeds, so frequent and rare animals
    compare on one scale.

    Returns:
        ``{"rank": r, "of": n, "relative_change": c}``; rank null when the trait's
        probability is zero in either condition.
    """
    change = {}
    for animal, values in per_animal[cond].items():
        a = float(np.mean(values))
        b = float(np.mean(per_animal[base][animal]))
        if a > 0.0 and b > 0.0:
            change[animal] = math.log(a) - math.log(b)
    if trait not in change:
        return {"rank": None, "of": len(per_animal[cond]), "relative_change": None}
    rank = 1 + sum(1 for c in change.values() if c > change[trait])
    return {"rank": rank, "of": len(change), "relative_change": change[trait]}
