"""Label noise for training items: the paper's "noisy labels" experiments.

The rule is the one of Hase et al. (``randomize_dataframe_labels`` in their code): each
item is picked with probability ``p``; a picked multiple-choice item gets a label redrawn
uniformly over *its own* choices, so it may land on the true label again (the expected
fraction of wrong labels is ``p * (1 - 1/n_choices)``). ``exclude_true=True`` redraws
among the other choices only, so every picked item ends up wrong.

A generative item (one choice, e.g. GSM8k) has no other choice to draw: a picked one takes
the answer of another generative item of the table instead (the paper permutes answers
among items for these). Its ``reasoning`` is left as it was, as in the paper.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from e2h.errors import E2HError


def corrupt_labels(items: pd.DataFrame, p: float, rng: np.random.Generator, exclude_true: bool = False) -> pd.DataFrame:
    """A copy of ``items`` whose labels are redrawn with probability ``p`` each.

    Added columns: ``label_noise`` (bool, the item was picked and redrawn), ``clean_label``
    (int, the label before noise) and ``clean_answer`` (str, the gold answer text before
    noise). Whether a label actually changed is ``label != clean_label`` for
    multiple-choice items and ``choices[0] != clean_answer`` for generative ones.
    Deterministic for the state of ``rng`` (one uniform draw per item, in row order).
    """
    if not 0.0 <= p <= 1.0:
        raise E2HError(f"label noise p={p} is not a probability: use a value in [0, 1].")
    out = items.copy()
    labels = out["label"].to_numpy(dtype=int)
    sizes = out["choices"].map(len).to_numpy()
    out["clean_label"] = labels
    out["clean_answer"] = [choices[y] for choices, y in zip(out["choices"], labels, strict=True)]
    picked = rng.random(len(out)) < p  # (n,) one draw per item, so the picks do not depend on choice counts

    new_labels = labels.copy()
    new_choices = list(out["choices"])
    generative = np.flatnonzero(sizes == 1)
    answers = [new_choices[i][0] for i in generative]
    for row in np.flatnonzero(picked):
        if sizes[row] > 1:
            new_labels[row] = _redraw(labels[row], sizes[row], rng, exclude_true)
        else:
            new_choices[row] = [_other_answer(answers, new_choices[row][0], rng, exclude_true)]
    out["label"] = new_labels
    out["choices"] = new_choices
    out["label_noise"] = picked
    return out


def _redraw(label: int, n_choices: int, rng: np.random.Generator, exclude_true: bool) -> int:
    """A label uniform over ``range(n_choices)``, or over the other choices with ``exclude_true``."""
    if not exclude_true:
        return int(rng.integers(n_choices))
    other = int(rng.integers(n_choices - 1))
    return other + (other >= label)


def _other_answer(answers: list[str], answer: str, rng: np.random.Generator, exclude_true: bool) -> str:
    """An answer drawn uniformly from the table's generative answers (a different one with ``exclude_true``)."""
    pool = [a for a in answers if a != answer] if exclude_true else answers
    if not pool:
        raise E2HError(
            "cannot corrupt a generative item with exclude_true=True: every generative item has the same answer; "
            "use exclude_true=False or more varied items."
        )
    return pool[int(rng.integers(len(pool)))]
