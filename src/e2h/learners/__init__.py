"""Learners: every way of supervising a model, behind ``fit(train) -> self`` / ``predict(test) -> Predictions``.

>>> from e2h.learners import make_learner
>>> learner = make_learner("icl", lm, k=5, format="listed", seed=0).fit(train)
>>> learner.predict(test).accuracy
"""

from __future__ import annotations

from typing import Any

from e2h.learners.base import SHARED_OPTIONS, Learner, Planned, Predictions
from e2h.learners.lm import LM
from e2h.learners.lora import LoRA, QLoRA
from e2h.learners.params import Interval, ListOf, Options, Param, Text
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


def make_learner(name: str, lm: LM, **options: Any) -> Learner:
    """The learner ``name`` on model ``lm`` with ``options``; an undeclared option or a value its parameter does not
    allow raises :class:`E2HError`."""
    return LEARNERS.get(name)(lm, **options)


__all__ = [
    "ICL",
    "LEARNERS",
    "LM",
    "SHARED_OPTIONS",
    "ICLChainOfThought",
    "Interval",
    "Learner",
    "LinearProbe",
    "ListOf",
    "LoRA",
    "Options",
    "Param",
    "Planned",
    "Predictions",
    "QLoRA",
    "Text",
    "ZeroShot",
    "ZeroShotChainOfThought",
    "make_learner",
]
