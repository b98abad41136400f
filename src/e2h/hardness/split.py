"""Train/test splits by hardness level, a pure function of the seed.

The rule, in order:

1. **Test first.** Items are levelled (:mod:`e2h.hardness.levels`; items missing the measure take
   no part). A generator ``make_rng(seed, "split", measure, test_on)`` permutes each tested level
   (all three for ``test_on="all"``) in the order easy, medium, hard. Each level holds back the first
   ``reserve[level]`` items of its permutation as the only items of that level training may use
   (``reserve``: a number for every level or ``{level: n}``, a level it does not name holds nothing back;
   default ``n_train``); a level with ``reserve[level]`` items or fewer cannot supply a training set, so
   nothing is held back from it (GSM8k's 63 hard items stay testable when ``n_train=160``). Then:

   * ``n_test=None`` (the paper's "test on every remaining item"): every item not held back is a test item;
   * ``n_test=k`` over several levels (``test_on="all"``), ``test_draw="stratified"`` (the default; the paper's
     ``stratified_test_sampling`` in ``utils/data_utils.py`` and main.py's ``iloc[:n_test]``): from the items
     not held back, ``ceil(k/3)`` per level taken in turn, and the set cut to ``k`` (the last level, hard,
     gives up the one or two extra items). When the smallest level has fewer than ``k/3`` items (3 × its size
     < ``k``), it is tested whole and each other level gives ``ceil((k - its size) / 2)``, or all it has when
     that is fewer (the shortfall is not made up elsewhere, so the set can come out smaller than ``k``); the
     one surplus item of that case is dropped at random. An empty level counts as a level (MMLU's levels 0/1
     leave medium empty: ``ceil(k/2)`` high-school and college items each); a test set with items of a single
     level is its first ``k`` items;
   * ``n_test=k`` on one level, or ``test_draw="random"``: the first ``k`` items of a permutation of the tested
     levels' items together, nothing held back (levels in proportion to their size; e2h's earlier rule).

   Nothing here depends on ``train_on``, so easy-trained, hard-trained and zero-shot cells of one
   seed are scored on identical test items (the paired comparison SGR needs). The grid passes, per
   level, the largest number of items any of its cells trains on from that level (0 for a level no cell
   trains on), so the test set is fixed across training sizes and a level nobody trains on is
   tested whole. ``Split.info`` records the reserve, the draw and the test size of each level. (The
   paper's code drew training items first, so its test sets differed between ``train_on``.)
2. **Then train.** A generator that also depends on ``train_on`` permutes the items of each training
   level that are not test items and takes the first ones (so a smaller ``n_train`` gives a subset of a
   larger one). ``easy``/``medium``/``hard``: ``n_train`` from that level. ``easy_and_hard``:
   ``ceil(n_train / 2)`` easy and ``floor(n_train / 2)`` hard items (the paper takes ``ceil`` of each, one
   extra item when ``n_train`` is odd). ``all`` (the paper's, e.g. its all-to-all table): levels in proportion
   to their size in the table, as a random draw of ``n_train`` of its levelled items would have them (the
   levels of the first ``n_train`` items of a permutation), each level's share from its non-test items.
   ``all_balanced`` (e2h's): equal shares of the levels the table has, the first levels (easy first) taking
   the remainder.

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

TRAIN_ON = ("easy", "medium", "hard", "all", "all_balanced", "easy_and_hard")
TEST_ON = ("easy", "medium", "hard", "all")
#: how a fixed-size test set over several levels is drawn (rule 1 of the module docstring)
TEST_DRAWS = ("stratified", "random")


def train_levels(train_on: str) -> tuple[str, ...]:
    """The levels a training kind draws from: ``easy_and_hard`` two, ``all`` and ``all_balanced`` every level."""
    return {"easy_and_hard": ("easy", "hard"), "all": LEVELS, "all_balanced": LEVELS}.get(train_on, (train_on,))


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
    test_draw: str = "stratified",
) -> Split:
    """Draw a train/test split by hardness level (rule in the module docstring).

    ``cutoffs``: a :class:`Cutoffs`, a ``(lo, hi)`` pair or ``{measure: (lo, hi)}`` overrides; None uses
    the cutoff table, else percentiles. ``test_measure``/``test_cutoffs`` describe ``test_items`` when
    they differ (e.g. ARC ``human_grade`` → MMLU ``human_level``); they default to ``measure``/``cutoffs``.
    ``test_draw``: ``stratified`` or ``random``, for a fixed ``n_test`` over several levels.
    """
    _check_args(train_on, test_on, n_train, n_test, reserve)
    if test_draw not in TEST_DRAWS:
        raise E2HError(f"unknown test_draw {test_draw!r}: choose one of {', '.join(TEST_DRAWS)}.")
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
    draw = _effective_draw(test_on, n_test, test_draw)
    test_pos = _draw_test(test_levels, test_on, n_test, reserves, test_rng, test_measure, test_cut, draw)

    excluded = np.zeros(len(items), dtype=bool)
    if transfer:
        excluded[items["id"].isin(set(test_items["id"].iloc[test_pos])).to_numpy()] = True
    else:
        excluded[test_pos] = True
    train_rng = make_rng(seed, "split", measure, test_on, "train", train_on)
    train_pos = _draw_train(train_levels, excluded, train_on, n_train, train_rng, measure, train_cut)

    train = items.iloc[train_pos].assign(level=train_levels[train_pos]).reset_index(drop=True)
    test = test_items.iloc[test_pos].assign(level=test_levels[test_pos]).reset_index(drop=True)
    reserved = {lv: reserves[lv] for lv in _tested(test_on)} if draw != "random" else None
    info = {
        **_common_info(items, train, test, measure, train_on, test_on, seed, n_test, reserved),
        "test_draw": draw,
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
        **_common_info(items, train, test, RANDOM, "all", "all", seed, n_test, reserve if n_test is None else None),
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


def _effective_draw(test_on: str, n_test: int | None, test_draw: str) -> str:
    """``remaining`` (n_test None), ``stratified`` (a fixed size over several levels, unless asked otherwise) or
    ``random``."""
    if n_test is None:
        return "remaining"
    return test_draw if len(_tested(test_on)) > 1 else "random"


def _draw_test(
    levels: np.ndarray,
    test_on: str,
    n_test: int | None,
    reserves: dict[str, int],
    rng: np.random.Generator,
    measure: str,
    cut: Cutoffs,
    draw: str,
) -> np.ndarray:
    """Positions of the test items, in table order (``draw``: see :func:`_effective_draw`)."""
    wanted = _tested(test_on)
    if draw == "random":
        pool = np.flatnonzero(_in_levels(levels, wanted))
        if n_test > len(pool):
            raise E2HError(
                f"cannot draw {n_test} test items from level {test_on!r} of {measure!r}: only {len(pool)} exist "
                f"({_describe(levels, cut)}); lower n_test, use n_test=None (every remaining item) "
                "or change the cutoffs."
            )
        return np.sort(rng.permutation(pool)[:n_test])
    pools = []  # per tested level, its items not held back for training, in drawn order
    for level in (lv for lv in LEVELS if lv in wanted):
        shuffled = rng.permutation(np.flatnonzero(levels == level))
        held = reserves[level]
        pools.append(shuffled[held:] if len(shuffled) > held else shuffled)
    if draw == "stratified":
        available = sum(len(pool) for pool in pools)
        if n_test > available:
            raise E2HError(
                f"cannot draw {n_test} test items from level {test_on!r} of {measure!r}: only {available} are not "
                f"held back for training ({_describe(levels, cut)}; held back per level {reserves}); lower n_test "
                "or n_train, use n_test=None (every remaining item) or change the cutoffs."
            )
        test_pos = stratified_draw(pools, n_test, rng)
    else:
        test_pos = np.concatenate(pools)
    if len(test_pos) == 0:
        raise E2HError(
            f"level {test_on!r} of {measure!r} has no items to test on ({_describe(levels, cut)}); "
            "choose another test level or change the cutoffs."
        )
    return np.sort(test_pos)


def stratified_draw(pools: list[np.ndarray], n_test: int, rng: np.random.Generator) -> np.ndarray:
    """The paper's stratified test set of ``n_test`` items from ``pools`` (each level's items, shuffled).

    ``ceil(n_test / 3)`` from each of three levels, cut to ``n_test`` (the last level gives up the surplus);
    when ``3 × smallest < n_test`` the smallest level is taken whole, each other gives ``ceil(rest / 2)`` or all
    it has, and the one surplus item is dropped at random (``data_utils.stratified_test_sampling``; the cut is
    main.py's ``iloc[:n_test]``). Pools with items from a single level: its first ``n_test``.
    """
    if sum(len(pool) > 0 for pool in pools) < 2:
        return np.concatenate(pools)[:n_test]
    sizes = [len(pool) for pool in pools]
    smallest = int(np.argmin(sizes))
    if len(pools) * sizes[smallest] < n_test:
        share = math.ceil((n_test - sizes[smallest]) / (len(pools) - 1))
        drawn = np.concatenate([pool if i == smallest else pool[:share] for i, pool in enumerate(pools)])
        return rng.permutation(drawn)[:n_test]
    share = math.ceil(n_test / len(pools))
    return np.concatenate([pool[:share] for pool in pools])[:n_test]


def _train_shares(levels: np.ndarray, train_on: str, n_train: int, rng: np.random.Generator) -> list[tuple[str, int]]:
    """``(level, items to draw from it)`` for a training kind (rule 2 of the module docstring)."""
    if train_on == "easy_and_hard":
        return [("easy", math.ceil(n_train / 2)), ("hard", n_train // 2)]
    if train_on == "all":  # the levels a random draw of n_train levelled items would have
        first = levels[rng.permutation(np.flatnonzero(_in_levels(levels, LEVELS)))[:n_train]]
        return [(level, int(np.sum(first == level))) for level in LEVELS]
    if train_on == "all_balanced":
        present = [level for level in LEVELS if np.any(levels == level)] or list(LEVELS)
        share, extra = divmod(n_train, len(present))
        return [(level, share + (i < extra)) for i, level in enumerate(present)]
    return [(train_on, n_train)]


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
    shares = _train_shares(levels, train_on, n_train, rng)
    part = "" if len(shares) == 1 else f" (its share of train_on={train_on!r}, n_train={n_train})"
    drawn = []
    for level, n in shares:
        pool = np.flatnonzero((levels == level) & ~excluded)
        in_level = int(np.sum(levels == level))
        if n > in_level:
            raise E2HError(
                f"cannot draw {n} training items from level {level!r} of {measure!r}{part}: it has only {in_level} "
                f"items ({_describe(levels, cut)}); lower n_train or change the cutoffs."
            )
        if n > len(pool):
            available = ", ".join(f"{lv} {int(np.sum((levels == lv) & ~excluded))}" for lv in LEVELS)
            raise E2HError(
                f"cannot draw {n} training items from level {level!r} of {measure!r}{part}: only {len(pool)} are not "
                f"test items (available for training: {available}; table: {_describe(levels, cut)}); "
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
        "reserve": reserve,
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
