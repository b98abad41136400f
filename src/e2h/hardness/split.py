"""Train/test splits by hardness level, a pure function of the seed.

The rule, in order:

1. **Test first.** Items are levelled (:mod:`e2h.hardness.levels`; items missing the measure take
   no part). A generator ``make_rng(seed, "split", measure, test_on)`` permutes the test level:

   * ``n_test=k``: the test set is the first ``k`` items of that permutation;
   * ``n_test=None`` (the paper's "test on every remaining item"): each level in the test level
     (all three for ``test_on="all"``) holds back the first ``reserve[level]`` items of its
     permutation as the only items of that level training may use; every other item of the test
     level is a test item. ``reserve`` is a number for every level or ``{level: n}`` (a level it
     does not name holds nothing back); it defaults to ``n_train`` for every level. A level with
     ``reserve[level]`` items or fewer cannot supply a training set, so nothing is held back from
     it: all its items are test items (GSM8k's 63 hard items stay testable when ``n_train=160``).

   Nothing here depends on ``train_on``, so easy-trained, hard-trained and zero-shot cells of one
   seed are scored on identical test items (the paired comparison SGR needs). The grid passes, per
   level, the largest ``n_train`` any of its cells trains on that level with (0 for a level no cell
   trains on), so the test set is fixed across training sizes and a level nobody trains on is
   tested whole. ``Split.info`` records the reserve and the test size of each level. (The paper's
   code drew training items first, so its test sets differed between ``train_on``.)
2. **Then train.** A generator that also depends on ``train_on`` permutes the items of the training
   level that are not test items and takes the first ``n_train`` (so a smaller ``n_train`` gives a
   subset of a larger one). ``easy_and_hard`` takes ``ceil(n_train / 2)`` easy and ``floor(n_train / 2)``
   hard items (the paper takes ``ceil`` of each, one extra item when ``n_train`` is odd).

With ``test_items`` (cross-dataset transfer) the test set is drawn from ``test_items`` by the same
rule, with ``reserve`` defaulting to 0 (no item of the test table is trained on, so ``n_test=None``
tests on the whole level; pass ``reserve=n_train`` to score on the same items as the in-domain
cells of that table). Training items whose ``id`` is a test id are left out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from e2h.errors import E2HError
from e2h.hardness.cutoffs import CUTOFF_TABLE_VERSION, Cutoffs
from e2h.hardness.levels import LEVELS, CutoffsLike, dataset_of, levels_from_values, measure_values, resolve_cutoffs
from e2h.seeding import make_rng

TRAIN_ON = ("easy", "medium", "hard", "all", "easy_and_hard")
TEST_ON = ("easy", "medium", "hard", "all")


@dataclass
class Split:
    """``train`` and ``test`` item tables (each with a ``level`` column) and ``info`` (counts, cutoffs)."""

    train: pd.DataFrame
    test: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)


def make_split(
    items: pd.DataFrame,
    measure: str,
    train_on: str,
    test_on: str,
    n_train: int,
    n_test: int | None,
    seed: int,
    cutoffs: CutoffsLike | None = None,
    test_items: pd.DataFrame | None = None,
    *,
    test_measure: str | None = None,
    test_cutoffs: CutoffsLike | None = None,
    reserve: int | Mapping[str, int] | None = None,
) -> Split:
    """Draw a train/test split by hardness level (rule in the module docstring).

    ``cutoffs``: a :class:`Cutoffs`, a ``(lo, hi)`` pair or ``{measure: (lo, hi)}`` overrides; None uses
    the cutoff table, else percentiles. ``test_measure``/``test_cutoffs`` describe ``test_items`` when
    they differ (e.g. ARC ``human_grade`` → MMLU ``human_level``); they default to ``measure``/``cutoffs``.
    """
    _check_args(train_on, test_on, n_train, n_test, reserve)
    transfer = test_items is not None
    test_measure = test_measure or measure
    if not transfer:
        test_items, test_cutoffs = items, cutoffs
    elif test_cutoffs is None and (isinstance(cutoffs, Mapping) or test_measure == measure):
        test_cutoffs = cutoffs

    train_cut = resolve_cutoffs(items, measure, cutoffs)
    train_levels = levels_from_values(measure_values(items, measure).to_numpy(), train_cut)
    test_cut = resolve_cutoffs(test_items, test_measure, test_cutoffs) if transfer else train_cut
    test_levels = (
        levels_from_values(measure_values(test_items, test_measure).to_numpy(), test_cut) if transfer else train_levels
    )
    if reserve is None:
        reserve = 0 if transfer else n_train
    reserves = _reserves(reserve)

    test_rng = make_rng(seed, "split", test_measure, test_on)
    test_pos = _draw_test(test_levels, test_on, n_test, reserves, test_rng, test_measure, test_cut)

    excluded = np.zeros(len(items), dtype=bool)
    if transfer:
        excluded[items["id"].isin(set(test_items["id"].iloc[test_pos])).to_numpy()] = True
    else:
        excluded[test_pos] = True
    train_rng = make_rng(seed, "split", measure, test_on, "train", train_on)
    train_pos = _draw_train(train_levels, excluded, train_on, n_train, train_rng, measure, train_cut)

    train = items.iloc[train_pos].assign(level=train_levels[train_pos]).reset_index(drop=True)
    test = test_items.iloc[test_pos].assign(level=test_levels[test_pos]).reset_index(drop=True)
    reserved = {lv: reserves[lv] for lv in _tested(test_on)}
    info = {
        **_common_info(items, train, test, measure, train_on, test_on, seed, n_test, reserved),
        "test_measure": test_measure,
        "transfer": transfer,
        "test_dataset": dataset_of(test_items),
        "cutoffs": _cutoffs_dict(train_cut),
        "test_cutoffs": _cutoffs_dict(test_cut),
        "cutoff_table_version": CUTOFF_TABLE_VERSION,
        "level_counts": _counts(train_levels),
        "test_table_level_counts": _counts(test_levels),
        "train_counts": _counts(train["level"].to_numpy()),
        "test_counts": _counts(test["level"].to_numpy()),
    }
    return Split(train=train, test=test, info=info)


RANDOM = "random"  # the measure name of a split without hardness levels


def make_random_split(
    items: pd.DataFrame, n_train: int, n_test: int | None, seed: int, *, reserve: int | None = None
) -> Split:
    """A split without hardness levels, a pure function of ``make_rng(seed, "split", "random")``'s permutation.

    As in :func:`make_split`, test items come first and do not depend on ``n_train``: with ``n_test=k`` they are
    the first ``k`` items of the permutation and training takes the next ``n_train``; with ``n_test=None`` the
    first ``reserve`` items (default ``n_train``; pass a grid's largest) are held back for training and every
    other item is a test item. A smaller ``n_train`` gives a subset of a larger one. Every ``level`` is ``"all"``.
    """
    _check_args("all", "all", n_train, n_test, reserve)
    reserve = n_train if reserve is None else max(reserve, n_train)
    held = n_test if n_test is not None else reserve
    needed = n_test + n_train if n_test is not None else reserve + 1
    if needed > len(items):
        wanted = (
            f"{n_test} test and {n_train} training items" if n_test else f"{reserve} training items and a test item"
        )
        raise E2HError(f"{len(items)} items cannot supply {wanted}: lower n_train (or --k / --n-train) or n_test.")
    order = make_rng(seed, "split", RANDOM).permutation(len(items))
    if n_test is not None:
        test_pos, train_pos = order[:n_test], order[n_test : n_test + n_train]
    else:
        test_pos, train_pos = order[held:], order[:n_train]
    train = items.iloc[train_pos].assign(level="all").reset_index(drop=True)
    test = items.iloc[np.sort(test_pos)].assign(level="all").reset_index(drop=True)
    info = {
        **_common_info(items, train, test, RANDOM, "all", "all", seed, n_test, reserve),
        "transfer": False,
        "test_counts": {"all": len(test)},
    }
    return Split(train=train, test=test, info=info)


def _reserves(reserve: int | Mapping[str, int]) -> dict[str, int]:
    """``{level: items held back}`` from a number for every level or a per-level mapping (0 where unnamed)."""
    if isinstance(reserve, Mapping):
        unknown = sorted(set(reserve) - set(LEVELS))
        if unknown:
            raise E2HError(f"reserve names unknown level(s) {unknown}: use easy, medium, hard.")
        for value in reserve.values():
            _check_reserve(value)
        return {level: int(reserve.get(level, 0)) for level in LEVELS}
    return dict.fromkeys(LEVELS, int(reserve))


def _tested(test_on: str) -> tuple[str, ...]:
    return LEVELS if test_on == "all" else (test_on,)


def _draw_test(
    levels: np.ndarray,
    test_on: str,
    n_test: int | None,
    reserves: dict[str, int],
    rng: np.random.Generator,
    measure: str,
    cut: Cutoffs,
) -> np.ndarray:
    """Positions of the test items, in table order."""
    wanted = _tested(test_on)
    if n_test is not None:
        pool = np.flatnonzero(_in_levels(levels, wanted))
        if n_test > len(pool):
            raise E2HError(
                f"cannot draw {n_test} test items from level {test_on!r} of {measure!r}: only {len(pool)} exist "
                f"({_describe(levels, cut)}); lower n_test, use n_test=None (every remaining item) "
                "or change the cutoffs."
            )
        return np.sort(rng.permutation(pool)[:n_test])
    test = []
    for level in (lv for lv in LEVELS if lv in wanted):
        shuffled = rng.permutation(np.flatnonzero(levels == level))
        held = reserves[level]
        test.append(shuffled[held:] if len(shuffled) > held else shuffled)
    test_pos = np.sort(np.concatenate(test))
    if len(test_pos) == 0:
        raise E2HError(
            f"level {test_on!r} of {measure!r} has no items to test on ({_describe(levels, cut)}); "
            "choose another test level or change the cutoffs."
        )
    return test_pos


def _draw_train(
    levels: np.ndarray,
    excluded: np.ndarray,
    train_on: str,
    n_train: int,
    rng: np.random.Generator,
    measure: str,
    cut: Cutoffs,
) -> np.ndarray:
    """Positions of the training items, in drawn order."""
    if train_on == "easy_and_hard":
        wants = [("easy", math.ceil(n_train / 2)), ("hard", n_train // 2)]
    else:
        wants = [(train_on, n_train)]
    drawn = []
    for level, n in wants:
        wanted = LEVELS if level == "all" else (level,)
        pool = np.flatnonzero(_in_levels(levels, wanted) & ~excluded)
        in_level = int(np.sum(_in_levels(levels, wanted)))
        if n > in_level:
            raise E2HError(
                f"cannot draw {n} training items from level {level!r} of {measure!r}: it has only {in_level} items "
                f"({_describe(levels, cut)}); lower n_train or change the cutoffs."
            )
        if n > len(pool):
            available = ", ".join(f"{lv} {int(np.sum((levels == lv) & ~excluded))}" for lv in LEVELS)
            raise E2HError(
                f"cannot draw {n} training items from level {level!r} of {measure!r}: only {len(pool)} are not test "
                f"items (available for training: {available}; table: {_describe(levels, cut)}); "
                f"lower n_train or n_test, or change the cutoffs."
            )
        drawn.append(rng.permutation(pool)[:n])
    train_pos = np.concatenate(drawn)
    return rng.permutation(train_pos) if len(drawn) > 1 else train_pos


def _common_info(
    items: pd.DataFrame,
    train: pd.DataFrame,
    test: pd.DataFrame,
    measure: str,
    train_on: str,
    test_on: str,
    seed: int,
    n_test: int | None,
    reserve: int | Mapping[str, int],
) -> dict[str, Any]:
    """The ``Split.info`` entries every split has (``reserve``: per tested level, or one number)."""
    return {
        "measure": measure,
        "train_on": train_on,
        "test_on": test_on,
        "seed": int(seed),
        "n_train": len(train),
        "n_test": len(test),
        "test_mode": "remaining" if n_test is None else "fixed",
        "reserve": reserve if n_test is None else None,
        "dataset": dataset_of(items),
    }


def _check_reserve(value: object) -> None:
    if not _is_count(value, minimum=0):
        raise E2HError(f"reserve={value!r}: give a whole number >= 0 (default: n_train), or {{level: number}}.")


def _check_args(
    train_on: str, test_on: str, n_train: int, n_test: int | None, reserve: int | Mapping[str, int] | None
) -> None:
    if train_on not in TRAIN_ON:
        raise E2HError(f"unknown train_on {train_on!r}: choose one of {', '.join(TRAIN_ON)}.")
    if test_on not in TEST_ON:
        raise E2HError(f"unknown test_on {test_on!r}: choose one of {', '.join(TEST_ON)}.")
    if not _is_count(n_train, minimum=0):
        raise E2HError(f"n_train={n_train!r}: give a whole number >= 0 (0 for zero-shot).")
    if n_test is not None and not _is_count(n_test, minimum=1):
        raise E2HError(f"n_test={n_test!r}: give a whole number >= 1, or None for every remaining item.")
    if reserve is not None and not isinstance(reserve, Mapping):
        _check_reserve(reserve)


def _in_levels(levels: np.ndarray, wanted: tuple[str, ...]) -> np.ndarray:
    """(n,) bool: the item's level is one of ``wanted`` (object arrays with None defeat ``np.isin``)."""
    return np.logical_or.reduce([levels == level for level in wanted])


def _is_count(value: object, minimum: int) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= minimum


def _counts(levels: np.ndarray) -> dict[str, int]:
    return {level: int(np.sum(levels == level)) for level in LEVELS}


def _describe(levels: np.ndarray, cut: Cutoffs) -> str:
    counts = ", ".join(f"{level} {n}" for level, n in _counts(levels).items())
    missing = int(np.sum(pd.isna(levels)))
    return f"{counts}, missing {missing}; cutoffs lo={cut.lo:g}, hi={cut.hi:g} ({cut.source})"


def _cutoffs_dict(cut: Cutoffs) -> dict[str, Any]:
    return {"lo": cut.lo, "hi": cut.hi, "source": cut.source}
