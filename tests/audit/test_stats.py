import math

import numpy as np
import pytest

from audit.stats import (
    Interval,
    bootstrap_diff_ci,
    bootstrap_mean_ci,
    efficacy_ci,
    permutation_test,
)

# ---------------------------------------------------------------------------
# bootstrap_mean_ci


def test_ci_of_a_constant_is_degenerate() -> None:
    ci = bootstrap_mean_ci([0.3, 0.3, 0.3, 0.3])
    assert ci.estimate == pytest.approx(0.3)
    assert ci.low == pytest.approx(0.3)
    assert ci.high == pytest.approx(0.3)
    assert ci.n == 4
    assert not ci.excludes_zero() or ci.low > 0


def test_ci_brackets_the_mean_and_matches_normal_theory_for_large_n() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(2.0, 1.0, size=400)
    ci = bootstrap_mean_ci(x, n_resamples=20_000, seed=3)
    half = 1.96 * x.std(ddof=1) / math.sqrt(x.size)
    assert ci.low < ci.estimate < ci.high
    assert ci.estimate == pytest.approx(x.mean())
    assert ci.low == pytest.approx(x.mean() - half, abs=0.02)
    assert ci.high == pytest.approx(x.mean() + half, abs=0.02)


def test_ci_is_deterministic_given_seed_and_narrower_at_lower_level() -> None:
    x = [0.1, 0.4, 0.35, 0.2, 0.5]
    assert bootstrap_mean_ci(x, seed=7) == bootstrap_mean_ci(x, seed=7)
    wide, narrow = bootstrap_mean_ci(x, level=0.95), bootstrap_mean_ci(x, level=0.5)
    assert wide.low <= narrow.low <= narrow.high <= wide.high


@pytest.mark.parametrize(
    ("values", "kwargs", "match"),
    [
        ([], {}, "at least one"),
        ([1.0, math.nan], {}, "NaN"),
        ([1.0, 2.0], {"level": 1.0}, "level"),
        ([1.0, 2.0], {"level": 0.0}, "level"),
    ],
)
def test_ci_rejects_bad_input(values: list[float], kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        bootstrap_mean_ci(values, **kwargs)  # type: ignore[arg-type]


def test_interval_as_dict_and_excludes_zero() -> None:
    iv = Interval(0.2, 0.1, 0.3, 0.95, 5)
    assert iv.as_dict() == {"mean": 0.2, "ci": [0.1, 0.3], "n": 5}
    assert iv.excludes_zero()
    assert not Interval(0.0, -0.1, 0.1, 0.95, 5).excludes_zero()
    assert Interval(-0.2, -0.3, -0.1, 0.95, 5).excludes_zero()


# ---------------------------------------------------------------------------
# bootstrap_diff_ci


def test_paired_diff_of_a_constant_shift_is_degenerate() -> None:
    b = np.array([0.1, 0.5, 0.2, 0.9, 0.4])
    ci = bootstrap_diff_ci(b + 0.25, b, paired=True)
    assert (ci.estimate, ci.low, ci.high) == pytest.approx((0.25, 0.25, 0.25))


def test_pairing_removes_shared_seed_variance() -> None:
    b = np.array([0.1, 0.5, 0.2, 0.9, 0.4])
    a = b + np.array([0.20, 0.22, 0.18, 0.21, 0.19])
    paired = bootstrap_diff_ci(a, b, paired=True)
    unpaired = bootstrap_diff_ci(a, b, paired=False)
    assert paired.estimate == pytest.approx(unpaired.estimate)
    assert paired.high - paired.low < 0.1 * (unpaired.high - unpaired.low)
    assert paired.excludes_zero()
    assert not unpaired.excludes_zero()


def test_unpaired_diff_allows_unequal_sizes_and_paired_does_not() -> None:
    ci = bootstrap_diff_ci([1.0, 1.0, 1.0], [0.0, 0.0], paired=False)
    assert (ci.estimate, ci.low, ci.high, ci.n) == pytest.approx((1.0, 1.0, 1.0, 2))
    with pytest.raises(ValueError, match="differ in length"):
        bootstrap_diff_ci([1.0, 1.0, 1.0], [0.0, 0.0], paired=True)


# ---------------------------------------------------------------------------
# permutation_test


@pytest.mark.parametrize("paired", [True, False])
def test_identical_groups_give_p_one(paired: bool) -> None:
    x = [0.2, 0.3, 0.25, 0.4, 0.1]
    assert permutation_test(x, x, paired=paired) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("paired", "alternative", "expected"),
    [
        # 5 vs 5 fully separated: 1 of the C(10,5) = 252 splits is as extreme (2 two-sided).
        (False, "greater", 1 / 252),
        (False, "two-sided", 2 / 252),
        (False, "less", 1.0),
        # 5 paired seeds, all differences positive: 1 of 2**5 sign patterns (2 two-sided).
        (True, "greater", 1 / 32),
        (True, "two-sided", 2 / 32),
        (True, "less", 1.0),
    ],
)
def test_separated_groups_give_the_exact_minimum_p(
    paired: bool, alternative: str, expected: float
) -> None:
    a = [0.80, 0.85, 0.90, 0.82, 0.88]
    b = [0.10, 0.12, 0.08, 0.11, 0.09]
    p = permutation_test(a, b, paired=paired, alternative=alternative)  # type: ignore[arg-type]
    assert p == pytest.approx(expected)


