"""Measure summaries and rank correlations (what `e2h data show/correlate` print)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from e2h.errors import E2HError
from e2h.hardness.summary import has_values, spearman_matrix, summarize_measure


def test_discrete_measure_summary(graded_items):
    summary = summarize_measure(graded_items, "human_grade")
    assert (summary.cutoffs.lo, summary.cutoffs.hi, summary.cutoffs.source) == (5, 8, "table")
    assert summary.counts == {"easy": 150, "medium": 100, "hard": 50, "missing": 20}
    assert summary.distribution == {3.0: 50, 4.0: 50, 5.0: 50, 6.0: 50, 7.0: 50, 8.0: 50}
    assert summary.quantiles is None
    assert summary.small_levels() == ["easy", "medium", "hard"]  # all < 160 items
    assert summary.small_levels(n_train=100) == ["hard"]
    assert summary.small_levels(n_train=50) == []


def test_continuous_measure_summary_uses_quantiles(graded_items):
    summary = summarize_measure(graded_items, "question_num_words")
    values = graded_items["question_num_words"].to_numpy()
    assert summary.distribution is None
    assert summary.quantiles[0.0] == values.min() and summary.quantiles[1.0] == values.max()
    assert summary.quantiles[0.3] == pytest.approx(summary.cutoffs.lo)  # percentile cutoffs = 30 %/70 % quantiles
    assert summary.cutoffs.source == "percentile"


def test_binary_measure_has_no_medium_level_to_warn_about(items_factory):
    items = items_factory([5] * 6, arc_challenge=[0, 0, 0, 1, 1, 1])
    summary = summarize_measure(items, "arc_challenge")
    assert summary.counts["medium"] == 0
    assert summary.small_levels(n_train=3) == [] and summary.small_levels(n_train=4) == ["easy", "hard"]


def test_summary_with_override(graded_items):
    summary = summarize_measure(graded_items, "human_grade", {"human_grade": (3, 7)})
    assert summary.counts == {"easy": 50, "medium": 150, "hard": 100, "missing": 20}


def test_spearman_uses_pairwise_complete_items(items_factory):
    rng = np.random.default_rng(0)
    grade = rng.integers(3, 9, size=60).astype(float)
    words = grade * 3 + rng.normal(0, 2, size=60)
    steps = rng.integers(1, 5, size=60).astype(float)
    grade[:10] = np.nan  # missing grades must not drop the other pairs' rows
    items = items_factory(list(grade), question_num_words=list(words), num_steps=list(steps))
    matrix = spearman_matrix(items)
    assert list(matrix.columns) == ["human_grade", "question_num_words", "num_steps"]
    expected = stats.spearmanr(grade[10:], words[10:]).statistic
    assert matrix.loc["human_grade", "question_num_words"] == pytest.approx(expected)
    expected_all = stats.spearmanr(words, steps).statistic
    assert matrix.loc["question_num_words", "num_steps"] == pytest.approx(expected_all)
    assert np.allclose(np.diag(matrix), 1.0)


def test_summary_of_an_unknown_measure(graded_items):
    with pytest.raises(E2HError, match="did you mean 'human_grade'"):
        summarize_measure(graded_items, "human_grades")


def test_has_values(graded_items):
    assert has_values(graded_items, "human_grade")
    assert not has_values(graded_items.assign(blank=np.nan), "blank")
    with pytest.raises(E2HError, match="did you mean 'human_grade'"):
        has_values(graded_items, "human_grades")
