"""grid_bootstrap: the item × seed bootstrap of Hase et al. against hand-computed cases and a loop reference."""

from __future__ import annotations

import numpy as np
import pytest

from e2h.analysis.resampling import draw_indices, means_for_indices, resampled_means
from e2h.analysis.stats import grid_bootstrap
from e2h.errors import E2HError


def loop_reference(grid: np.ndarray, item_idx: np.ndarray, seed_idx: np.ndarray) -> np.ndarray:
    """The paper's loop: index rows, then columns, then nanmean — one draw at a time."""
    out = np.empty(len(item_idx))
    for b, (rows, cols) in enumerate(zip(item_idx, seed_idx, strict=True)):
        sample = grid[rows][:, cols]
        out[b] = np.nanmean(sample) if np.isfinite(sample).any() else np.nan
    return out


def test_vectorised_draws_equal_the_loop_reference_with_missing_cells():
    rng = np.random.default_rng(3)
    grid = (rng.random((7, 3)) < 0.5).astype(float)
    grid[rng.random((7, 3)) < 0.4] = np.nan
    item_idx, seed_idx = draw_indices(7, 3, 500, np.random.default_rng(4))
    fast = means_for_indices([grid], item_idx, seed_idx)[0]
    np.testing.assert_allclose(fast, loop_reference(grid, item_idx, seed_idx), rtol=0, atol=1e-12, equal_nan=True)


def test_all_correct_grid_has_a_degenerate_interval():
    est = grid_bootstrap(np.ones((5, 3)), n_boot=1000, rng=np.random.default_rng(0))
    assert (est.mean, est.lo, est.hi, est.n_items, est.n_seeds) == (1.0, 1.0, 1.0, 5, 3)


def test_identical_seeds_vary_only_with_items():
    # Every seed column is [1, 0]: a resample of 2 items has mean 0, 1/2 or 1 with probability 1/4, 1/2, 1/4.
    grid = np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    item_idx, seed_idx = draw_indices(2, 3, 20_000, np.random.default_rng(1))
    draws = means_for_indices([grid], item_idx, seed_idx)[0]
    assert set(np.unique(draws)) == {0.0, 0.5, 1.0}
    assert abs(np.mean(draws == 1.0) - 0.25) < 0.015
    assert abs(np.mean(draws == 0.5) - 0.50) < 0.015
    est = grid_bootstrap(grid, rng=np.random.default_rng(1))
    assert (est.mean, est.lo, est.hi) == (0.5, 0.0, 1.0)


def test_constant_columns_vary_only_with_seeds():
    # Seed 0 always right, seed 1 always wrong: only the seed resample moves the mean.
    grid = np.array([[1.0, 0.0]] * 6)
    draws = resampled_means([grid], 20_000, np.random.default_rng(2))[0]
    assert set(np.unique(draws)) == {0.0, 0.5, 1.0}
    assert abs(np.mean(draws == 0.0) - 0.25) < 0.015


def test_point_estimate_is_the_mean_of_observed_cells_and_empty_rows_are_dropped():
    grid = np.array([[1.0, np.nan], [0.0, 1.0], [np.nan, np.nan], [1.0, np.nan]])
    est = grid_bootstrap(grid, n_boot=2000, rng=np.random.default_rng(0))
    assert est.mean == pytest.approx(3 / 4)
    assert (est.n_items, est.n_seeds) == (3, 2)
    assert est.lo <= est.mean <= est.hi


def test_same_generator_seed_gives_identical_results_and_ci_shrinks_with_items():
    rng = np.random.default_rng(5)
    small = (rng.random((40, 3)) < 0.6).astype(float)
    large = (rng.random((2000, 3)) < 0.6).astype(float)
    a = grid_bootstrap(small, n_boot=2000, rng=np.random.default_rng(9))
    b = grid_bootstrap(small, n_boot=2000, rng=np.random.default_rng(9))
    assert a == b
    c = grid_bootstrap(large, n_boot=2000, rng=np.random.default_rng(9))
    assert (c.hi - c.lo) < (a.hi - a.lo) / 3


def test_interval_covers_the_true_rate_about_95_percent_of_the_time():
    rng = np.random.default_rng(11)
    covered = 0
    for _ in range(100):
        grid = (rng.random((80, 1)) < 0.7).astype(float)
        est = grid_bootstrap(grid, n_boot=1000, rng=rng)
        covered += est.lo <= 0.7 <= est.hi
    assert 88 <= covered <= 100


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        (np.array([[1.0, 2.0]]), "0/1"),
        (np.full((3, 2), np.nan), "no observed values"),
        (np.zeros((2, 2, 2)), "items × seeds"),
    ],
)
def test_bad_grids_raise_one_line_errors(grid, message):
    with pytest.raises(E2HError, match=message) as info:
        grid_bootstrap(grid, n_boot=10, rng=np.random.default_rng(0))
    assert "\n" not in str(info.value)


def test_blocks_of_draws_add_up_to_n_boot_and_repeat_with_the_same_generator():
    grid = (np.random.default_rng(6).random((30, 4)) < 0.5).astype(float)
    draws = resampled_means([grid, 1 - grid], 2_345, np.random.default_rng(7))
    assert draws.shape == (2, 2_345)
    np.testing.assert_allclose(draws[0] + draws[1], 1.0)  # the same resample for both grids
    np.testing.assert_array_equal(draws, resampled_means([grid, 1 - grid], 2_345, np.random.default_rng(7)))
