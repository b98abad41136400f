"""Splits: test items fixed across train_on, disjoint, deterministic, helpful when impossible."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from e2h.errors import E2HError
from e2h.hardness import LEVELS, TEST_ON, TRAIN_ON, assign_levels, make_split

# graded_items: easy 150, medium 100, hard 50, missing 20 (ARC grade cutoffs 5, 8).


def _ids(frame: pd.DataFrame) -> set[str]:
    return set(frame["id"])


@pytest.mark.parametrize("n_test", [30, None])
@pytest.mark.parametrize("test_on", TEST_ON)
def test_test_items_are_identical_whatever_train_on(graded_items, test_on, n_test):
    splits = {
        train_on: make_split(graded_items, "human_grade", train_on, test_on, n_train=20, n_test=n_test, seed=3)
        for train_on in TRAIN_ON
    }
    tests = [tuple(s.test["id"]) for s in splits.values()]
    assert all(t == tests[0] for t in tests)
    trains = [tuple(sorted(s.train["id"])) for s in splits.values()]
    assert len(set(trains)) == len(TRAIN_ON)  # the training sets do differ
    for s in splits.values():
        assert not _ids(s.train) & _ids(s.test)


@pytest.mark.parametrize(("train_on", "test_on"), itertools.product(TRAIN_ON, TEST_ON))
def test_levels_sizes_and_disjointness(graded_items, train_on, test_on):
    split = make_split(graded_items, "human_grade", train_on, test_on, n_train=20, n_test=25, seed=0)
    assert len(split.train) == 20 and len(split.test) == 25
    assert not _ids(split.train) & _ids(split.test)
    every = {"easy", "medium", "hard"}
    train_levels = {"all": every, "all_balanced": every, "easy_and_hard": {"easy", "hard"}}.get(train_on, {train_on})
    test_levels = {"easy", "medium", "hard"} if test_on == "all" else {test_on}
    assert set(split.train["level"]) <= train_levels
    assert set(split.test["level"]) <= test_levels
    # the level column agrees with assign_levels on the same rows
    truth = dict(zip(graded_items["id"], assign_levels(graded_items, "human_grade"), strict=True))
    for frame in (split.train, split.test):
        assert frame["level"].tolist() == [truth[i] for i in frame["id"]]
        assert frame["human_grade"].notna().all()  # unmeasured items take no part


def test_n_test_none_tests_on_every_item_of_the_level_except_the_training_reserve(graded_items):
    split = make_split(graded_items, "human_grade", "hard", "hard", n_train=20, n_test=None, seed=1)
    assert len(split.test) == 50 - 20
    assert _ids(split.train) | _ids(split.test) == set(graded_items.loc[graded_items["human_grade"] == 8, "id"])
    easy = make_split(graded_items, "human_grade", "easy", "hard", n_train=20, n_test=None, seed=1)
    assert easy.test["id"].tolist() == split.test["id"].tolist()
    assert (easy.train["level"] == "easy").all()
    assert split.info["test_mode"] == "remaining" and split.info["reserve"] == {"hard": 20}


def test_n_test_none_with_test_on_all_reserves_each_level(graded_items):
    split = make_split(graded_items, "human_grade", "all", "all", n_train=10, n_test=None, seed=2)
    assert split.info["test_counts"] == {"easy": 140, "medium": 90, "hard": 40}
    for train_on in ("easy", "medium", "hard", "easy_and_hard"):
        other = make_split(graded_items, "human_grade", train_on, "all", n_train=10, n_test=None, seed=2)
        assert other.test["id"].tolist() == split.test["id"].tolist()


def test_reserve_keeps_the_test_set_fixed_across_training_sizes(graded_items):
    tests = {
        n: make_split(graded_items, "human_grade", "hard", "hard", n_train=n, n_test=None, seed=0, reserve=20).test
        for n in (0, 5, 20)
    }
    assert tests[0]["id"].tolist() == tests[5]["id"].tolist() == tests[20]["id"].tolist()
    assert len(tests[0]) == 30


def test_smaller_n_train_is_a_subset_of_a_larger_one(graded_items):
    small = make_split(graded_items, "human_grade", "easy", "hard", n_train=10, n_test=20, seed=4)
    large = make_split(graded_items, "human_grade", "easy", "hard", n_train=40, n_test=20, seed=4)
    assert small.train["id"].tolist() == large.train["id"].tolist()[:10]


def test_same_inputs_same_split_and_seeds_differ(graded_items):
    args = dict(items=graded_items, measure="human_grade", train_on="easy", test_on="hard", n_train=30, n_test=20)
    a, b = make_split(**args, seed=7), make_split(**args, seed=7)
    pd.testing.assert_frame_equal(a.train, b.train)
    pd.testing.assert_frame_equal(a.test, b.test)
    assert a.info == b.info
    c = make_split(**args, seed=8)
    assert a.test["id"].tolist() != c.test["id"].tolist()
    assert a.train["id"].tolist() != c.train["id"].tolist()


def test_split_depends_on_content_not_on_the_object(graded_items):
    """The split is a function of the table content and seed: a copy gives the same ids."""
    copy = graded_items.copy(deep=True)
    a = make_split(graded_items, "human_grade", "medium", "easy", 15, 15, seed=5)
    b = make_split(copy, "human_grade", "medium", "easy", 15, 15, seed=5)
    assert a.train["id"].tolist() == b.train["id"].tolist()


@pytest.mark.parametrize(("n_train", "n_easy", "n_hard"), [(20, 10, 10), (21, 11, 10), (1, 1, 0)])
def test_easy_and_hard_rounding(graded_items, n_train, n_easy, n_hard):
    split = make_split(graded_items, "human_grade", "easy_and_hard", "medium", n_train, 10, seed=0)
    assert split.info["train_counts"] == {"easy": n_easy, "medium": 0, "hard": n_hard}
    assert split.info["n_train"] == n_train


def test_zero_shot_split_has_no_training_items(graded_items):
    split = make_split(graded_items, "human_grade", "easy", "hard", n_train=0, n_test=None, seed=0)
    assert split.train.empty and "level" in split.train.columns
    assert len(split.test) == 50


def test_impossible_training_request_states_the_counts_and_the_fix(graded_items):
    with pytest.raises(E2HError) as info:
        make_split(graded_items, "human_grade", "hard", "hard", n_train=40, n_test=20, seed=0)
    message = str(info.value)
    assert "cannot draw 40 training items from level 'hard'" in message
    assert "only 30 are not test items" in message
    assert "easy 150, medium 100, hard 50, missing 20" in message
    assert "lower n_train" in message and "cutoffs" in message and "\n" not in message


def test_impossible_test_request_and_empty_remaining_test(graded_items):
    with pytest.raises(E2HError, match=r"cannot draw 51 test items from level 'hard'.*only 50 exist"):
        make_split(graded_items, "human_grade", "easy", "hard", n_train=10, n_test=51, seed=0)
    with pytest.raises(E2HError, match="level 'hard' of 'human_grade' has no items to test on"):
        make_split(graded_items, "human_grade", "easy", "hard", n_train=5, n_test=None, seed=0, cutoffs=(5, 9))


def test_a_level_too_small_to_train_on_is_tested_whole(graded_items):
    """hard has 50 items: with n_train=50 (or more) nothing is held back, whatever train_on."""
    for n_train, why in [(50, "only 0 are not test items"), (60, "it has only 50 items")]:
        easy = make_split(graded_items, "human_grade", "easy", "hard", n_train=n_train, n_test=None, seed=0)
        medium = make_split(graded_items, "human_grade", "medium", "hard", n_train=n_train, n_test=None, seed=0)
        assert len(easy.test) == 50 and easy.test["id"].tolist() == medium.test["id"].tolist()
        with pytest.raises(E2HError, match=f"cannot draw {n_train} training items from level 'hard'.*{why}"):
            make_split(graded_items, "human_grade", "hard", "hard", n_train=n_train, n_test=None, seed=0)
        for mixture in ("all", "all_balanced"):  # their hard share has no item left to train on
            with pytest.raises(E2HError, match=f"from level 'hard'.*its share of train_on='{mixture}'"):
                make_split(graded_items, "human_grade", mixture, "hard", n_train=60, n_test=None, seed=0)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"train_on": "hardest"}, "unknown train_on"),
        ({"test_on": "easy_and_hard"}, "unknown test_on"),
        ({"n_train": -1}, "n_train"),
        ({"n_train": 2.5}, "n_train"),
        ({"n_test": 0}, "n_test"),
        ({"measure": "grade"}, "unknown measure"),
    ],
)
def test_bad_arguments(graded_items, kwargs, problem):
    args = dict(measure="human_grade", train_on="easy", test_on="hard", n_train=5, n_test=5, seed=0) | kwargs
    with pytest.raises(E2HError, match=problem):
        make_split(graded_items, **args)


def test_cutoff_overrides_change_the_levels(graded_items):
    split = make_split(graded_items, "human_grade", "easy", "hard", 20, 20, seed=0, cutoffs={"human_grade": (3, 7)})
    assert set(split.train["human_grade"]) == {3.0}
    assert set(split.test["human_grade"]) <= {7.0, 8.0}
    assert split.info["cutoffs"] == {"lo": 3.0, "hi": 7.0, "source": "override"}


def test_percentile_measure_split(graded_items):
    split = make_split(graded_items, "question_num_words", "easy", "hard", 20, 20, seed=0)
    assert split.info["cutoffs"]["source"] == "percentile"
    assert split.train["question_num_words"].max() <= split.info["cutoffs"]["lo"]
    assert split.test["question_num_words"].min() >= split.info["cutoffs"]["hi"]


def test_cross_dataset_transfer(graded_items, items_factory):
    mmlu = items_factory([np.nan] * 40, dataset="mmlu-stem5", prefix="m", human_level=[0] * 25 + [1] * 15)
    split = make_split(
        graded_items, "human_grade", "easy", "hard", 20, None, seed=0, test_items=mmlu, test_measure="human_level"
    )
    assert set(split.train["dataset"]) == {"arc"} and set(split.test["dataset"]) == {"mmlu-stem5"}
    assert (split.test["human_level"] == 1).all() and len(split.test) == 15  # nothing held back by default
    assert split.info["transfer"] and split.info["test_cutoffs"]["source"] == "table"
    paired = make_split(
        mmlu, "human_level", "hard", "hard", 5, None, seed=0, test_items=mmlu, reserve=5
    )  # in-domain-like reserve: same test items as the in-domain split of the MMLU table
    in_domain = make_split(mmlu, "human_level", "easy", "hard", 5, None, seed=0)
    assert paired.test["id"].tolist() == in_domain.test["id"].tolist()
    # the test items do not depend on where training items come from
    other = make_split(
        graded_items, "human_grade", "hard", "hard", 5, 10, seed=0, test_items=mmlu, test_measure="human_level"
    )
    again = make_split(
        graded_items, "human_grade", "easy", "hard", 5, 10, seed=0, test_items=mmlu, test_measure="human_level"
    )
    assert other.test["id"].tolist() == again.test["id"].tolist()


def test_transfer_never_trains_on_a_test_item(graded_items):
    """ARC-Easy-like test table that shares ids with the training table."""
    test_table = graded_items.iloc[:150].copy()  # the easy items
    split = make_split(graded_items, "human_grade", "easy", "easy", 140, 10, seed=0, test_items=test_table)
    assert not _ids(split.train) & _ids(split.test)
    with pytest.raises(E2HError, match="only 140 are not test items"):
        make_split(graded_items, "human_grade", "easy", "easy", 141, 10, seed=0, test_items=test_table)


@pytest.mark.integration
def test_paper_split_on_real_gsm8k():
    """GSM8k test: 63 items with >= 7 steps; easy- and medium-trained cells test on all of them."""
    from e2h.data import load_dataset

    items = load_dataset("gsm8k")
    easy = make_split(items, "num_steps", "easy", "hard", n_train=160, n_test=None, seed=0)
    medium = make_split(items, "num_steps", "medium", "hard", n_train=160, n_test=None, seed=0)
    assert easy.info["test_counts"] == {"easy": 0, "medium": 0, "hard": 63}
    assert easy.test["id"].tolist() == medium.test["id"].tolist()
    assert easy.train["num_steps"].max() <= 4 and len(easy.train) == 160
    with pytest.raises(E2HError, match="level 'hard' of 'num_steps': it has only 63 items"):
        make_split(items, "num_steps", "hard", "hard", n_train=160, n_test=None, seed=0)


def test_reserve_per_level_holds_back_only_where_asked(graded_items):
    """{level: n}: that level holds back n items for training; an unnamed level is tested whole."""
    split = make_split(graded_items, "human_grade", "easy", "all", 20, None, seed=5, reserve={"easy": 20})
    assert split.info["reserve"] == {"easy": 20, "medium": 0, "hard": 0}
    assert split.info["test_counts"] == {"easy": 130, "medium": 100, "hard": 50}
    assert not _ids(split.train) & _ids(split.test) and (split.train["level"] == "easy").all()
    uniform = make_split(graded_items, "human_grade", "easy", "all", 20, None, seed=5, reserve=20)
    mapped = make_split(graded_items, "human_grade", "easy", "all", 20, None, seed=5, reserve=dict.fromkeys(LEVELS, 20))
    assert uniform.test["id"].tolist() == mapped.test["id"].tolist()  # a number is that number for every level
    easy_ids = set(split.test.loc[split.test["level"] == "easy", "id"])
    assert easy_ids == set(uniform.test.loc[uniform.test["level"] == "easy", "id"])  # the same easy draw
    with pytest.raises(E2HError, match=r"reserve names unknown level\(s\) \['hardest'\]"):
        make_split(graded_items, "human_grade", "easy", "all", 20, None, seed=5, reserve={"hardest": 3})
    with pytest.raises(E2HError, match="reserve=-1"):
        make_split(graded_items, "human_grade", "easy", "all", 20, None, seed=5, reserve={"easy": -1})


def test_all_is_proportional_to_the_levels_and_all_balanced_takes_equal_shares(graded_items, items_factory):
    """train_on all: a random draw's levels (150 : 100 : 50); all_balanced: equal shares, easy first."""
    reserve = dict.fromkeys(LEVELS, 45)
    draws = [
        make_split(graded_items, "human_grade", "all", "all", 60, None, seed=s, reserve=reserve) for s in range(40)
    ]
    mean = np.mean([[d.info["train_counts"][lv] for lv in LEVELS] for d in draws], axis=0)
    assert np.allclose(mean, [30, 20, 10], atol=2.5)  # hypergeometric: sd about 3.4 per draw, 0.5 over 40
    small = make_split(graded_items, "human_grade", "all", "all", 20, None, seed=3, reserve=reserve)
    assert set(small.train["id"]) <= set(draws[3].train["id"])  # a smaller n_train is part of a larger one
    for n_train, shares in [(30, (10, 10, 10)), (31, (11, 10, 10))]:
        split = make_split(graded_items, "human_grade", "all_balanced", "all", n_train, None, seed=0, reserve=reserve)
        assert tuple(split.info["train_counts"][lv] for lv in LEVELS) == shares
    two_levels = items_factory([3] * 40 + [8] * 40)  # no medium item: halves
    split = make_split(two_levels, "human_grade", "all_balanced", "all", 31, None, seed=0, reserve=20)
    assert split.info["train_counts"] == {"easy": 16, "medium": 0, "hard": 15}
