"""The item table: one row per question, shared by every stage of e2h.

It is a ``pandas.DataFrame`` indexed by nothing special, with these columns:

=================  ==========================================================
``id``             stable string id, unique within the table (e.g. ``arc/Mercury_7175875``)
``dataset``        name of the dataset the item comes from
``question``       question text
``choices``        list of answer strings (one element for generative items)
``label``          index of the gold answer in ``choices``
``reasoning``      gold chain of thought (``""`` when unknown)
``subject``        subject or subset (``""`` when unknown)
``source_split``   split of the original source (``test``, ``validation``…)
measure columns    one float column per hardness measure; a missing value is NaN
=================  ==========================================================
"""

from __future__ import annotations

import math

import pandas as pd

from e2h.errors import E2HError

CORE_COLUMNS = ["id", "dataset", "question", "choices", "label", "reasoning", "subject", "source_split"]

#: Hardness measures that datasets may provide; model-based ones are named ``mdl_*``.
KNOWN_MEASURES = [
    "human_grade",
    "human_bloom",
    "human_difficulty",
    "human_dok",
    "human_level",
    "arc_challenge",
    "num_steps",
    "question_num_words",
    "answer_num_words",
    "answer_num_chars",
    "reasoning_num_words",
]


def measure_columns(items: pd.DataFrame) -> list[str]:
    """The hardness-measure columns of an item table, in table order.

    Known measures, model-based ``mdl_*`` ones, and any column listed in ``items.attrs["measures"]``
    (where :func:`e2h.data.load_dataset` records the measures of a user file).
    """
    declared = set(items.attrs.get("measures", ()))
    return [c for c in items.columns if c in KNOWN_MEASURES or c in declared or str(c).startswith("mdl_")]


def validate_items(items: pd.DataFrame, source: str = "item table") -> pd.DataFrame:
    """Check the item-table contract; raise one :class:`E2HError` naming the first bad row."""
    missing = [c for c in CORE_COLUMNS if c not in items.columns]
    if missing:
        raise E2HError(f"{source} lacks column(s) {', '.join(missing)}: every item table needs {CORE_COLUMNS}.")
    duplicated = items["id"][items["id"].duplicated()]
    if len(duplicated):
        raise E2HError(f"{source} has duplicate id {duplicated.iloc[0]!r}: ids must be unique.")
    for row, (choices, label) in enumerate(zip(items["choices"], items["label"], strict=True)):
        if not isinstance(label, int | float) or (isinstance(label, float) and math.isnan(label)):
            raise E2HError(f"{source} row {row}: label {label!r} is not an index into choices.")
        if len(choices) == 0 or not 0 <= int(label) < len(choices):
            raise E2HError(f"{source} row {row}: label {label} is outside choices 0..{len(choices) - 1}.")
    return items


def n_choices(items: pd.DataFrame) -> pd.Series:
    """Number of choices per item (1 for generative items)."""
    return items["choices"].map(len)
