"""The cutoff table, overrides and the percentile fallback."""

from __future__ import annotations

import numpy as np
import pytest

from e2h.errors import E2HError
from e2h.hardness import CUTOFF_TABLE, CUTOFF_TABLE_VERSION, Cutoffs, get_cutoffs, parse_cutoff_option


@pytest.mark.parametrize(
    ("dataset", "measure", "expected"),
    [
        ("arc", "human_grade", (5, 8)),
        ("arc", "human_bloom", (2, 4)),
        ("arc", "human_difficulty", (1, 3)),
        ("arc", "human_dok", (1, 3)),
        ("arc", "arc_challenge", (0, 1)),
        ("mmlu-stem5", "human_level", (0, 1)),
        ("strategyqa", "num_steps", (2, 4)),
        ("gsm8k", "num_steps", (4, 7)),
    ],
)
def test_paper_values_come_from_the_table(dataset, measure, expected):
    cut = get_cutoffs(dataset, measure)
    assert (cut.lo, cut.hi) == expected
    assert cut.source == "table"


def test_table_is_versioned_and_complete():
    assert CUTOFF_TABLE_VERSION
    assert len(CUTOFF_TABLE) == 8


@pytest.mark.parametrize("view", ["arc-easy", "arc-challenge"])
def test_dataset_views_share_the_parent_cutoffs(view):
    assert get_cutoffs(view, "human_grade") == get_cutoffs("arc", "human_grade")


def test_num_steps_cutoffs_depend_on_the_dataset():
    assert get_cutoffs("gsm8k", "num_steps") != get_cutoffs("strategyqa", "num_steps")


def test_overrides_win_over_the_table():
    cut = get_cutoffs("arc", "human_grade", overrides={"human_grade": (3, 8)})
    assert cut == Cutoffs(3.0, 8.0, "override")


def test_overrides_for_other_measures_are_ignored():
    cut = get_cutoffs("arc", "human_grade", overrides={"human_bloom": (1, 5)})
    assert (cut.lo, cut.hi, cut.source) == (5, 8, "table")


def test_percentiles_for_measures_without_an_entry():
    values = np.array([*range(1, 11), np.nan, np.nan], dtype=float)  # NaN ignored
    cut = get_cutoffs("arc", "question_num_words", values=values)
    assert cut.source == "percentile"
    assert cut.lo == pytest.approx(np.percentile(np.arange(1, 11), 30))  # 3.7
    assert cut.hi == pytest.approx(np.percentile(np.arange(1, 11), 70))  # 7.3
    assert cut.lo == pytest.approx(3.7) and cut.hi == pytest.approx(7.3)


def test_unknown_dataset_falls_back_to_percentiles():
    cut = get_cutoffs("my-file", "human_grade", values=[1, 2, 3, 4, 5])
    assert cut.source == "percentile"


def test_no_entry_and_no_values_is_an_error():
    with pytest.raises(E2HError, match="question_num_words"):
        get_cutoffs("arc", "question_num_words")


def test_all_missing_values_is_an_error():
    with pytest.raises(E2HError, match="all missing"):
        get_cutoffs("arc", "question_num_words", values=[np.nan, np.nan])


@pytest.mark.parametrize(
    ("pair", "problem"),
    [
        ((8, 5), "lo=8 > hi=5"),
        (("a", 5), "must be numbers"),
        ((1,), "two numbers"),
        ("5,8", "two numbers"),
        ((True, 5), "must be numbers"),
        ((float("nan"), 5), "finite"),
    ],
)
def test_invalid_overrides_raise_one_line(pair, problem):
    with pytest.raises(E2HError, match=problem) as info:
        get_cutoffs("arc", "human_grade", overrides={"human_grade": pair})
    assert "\n" not in str(info.value)


def test_equal_lo_and_hi_is_allowed_but_cutoffs_reject_lo_above_hi():
    assert get_cutoffs("arc", "human_grade", overrides={"human_grade": [6, 6]}).lo == 6
    with pytest.raises(E2HError):
        Cutoffs(2.0, 1.0)


def test_parse_cutoff_option():
    assert parse_cutoff_option("human_grade=3,8") == ("human_grade", (3.0, 8.0))
    assert parse_cutoff_option("num_steps = 2.5, 4") == ("num_steps", (2.5, 4.0))
    for bad in ["human_grade", "human_grade=3", "=3,8", "human_grade=3,8,9", "human_grade=x,8"]:
        with pytest.raises(E2HError):
            parse_cutoff_option(bad)
