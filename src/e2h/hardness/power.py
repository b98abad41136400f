"""How precisely a design can measure Hard − Unsupervised, known before anything runs.

SGR = (Easy − Unsup) / (Hard − Unsup) is defined only where the 95% interval of Hard − Unsup lies above 0, so
a design whose hard test set cannot make that interval narrow cannot define an SGR, whatever the model does.
The estimate is a binomial approximation: both accuracies equal to ``p``, independent, over the hard test items of
all seeds, so the half-width is ``z · sqrt(2 p (1 − p) / n)``. ``n`` is the effective number of items of the pooled
mean, ``(Σ m_i)² / Σ m_i²`` for item ``i`` tested by ``m_i`` seeds: the number of items when every seed tests the
same ones (a repeated item adds no item-level information, and the report's bootstrap resamples items), items ×
seeds when the seeds' items are disjoint. ``p`` is the chance rate of those items (the
mean of 1 / number of choices), or 0.5 (the widest) where answers are generated and have no chance rate. Pairing
on the same items narrows the real interval when the two conditions agree on items; a better model than chance
(nearer 0 or 1) narrows it too, so this is a guide to the order of magnitude, not a promise.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054  # the normal 97.5% quantile
TARGET_HALF_WIDTH = 0.05  # a half-width that lets a 10-point Hard − Unsup gap be told from 0
WIDEST_P = 0.5  # where answers are generated: no chance rate, the widest binomial


def difference_half_width(n_items: float, p: float, z: float = Z95) -> float:
    """Half-width of the ``z`` interval of a difference of two independent accuracies ``p`` on ``n_items`` items."""
    if n_items <= 0:
        return math.inf
    return z * math.sqrt(2 * p * (1 - p) / n_items)


def items_for_half_width(half_width: float, p: float, z: float = Z95) -> int:
    """The fewest items whose :func:`difference_half_width` is at most ``half_width``."""
    return math.ceil(2 * p * (1 - p) * (z / half_width) ** 2)


@dataclass(frozen=True)
class HardPower:
    """The hard test items of one SGR group and the expected 95% half-width of Hard − Unsup on them."""

    per_seed: tuple[int, ...]  # hard test items of each seed
    distinct: int  # distinct hard test items over all seeds
    effective: float  # effective items of the pooled mean, (Σ m_i)² / Σ m_i² (module docstring)
    chance: float | None  # mean chance rate of those items; None where answers are generated

    @property
    def p(self) -> float:
        return self.chance if self.chance else WIDEST_P

    @property
    def half_width(self) -> float:
        return difference_half_width(self.effective, self.p)

    @property
    def needed(self) -> int:
        """Effective hard test items for a half-width of :data:`TARGET_HALF_WIDTH`."""
        return items_for_half_width(TARGET_HALF_WIDTH, self.p)

    def describe(self) -> str:
        """``63 hard test items × 5 seeds (63 distinct): Hard − Unsup 95% half-width ≈ ±0.15 (binomial …)``."""
        low, high = min(self.per_seed, default=0), max(self.per_seed, default=0)
        items = f"{low}" if low == high else f"{low}–{high}"
        where = (
            f"p = {self.p:.2f}, the items' chance rate"
            if self.chance
            else f"p = {WIDEST_P:g}, the widest: generated answers have no chance rate"
        )
        verdict = (
            f"reaches ±{TARGET_HALF_WIDTH:g}"
            if self.half_width <= TARGET_HALF_WIDTH
            else f"cannot reach ±{TARGET_HALF_WIDTH:g}, which needs {self.needed} effective hard items"
        )
        seeds = f"{len(self.per_seed)} seed{'s' if len(self.per_seed) != 1 else ''}"
        return (
            f"{items} hard test items × {seeds} ({self.distinct} distinct, {self.effective:.0f} effective): "
            f"expected 95% half-width of Hard − Unsup ±{self.half_width:.3f} (binomial approximation at {where}, "
            f"the two conditions independent); {verdict}"
        )


def hard_power(hard_items: Sequence[Collection[str]], chance: float | None) -> HardPower:
    """:class:`HardPower` from each seed's hard test item ids and their chance rate (None: generated answers)."""
    seeds_per_item = Counter(item for ids in hard_items for item in ids)
    total = sum(seeds_per_item.values())
    effective = total**2 / sum(m * m for m in seeds_per_item.values()) if total else 0.0
    return HardPower(tuple(len(ids) for ids in hard_items), len(seeds_per_item), effective, chance)
