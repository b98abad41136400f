"""A model wrapper that keeps every request's scores and hidden states in memory once computed.

Model-based measures fit a learner many times on overlapping item sets (nested training sets,
prequential blocks, resamples). Behind :class:`MemoLM` each distinct request reaches the engine
once: a call computes only the requests it has not seen (in one engine call, so the engine's disk
cache still applies) and answers the rest from memory. While the model carries an adapter or
trainable weights (LoRA), the memo steps aside, as the engine's own cache does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from e2h.learners.lm import LM
from e2h.models import ChoiceScores, ScoreRequest


class MemoLM:
    """Delegates to ``lm``; ``hidden_states`` and ``score`` are memoised per request. It is itself an :class:`LM`."""

    def __init__(self, lm: LM) -> None:
        self._lm = lm
        self._hidden: dict[tuple[Any, ScoreRequest], np.ndarray] = {}
        self._scores: dict[ScoreRequest, ChoiceScores] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lm, name)

    def hidden_states(
        self, requests: Sequence[ScoreRequest], layers: Sequence[int] | None = None, **kwargs: Any
    ) -> list[np.ndarray]:
        if not self._lm.cache_allowed():
            return self._lm.hidden_states(requests, layers, **kwargs)
        tag = None if layers is None else tuple(int(x) for x in layers)
        missing = list(dict.fromkeys(r for r in requests if (tag, r) not in self._hidden))
        if missing:
            states = self._lm.hidden_states(missing, layers, **kwargs)  # each (n_choices, n_layers, d)
            self._hidden.update({(tag, r): np.array(s) for r, s in zip(missing, states, strict=True)})
        return [self._hidden[(tag, r)] for r in requests]

    def score(self, requests: Sequence[ScoreRequest], **kwargs: Any) -> list[ChoiceScores]:
        if not self._lm.cache_allowed():
            return self._lm.score(requests, **kwargs)
        missing = list(dict.fromkeys(r for r in requests if r not in self._scores))
        if missing:
            self._scores.update(zip(missing, self._lm.score(missing, **kwargs), strict=True))
        return [self._scores[r] for r in requests]
