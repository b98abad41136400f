"""What a dataset's hardness measures look like: levels, distributions, rank correlations.

The numbers behind ``e2h data show`` and ``e2h data correlate``; the CLI only prints them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from e2h.data.schema import measure_columns
from e2h.hardness.cutoffs import Cutoffs
from e2h.hardness.levels import (
    LEVELS,
    CutoffsLike,
    levels_from_values,
    measure_values,
    resolve_cutoffs,
)

#: The paper's largest training set; a level smaller than this cannot train a paper-sized cell.
PAPER_N_TRAIN = 160
#: Measures with at most this many distinct values are shown value by value, others by quantiles.
MAX_DISCRETE_VALUES = 12
QUANTILES = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0)


@dataclass(frozen=True)
class MeasureSummary:
    """One measure of one table: its cutoffs, items per level and distribution."""

    measure: str
    cutoffs: Cutoffs
    counts: dict[str, int]  # easy / medium / hard / missing
    distribution: dict[float, int] | None  # value → items, for discrete measures
    quantiles: dict[float, float] | None  # q → value, for continuous measures

    def small_levels(self, n_train: int = PAPER_N_TRAIN) -> list[str]:
        """Levels with fewer than ``n_train`` items (an empty medium level is no level: binary measures have none)."""
        return [level for level in LEVELS if self.counts[level] < n_train and (level != "medium" or self.counts[level])]


def has_values(items: pd.DataFrame, measure: str) -> bool:
    """Whether any item has a value of ``measure`` (an unknown measure raises, as in ``measure_values``)."""
    return bool(measure_values(items, measure).notna().any())


def summarize_measure(
    items: pd.DataFrame, measure: str, cutoffs: CutoffsLike | None = None, dataset: str | None = None
) -> MeasureSummary:
    """Cutoffs, level counts and the value distribution of ``measure``."""
    cut = resolve_cutoffs(items, measure, cutoffs, dataset)
    values = measure_values(items, measure).to_numpy()
    levels = levels_from_values(values, cut)
    counts = {level: int(np.sum(levels == level)) for level in LEVELS}
    counts["missing"] = int(np.isnan(values).sum())
    present = values[~np.isnan(values)]
    distinct, n = np.unique(present, return_counts=True)
    if len(distinct) <= MAX_DISCRETE_VALUES:
        distribution = {float(v): int(c) for v, c in zip(distinct, n, strict=True)}
        return MeasureSummary(measure, cut, counts, distribution, None)
    quantiles = {q: float(v) for q, v in zip(QUANTILES, np.quantile(present, QUANTILES), strict=True)}
    return MeasureSummary(measure, cut, counts, None, quantiles)


def spearman_matrix(items: pd.DataFrame, measures: list[str] | None = None) -> pd.DataFrame:
    """Spearman rank correlations between measures, each pair on the items that have both (NaN if < 3)."""
    measures = measure_columns(items) if measures is None else measures
    values = pd.DataFrame({m: measure_values(items, m) for m in measures}, index=items.index)
    return values.corr(method="spearman", min_periods=3)
