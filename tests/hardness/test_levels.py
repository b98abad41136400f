"""Levels under a measure: boundaries, missing values, unknown measures."""

from __future__ import annotations

import numpy as np
import pytest

from e2h.errors import E2HError
from e2h.hardness import Cutoffs, assign_levels, level_counts


def test_boundaries_are_inclusive(items_factory):
    items = items_factory([4, 5, 5.5, 6, 7, 7.99, 8, 9, np.nan])
    levels = assign_levels(items, "human_grade")  # ARC table: (5, 8)
    assert levels.tolist() == ["easy", "easy", "medium", "medium", "medium", "medium", "hard", "hard", None]
    assert levels.index.equals(items.index)


def test_cutoffs_can_be_an_object_a_pair_or_overrides(items_factory):
    items = items_factory([3, 4, 5, 6, 7, 8])
    expected = ["easy", "easy", "medium", "medium", "hard", "hard"]
    assert assign_levels(items, "human_grade", Cutoffs(4, 7)).tolist() == expected
    assert assign_levels(items, "human_grade", (4, 7)).tolist() == expected
    assert assign_levels(items, "human_grade", {"human_grade": (4, 7)}).tolist() == expected


def test_lo_equal_hi_makes_that_value_easy(items_factory):
    items = items_factory([5, 6, 7])
    assert assign_levels(items, "human_grade", (6, 6)).tolist() == ["easy", "easy", "hard"]


def test_percentile_levels_for_a_measure_without_table_entry(items_factory):
    items = items_factory([5] * 10, question_num_words=list(range(1, 11)))  # cutoffs 3.7 / 7.3
    levels = assign_levels(items, "question_num_words")
    assert levels.tolist() == ["easy"] * 3 + ["medium"] * 4 + ["hard"] * 3


def test_dataset_argument_selects_the_table_entry(items_factory):
    items = items_factory([1, 2, 3, 4, 5, 6, 7], dataset="my-upload")
    items["num_steps"] = items["human_grade"]
    gsm = assign_levels(items, "num_steps", dataset="gsm8k")  # (4, 7)
    sqa = assign_levels(items, "num_steps", dataset="strategyqa")  # (2, 4)
    assert gsm.tolist() == ["easy"] * 4 + ["medium"] * 2 + ["hard"]
    assert sqa.tolist() == ["easy"] * 2 + ["medium"] + ["hard"] * 4


def test_level_counts(graded_items):
    counts = level_counts(graded_items, "human_grade")
    assert counts == {"easy": 150, "medium": 100, "hard": 50, "missing": 20}


def test_unknown_measure_suggests_the_closest_column(graded_items):
    with pytest.raises(E2HError, match=r"unknown measure 'human_grad': did you mean 'human_grade'") as info:
        assign_levels(graded_items, "human_grad")
    message = str(info.value)
    assert "question_num_words" in message and "\n" not in message


def test_non_numeric_measure_is_an_error(graded_items):
    graded_items["human_bloom"] = "Remembering"
    with pytest.raises(E2HError, match="not numeric"):
        assign_levels(graded_items, "human_bloom", (1, 3))
