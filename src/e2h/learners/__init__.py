"""Learners: every way of supervising a model, behind ``fit(train) -> self`` / ``predict(test) -> Predictions``.

>>> from e2h.learners import make_learner
>>> learner = make_learner("icl", lm, k=5, format="listed", seed=0).fit(train)
>>> learner.predict(test).accuracy
"""

from __future__ import annotations

from typing import Any

from e2h.learners.base import SHARED_OPTIONS, Learner, Param, Planned, Predictions
from e2h.learners.lora import LoRA, QLoRA
from e2h.learners.probe import LinearProbe
from e2h.learners.prompting import ICL, ICLChainOfThought, ZeroShot, ZeroShotChainOfThought
from e2h.registry import Registry

LEARNERS: Registry[type[Learner]] = Registry("learner", hint="Pass one of them as --learner.")
LEARNERS.register("zero-shot", ZeroShot)
LEARNERS.register("zero-shot-cot", ZeroShotChainOfThought)
LEARNERS.register("icl", ICL)
LEARNERS.register("icl-cot", ICLChainOfThought)
LEARNERS.register("linear-probe", LinearProbe)
LEARNERS.register("lora", LoRA)
LEARNERS.register("qlora", QLoRA)


def make_learner(name: str, lm: Any, **options: Any) -> Learner:
    """The learner ``name`` on model ``lm`` with ``options``; an undeclared option raises :class:`E2HError`."""
    return LEARNERS.get(name)(lm, **options)


__all__ = [
    "ICL",
    "LEARNERS",
    "SHARED_OPTIONS",
    "ICLChainOfThought",
    "Learner",
    "LinearProbe",
    "LoRA",
    "Param",
    "Planned",
    "Predictions",
    "QLoRA",
    "ZeroShot",
    "ZeroShotChainOfThought",
    "make_learner",
]
