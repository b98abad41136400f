"""Hardness measures that are facts of a dataset: human annotations and lengths.

Human scales are mapped to numbers the way the paper's code does (``utils/data_utils.py`` of
allenai/easy-to-hard-generalization); a value outside a scale becomes NaN, never a sentinel.
Length measures count whitespace-separated words (``str.split()``) and characters.
Computed (model-based) measures come from :mod:`e2h.measures` (stored by :mod:`e2h.data.measure_tables`), cutoffs
from :mod:`e2h.hardness`; neither lives here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

import pandas as pd

#: Human measures that come from annotations or the source's own structure.
HUMAN_MEASURES = ["human_grade", "human_bloom", "human_difficulty", "human_dok", "human_level"]
#: Length measures every item table carries (``reasoning_num_words`` is NaN without reasoning).
LENGTH_MEASURES = ["question_num_words", "answer_num_words", "answer_num_chars", "reasoning_num_words"]

BLOOM_LEVELS = ["Remembering", "Understanding", "Applying", "Analyzing", "Evaluating", "Creating"]
DOK_LEVELS = ["I", "II", "III"]
DIFFICULTY_LEVELS = ["Low", "Medium", "High"]

NAN = float("nan")


def _level(value: object, levels: list[str]) -> float:
    """1-based position of ``value`` in ``levels``; NaN when it is not one of them."""
    return float(levels.index(value) + 1) if isinstance(value, str) and value in levels else NAN


def grade_number(value: object) -> float:
    """``"Grade 03"`` → 3.0; a subject name in the grade field (``"Biology"``) → NaN."""
    if not isinstance(value, str):
        return NAN
    last = value.split()[-1] if value.split() else ""
    return float(int(last)) if last.isdigit() else NAN


def bloom_number(value: object) -> float:
    """Bloom's taxonomy: Remembering..Creating → 1..6."""
    return _level(value, BLOOM_LEVELS)


def dok_number(value: object) -> float:
    """Webb's depth of knowledge: I/II/III → 1/2/3."""
    return _level(value, DOK_LEVELS)


def difficulty_number(value: object) -> float:
    """Annotated difficulty: Low/Medium/High → 1/2/3."""
    return _level(value, DIFFICULTY_LEVELS)


def arc_annotation_measures(annotation: dict) -> dict[str, float]:
    """One ARC annotation record (``grade``, ``bloom``, ``depth_of_knowledge``, ``difficulty``) as measures."""
    return {
        "human_grade": grade_number(annotation.get("grade")),
        "human_bloom": bloom_number(annotation.get("bloom")),
        "human_dok": dok_number(annotation.get("depth_of_knowledge")),
        "human_difficulty": difficulty_number(annotation.get("difficulty")),
    }


def num_words(text: object) -> float:
    """Whitespace-separated words; NaN for a missing text."""
    if not isinstance(text, str):
        return NAN
    return float(len(text.split()))


# A sentence ends at . ! or ? followed by space and a capital/digit/quote, except after
# an initial ("George W. Bush", "P. G. Wodehouse"), a dotted abbreviation ("U.S. Army")
# or a title ("Dr. Who").
_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(“])")
_NO_BREAK_AFTER = re.compile(
    r"(?:(?:^|\s)[A-Z][a-z]*\.?\s+[A-Z]\.|^[A-Z]\.|[A-Za-z]\.[A-Za-z]\.|"
    r"\b(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|Mt|vs|Prof|Gen|Col|Lt|Sgt|No|approx|ca)\.)$"
)


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences with a small rule set (good enough for counting facts)."""
    sentences: list[str] = []
    current = ""
    pieces = _BOUNDARY.split(text.strip())
    for piece in pieces:
        current = f"{current} {piece}" if current else piece
        if not _NO_BREAK_AFTER.search(current):
            sentences.append(current)
            current = ""
    if current:
        sentences.append(current)
    return [s for s in sentences if s.strip()]


def add_length_measures(items: pd.DataFrame) -> pd.DataFrame:
    """Add the four length measures (in place) unless a column of that name is already there.

    ``answer_*`` measure the gold choice text; ``reasoning_num_words`` is NaN where the
    reasoning is empty.
    """
    gold = [choices[int(label)] for choices, label in zip(items["choices"], items["label"], strict=True)]
    values = {
        "question_num_words": [num_words(q) for q in items["question"]],
        "answer_num_words": [num_words(a) for a in gold],
        "answer_num_chars": [float(len(a)) for a in gold],
        "reasoning_num_words": [num_words(r) if isinstance(r, str) and r.strip() else NAN for r in items["reasoning"]],
    }
    for name, column in values.items():
        if name not in items.columns:
            items[name] = column
    return items


def as_float_columns(items: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """Cast measure columns to float64 (in place); ``None`` becomes NaN."""
    for name in columns:
        items[name] = pd.to_numeric(items[name], errors="raise").astype("float64")
    return items


def is_missing(value: object) -> bool:
    """True for None and float NaN (pandas' missing markers in object columns)."""
    return value is None or (isinstance(value, float) and math.isnan(value))
