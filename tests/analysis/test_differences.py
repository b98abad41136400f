"""Paired differences beside SGR: Easy − Hard and Unsupervised − Easy with two-sided p-values; the unpaired
(per-condition) bootstrap; SGR under the nested bootstrap and the t-interval over seeds (Fieller)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from e2h.analysis.stats import check_ci, difference, sgr
from e2h.errors import E2HError


def bernoulli(p: float, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    return (rng.random(shape) < p).astype(float)


def test_differences_by_hand():
    n_boot = 999
    easy, hard, unsup = np.ones((10, 2)), np.zeros((10, 2)), np.zeros((10, 2))
    res = sgr(easy, hard, unsup, n_boot=n_boot, rng=np.random.default_rng(0))
    assert (res.easy_minus_hard.mean, res.easy_minus_hard.lo, res.easy_minus_hard.hi) == (1.0, 1.0, 1.0)
    assert res.easy_minus_hard.p_value == pytest.approx(2 / (n_boot + 1))  # no draw ≤ 0: the smallest p
    assert (res.unsup_minus_easy.mean, res.unsup_minus_easy.lo) == (-1.0, -1.0)
    assert res.unsup_minus_easy.p_value == pytest.approx(2 / (n_boot + 1))
    same = sgr(easy, easy.copy(), unsup, n_boot=n_boot, rng=np.random.default_rng(0))
    assert same.easy_minus_hard.p_value == 1.0 and same.easy_minus_hard.mean == 0.0


@pytest.mark.parametrize("ci", ["grid", "nested", "seed-t"])
def test_large_planted_gaps_give_p_near_zero(ci):
    rng = np.random.default_rng(1)
    easy, hard, unsup = (bernoulli(p, (60, 5), rng) for p in (0.6, 0.9, 0.3))
    res = sgr(easy, hard, unsup, n_boot=2000, rng=rng, ci=ci)
    assert res.easy_minus_hard.p_value < 0.01 and res.easy_minus_hard.hi < 0
    assert res.unsup_minus_easy.p_value < 0.01 and res.unsup_minus_easy.hi < 0
    assert res.p_value < 0.01 and res.defined
    assert res.lo < res.value < res.hi and res.lo > 0 and res.hi < 1


def null_p_values(ci: str, n: int = 200) -> np.ndarray:
    """Two-sided p of A − B for ``n`` pairs of grids with no effect (5 seeds × 40 items, all right w.p. 0.6)."""
    rng = np.random.default_rng(2)
    grids = ((bernoulli(0.6, (40, 5), rng), bernoulli(0.6, (40, 5), rng)) for _ in range(n))
    return np.array([difference(a, b, ci, 400, rng).p_value for a, b in grids])


def test_p_values_are_uniform_without_an_effect_for_the_seed_t_test():
    p = null_p_values("seed-t")
    assert 0.01 <= np.mean(p < 0.05) <= 0.10
    assert 0.40 <= np.mean(p < 0.5) <= 0.60
    assert stats.kstest(p, "uniform").pvalue > 0.01


@pytest.mark.parametrize("ci", ["grid", "nested"])
def test_bootstrap_p_values_without_an_effect_are_conservative(ci):
    """Without a seed effect both bootstraps count item noise twice (through the seeds and the items)."""
    p = null_p_values(ci)
    assert np.mean(p < 0.05) <= 0.05
    assert 0.15 <= np.mean(p < 0.5) <= 0.45  # below the uniform 0.5, but not degenerate


def test_unpaired_resampling_ignores_that_the_conditions_share_items():
    # Easy and hard right on the same items: paired, their difference is exactly 0 in every draw;
    # resampled per condition (the paper's way), the difference varies.
    rng = np.random.default_rng(3)
    hard, unsup = bernoulli(0.7, (50, 3), rng), bernoulli(0.2, (50, 3), rng)
    paired = sgr(hard.copy(), hard, unsup, n_boot=2000, rng=np.random.default_rng(4))
    unpaired = sgr(hard.copy(), hard, unsup, n_boot=2000, rng=np.random.default_rng(4), pairing="unpaired")
    assert (paired.easy_minus_hard.lo, paired.easy_minus_hard.hi) == (0.0, 0.0) and paired.lo == pytest.approx(1.0)
    assert unpaired.easy_minus_hard.lo < -0.05 and unpaired.easy_minus_hard.hi > 0.05
    assert unpaired.lo < 0.9 < 1.1 < unpaired.hi
    assert unpaired.pairing == "unpaired" and unpaired.value == paired.value == 1.0


def test_difference_of_a_subset_and_its_whole():
    rng = np.random.default_rng(5)
    grid = bernoulli(0.5, (90, 3), rng)
    grid[:30] = 1.0  # the first 30 items (one "level") always right
    level = np.where(np.arange(90)[:, None] < 30, grid, np.nan)
    diff = difference(level, grid, "grid", 2000, rng)
    assert diff.mean == pytest.approx(1.0 - grid.mean())
    assert diff.lo > 0 and diff.p_value < 0.01


def test_seed_t_sgr_is_fiellers_interval():
    # Hard − Unsupervised is 0.5 in every seed (no variance): Fieller reduces to the t-interval of
    # Easy − Unsupervised divided by 0.5.
    gains = [0.1, 0.2, 0.3, 0.25, 0.15]
    easy, hard, unsup = np.zeros((20, 5)), np.zeros((20, 5)), np.zeros((20, 5))
    hard[:10] = 1.0
    for s, gain in enumerate(gains):
        easy[: int(gain * 20), s] = 1.0
    res = sgr(easy, hard, unsup, ci="seed-t")
    half = stats.t.ppf(0.975, 4) * np.std(gains, ddof=1) / np.sqrt(5)
    assert res.defined and res.value == pytest.approx(np.mean(gains) / 0.5)
    assert res.lo == pytest.approx((np.mean(gains) - half) / 0.5)
    assert res.hi == pytest.approx((np.mean(gains) + half) / 0.5)
    assert (res.gap_lo, res.gap_hi) == (pytest.approx(0.5), pytest.approx(0.5))


def test_seed_t_with_one_seed_leaves_sgr_undefined():
    res = sgr(np.ones((5, 1)), np.ones((5, 1)), np.zeros((5, 1)), ci="seed-t")
    assert not res.defined and "at least 2 seeds" in res.reason


def test_nested_sgr_of_identical_easy_and_hard_is_exactly_one():
    rng = np.random.default_rng(6)
    hard, unsup = bernoulli(0.8, (40, 3), rng), bernoulli(0.3, (40, 3), rng)
    res = sgr(hard.copy(), hard, unsup, n_boot=1000, rng=rng, ci="nested")
    assert res.value == 1.0 and res.lo == pytest.approx(1.0) and res.hi == pytest.approx(1.0)
    assert res.ci == "nested"


@pytest.mark.parametrize(
    ("ci", "pairing", "message"),
    [
        ("seed-t", "unpaired", "the unpaired option is for the grid and nested bootstraps"),
        ("grid", "crossed", "unknown pairing 'crossed'"),
        ("t", "paired", "unknown interval method 't'"),
    ],
)
def test_bad_method_or_pairing_raise_one_line_errors(ci, pairing, message):
    with pytest.raises(E2HError, match=message) as info:
        check_ci(ci, pairing)
    assert "\n" not in str(info.value)
