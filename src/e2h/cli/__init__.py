"""The ``e2h`` command: a thin layer over the public API.

Every :class:`~e2h.errors.E2HError` becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys

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

    app.add_typer(cache.app, name="cache", help="Show or clear the engine's result caches.")
    app.add_typer(data.app, name="data", help="Inspect, correlate and export datasets.")
    app.add_typer(hardness.app, name="hardness", help="Compute and list model-based hardness measures.")
    app.command(name="eval", help=eval.__doc__)(eval.eval_command)
    app.command(name="run", help=run.run_command.__doc__)(run.run_command)
    app.command(name="report", help=report.report_command.__doc__)(report.report_command)
    app.command(name="summary", help=report.summary_command.__doc__)(report.summary_command)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    _register()
    try:
        result = app(args=argv, standalone_mode=False)
    except E2HError as exc:
        print(f"e2h: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("e2h: interrupted; finished work is kept and a rerun resumes from it.", file=sys.stderr)
        sys.exit(130)
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
    if isinstance(result, int) and result:
        sys.exit(result)
