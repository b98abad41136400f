"""The one way e2h tells the user something that is not a result: a single line on stderr.

``warn`` is for something the user should act on or know about the results (``e2h: warning: …``);
``info`` is for what e2h is doing that takes a while (``e2h: …``) and is silenced by quiet mode.
Errors are :class:`~e2h.errors.E2HError` instead, which the CLI prints as ``e2h: error: …``.
"""

from __future__ import annotations

import sys

from e2h.progress import is_quiet


def warn(message: str) -> None:
    """Print ``e2h: warning: <message>`` on one line to stderr (always, also in quiet mode)."""
    _emit(f"e2h: warning: {_one_line(message)}")


def info(message: str) -> None:
    """Print ``e2h: <message>`` on one line to stderr, unless quiet mode is on."""
    if not is_quiet():
        _emit(f"e2h: {_one_line(message)}")


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


def _emit(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
