"""The three interval methods: grid (the paper's), nested bootstrap, t-interval over seeds."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from e2h.analysis.resampling import nested_counts, resampled_means
from e2h.analysis.stats import accuracy_estimate
from e2h.errors import E2HError


def disjoint_seeds(p_by_seed: list[float], n: int, rng: np.random.Generator) -> np.ndarray:
    """Each seed tests its own ``n`` items (NaN elsewhere), right with that seed's probability."""
    grid = np.full((n * len(p_by_seed), len(p_by_seed)), np.nan)
    for s, p in enumerate(p_by_seed):
        grid[s * n : (s + 1) * n, s] = rng.random(n) < p
    return grid


def test_nested_counts_draw_each_seed_copy_from_its_own_items():
    observed = np.array([[1, 0, 1], [1, 0, 0], [0, 1, 1], [1, 1, 0]], dtype=bool)  # seeds test 3, 2, 2 items
    counts = nested_counts(observed, 500, np.random.default_rng(0)).reshape(500, 4, 3)
    assert not counts[:, ~observed].any()  # never an item a seed did not test
    per_seed = counts.sum(axis=1)  # (B, seeds): copies of the seed × its number of items
    assert np.all(per_seed % observed.sum(axis=0) == 0)
    assert np.all((per_seed / observed.sum(axis=0)).sum(axis=1) == 3)  # 3 seed copies per draw
    assert (per_seed[:, 0] == 0).any() and (per_seed[:, 0] == 9).any()  # seeds are resampled too


def test_nested_with_one_seed_is_the_item_bootstrap():
    draws = resampled_means([np.array([[1.0], [0.0]])], 20_000, np.random.default_rng(1), "nested")[0]
    assert set(np.unique(draws)) == {0.0, 0.5, 1.0}
    assert abs(np.mean(draws == 1.0) - 0.25) < 0.015 and abs(np.mean(draws == 0.5) - 0.5) < 0.015


def test_nested_with_constant_seeds_varies_only_with_seeds():
    grid = np.array([[1.0, 0.0]] * 6)  # seed 0 always right, seed 1 always wrong
    draws = resampled_means([grid], 20_000, np.random.default_rng(2), "nested")[0]
    assert set(np.unique(draws)) == {0.0, 0.5, 1.0}
    assert abs(np.mean(draws == 0.0) - 0.25) < 0.015


def test_grid_inflates_item_variance_that_nested_keeps_when_seeds_agree():
    # No seed effect, each seed its own items: a seed drawn twice counts its items twice in the grid
    # bootstrap (perfectly correlated copies), but gets two independent item draws in the nested one.
    grid = disjoint_seeds([0.5, 0.5, 0.5], 100, np.random.default_rng(3))
    widths = {ci: accuracy_estimate(grid, ci, 4000, np.random.default_rng(4)) for ci in ("grid", "nested")}
    width = {ci: e.hi - e.lo for ci, e in widths.items()}
    assert width["nested"] < 0.9 * width["grid"]


def test_seed_t_by_hand():
    grid = np.full((30, 3), np.nan)
    for s, right in enumerate((4, 5, 6)):  # seed means 0.4, 0.5, 0.6 over 10 items each
        grid[10 * s : 10 * s + 10, s] = np.arange(10) < right
    est = accuracy_estimate(grid, "seed-t")
    half = stats.t.ppf(0.975, 2) * np.std([0.4, 0.5, 0.6], ddof=1) / np.sqrt(3)
    assert est.mean == pytest.approx(0.5)
    assert (est.lo, est.hi) == (pytest.approx(0.5 - half), pytest.approx(0.5 + half))
    assert (est.n_items, est.n_seeds, est.n_results) == (30, 3, 30)


def test_seed_t_with_one_seed_has_no_interval():
    est = accuracy_estimate(np.array([1.0, 0.0, 1.0]), "seed-t")
    assert est.mean == pytest.approx(2 / 3) and np.isnan(est.lo) and np.isnan(est.hi)


def test_with_three_seeds_that_differ_a_lot_only_seed_t_keeps_its_coverage():
    """Seeds' accuracies spread around 0.5 (sd 0.2): the bootstraps see 3 seeds and understate that spread."""
    rng = np.random.default_rng(5)
    covered = dict.fromkeys(("grid", "nested", "seed-t"), 0)
    for _ in range(200):
        grid = disjoint_seeds(list(np.clip(0.5 + rng.normal(0, 0.2, 3), 0.01, 0.99)), 60, rng)
        for ci in covered:
            est = accuracy_estimate(grid, ci, 400, rng)
            covered[ci] += est.lo <= 0.5 <= est.hi
    assert covered["seed-t"] >= 180
    assert covered["grid"] <= covered["seed-t"] - 10 and covered["nested"] <= covered["seed-t"] - 10


def test_estimates_count_results_items_and_seeds():
    grid = np.array([[1.0, np.nan], [0.0, 1.0], [np.nan, np.nan], [1.0, np.nan], [np.nan, 1.0]])
    for ci in ("grid", "nested", "seed-t"):
        est = accuracy_estimate(grid, ci, 500, np.random.default_rng(0))
        assert (est.n_results, est.n_items, est.n_seeds) == (5, 4, 2)
        assert est.mean == pytest.approx(4 / 5)


def test_nested_is_refused_where_seeds_share_their_test_items():
    # n_test: all: every seed tests the same items. A baseline that answers by the item alone has the same
    # answers in every seed; the nested bootstrap draws each seed's items anew and would shrink the item noise
    # by about √n_seeds (bench/coverage.py: its 95% interval covers 64–75% of the time).
    shared = np.repeat((np.random.default_rng(0).random((40, 1)) < 0.5).astype(float), 3, axis=1)
    with pytest.raises(E2HError, match=r"nested bootstrap assumes each seed tests its own items, but 100% ") as info:
        accuracy_estimate(shared, "nested")
    assert "\n" not in str(info.value) and "--ci grid" in str(info.value)
    half = shared.copy()
    half[:20, 1:] = np.nan  # 20 of 80 results on items only seed 0 tests: 75% shared, still refused
    with pytest.raises(E2HError, match="75% of these results"):
        accuracy_estimate(half, "nested")
    own = disjoint_seeds([0.5, 0.5, 0.5], 20, np.random.default_rng(1))
    own[:5, 1] = 1.0  # a few shared items are fine
    assert accuracy_estimate(own, "nested", 500).n_items == 60


def test_same_generator_gives_the_same_nested_interval():
    grid = disjoint_seeds([0.3, 0.6], 40, np.random.default_rng(6))
    a = accuracy_estimate(grid, "nested", 1500, np.random.default_rng(7))
    assert a == accuracy_estimate(grid, "nested", 1500, np.random.default_rng(7))


def test_unknown_method_is_a_one_line_error():
    with pytest.raises(E2HError, match="unknown interval method 'bca': use one of grid, nested, seed-t"):
        accuracy_estimate(np.ones(3), "bca")


def test_seed_t_intervals_stay_within_zero_and_one():
    grid = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0]])  # two seeds far apart: t(1) is wide
    est = accuracy_estimate(grid, "seed-t")
    assert (est.lo, est.hi) == (0.0, 1.0)
