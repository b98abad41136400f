"""The ``e2h`` command: a thin layer over the public API.

Every :class:`~e2h.errors.E2HError` becomes one line on stderr and exit code 2. Ctrl-C and SIGTERM (``kill``,
``timeout``, a batch scheduler's time limit) stop a run the same way: finished work is stored, a rerun resumes.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import NoReturn

import typer

from e2h.errors import E2HError
from e2h.progress import set_quiet

app = typer.Typer(
    name="e2h",
    help="Easy-to-hard generalization of language models: data, models, experiments, reports.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _options(quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars.")) -> None:
    if quiet:
        set_quiet(True)


def _register() -> None:
    from e2h.cli import cache, data, eval, hardness, report, run

    app.add_typer(cache.app, name="cache", help="Show, clear, export or import the engine's result caches.")
    app.add_typer(data.app, name="data", help="Inspect, correlate and export datasets.")
    app.add_typer(hardness.app, name="hardness", help="Compute and list model-based hardness measures.")
    app.command(name="eval", help=eval.__doc__)(eval.eval_command)
    app.command(name="run", help=run.run_command.__doc__)(run.run_command)
    app.command(name="report", help=report.report_command.__doc__)(report.report_command)
    app.command(name="summary", help=report.summary_command.__doc__)(report.summary_command)


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[list[int]]:
    """Within the block, SIGTERM raises ``KeyboardInterrupt`` where the process is, so a run unwinds as on Ctrl-C
    (cells in progress recorded as interrupted, the store closed); the list yielded gets the signal if it came.
    The previous handler is restored after."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield received
        return

    def _raise(signum: int, frame: object) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stopped(terminated: bool) -> NoReturn:
    how = "terminated" if terminated else "interrupted"
    print(f"e2h: {how}; finished work is kept and a rerun resumes from it.", file=sys.stderr)
    sys.exit(128 + signal.SIGTERM if terminated else 130)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    _register()
    received: list[int] = []
    try:
        with sigterm_interrupts() as received:
            result = app(args=argv, standalone_mode=False)
    except E2HError as exc:
        print(f"e2h: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        _stopped(bool(received))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except typer.TyperException as exc:  # usage errors: unknown command, bad option value
        show = getattr(exc, "show", None)
        if show is None:
            raise
        show()
        sys.exit(2)
    if result == 130:  # typer returns a KeyboardInterrupt (Ctrl-C, or SIGTERM raised as one) as exit code 130
        _stopped(bool(received))
    if isinstance(result, int) and result:
        sys.exit(result)
