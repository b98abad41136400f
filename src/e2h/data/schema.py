"""The item table: one row per question, shared by every stage of e2h.

It is a ``pandas.DataFrame`` indexed by nothing special, with these columns:

=================  ==========================================================
``id``             stable string id, unique within the table (e.g. ``arc/Mercury_7175875``)
``dataset``        name of the dataset the item comes from
``question``       question text
``choices``        list of answer strings (one element for generative items)
``label``          index of the gold answer in ``choices``
``reasoning``      gold chain of thought (``""`` when unknown); its line breaks reach chain-of-thought prompts, so
                   the default preparations store it on one line (:func:`one_line`)
``subject``        subject or subset (``""`` when unknown)
``source_split``   split of the original source (``test``, ``validation``…)
``answer_kind``    how a generated answer is read and graded: ``choice``, ``number`` or ``yes-no``
measure columns    one float column per hardness measure; a missing value is NaN
=================  ==========================================================

The facts of a dataset (:class:`DatasetFacts`) say how its items are prompted and answered: the
default prompt format, the answer kind and the rule that extracts an answer from generated text,
and the run defaults an experiment takes unless its config says otherwise: the in-context ``k``,
the test size ``n_test`` and the unsupervised baseline learner. They are data here; the names of formats, answer
kinds and rules, and the rule that infers an answer kind, live in :mod:`e2h.answering`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from e2h.answering import ANSWER_KINDS, EXTRACTION_RULES, PROMPT_FORMATS, infer_answer_kind
from e2h.errors import E2HError
from e2h.measure_names import is_computed_name
from e2h.registry import Registry

CORE_COLUMNS = ["id", "dataset", "question", "choices", "label", "reasoning", "subject", "source_split"]

#: Hardness measures that datasets may provide; computed (model-based) ones are named as :mod:`e2h.measure_names` says.
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

_LINE_BREAK = re.compile(r"\s*\n\s*")


def one_line(text: str) -> str:
    """``text`` with each line break (and the spaces around it) as one space; text on one line is returned as is.

    The default preparations store ``reasoning`` so, as the paper's demonstrations show it; a variant that keeps
    the line breaks (GSM8k ``verbatim``) shows them in chain-of-thought prompts.
    """
    return _LINE_BREAK.sub(" ", text)


@dataclass(frozen=True)
class DatasetFacts:
    """How a dataset's items are prompted and answered, and its run defaults (see :func:`e2h.data.dataset_facts`)."""

    format: str = "listed"  # default prompt format, one of PROMPT_FORMATS
    answer_kind: str = "choice"  # one of ANSWER_KINDS
    extraction: str = "last"  # answer extraction rule, one of EXTRACTION_RULES
    k: int = 10  # in-context demonstrations (the paper: 10 for ARC/MMLU, 8 for StrategyQA/GSM8k)
    n_test: int | None = None  # test items per cell; None = every item of the test level not held back
    unsupervised: str = "zero-shot"  # the learner of the unsupervised baseline (a learner name)


def _names(kind: str, names: tuple[str, ...]) -> Registry[str]:
    registry: Registry[str] = Registry(kind)
    for name in names:
        registry.register(name, name)
    return registry


_FACT_VALUES = {
    "format": _names("format", PROMPT_FORMATS),
    "answer_kind": _names("answer_kind", ANSWER_KINDS),
    "extraction": _names("extraction", EXTRACTION_RULES),
}
_RUN_DEFAULTS = {
    "k": (lambda v: _is_int(v) and v >= 0, "a whole number >= 0"),
    "n_test": (lambda v: v is None or (_is_int(v) and v > 0), "a whole number > 0, or null for every remaining item"),
    "unsupervised": (lambda v: isinstance(v, str) and bool(v.strip()), "a learner name (zero-shot, zero-shot-cot…)"),
}
_FACT_KEYS = _names("key", (*_FACT_VALUES, *_RUN_DEFAULTS))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_facts(values: Mapping[str, object], source: str) -> dict[str, object]:
    """``values`` (some of the :class:`DatasetFacts` fields) if every key and value is allowed.

    Otherwise one :class:`E2HError` naming ``source``, the key and the allowed keys or values.
    """
    for key, value in values.items():
        if key in _RUN_DEFAULTS:
            valid, wanted = _RUN_DEFAULTS[key]
            if not valid(value):
                raise E2HError(f"{source}: {key} {value!r} must be {wanted}.")
            continue
        if key not in _FACT_VALUES:
            raise E2HError(f"{source}: {_FACT_KEYS.unknown_message(str(key))}")
        if not isinstance(value, str) or value not in _FACT_VALUES[key]:
            raise E2HError(f"{source}: {_FACT_VALUES[key].unknown_message(str(value))}")
    return dict(values)


def infer_facts(items: pd.DataFrame) -> DatasetFacts:
    """The facts of a table that declares none: its ``answer_kind`` column when uniform, else its choices.

    The kind every item's choices give (:func:`e2h.answering.infer_answer_kind`), ``choice`` where they differ;
    then ``qa`` for yes/no and generative tables (one choice each), ``listed`` otherwise.
    """
    generative = all(len(row) == 1 for row in items["choices"])
    if "answer_kind" in items.columns and items["answer_kind"].nunique() == 1:
        kind = str(items["answer_kind"].iloc[0])
    else:
        kinds = {infer_answer_kind(row) for row in items["choices"]}
        kind = kinds.pop() if len(kinds) == 1 else "choice"
    return DatasetFacts(format="qa" if generative or kind == "yes-no" else "listed", answer_kind=kind)


def measure_columns(items: pd.DataFrame) -> list[str]:
    """The hardness-measure columns of an item table, in table order.

    Known measures, computed ones (named as :mod:`e2h.measure_names` says), and any column listed in
    ``items.attrs["measures"]``
    (where :func:`e2h.data.load_dataset` records the measures of a user file).
    """
    declared = set(items.attrs.get("measures", ()))
    return [c for c in items.columns if c in KNOWN_MEASURES or c in declared or is_computed_name(str(c))]


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
    if "answer_kind" in items.columns:
        bad = ~items["answer_kind"].isin(ANSWER_KINDS).to_numpy()
        if bad.any():
            row = int(bad.argmax())
            raise E2HError(
                f"{source} row {row}: answer_kind {items['answer_kind'].iloc[row]!r} is not one of "
                f"{', '.join(ANSWER_KINDS)}: fix the value or drop the column."
            )
    return items


def n_choices(items: pd.DataFrame) -> pd.Series:
    """Number of choices per item (1 for generative items)."""
    return items["choices"].map(len)
