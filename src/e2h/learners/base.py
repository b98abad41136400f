"""The one interface every way of supervising a model follows, and what ``predict`` returns.

``learner.fit(train_items) -> learner`` then ``learner.predict(test_items) -> Predictions``.
Hyperparameters live in ``__init__`` and are never changed by ``fit``; fitted state ends in
``_`` (scikit-learn conventions), so ``get_params()`` can key the results store.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from e2h.errors import E2HError


@dataclass
class Predictions:
    """Per-item outputs of a learner, aligned with the test items passed to ``predict``.

    ``probs[i]`` holds one probability per real choice of item ``i`` (no padding); for
    generative items it has one entry, 1.0 when the extracted answer is correct.
    """

    ids: list[str]
    probs: list[np.ndarray]
    pred: np.ndarray  # (n,) int, predicted choice index (-1: no extractable answer)
    correct: np.ndarray  # (n,) bool
    gold_prob: np.ndarray  # (n,) float, probability of the gold choice
    generation: list[str] | None = None
    extracted: list[str | None] | None = None
    info: dict[str, Any] = field(default_factory=dict)  # e.g. quantization used, demos kept

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.correct)) if len(self) else float("nan")

    @classmethod
    def from_probs(cls, items: pd.DataFrame, probs: list[np.ndarray], **extra: Any) -> Predictions:
        """Build predictions from per-item choice probabilities (argmax; ties go to the first)."""
        labels = items["label"].to_numpy(dtype=int)
        pred = np.array([int(np.argmax(p)) for p in probs], dtype=int)
        gold = np.array([float(p[y]) for p, y in zip(probs, labels, strict=True)])
        return cls(
            ids=list(items["id"]),
            probs=[np.asarray(p, dtype=float) for p in probs],
            pred=pred,
            correct=pred == labels,
            gold_prob=gold,
            **extra,
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per item: ``id``, ``probs``, ``pred``, ``correct``, ``gold_prob`` (+ generation)."""
        frame = pd.DataFrame(
            {
                "id": self.ids,
                "probs": [p.tolist() for p in self.probs],
                "pred": self.pred,
                "correct": self.correct,
                "gold_prob": self.gold_prob,
            }
        )
        if self.generation is not None:
            frame["generation"] = self.generation
            frame["extracted"] = self.extracted
        return frame


class Learner:
    """Base class: parameters in ``__init__``, ``fit(train) -> self``, ``predict(test) -> Predictions``."""

    #: registry name, e.g. ``"icl"``
    name: str = "learner"
    #: whether ``fit`` uses labels of the training items (False for zero-shot)
    supervised: bool = True

    def fit(self, train: pd.DataFrame) -> Learner:
        raise NotImplementedError

    def predict(self, test: pd.DataFrame) -> Predictions:
        raise NotImplementedError

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters and their current values (the model object excluded)."""
        signature = inspect.signature(type(self).__init__)
        return {
            name: getattr(self, name)
            for name in signature.parameters
            if name not in ("self", "lm") and hasattr(self, name)
        }

    def check_is_fitted(self, *attributes: str) -> None:
        """Raise a clear error if ``fit`` has not set ``attributes``."""
        if any(getattr(self, attr, None) is None for attr in attributes):
            raise E2HError(f"{type(self).__name__} is not fitted yet: call fit(train_items) before predict.")

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"
