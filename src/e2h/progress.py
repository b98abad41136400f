"""Progress bars for long work, silenced by quiet mode (``E2H_QUIET=1`` or ``--quiet``)."""

import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def set_quiet(quiet: bool) -> None:
    """Turn every progress bar off (``True``) or back on."""
    os.environ["E2H_QUIET"] = "1" if quiet else "0"


def is_quiet() -> bool:
    return os.environ.get("E2H_QUIET", "0") not in ("", "0", "false", "False")


def progress(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """Wrap ``iterable`` in a progress bar unless quiet mode is on."""
    return iter(tqdm(iterable, desc=desc, total=total, unit=unit, disable=is_quiet(), leave=False))


def bar(desc: str, total: int | None = None, unit: str = "it", initial: int = 0) -> tqdm:
    """A manual progress bar (call ``.update(n)``) starting at ``initial`` (not counted in its rate or ETA);
    disabled in quiet mode."""
    return tqdm(desc=desc, total=total, unit=unit, initial=initial, disable=is_quiet(), leave=False)
