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


def pool_size(n_items: int, holdout: int | None = None) -> int:
    """Items held out for training: ``holdout`` if given, else ``min(1000, n_items // 3)``."""
    size = min(MAX_POOL, n_items // 3) if holdout is None else int(holdout)
    if not 0 < size < n_items:
        raise E2HError(f"mdl_proxy needs 0 < holdout < {n_items} items, got {size}: pass another --holdout.")
    return size


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
    checkpoint: Checkpoint,
    unit: str = "",
) -> tuple[np.ndarray, np.ndarray]:
    """(held_out (N,) bool, gold probabilities (n_fits, N), NaN on the pool) of one model.

    Each fit is one checkpoint unit ``{unit}r{r}_n{n}``.
    """
    pool = held_out_mask(len(items), pool_size(len(items), holdout), seed)
    pool_pos, rest_pos = np.flatnonzero(pool), np.flatnonzero(~pool)
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
