"""sgr: hand-computed values, pairing, the undefined case, the two-sided p and item/seed alignment."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from e2h.analysis.resampling import draw_indices, means_for_indices
from e2h.analysis.stats import sgr
from e2h.errors import E2HError

RNG = 0


def rng() -> np.random.Generator:
    return np.random.default_rng(RNG)


def test_half_the_gap_recovered_by_hand():
    # Unsupervised never right, hard always right, easy right on 2 of 4 items (both seeds): SGR = 0.5.
    easy = np.array([[1, 1], [1, 1], [0, 0], [0, 0]], dtype=float)
    hard, unsup = np.ones((4, 2)), np.zeros((4, 2))
    res = sgr(easy, hard, unsup, n_boot=4000, rng=rng())
    assert res.defined and res.reason == ""
    assert res.value == 0.5
    assert (res.gap_lo, res.gap_hi) == (1.0, 1.0)
    assert res.lo <= 0.5 <= res.hi
    assert (res.easy.mean, res.hard.mean, res.unsup.mean) == (0.5, 1.0, 0.0)
    # The ratio draws are the easy draws here (denominator 1): a resample of 4 items → k/4.
    assert set(np.round([res.lo, res.hi], 6)) <= {0.0, 0.25, 0.5, 0.75, 1.0}


def test_pairing_makes_identical_easy_and_hard_exactly_one():
    generator = np.random.default_rng(1)
    hard = (generator.random((50, 3)) < 0.8).astype(float)
    unsup = (generator.random((50, 3)) < 0.3).astype(float)
    res = sgr(hard.copy(), hard, unsup, n_boot=2000, rng=rng())
    assert res.defined
    assert res.value == 1.0
    assert res.lo == pytest.approx(1.0) and res.hi == pytest.approx(1.0)  # every paired draw is exactly 1


def test_ratio_draws_match_a_loop_reference():
    generator = np.random.default_rng(2)
    grids = [(generator.random((6, 3)) < p).astype(float) for p in (0.6, 0.8, 0.3)]
    for g in grids[1:]:
        g[np.isnan(grids[0])] = np.nan
    item_idx, seed_idx = draw_indices(6, 3, 300, np.random.default_rng(3))
    e_b, h_b, u_b = means_for_indices(grids, item_idx, seed_idx)
    for b in range(300):
        sample = [g[item_idx[b]][:, seed_idx[b]] for g in grids]
        assert e_b[b] - u_b[b] == pytest.approx(np.mean(sample[0] - sample[2]))
        assert h_b[b] - u_b[b] == pytest.approx(np.mean(sample[1] - sample[2]))


def test_undefined_when_hard_does_not_beat_unsupervised():
    easy = np.array([[1, 0], [1, 1], [0, 1]], dtype=float)
    same = np.array([[1, 0], [0, 1], [1, 0]], dtype=float)
    res = sgr(easy, same, same.copy(), n_boot=1000, rng=rng())
    assert not res.defined
    assert np.isnan(res.value) and np.isnan(res.lo) and np.isnan(res.hi)
    assert res.reason == "hard supervision does not beat the unsupervised baseline (gap CI [0.000, 0.000] contains 0)"


def test_undefined_when_hard_is_worse_than_unsupervised():
    res = sgr(np.ones((20, 2)), np.zeros((20, 2)), np.ones((20, 2)), n_boot=500, rng=rng())
    assert not res.defined
    assert "lies below 0" in res.reason and res.gap_hi < 0


def test_easy_minus_unsupervised_has_a_two_sided_p():
    n_boot = 999
    better = sgr(np.ones((10, 2)), np.ones((10, 2)), np.zeros((10, 2)), n_boot=n_boot, rng=rng())
    assert better.easy_minus_unsup.mean == 1.0
    assert better.easy_minus_unsup.p_value == pytest.approx(2 / (n_boot + 1))  # no draw on either side of 0
    no_gain = sgr(np.zeros((10, 2)), np.ones((10, 2)), np.zeros((10, 2)), n_boot=n_boot, rng=rng())
    assert no_gain.easy_minus_unsup.p_value == 1.0
    assert no_gain.defined and no_gain.value == 0.0
    worse = sgr(np.zeros((10, 2)), np.ones((10, 2)), np.ones((10, 2)), n_boot=n_boot, rng=rng())
    assert worse.easy_minus_unsup.mean == -1.0 and worse.easy_minus_unsup.p_value == pytest.approx(2 / (n_boot + 1))


def test_dataframes_are_aligned_by_item_id_and_seed():
    generator = np.random.default_rng(4)
    items, seeds = [f"q{i}" for i in range(30)], [0, 1, 2]
    frames = [
        pd.DataFrame((generator.random((30, 3)) < p).astype(float), index=items, columns=seeds) for p in (0.6, 0.8, 0.3)
    ]
    expected = sgr(*(f.sort_index().to_numpy() for f in frames), n_boot=1000, rng=rng())
    assert sgr(*frames, n_boot=1000, rng=rng()) == expected
    shuffled = [frames[0].iloc[::-1, ::-1], frames[1].sample(frac=1, random_state=0), frames[2]]
    assert sgr(*shuffled, n_boot=1000, rng=rng()) == expected


def test_misaligned_item_ids_raise():
    grid = pd.DataFrame(np.ones((3, 2)), index=["a", "b", "c"], columns=[0, 1])
    other = pd.DataFrame(np.zeros((3, 2)), index=["a", "b", "z"], columns=[0, 1])
    with pytest.raises(E2HError, match="identical test items"):
        sgr(grid, grid, other, n_boot=10, rng=rng())


def test_misaligned_seeds_raise():
    grid = pd.DataFrame(np.ones((3, 2)), index=["a", "b", "c"], columns=[0, 1])
    other = pd.DataFrame(np.zeros((3, 2)), index=["a", "b", "c"], columns=[0, 2])
    with pytest.raises(E2HError, match="same seeds"):
        sgr(grid, other, grid, n_boot=10, rng=rng())


def test_different_missing_cells_or_shapes_raise():
    a = np.ones((3, 2))
    b = a.copy()
    b[0, 0] = np.nan
    with pytest.raises(E2HError, match=r"different \(item, seed\) pairs"):
        sgr(a, b, a, n_boot=10, rng=rng())
    with pytest.raises(E2HError, match="aligned grids"):
        sgr(a, np.ones((4, 2)), a, n_boot=10, rng=rng())
