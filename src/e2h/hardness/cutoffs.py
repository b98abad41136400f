"""The cutoff table: where easy ends and hard begins, per (dataset, measure).

An item is **easy** when ``x <= lo``, **hard** when ``x >= hi`` and **medium** strictly
between (when ``lo == hi`` an item at that value is easy). The values are the paper's
(Hase et al. 2024, ``data_x_hardness_var_to_cutoffs`` in its ``globals.py``); a measure
without an entry is cut at the 30th/70th percentiles of its non-missing values, as the
paper does for model-based and length measures.

Resolution order in :func:`get_cutoffs`: a run config's ``overrides`` → the table → percentiles.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from e2h.data.catalog import base_name
from e2h.errors import E2HError

#: Bump when a value in :data:`CUTOFF_TABLE` changes; results record it.
CUTOFF_TABLE_VERSION = "1"

#: Percentiles used for measures without a table entry (easy at or below the first, hard at or above the second).
PERCENTILES = (30.0, 70.0)

#: (dataset, measure) → (lo, hi). The paper calls ``human_dok`` ``human_depth_of_knowledge`` and
#: MMLU's ``human_level`` ``human_hardness``; ``arc_challenge`` (0 = ARC-Easy, 1 = ARC-Challenge) is ours.
CUTOFF_TABLE: dict[tuple[str, str], tuple[float, float]] = {
    ("arc", "human_grade"): (5, 8),
    ("arc", "human_bloom"): (2, 4),
    ("arc", "human_difficulty"): (1, 3),
    ("arc", "human_dok"): (1, 3),
    ("arc", "arc_challenge"): (0, 1),
    ("mmlu-stem5", "human_level"): (0, 1),
    ("strategyqa", "num_steps"): (2, 4),
    ("gsm8k", "num_steps"): (4, 7),
}

CutoffSource = Literal["override", "table", "percentile"]


@dataclass(frozen=True)
class Cutoffs:
    """Level boundaries: easy ``x <= lo``, hard ``x >= hi``, medium in between."""

    lo: float
    hi: float
    source: CutoffSource = "override"

    def __post_init__(self) -> None:
        if self.lo > self.hi:
            raise E2HError(f"cutoffs lo={self.lo} > hi={self.hi}: easy needs x <= lo and hard x >= hi, so lo <= hi.")


def table_dataset(dataset: str | None) -> str | None:
    """The dataset name under which ``dataset``'s cutoffs are tabled (a view's are its base's, see the catalog)."""
    return base_name(dataset) if dataset else None


def get_cutoffs(
    dataset: str | None,
    measure: str,
    overrides: Mapping[str, Sequence[float]] | None = None,
    values: Sequence[float] | np.ndarray | None = None,
) -> Cutoffs:
    """The cutoffs for ``measure`` of ``dataset``.

    ``overrides`` (``{measure: (lo, hi)}``, e.g. from a run config) win; then the table; otherwise
    the 30th/70th percentiles of ``values`` (the measure's column; NaN ignored).
    """
    if overrides and measure in overrides:
        lo, hi = _parse_pair(measure, overrides[measure])
        return Cutoffs(lo, hi, "override")
    key = (table_dataset(dataset), measure)
    if key in CUTOFF_TABLE:
        lo, hi = CUTOFF_TABLE[key]
        return Cutoffs(float(lo), float(hi), "table")
    if values is None:
        raise E2HError(
            f"no cutoff table entry for measure {measure!r} of dataset {dataset!r}: "
            f"pass the measure's values (percentile cutoffs) or an override {{{measure!r}: (lo, hi)}}."
        )
    finite = np.asarray(values, dtype=float)
    finite = finite[~np.isnan(finite)]
    if finite.size == 0:
        raise E2HError(f"measure {measure!r} has no values (all missing): choose another measure or add its values.")
    lo, hi = np.percentile(finite, PERCENTILES)
    return Cutoffs(float(lo), float(hi), "percentile")


def parse_cutoff_option(text: str) -> tuple[str, tuple[float, float]]:
    """Parse ``"MEASURE=LO,HI"`` (the CLI's ``--cutoff``) into ``(measure, (lo, hi))``."""
    measure, sep, pair = text.partition("=")
    if not sep or not measure.strip() or pair.count(",") != 1:
        raise E2HError(f"bad cutoff {text!r}: write MEASURE=LO,HI, e.g. human_grade=5,8.")
    return measure.strip(), _parse_pair(measure.strip(), pair.split(","))


def _parse_pair(measure: str, pair: object) -> tuple[float, float]:
    """Validate one override: two finite numbers with lo <= hi."""
    if isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2:
        raise E2HError(f"cutoff override for {measure!r} is {pair!r}: give two numbers (lo, hi), e.g. (5, 8).")
    try:
        if any(isinstance(v, bool) for v in pair):
            raise ValueError
        lo, hi = (float(v) for v in pair)
    except (TypeError, ValueError):
        raise E2HError(
            f"cutoff override for {measure!r} is {pair!r}: lo and hi must be numbers, e.g. (5, 8)."
        ) from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise E2HError(f"cutoff override for {measure!r} is {pair!r}: lo and hi must be finite numbers.")
    if lo > hi:
        raise E2HError(
            f"cutoff override for {measure!r} has lo={lo:g} > hi={hi:g}: swap them (easy x <= lo, hard x >= hi)."
        )
    return lo, hi
