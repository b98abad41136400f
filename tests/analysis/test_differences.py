"""Differences beside SGR: Easy − Hard and Easy − Unsupervised with two-sided p-values; the paper's pairing
and the unpaired bootstrap; SGR under the nested bootstrap and the t-interval over seeds (Fieller)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from e2h.analysis.resampling import paper_draws
from e2h.analysis.stats import check_ci, difference, sgr
from e2h.errors import E2HError


def bernoulli(p: float, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    return (rng.random(shape) < p).astype(float)


def own_items(grid: np.ndarray) -> np.ndarray:
    """The grid with each seed keeping its own block of items (NaN elsewhere), as the nested bootstrap assumes."""
    n_items, n_seeds = grid.shape
    block = np.arange(n_items)[:, None] * n_seeds // n_items == np.arange(n_seeds)[None, :]
    return np.where(block, grid, np.nan)


def test_differences_by_hand():
    n_boot = 999
    easy, hard, unsup = np.ones((10, 2)), np.zeros((10, 2)), np.zeros((10, 2))
    res = sgr(easy, hard, unsup, n_boot=n_boot, rng=np.random.default_rng(0))
    assert (res.easy_minus_hard.mean, res.easy_minus_hard.lo, res.easy_minus_hard.hi) == (1.0, 1.0, 1.0)
    assert res.easy_minus_hard.p_value == pytest.approx(2 / (n_boot + 1))  # no draw ≤ 0: the smallest p
    assert (res.easy_minus_unsup.mean, res.easy_minus_unsup.lo) == (1.0, 1.0)
    assert res.easy_minus_unsup.p_value == pytest.approx(2 / (n_boot + 1))
    same = sgr(easy, easy.copy(), unsup, n_boot=n_boot, rng=np.random.default_rng(0))
    assert same.easy_minus_hard.p_value == 1.0 and same.easy_minus_hard.mean == 0.0


@pytest.mark.parametrize("ci", ["grid", "nested", "seed-t"])
def test_large_planted_gaps_give_p_near_zero(ci):
    rng = np.random.default_rng(1)
    n_items = 300 if ci == "nested" else 60  # nested: each seed its own 60 items
    easy, hard, unsup = (bernoulli(p, (n_items, 5), rng) for p in (0.6, 0.9, 0.3))
    if ci == "nested":
        easy, hard, unsup = own_items(easy), own_items(hard), own_items(unsup)
    res = sgr(easy, hard, unsup, n_boot=2000, rng=rng, ci=ci)
    assert res.easy_minus_hard.p_value < 0.01 and res.easy_minus_hard.hi < 0
    assert res.easy_minus_unsup.p_value < 0.01 and res.easy_minus_unsup.lo > 0 and res.defined
    assert res.lo < res.value < res.hi and res.lo > 0 and res.hi < 1


def null_p_values(ci: str, n: int = 200) -> np.ndarray:
    """Two-sided p of A − B for ``n`` pairs of grids with no effect (5 seeds × 40 items, all right w.p. 0.6;
    for the nested bootstrap each seed tests its own 40 items)."""
    rng = np.random.default_rng(2)
    shape, design = ((200, 5), own_items) if ci == "nested" else ((40, 5), lambda g: g)
    grids = ((design(bernoulli(0.6, shape, rng)), design(bernoulli(0.6, shape, rng))) for _ in range(n))
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
    # resampled per condition, the difference varies.
    rng = np.random.default_rng(3)
    hard, unsup = bernoulli(0.7, (50, 3), rng), bernoulli(0.2, (50, 3), rng)
    paired = sgr(hard.copy(), hard, unsup, n_boot=2000, rng=np.random.default_rng(4))
    unpaired = sgr(hard.copy(), hard, unsup, n_boot=2000, rng=np.random.default_rng(4), pairing="unpaired")
    assert (paired.easy_minus_hard.lo, paired.easy_minus_hard.hi) == (0.0, 0.0) and paired.lo == pytest.approx(1.0)
    assert unpaired.easy_minus_hard.lo < -0.05 and unpaired.easy_minus_hard.hi > 0.05
    assert unpaired.lo < 0.9 < 1.1 < unpaired.hi
    assert unpaired.pairing == "unpaired" and unpaired.value == paired.value == 1.0


def test_the_papers_pairing_shares_the_items_but_not_the_seeds():
    # Seeds identical (a deterministic learner): pairing the items alone already makes Easy − Hard exactly 0.
    rng = np.random.default_rng(7)
    hard = np.repeat(bernoulli(0.7, (50, 1), rng), 3, axis=1)
    unsup = bernoulli(0.2, (50, 3), rng)
    paper = sgr(hard.copy(), hard, unsup, n_boot=2000, rng=np.random.default_rng(4), pairing="paper")
    assert (paper.easy_minus_hard.lo, paper.easy_minus_hard.hi) == (0.0, 0.0) and paper.pairing == "paper"
    # Seeds that differ: the paper pairs seed draws column by column, so Easy − Hard varies, but less than
    # when items are drawn apart too.
    hard = bernoulli(0.7, (50, 3), rng)
    paper = sgr(hard.copy(), hard, unsup, n_boot=2000, rng=np.random.default_rng(4), pairing="paper")
    unpaired = sgr(hard.copy(), hard, unsup, n_boot=2000, rng=np.random.default_rng(4), pairing="unpaired")
    width = {name: r.easy_minus_hard.hi - r.easy_minus_hard.lo for name, r in [("paper", paper), ("un", unpaired)]}
    assert 0 < width["paper"] < width["un"] and paper.value == 1.0


def test_the_papers_draws_match_a_loop_over_its_r_code():
    """One row draw for every grid, each grid's own column draw, differences cell by cell with NaN dropped
    (``bootstrapBminusAoverCminusA`` in analysis.Rmd), replayed draw by draw from the same generator."""
    rng = np.random.default_rng(8)
    grids = [bernoulli(p, (7, 3), rng) for p in (0.6, 0.8, 0.3)]
    untested = rng.random((7, 3)) < 0.3
    for g in grids:
        g[untested] = np.nan
    n_boot = 200
    draws = paper_draws(grids, n_boot, np.random.default_rng(9))
    replay = np.random.default_rng(9)
    rows = replay.integers(0, 7, size=(n_boot, 7))
    cols = [replay.integers(0, 3, size=(n_boot, 3)) for _ in grids]
    for b in range(n_boot):
        sample = [g[rows[b]][:, c[b]] for g, c in zip(grids, cols, strict=True)]
        for i, j in [(0, 2), (1, 2), (0, 1)]:
            cellwise = sample[i] - sample[j]
            expected = np.nanmean(cellwise) if np.isfinite(cellwise).any() else np.nan
            np.testing.assert_allclose(draws.diff(i, j)[b], expected)
        for i in range(3):
            expected = np.nanmean(sample[i]) if np.isfinite(sample[i]).any() else np.nan
            np.testing.assert_allclose(draws.mean(i)[b], expected)


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
    hard, unsup = own_items(bernoulli(0.8, (120, 3), rng)), own_items(bernoulli(0.3, (120, 3), rng))
    res = sgr(hard.copy(), hard, unsup, n_boot=1000, rng=rng, ci="nested")
    assert res.value == 1.0 and res.lo == pytest.approx(1.0) and res.hi == pytest.approx(1.0)
    assert res.ci == "nested"


@pytest.mark.parametrize(
    ("ci", "pairing", "message"),
    [
        ("seed-t", "unpaired", "the unpaired pairing is for the bootstraps"),
        ("seed-t", "paper", "the paper pairing is for the bootstraps"),
        ("nested", "paper", "the paper's pairing is a scheme of the grid bootstrap"),
        ("grid", "crossed", "unknown pairing 'crossed'"),
        ("t", "paired", "unknown interval method 't'"),
    ],
)
def test_bad_method_or_pairing_raise_one_line_errors(ci, pairing, message):
    with pytest.raises(E2HError, match=message) as info:
        check_ci(ci, pairing)
    assert "\n" not in str(info.value)
