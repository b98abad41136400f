"""A declared parameter and its allowed values, checked where a value enters e2h, before any model loads.

Modelled on scikit-learn's ``_parameter_constraints``: a :class:`Param` lists in ``allowed`` the constraints a
value may meet; it is valid when it meets any one of them (an empty tuple allows anything)::

    Interval(int, 0)                        a whole number >= 0 (a bool is not a number here)
    Interval(float, 0, 1, closed="left")    a number in [0, 1) (whole numbers count as numbers)
    Options("sgd", "lbfgs")                 one of these values (a near miss gets a did-you-mean)
    ListOf(Interval(int, 0))                a non-empty list (or tuple), each item meeting the constraint
    Text(r"\\S\\s+\\S", "the text itself")      a string matching the pattern
    None                                    null (YAML) / None

:func:`check_params` gives one ``key=value must be …`` line per bad value; learners (config validation,
``e2h eval --option``, ``e2h run --dry-run``) and ``e2h hardness compute --set`` all report through it.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from e2h.registry import did_you_mean


@dataclass(frozen=True)
class Param:
    """One parameter: its default, a one-line description, whether it is a shared run option, its allowed values."""

    default: Any
    help: str
    shared: bool = False
    allowed: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Interval:
    """Numbers of ``kind`` (``int``: whole numbers; ``float``: any real) between ``lo`` and ``hi`` (None: open)."""

    kind: type
    lo: float | None = None
    hi: float | None = None
    closed: str = "both"  # which ends belong: both, left, right, neither

    def accepts(self, value: Any) -> bool:
        number = numbers.Integral if self.kind is int else numbers.Real
        if isinstance(value, bool) or not isinstance(value, number) or math.isnan(value):
            return False
        above = self.lo is None or (value >= self.lo if self.closed in ("both", "left") else value > self.lo)
        below = self.hi is None or (value <= self.hi if self.closed in ("both", "right") else value < self.hi)
        return above and below

    def __str__(self) -> str:
        noun = "a whole number" if self.kind is int else "a number"
        lo_in, hi_in = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.lo is not None and self.hi is not None:
            return f"{noun} in {'[' if lo_in else '('}{self.lo:g}, {self.hi:g}{']' if hi_in else ')'}"
        if self.lo is not None:
            return f"{noun} {'>=' if lo_in else '>'} {self.lo:g}"
        if self.hi is not None:
            return f"{noun} {'<=' if hi_in else '<'} {self.hi:g}"
        return noun


class Options:
    """One of the given values."""

    def __init__(self, *values: Any) -> None:
        self.values = values

    def accepts(self, value: Any) -> bool:
        return any(value is v or (type(value) is type(v) and value == v) for v in self.values)

    def __str__(self) -> str:
        return "one of " + ", ".join(v if isinstance(v, str) else show(v) for v in self.values)


@dataclass(frozen=True)
class ListOf:
    """A non-empty list or tuple whose every item meets ``item``."""

    item: Any

    def accepts(self, value: Any) -> bool:
        return isinstance(value, list | tuple) and len(value) > 0 and all(self.item.accepts(v) for v in value)

    def __str__(self) -> str:
        return f"a list, each {self.item}"


@dataclass(frozen=True)
class Text:
    """A string matching ``pattern`` (``re.search``), described as ``description``."""

    pattern: str = ""
    description: str = "text"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and re.search(self.pattern, value) is not None

    def __str__(self) -> str:
        return self.description


def show(value: Any) -> str:
    """A value as a config file would write it: ``null``, ``'sgd'``, ``[5, 20]``, ``0.05``."""
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return repr(value) if isinstance(value, str) else str(value)


def _meets(value: Any, constraint: Any) -> bool:
    return value is None if constraint is None else constraint.accepts(value)


def check_value(value: Any, allowed: Iterable[Any]) -> str:
    """``""`` when ``value`` meets one of ``allowed`` (or ``allowed`` is empty), else ``must be …`` with a hint."""
    allowed = tuple(allowed)
    if not allowed or any(_meets(value, c) for c in allowed):
        return ""
    problem = "must be " + " or ".join("null" if c is None else str(c) for c in allowed)
    if isinstance(value, str):
        names = [v for c in allowed if isinstance(c, Options) for v in c.values if isinstance(v, str)]
        if hint := did_you_mean(value, names, n=1):
            problem += f" ({hint})"
        elif _number_text(value) and any(isinstance(c, Interval) for c in allowed):
            problem += f" (YAML reads {value} as text: write {_number_text(value)})"
    return problem


def _number_text(text: str) -> str:
    """``"1e-3"`` → ``"1.0e-3"``: how to write a number YAML 1.1 reads as text; ``""`` for other text."""
    found = re.fullmatch(r"([+-]?\d+)([eE][+-]?\d+)", text.strip())
    return f"{found.group(1)}.0{found.group(2)}" if found else ""


def check_params(params: dict[str, Param], values: dict[str, Any]) -> list[str]:
    """One ``key=value must be … (default …)`` line per value of a declared parameter that it does not allow."""
    return [
        f"{key}={show(value)} {problem} (default {show(params[key].default)})"
        for key, value in values.items()
        if key in params and (problem := check_value(value, params[key].allowed))
    ]
