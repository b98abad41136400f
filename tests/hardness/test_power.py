"""The expected 95% half-width of Hard − Unsup before a run: the binomial approximation and its description."""

from __future__ import annotations

import math

import numpy as np
import pytest

from e2h.hardness.power import (
    TARGET_HALF_WIDTH,
    difference_half_width,
    hard_power,
    items_for_half_width,
)


@pytest.mark.parametrize(("n", "p"), [(13, 0.25), (166, 0.5), (600, 0.25)])
def test_the_half_width_matches_simulated_differences_of_two_accuracies(n, p):
    """95% of |acc_a − acc_b| (two independent binomial accuracies p on n items) lie within the half-width."""
    rng = np.random.default_rng(0)
    diffs = (rng.binomial(n, p, 40_000) - rng.binomial(n, p, 40_000)) / n
    simulated = np.quantile(np.abs(diffs), 0.95)
    assert difference_half_width(n, p) == pytest.approx(simulated, rel=0.12)


def test_items_needed_for_a_half_width_and_the_edges():
    assert difference_half_width(13, 0.25) == pytest.approx(1.96 * math.sqrt(2 * 0.25 * 0.75 / 13), rel=1e-3)
    needed = items_for_half_width(TARGET_HALF_WIDTH, 0.25)
    assert difference_half_width(needed, 0.25) <= TARGET_HALF_WIDTH < difference_half_width(needed - 1, 0.25)
    assert needed == 577 and items_for_half_width(TARGET_HALF_WIDTH, 0.5) == 769
    assert difference_half_width(0, 0.25) == math.inf


def test_a_group_counts_effective_items_over_seeds_and_says_what_it_assumed():
    shared = hard_power([{"a", "b", "c"}, {"a", "b", "c"}], chance=0.25)  # seeds testing the same items
    fresh = hard_power([{"a", "b", "c"}, {"d", "e", "f"}], chance=0.25)  # disjoint items: items × seeds
    overlap = hard_power([{"a", "b", "c", "d"}, {"c", "d", "e", "f"}], chance=0.25)  # m = 1, 1, 2, 2, 1, 1
    assert (shared.per_seed, shared.distinct, shared.effective) == ((3, 3), 3, 3.0)
    assert (fresh.distinct, fresh.effective) == (6, 6.0)
    assert (overlap.distinct, overlap.effective) == (6, 64 / 12)  # (Σ m)² / Σ m² = 8² / 12
    assert shared.half_width > overlap.half_width > fresh.half_width
    text = shared.describe()
    assert text.startswith(
        "3 hard test items × 2 seeds (3 distinct, 3 effective): expected 95% half-width of Hard − Unsup ±0.693"
    )
    assert "p = 0.25, the items' chance rate" in text and "cannot reach ±0.05, which needs 577 effective" in text
    generated = hard_power([set(map(str, range(800)))], chance=None)
    assert generated.p == 0.5 and "generated answers have no chance rate" in generated.describe()
    assert "× 1 seed (800 distinct, 800 effective)" in generated.describe() and "reaches ±0.05" in generated.describe()
