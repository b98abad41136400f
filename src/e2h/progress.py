"""Progress for long work, silenced by quiet mode (``E2H_QUIET=1`` or ``--quiet``).

On a terminal (or in a notebook) these are tqdm bars. When stderr is not a terminal (``nohup``, a cluster
job's log) redrawn bars would fill the log with escape codes, so each bar prints plain lines instead: one at
most every ``LINE_INTERVAL`` seconds, ``run demo: 120/600 cells (20%), 1.3 cell/s, ETA 6m10s``, and a closing
line when it printed before or is the outermost bar (so short inner bars stay silent). The bars of the libraries
e2h calls (transformers, huggingface_hub) are shown only where e2h draws bars (:func:`draws_bars`).
"""

from __future__ import annotations

import os
import sys
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any, ClassVar, TypeVar

from tqdm import std
from tqdm.auto import tqdm
from tqdm.autonotebook import tqdm as _notebook_or_std

T = TypeVar("T")

LINE_INTERVAL = 30.0  # seconds between two lines of one bar in a log


def set_quiet(quiet: bool) -> None:
    """Turn every progress bar off (``True``) or back on."""
    os.environ["E2H_QUIET"] = "1" if quiet else "0"


def is_quiet() -> bool:
    return os.environ.get("E2H_QUIET", "0") not in ("", "0", "false", "False")


def progress(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """Wrap ``iterable`` in a progress bar unless quiet mode is on."""
    if _plain_lines():
        total = len(iterable) if total is None and hasattr(iterable, "__len__") else total
        return LineProgress(desc, total, unit).wrap(iterable)
    return iter(tqdm(iterable, desc=desc, total=total, unit=unit, disable=is_quiet(), leave=False))


def bar(desc: str, total: int | None = None, unit: str = "it", initial: int = 0) -> tqdm | LineProgress:
    """A manual progress bar (``.update(n)``, ``.set_postfix(...)``, ``.close()``); disabled in quiet mode.

    ``initial`` counts work already done (e.g. cells finished by an earlier run); it does not count toward the rate.
    """
    if _plain_lines():
        return LineProgress(desc, total, unit, initial=initial)
    return tqdm(desc=desc, total=total, unit=unit, initial=initial, disable=is_quiet(), leave=False)


def draws_bars() -> bool:
    """Whether progress is drawn as tqdm bars: not quiet, on a terminal or in a notebook (libraries' bars follow it)."""
    return not is_quiet() and not _plain_lines()


def _plain_lines() -> bool:
    """Plain lines instead of bars: not quiet, stderr is not a terminal, and not in a notebook."""
    if is_quiet() or _notebook_or_std is not std.tqdm:
        return False
    try:
        return not sys.stderr.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return True


class LineProgress:
    """A tqdm stand-in for logs: the same ``update`` / ``set_postfix`` / ``close`` calls, output as rare plain lines.

    ``stream`` defaults to ``sys.stderr`` at the time of writing; ``clock`` (seconds) is replaceable for tests.
    """

    _open: ClassVar[weakref.WeakSet[LineProgress]] = weakref.WeakSet()  # bars open now (a dropped one leaves by itself)

    def __init__(
        self,
        desc: str,
        total: int | None = None,
        unit: str = "it",
        *,
        initial: int = 0,
        stream: IO[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        interval: float = LINE_INTERVAL,
    ) -> None:
        self.desc, self.total, self.unit = desc, total, unit
        self.n = self._initial = initial
        self._stream, self._clock, self._interval = stream, clock, interval
        self._start = self._last = clock()
        self._postfix = ""
        self._printed = self._closed = False
        self._outermost = not LineProgress._open
        LineProgress._open.add(self)

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self._clock()
        if now - self._last >= self._interval and not (self.total and self.n >= self.total):  # close() reports that
            self._last = now
            self._write(self._line(now - self._start))

    def set_postfix(self, ordered_dict: dict[str, Any] | None = None, refresh: bool = True, **kwargs: Any) -> None:
        self._postfix = ", ".join(f"{k}={v}" for k, v in {**(ordered_dict or {}), **kwargs}.items())

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self._postfix = str(s)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        LineProgress._open.discard(self)
        if self._printed or self._outermost:
            self._write(self._line(self._clock() - self._start, final=True))

    def wrap(self, iterable: Iterable[T]) -> Iterator[T]:
        """Yield from ``iterable``, counting each item; the bar closes when the iteration ends or stops."""
        with self:
            for item in iterable:
                yield item
                self.update(1)

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _line(self, elapsed: float, final: bool = False) -> str:
        """``desc: n/total units (pct%), rate unit/s, ETA t`` (final: ``in t`` instead of the ETA)."""
        units = self.unit if self.unit in ("it", "B") else f"{self.unit}s"
        done = f"{self._count(self.n)}/{self._count(self.total)}" if self.total else self._count(self.n)
        parts = [f"{self.desc}: {done} {units}" if self.unit != "B" else f"{self.desc}: {done}"]
        if self.total:
            parts[0] += f" ({100 * self.n / self.total:.0f}%)"
        if final:
            parts[0] += f" in {_duration(elapsed)}"
        rate = (self.n - self._initial) / elapsed if elapsed > 0 else 0.0
        if rate > 0:
            parts.append(f"{self._count(rate, rate=True)}{'' if self.unit == 'B' else ' ' + self.unit}/s")
            if self.total and not final and self.n < self.total:
                parts.append(f"ETA {_duration((self.total - self.n) / rate)}")
        line = ", ".join(parts)
        return f"{line} · {self._postfix}" if self._postfix else line

    def _count(self, value: float, rate: bool = False) -> str:
        if self.unit == "B":
            return std.tqdm.format_sizeof(value, "B")
        if not rate:
            return str(int(value))
        return f"{value:.1f}" if value >= 1 else f"{value:.2g}"

    def _write(self, line: str) -> None:
        self._printed = True
        stream = self._stream or sys.stderr
        stream.write(line + "\n")
        stream.flush()


def _duration(seconds: float) -> str:
    """``42s``, ``6m10s``, ``2h05m``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
