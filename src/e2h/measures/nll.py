"""``nll_question``, ``nll_answer``, ``nll_reasoning``: the paper's likelihood measures.

Each is the mean negative log-likelihood per token (nats) of one part of the item under a model,
from the engine's scores (disk-cached):

* question: ``" {question}"`` after ``"Question:"``;
* answer: the gold continuation after the prompt format's context (``cloze``: ``"Question: …\\nAnswer:"``);
* reasoning: ``" {reasoning}"`` (line breaks as spaces) after the same context; NaN for items without one.

Several models: the mean over models.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from e2h.models import ScoreRequest
from e2h.models.templates import FORMATS, build_request

PARTS = ("question", "answer", "reasoning")


def part_requests(items: pd.DataFrame, part: str, fmt: str) -> tuple[np.ndarray, list[ScoreRequest]]:
    """(positions of the items that have the part, one single-continuation request per such item)."""
    rows = items.to_dict("records")
    if part == "question":
        return np.arange(len(rows)), [ScoreRequest("Question:", (f" {row['question']}",)) for row in rows]
    if part == "answer":
        requests = []
        for row in rows:
            request = build_request(row, fmt)
            requests.append(ScoreRequest(request.context, (request.continuations[int(row["label"])],)))
        return np.arange(len(rows)), requests
    reasoning = [" ".join(str(row.get("reasoning") or "").split()) for row in rows]
    positions = np.array([i for i, text in enumerate(reasoning) if text], dtype=int)
    context = FORMATS.get(fmt).context
    return positions, [ScoreRequest(context(rows[i]), (f" {reasoning[i]}",)) for i in positions]


def mean_token_nll(lm, items: pd.DataFrame, part: str, fmt: str) -> np.ndarray:
    """(N,) mean NLL per token of ``part`` under ``lm``; NaN where the item lacks the part."""
    positions, requests = part_requests(items, part, fmt)
    values = np.full(len(items), np.nan)
    if requests:
        scores = lm.score(requests, desc=f"nll_{part} {lm.name}")
        values[positions] = [-float(s.logprob[0]) / max(int(s.n_tokens[0]), 1) for s in scores]
    return values
