"""How an item is put to a model and how its answer is read, as names and rules that every floor shares.

The names of the prompt formats, answer kinds and extraction rules (a dataset's facts, :mod:`e2h.data.schema`,
take their values from here; :mod:`e2h.models.templates` implements one format and one extraction rule per name),
the one rule that infers an item's answer kind from its choices, and the chance of guessing an item right.
It imports no other e2h module, so ``data``, ``models``, ``measures``, ``analysis`` and ``cli`` all read it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

#: Prompt formats (one :class:`e2h.models.templates.PromptFormat` each).
PROMPT_FORMATS = ("cloze", "listed", "letters", "qa", "cot")
#: How a generated answer is read: a choice (letter or text), a number, or yes/no.
ANSWER_KINDS = ("choice", "number", "yes-no")
#: Where the answer sits in a generation: after the ``last`` "the answer is" (else the whole text), or
#: after the ``first`` one (the paper's rule; no trigger means no answer).
EXTRACTION_RULES = ("last", "first")

_NUMBER = re.compile(r"-?\$?\d[\d,]*(\.\d+)?")


def infer_answer_kind(choices: Iterable[object]) -> str:
    """The answer kind of an item that declares none: ``yes-no`` when its choices are yes and no, ``number`` when
    its one choice is a number (``"-$1,250.50"``), else ``choice``."""
    texts = [str(c).strip() for c in choices]
    if sorted(t.lower() for t in texts) == ["no", "yes"]:
        return "yes-no"
    if len(texts) == 1 and _NUMBER.fullmatch(texts[0]):
        return "number"
    return "choice"


def chance_rate(n_choices: Iterable[float] | np.ndarray) -> np.ndarray:
    """The chance of guessing right per item: 1 / n_choices; 0 for generative items (one "choice": the answer
    must be produced)."""
    n = np.asarray(n_choices, dtype=float)
    return np.where(n > 1, 1.0 / np.maximum(n, 1.0), 0.0)
