"""``mdl_proxy``: the paper's model-based hardness (Hase et al. 2024, §3 "MDL").

The paper holds out a pool of items, fits a learner on nested training sets of that pool
(n ∈ {5, 20, 80, 340, 900}, 5 resamples each), scores every *other* item's gold-answer
probability under each fit, and takes ``1 − mean`` over all fits (and over models). So an item
is hard when models trained on a little data give its answer low probability.

The pool holds ``min(1000, N // 3)`` items: the paper's 1,000 for ARC (4,417 items) and GSM8k
(1,319 → 439 here, since 1,000 would leave too few items to measure), a third of the smaller
sets (MMLU-STEM-5: 582, StrategyQA: 763). Training sizes larger than the pool are dropped.
Resample ``r`` permutes the pool with ``make_rng(seed, "mdl_proxy", "resample", r)`` and trains on
its first ``n`` items, so the training sets of one resample are nested. Pool items get no value
(``held_out``: NaN in the item table, so they take part in no split that uses the measure).

A learner that trains on nothing (``zero-shot``: the paper's "MDL (ZS Prompt)", its ``decoding`` hardness method
with ``supervision_n = [0]`` and one bootstrap, ``run_jobs.py``) is fitted once, on no items, and by default
holds out no pool (``holdout`` 0): every item gets ``1 −`` its zero-shot gold probability, as the paper computed
it for MMLU and StrategyQA, which have no hardness pool (``data_utils.write_datasets_with_known_hardness``). A
pool can still be asked for (``holdout`` > 0), e.g. to compare with a probe's measure on the same items. A learner
that trains needs a pool.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from e2h.errors import E2HError
from e2h.learners import Learner
from e2h.measures.checkpoint import Checkpoint
from e2h.progress import bar
from e2h.seeding import make_rng

SIZES = (5, 20, 80, 340, 900)
RESAMPLES = 5
MAX_POOL = 1000


def pool_size(n_items: int, holdout: int | None = None, *, trains: bool = True) -> int:
    """Items held out for training: ``holdout`` if given, else ``min(1000, n_items // 3)`` for a learner that
    trains and 0 (no pool) for one that does not."""
    if holdout is None:
        return min(MAX_POOL, n_items // 3) if trains else 0
    if isinstance(holdout, bool) or not isinstance(holdout, int | np.integer):
        raise E2HError(f"mdl_proxy holdout must be a whole number of items, got {holdout!r}: pass --set holdout=1000.")
    low = 1 if trains else 0
    if not low <= holdout < n_items:
        fix = "a learner that trains needs a pool: pass holdout=1000 (or --learner zero-shot for no pool)"
        raise E2HError(
            f"mdl_proxy needs {low} <= holdout < {n_items} items, got {holdout}: "
            + (fix if trains and holdout == 0 else "pass another holdout")
            + "."
        )
    return int(holdout)


def held_out_mask(n_items: int, pool: int, seed: int) -> np.ndarray:
    """(n_items,) bool: the training pool, a seeded draw independent of the resamples."""
    mask = np.zeros(n_items, dtype=bool)
    mask[make_rng(seed, "mdl_proxy", "pool").permutation(n_items)[:pool]] = True
    return mask


def mdl_gold_probs(
    items: pd.DataFrame,
    make: Callable[[], Learner],
    *,
    seed: int,
    sizes: tuple[int, ...] = SIZES,
    resamples: int = RESAMPLES,
    holdout: int | None = None,
    trains: bool = True,
    checkpoint: Checkpoint,
    unit: str = "",
) -> tuple[np.ndarray, np.ndarray]:
    """(held_out (N,) bool, gold probabilities (n_fits, N), NaN on the pool) of one model.

    Each fit is one checkpoint unit ``{unit}r{r}_n{n}`` (``{unit}untrained``: the one fit of a learner that
    ``trains`` on nothing).
    """
    pool = held_out_mask(len(items), pool_size(len(items), holdout, trains=trains), seed)
    pool_pos, rest_pos = np.flatnonzero(pool), np.flatnonzero(~pool)
    if not trains:
        probs = np.full((1, len(items)), np.nan)
        gold = checkpoint.get(f"{unit}untrained")
        if gold is None:
            predictions = make().fit(items.iloc[:0]).predict(items.iloc[rest_pos])
            gold = checkpoint.put(f"{unit}untrained", predictions.gold_prob)
        probs[0, rest_pos] = gold
        return pool, probs
    sizes = tuple(n for n in sizes if n <= len(pool_pos)) or (len(pool_pos),)
    rest = items.iloc[rest_pos]
    probs = np.full((resamples * len(sizes), len(items)), np.nan)
    with bar(f"mdl_proxy fits {unit}".strip(), total=len(probs), unit="fit") as progress:
        for r in range(resamples):
            order = pool_pos[make_rng(seed, "mdl_proxy", "resample", r).permutation(len(pool_pos))]
            for s, n in enumerate(sizes):
                key = f"{unit}r{r}_n{n}"
                gold = checkpoint.get(key)
                if gold is None:
                    learner = make().fit(items.iloc[order[:n]])
                    gold = checkpoint.put(key, learner.predict(rest).gold_prob)
                probs[r * len(sizes) + s, rest_pos] = gold
                progress.update(1)
    return pool, probs
