"""Name → object registries with helpful errors (datasets, measures, learners, models)."""

import difflib
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

from e2h.errors import E2HError

T = TypeVar("T")


def did_you_mean(name: object, options: Iterable[str]) -> str:
    """``did you mean 'human_grade'?`` when a known name is close to ``name``, else ``known: a, b, c``."""
    options = sorted(options)
    close = difflib.get_close_matches(str(name), options, n=3, cutoff=0.5)
    if close:
        return f"did you mean {', '.join(repr(c) for c in close)}?"
    return f"known: {', '.join(options)}" if options else "none are known"


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
        close = difflib.get_close_matches(name, list(self._items), n=3, cutoff=0.5)
        suggestion = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
        hint = f" {self.hint}" if self.hint else ""
        return f"unknown {self.kind} {name!r}: {suggestion}known: {', '.join(sorted(self._items))}.{hint}"

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
