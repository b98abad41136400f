"""``prequential``: the online code length of each item's label, in bits (Voita & Titov 2020, block-wise).

Items are ordered by a seeded permutation and cut into blocks at doubling sizes: block ends
``b, 2b, 4b, … , N`` (``b = first_block``). The first block is coded with the uniform code,
``log₂ n_choices`` bits per item; every later item costs ``−log₂ p(gold)`` under the learner fitted
on all blocks before its own. The sum over items is the dataset's code length; the uniform code
costs ``Σ log₂ n_choices``, and their ratio is the compression. Per-item bits, averaged over
``permutations`` orders (``make_rng(seed, "prequential", p)``) and over models, is the measure.
Probabilities are floored at ``2⁻⁴⁰`` so that one confidently wrong fit costs at most 40 bits.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from e2h.learners import Learner
from e2h.measures.checkpoint import Checkpoint
from e2h.progress import bar
from e2h.seeding import make_rng

FIRST_BLOCK = 16
PERMUTATIONS = 3
MIN_PROB = 2.0**-40


def block_ends(n_items: int, first_block: int = FIRST_BLOCK) -> list[int]:
    """Ends of the blocks at doubling sizes: ``[b, 2b, 4b, …, n_items]``."""
    ends, end = [], max(1, int(first_block))
    while end < n_items:
        ends.append(end)
        end *= 2
    return [*ends, n_items]


def uniform_bits(items: pd.DataFrame) -> np.ndarray:
    """(N,) bits of the uniform code over each item's choices."""
    return np.log2(items["choices"].map(len).to_numpy(dtype=float))


def prequential_bits(
    items: pd.DataFrame,
    make: Callable[[], Learner],
    *,
    seed: int,
    permutations: int = PERMUTATIONS,
    first_block: int = FIRST_BLOCK,
    checkpoint: Checkpoint,
    unit: str = "",
) -> np.ndarray:
    """(permutations, N) bits of every item's label under each order; each fit is a unit ``{unit}p{p}_b{b}``."""
    ends = block_ends(len(items), first_block)
    bits = np.zeros((permutations, len(items)))
    with bar(f"prequential fits {unit}".strip(), total=permutations * (len(ends) - 1), unit="fit") as progress:
        for p in range(permutations):
            order = make_rng(seed, "prequential", p).permutation(len(items))
            first = order[: ends[0]]
            bits[p, first] = uniform_bits(items.iloc[first])
            for b in range(1, len(ends)):
                block = order[ends[b - 1] : ends[b]]
                key = f"{unit}p{p}_b{b}"
                gold = checkpoint.get(key)
                if gold is None:
                    learner = make().fit(items.iloc[order[: ends[b - 1]]])
                    gold = checkpoint.put(key, learner.predict(items.iloc[block]).gold_prob)
                bits[p, block] = -np.log2(np.maximum(gold, MIN_PROB))
                progress.update(1)
    return bits
