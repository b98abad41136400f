"""Name → object registries with helpful errors (datasets, measures, learners, models)."""

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from e2h.errors import E2HError

T = TypeVar("T")


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
