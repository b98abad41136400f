"""Fixed-size test sets over several levels: the paper's stratified draw, and the random draw kept as an option.

graded_items: easy 150, medium 100, hard 50, missing 20. With n_train=10 every level holds back 10 items for
training, leaving 140 / 90 / 40 to test on.
"""

from __future__ import annotations

import numpy as np
import pytest

from e2h.errors import E2HError
from e2h.hardness import TRAIN_ON, make_split


def _counts(split) -> tuple[int, int, int]:
    return tuple(split.info["test_counts"][level] for level in ("easy", "medium", "hard"))


def _draw(items, n_test, *, seed=0, train_on="easy", n_train=10, **kwargs):
    return make_split(items, "human_grade", train_on, "all", n_train=n_train, n_test=n_test, seed=seed, **kwargs)


@pytest.mark.parametrize(("n_test", "counts"), [(60, (20, 20, 20)), (61, (21, 21, 19)), (62, (21, 21, 20))])
def test_a_third_per_level_and_the_last_level_gives_up_the_surplus(graded_items, n_test, counts):
    """ceil(k/3) per level in turn, cut to k (main.py's iloc[:n_test]): hard gives up the extra items."""
    split = _draw(graded_items, n_test)
    assert _counts(split) == counts and len(split.test) == n_test
    assert split.info["test_draw"] == "stratified" and split.info["reserve"] == {"easy": 10, "medium": 10, "hard": 10}


def test_a_small_level_is_tested_whole_and_the_rest_split_between_the_others(graded_items):
    """3 × 40 hard items < 150: hard whole, then ceil((150 - 40) / 2) = 55 from easy and medium each."""
    assert _counts(_draw(graded_items, 150)) == (55, 55, 40)
    # 151: ceil(111 / 2) = 56 each, 152 drawn, the set shuffled and cut to 151: one item of any level dropped
    counts = {_counts(_draw(graded_items, 151, seed=seed)) for seed in range(20)}
    assert counts == {(56, 55, 40), (55, 56, 40), (56, 56, 39)}


def test_a_level_short_of_its_share_gives_all_it_has_and_the_set_comes_up_short(graded_items):
    """230: hard 40 whole, 95 wanted from each other level, medium has 90: 225 items, as the paper's rule gives."""
    split = _draw(graded_items, 230)
    assert _counts(split) == (95, 90, 40) and len(split.test) == 225


def test_a_level_no_larger_than_its_reserve_is_tested_whole(graded_items):
    """reserve 50: hard's 50 items cannot supply a training set, so all of them are test items (a third = 20)."""
    split = _draw(graded_items, 60, reserve=50)
    assert _counts(split) == (20, 20, 20)
    whole = _draw(graded_items, 200, reserve=50)  # 3 × 50 < 200: hard whole, 75 from easy (100 left) and medium (50)
    assert _counts(whole) == (75, 50, 50)


def test_an_empty_level_counts_as_a_level(items_factory):
    """MMLU-like: two levels, no medium item: ceil(k/2) from each of the other two, one dropped at random."""
    items = items_factory([3] * 60 + [8] * 60)
    for seed in range(6):
        split = make_split(items, "human_grade", "easy", "all", n_train=5, n_test=41, seed=seed)
        easy, medium, hard = _counts(split)
        assert medium == 0 and {easy, hard} == {20, 21}


def test_test_items_ignore_train_on_and_come_from_the_seed(graded_items):
    """One reserve for every cell (the grid passes it): easy, hard, mixed and zero-shot cells share test items."""
    reserve = {"easy": 20, "medium": 20, "hard": 20}
    tests = {
        train_on: tuple(_draw(graded_items, 75, train_on=train_on, n_train=20, reserve=reserve, seed=4).test["id"])
        for train_on in TRAIN_ON
    }
    tests["zero-shot"] = tuple(_draw(graded_items, 75, n_train=0, reserve=reserve, seed=4).test["id"])
    assert len(set(tests.values())) == 1
    again = _draw(graded_items, 75, n_train=20, reserve=reserve, seed=4)
    assert tuple(again.test["id"]) == tests["easy"]
    assert tuple(_draw(graded_items, 75, n_train=20, reserve=reserve, seed=5).test["id"]) != tests["easy"]
    # the stratified set is part of the n_test=None set of the same reserve (the same level permutations)
    remaining = _draw(graded_items, None, n_train=20, reserve=reserve, seed=4)
    assert set(tests["easy"]) <= set(remaining.test["id"])


def test_the_random_draw_is_a_named_option(graded_items):
    """test_draw="random": the first k of one permutation of every tested item, levels in proportion."""
    shares = np.array([_counts(_draw(graded_items, 150, test_draw="random", seed=s)) for s in range(8)]).mean(axis=0)
    assert shares[0] > 65 and shares[2] < 35  # about 150 × (150, 100, 50) / 300, not (55, 55, 40)
    split = _draw(graded_items, 150, test_draw="random")
    assert split.info["test_draw"] == "random" and split.info["reserve"] is None
    one_level = make_split(graded_items, "human_grade", "easy", "hard", n_train=10, n_test=20, seed=0)
    assert one_level.info["test_draw"] == "random"  # one level: nothing to stratify
    with pytest.raises(E2HError, match="unknown test_draw 'proportional'"):
        _draw(graded_items, 30, test_draw="proportional")


def test_more_test_items_than_are_not_held_back_is_an_error(graded_items):
    with pytest.raises(E2HError, match=r"cannot draw 280 test items from level 'all'.*only 270 are not held back"):
        _draw(graded_items, 280)
