"""Likelihood measures: how improbable a model finds an item's text, in nats.

``nll`` (the paper's): ``nll_question``, ``nll_answer``, ``nll_reasoning`` are the **summed** negative
log-likelihood of the bare question, the gold answer's text and the reasoning, each scored alone after the start
token, as the paper's ``write_text_prob_scores`` (``main.py``) does through ``LM_utils.score_seq_probs_from_strings``
(its columns ``question_prob_<model>`` … hold minus that sum, despite the name):

* the start token is the paper's BOS (``make_LM_batch`` with the tokenizer ``main.py`` sets up): the one the engine
  adds, else the tokenizer's ``bos_token``, unless it equals the pad token (pad, else unk, else eos), which the
  paper dropped. Without one the string's first token is only context (the paper left it unscored, but with a
  left-padding artefact for the shorter strings of a batch) and a one-token string scores 0;
* the reasoning is scored as the items store it (GSM8k's ``verbatim`` variant keeps the paper's text), NaN for
  items without one (the paper scored it on StrategyQA and GSM8k, the datasets that have one);
* an item whose text the engine cannot score alone (its tokens would merge with the start token) gets NaN, counted
  in the summary's ``n_unscorable``.

``nll_per_token`` (e2h's variant): ``nll_per_token_question`` … are the **mean** NLL per token, conditioned on a
prompt: the question as ``" {question}"`` after ``"Question:"``; the gold continuation after the prompt format's
context (``cloze``: ``"Question: …\\nAnswer:"``); the reasoning as ``" {reasoning}"`` (line breaks as spaces) after
the same context. A mean per token falls with length (later tokens are predictable from the first ones), so it
ranks items differently from the paper's sum.

Every score comes from the engine (``LanguageModel.score``, disk-cached). Several models: the mean over models
(the paper's ``_avg`` columns average the raw scores over its four 7B models, ``postprocess_hardness_scores``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from e2h.models import ScoreRequest
from e2h.models.templates import FORMATS, build_request

PARTS = ("question", "answer", "reasoning")


def bare_texts(items: pd.DataFrame, part: str) -> tuple[np.ndarray, list[str]]:
    """(positions of the items that have ``part``, its text as stored: question, gold choice, reasoning)."""
    if part == "question":
        return np.arange(len(items)), [str(q) for q in items["question"]]
    if part == "answer":
        labels = items["label"].astype(int)
        return np.arange(len(items)), [str(c[i]) for c, i in zip(items["choices"], labels, strict=True)]
    texts = [r if isinstance(r, str) else "" for r in items["reasoning"]]
    positions = np.array([i for i, text in enumerate(texts) if text.strip()], dtype=int)
    return positions, [texts[i] for i in positions]


def start_token(lm: Any) -> tuple[str, list[int]] | None:
    """(text, ids) of the paper's start token under ``lm`` (module docstring), or None when there is none."""
    if lm.bos:
        return "", list(lm.bos)  # the engine adds it to every sequence
    tok = lm.tokenizer
    pad = next((i for i in (tok.pad_token_id, tok.unk_token_id, tok.eos_token_id) if i is not None), None)
    if tok.bos_token_id is not None and tok.bos_token_id != pad:
        return str(tok.bos_token), [int(tok.bos_token_id)]
    return None


def start_label(lm: Any) -> str:
    """How the provenance names ``lm``'s start token: ``BOS`` (added by the engine), the token's text, or ``none``."""
    start = start_token(lm)
    return "none" if start is None else start[0] or "BOS"


def summed_nll(lm: Any, items: pd.DataFrame, part: str) -> tuple[np.ndarray, int]:
    """((N,) summed NLL of the bare ``part`` under ``lm``, NaN where the item lacks it; the unscorable count)."""
    positions, texts = bare_texts(items, part)
    values = np.full(len(items), np.nan)
    start = start_token(lm)
    pending: list[tuple[int, ScoreRequest, tuple[int, ...], tuple[int, ...]]] = []
    n_single = 0
    for pos, text, ids in zip(positions, texts, lm.tokenize_many(texts), strict=True):
        if start is not None:
            pending.append((pos, ScoreRequest(start[0], (text,)), tuple(start[1]), tuple(ids)))
        elif len(ids) == 1:
            values[pos], n_single = 0.0, n_single + 1  # nothing left to predict after the first token
        else:
            first = lm.tokenizer.decode(ids[:1])
            if text.startswith(first) and text != first:
                pending.append((pos, ScoreRequest(first, (text[len(first) :],)), tuple(ids[:1]), tuple(ids[1:])))
    # the engine scores exactly start + the text's own tokens: checked on its encoding, before any forward
    encoded = lm.encode([request for _, request, _, _ in pending]) if pending else []
    good = [
        (pos, request)
        for (pos, request, context, scored), e in zip(pending, encoded, strict=True)
        if (*e.head, *e.context) == context and e.choices == (scored,)
    ]
    if good:
        scores = lm.score([request for _, request in good], desc=f"nll_{part} {lm.name}")
        values[[pos for pos, _ in good]] = [-float(s.logprob[0]) for s in scores]
    return values, len(positions) - len(good) - n_single


def per_token_requests(items: pd.DataFrame, part: str, fmt: str) -> tuple[np.ndarray, list[ScoreRequest]]:
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


def mean_token_nll(lm: Any, items: pd.DataFrame, part: str, fmt: str) -> np.ndarray:
    """(N,) mean NLL per token of ``part`` under ``lm`` after its prompt; NaN where the item lacks the part."""
    positions, requests = per_token_requests(items, part, fmt)
    values = np.full(len(items), np.nan)
    if requests:
        scores = lm.score(requests, desc=f"nll_per_token_{part} {lm.name}")
        values[positions] = [-float(s.logprob[0]) / max(int(s.n_tokens[0]), 1) for s in scores]
    return values
