"""Easy / medium / hard levels of an item table under one hardness measure.

``easy: x <= lo``, ``hard: x >= hi``, ``medium`` strictly between; an item whose measure is
missing (NaN) has no level (``None``) and takes part in no split on that measure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from e2h.data.schema import measure_columns
from e2h.errors import E2HError
from e2h.hardness.cutoffs import Cutoffs, get_cutoffs
from e2h.registry import did_you_mean

LEVELS = ("easy", "medium", "hard")

CutoffsLike = Cutoffs | Sequence[float] | Mapping[str, Sequence[float]]


def measure_values(items: pd.DataFrame, measure: str) -> pd.Series:
    """The float column of ``measure``; an unknown or non-numeric measure raises with a did-you-mean."""
    if measure not in items.columns:
        known = measure_columns(items)
        hint = did_you_mean(measure, known)
        hint = f"{hint} " if hint else ""
        raise E2HError(f"unknown measure {measure!r}: {hint}this table has {', '.join(known) or 'no measure columns'}.")
    try:
        return pd.to_numeric(items[measure], errors="raise").astype(float)
    except (TypeError, ValueError):
        raise E2HError(
            f"measure {measure!r} is not numeric: hardness measures must be numbers (NaN = missing)."
        ) from None


def dataset_of(items: pd.DataFrame) -> str | None:
    """The table's dataset name when every item shares one (used to look up table cutoffs)."""
    if "dataset" not in items.columns or items.empty:
        return None
    names = items["dataset"].dropna().unique()
    return str(names[0]) if len(names) == 1 else None


def resolve_cutoffs(
    items: pd.DataFrame, measure: str, cutoffs: CutoffsLike | None = None, dataset: str | None = None
) -> Cutoffs:
    """Turn ``cutoffs`` (a :class:`Cutoffs`, a ``(lo, hi)`` pair, an overrides mapping or None) into :class:`Cutoffs`.

    ``None`` and mappings go through :func:`get_cutoffs` with the table's dataset and values.
    """
    if isinstance(cutoffs, Cutoffs):
        return cutoffs
    overrides = cutoffs if isinstance(cutoffs, Mapping) else None
    if cutoffs is not None and overrides is None:
        overrides = {measure: cutoffs}
    values = measure_values(items, measure).to_numpy()
    return get_cutoffs(dataset or dataset_of(items), measure, overrides=overrides, values=values)


def levels_from_values(values: np.ndarray, cutoffs: Cutoffs) -> np.ndarray:
    """(n,) floats → (n,) object array of ``"easy" | "medium" | "hard" | None``."""
    values = np.asarray(values, dtype=float)
    out = np.full(values.shape, None, dtype=object)
    measured = ~np.isnan(values)
    out[measured] = "medium"
    out[measured & (values >= cutoffs.hi)] = "hard"
    out[measured & (values <= cutoffs.lo)] = "easy"  # last: at lo == hi an item is easy
    return out


def assign_levels(
    items: pd.DataFrame, measure: str, cutoffs: CutoffsLike | None = None, dataset: str | None = None
) -> pd.Series:
    """The level of every item (index aligned with ``items``, ``None`` where the measure is missing)."""
    resolved = resolve_cutoffs(items, measure, cutoffs, dataset)
    levels = levels_from_values(measure_values(items, measure).to_numpy(), resolved)
    return pd.Series(levels, index=items.index, name="level", dtype=object)


def level_counts(
    items: pd.DataFrame, measure: str, cutoffs: CutoffsLike | None = None, dataset: str | None = None
) -> dict[str, int]:
    """Items per level plus ``missing`` (no value): ``{"easy": n, "medium": n, "hard": n, "missing": n}``."""
    levels = assign_levels(items, measure, cutoffs, dataset)
    counts = {level: int((levels == level).sum()) for level in LEVELS}
    counts["missing"] = int(levels.isna().sum())
    return counts
