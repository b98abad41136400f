"""The learner contract: every way of supervising a model is one class that declares its parameters.

A learner is used like a scikit-learn estimator::

    learner = ICL(lm, k=5, seed=0)          # parameters only: no work in the constructor
    learner.fit(train_items)                # -> learner; fitted state ends in "_"
    learner.predict(test_items)             # -> Predictions

**Adding a learner is one file plus one registration line** (``LEARNERS.register("name", Cls)`` in
``e2h/learners/__init__.py``, or at run time from any module). The class declares:

``name``        its registry name (``"icl"``)
``supervised``  whether ``fit`` uses labelled training items (``False`` for zero-shot: the grid then runs
                it once per dataset/measure/seed, with no training level)
``params``      ``{name: Param(default, help, shared=..., allowed=...)}``, every constructor parameter with its
                default, a one-line description and the values it takes (:mod:`e2h.learners.params`:
                ``Interval(int, 0)``, ``Options("sgd", "lbfgs")``, ``None``…). A ``shared=True`` parameter is one
                of the run's shared options (:data:`SHARED_OPTIONS`: ``k``, ``format``, ``normalization``,
                ``extraction``, ``seed``): the runner fills it from the config (or the dataset's defaults, or the
                cell's seed) unless the learner's own options set it.
``generative``  whether it answers by generating text (a chain of thought) instead of scoring the choices
                (default ``False``; :meth:`Learner.generates` when it depends on a parameter, as for LoRA's
                ``objective``). ``e2h eval`` reads it to say how the learner answered.
``wants_gpu``   whether it trains the model's weights, so that a backend gives its cells a GPU where the
                cluster has one (default ``False``; LoRA: ``True``).

Optionally, ``planned_requests(train, test)`` lists the engine requests ``fit``/``predict`` will score or read
hidden states of (:class:`Planned`), so that a run computes the work of all its cells in one deduplicated pass
(``LanguageModel.prefetch``) before fitting any of them; the default plans nothing.

Everything else reads this one declaration, and nothing outside ``e2h.learners`` branches on a learner's name:
config validation (unknown options get a did-you-mean, values outside ``allowed`` one line each, before any
model loads), the grid's cell hash (:meth:`Learner.resolve` gives every parameter of a cell), ``e2h eval``'s
``--option`` flags, ``get_params`` and ``repr``. The resolved parameters, exactly as ``get_params()``
returns them after construction, are what key a cell in the results store.
A subclass that changes one default restates only that parameter (``QLoRA`` does, for ``quantization``).

The model a learner gets is anything with the engine surface :class:`e2h.learners.lm.LM` declares.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from e2h.errors import E2HError
from e2h.learners.lm import LM
from e2h.learners.params import Param, check_params
from e2h.registry import did_you_mean

#: options every cell has, which a learner takes by declaring a ``shared=True`` parameter of that name
SHARED_OPTIONS = ("k", "format", "normalization", "extraction", "seed")


@dataclass(frozen=True)
class Planned:
    """Engine work a learner will ask for: ``requests`` scored (``scores``) and/or their hidden states (``layers``).

    ``layers=()`` asks for no hidden states; ``None`` for the model's default layers.
    """

    requests: tuple[Any, ...]  # e2h.models.ScoreRequest
    scores: bool = True
    layers: tuple[int, ...] | None = ()


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
    """Base class: declared ``params``, ``fit(train) -> self``, ``predict(test) -> Predictions``."""

    name: ClassVar[str] = "learner"
    supervised: ClassVar[bool] = True
    generative: ClassVar[bool] = False
    wants_gpu: ClassVar[bool] = False
    params: ClassVar[dict[str, Param]] = {}

    def __init__(self, lm: LM, **options: Any) -> None:
        self.check_options(options)
        self.lm = lm
        for key, param in self.params.items():
            setattr(self, key, options[key] if key in options else copy.deepcopy(param.default))

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        """Raise one :class:`E2HError` naming every option this learner does not declare and every value its
        parameter does not allow (``learner 'icl': k='abc' must be a whole number >= 0 (default 10).``)."""
        bad = [
            " ".join([repr(key), f"({hint})" if (hint := did_you_mean(key, cls.params)) else ""]).strip()
            for key in options
            if key not in cls.params
        ]
        problems = [f"has no option {', '.join(bad)}; it takes: {', '.join(cls.params) or 'none'}"] if bad else []
        problems += check_params(cls.params, options)
        if problems:
            raise E2HError(f"learner {cls.name!r}{' ' if bad else ': '}{'; '.join(problems)}.")

    @classmethod
    def resolve(cls, options: dict[str, Any] | None = None, shared: dict[str, Any] | None = None) -> dict[str, Any]:
        """Every parameter of one use: defaults < ``shared`` run options it declares < its own ``options``.

        ``shared`` values of ``None`` are skipped (not set by the run); the result is what ``get_params`` returns.
        """
        options = dict(options or {})
        cls.check_options(options)
        resolved = {key: copy.deepcopy(param.default) for key, param in cls.params.items()}
        for key, value in (shared or {}).items():
            if value is not None and key in cls.params and cls.params[key].shared:
                resolved[key] = value
        resolved.update(options)
        if problems := check_params(cls.params, resolved):
            raise E2HError(f"learner {cls.name!r}: {'; '.join(problems)}.")
        return resolved

    @classmethod
    def generates(cls, params: dict[str, Any]) -> bool:
        """Whether this learner with ``params`` answers by generating text (default: its ``generative``)."""
        return cls.generative

    @classmethod
    def shared_options(cls) -> tuple[str, ...]:
        """The shared run options (:data:`SHARED_OPTIONS`) this learner takes."""
        return tuple(key for key, param in cls.params.items() if param.shared)

    def planned_requests(self, train: pd.DataFrame, test: pd.DataFrame) -> list[Planned]:
        """The engine requests ``fit(train)`` and ``predict(test)`` will make, for a run to compute up front."""
        return []

    def fit(self, train: pd.DataFrame) -> Learner:
        raise NotImplementedError

    def predict(self, test: pd.DataFrame) -> Predictions:
        raise NotImplementedError

    def get_params(self) -> dict[str, Any]:
        """The declared parameters and their current values (the model excluded)."""
        return {key: getattr(self, key) for key in self.params}

    def check_is_fitted(self, *attributes: str) -> None:
        """Raise a clear error if ``fit`` has not set ``attributes``."""
        if any(getattr(self, attr, None) is None for attr in attributes):
            raise E2HError(f"{type(self).__name__} is not fitted yet: call fit(train_items) before predict.")

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"
