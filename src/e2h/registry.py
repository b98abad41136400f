"""Name → object registries with helpful errors (datasets, measures, learners, models)."""

import difflib
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

from e2h.errors import E2HError

T = TypeVar("T")


def did_you_mean(name: object, options: Iterable[str], n: int = 3) -> str:
    """``did you mean 'human_grade'?`` (up to ``n`` close names), or "" when none is close."""
    close = difflib.get_close_matches(str(name), list(options), n=n, cutoff=0.5)
    return f"did you mean {', '.join(repr(c) for c in close)}?" if close else ""


class Registry(Generic[T]):
    """A small mapping from names to objects; unknown names suggest the closest ones."""

    def __init__(self, kind: str, hint: str = "") -> None:
        self.kind = kind
        self.hint = hint
        self._items: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T] | T:
        """Register ``obj`` under ``name``; without ``obj`` it returns a decorator."""
        if obj is not None:
            self._items[name] = obj
            return obj

        def decorator(target: T) -> T:
            self._items[name] = target
            return target

        return decorator

    def get(self, name: str) -> T:
        """The object named ``name``, or an :class:`E2HError` naming the closest matches."""
        if name in self._items:
            return self._items[name]
        raise E2HError(self.unknown_message(name))

    def unknown_message(self, name: str) -> str:
        suggestion = did_you_mean(name, self._items)
        suggestion = f"{suggestion} " if suggestion else ""
        hint = f" {self.hint}" if self.hint else ""
        return f"unknown {self.kind} {name!r}: {suggestion}known: {', '.join(sorted(self._items))}.{hint}"

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