def test_monte_carlo_path_is_close_to_exact_and_never_zero() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.5, 1, 8), rng.normal(0.0, 1, 8)
    exact = permutation_test(a, b, paired=False)
    mc = permutation_test(a, b, paired=False, max_exact=10, n_permutations=20_000, seed=1)
    assert mc == pytest.approx(exact, abs=0.02)
    far = permutation_test(
        np.full(30, 5.0) + rng.normal(0, 0.01, 30), rng.normal(0, 0.01, 30), paired=True
    )
    assert 0 < far <= 1 / 10_001 + 1e-12


def test_permutation_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="alternative"):
        permutation_test([1.0], [2.0], paired=False, alternative="bigger")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="differ in length"):
        permutation_test([1.0, 2.0], [2.0], paired=True)


# ---------------------------------------------------------------------------
# efficacy_ci


@pytest.mark.parametrize(
    ("cleaned", "expected"),
    [(0.6, 0.0), (0.35, 0.5), (0.1, 1.0), (0.85, -0.5)],
)
@pytest.mark.parametrize("paired", [True, False])
def test_efficacy_known_answers_with_constant_groups(
    cleaned: float, expected: float, paired: bool
) -> None:
    eff = efficacy_ci([0.6] * 4, [cleaned] * 4, [0.1] * 4, paired=paired)
    assert (eff.value, eff.low, eff.high) == pytest.approx((expected, expected, expected))
    assert eff.unstable_fraction == 0.0


def test_efficacy_interval_brackets_value_with_noise() -> None:
    raw = [0.60, 0.55, 0.65, 0.58, 0.62]
    cleaned = [0.32, 0.38, 0.30, 0.36, 0.34]
    control = [0.10, 0.12, 0.08, 0.11, 0.09]
    eff = efficacy_ci(raw, cleaned, control, paired=True)
    assert eff.value == pytest.approx((0.6 - 0.34) / (0.6 - 0.1))
    assert eff.low < eff.value < eff.high
    assert eff.low > 0.3 and eff.high < 0.7


@pytest.mark.parametrize("paired", [True, False])
def test_efficacy_with_a_raw_baseline_of_its_own(paired: bool) -> None:
    # raw 0.60 vs its unfiltered control 0.20: effect 0.40; cleaned 0.25 vs the filtered
    # control 0.15: remnant 0.10; 75% removed. One control (0.15) for both would say 0.78.
    eff = efficacy_ci([0.6] * 4, [0.25] * 4, [0.15] * 4, raw_control=[0.2] * 4, paired=paired)
    assert (eff.value, eff.low, eff.high) == pytest.approx((0.75, 0.75, 0.75))
    one = efficacy_ci([0.6] * 4, [0.25] * 4, [0.15] * 4, paired=paired)
    assert one.value == pytest.approx(0.35 / 0.45)
    same = efficacy_ci([0.6] * 4, [0.25] * 4, [0.15] * 4, raw_control=[0.15] * 4, paired=paired)
    assert same.value == one.value  # a baseline equal to the control changes nothing
    with pytest.raises(ValueError, match="differ in length"):
        efficacy_ci([0.6] * 2, [0.2] * 2, [0.1] * 2, raw_control=[0.1], paired=True)


def test_efficacy_without_transfer_is_unidentified() -> None:
    eff = efficacy_ci([0.1] * 3, [0.1] * 3, [0.1] * 3, paired=True)
    assert math.isnan(eff.value)
    assert math.isnan(eff.low) and math.isnan(eff.high)
    assert eff.unstable_fraction == 1.0
    mixed = efficacy_ci([0.3, 0.0, 0.2], [0.1, 0.1, 0.1], [0.1, 0.1, 0.1], paired=True)
    assert 0.0 < mixed.unstable_fraction < 1.0


def test_efficacy_paired_needs_equal_lengths() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        efficacy_ci([0.5, 0.5], [0.3], [0.1, 0.1], paired=True)
