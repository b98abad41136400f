"""`e2h cache info|clear|export|import`: the engine's per-request result caches (scores, hidden states, generations)."""

from __future__ import annotations

import typer
from rich.table import Table

from e2h.cli.console import console

app = typer.Typer(no_args_is_help=True, help="Show, clear, export or import the engine's result caches.")


def _size(n_bytes: int) -> str:
    size = float(n_bytes)
    for unit in ("B", "kB", "MB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


@app.command("info")
def info_command() -> None:
    """Results and bytes per kind and model, the total, and the size cap."""
    from e2h.models.cache import cache_info, engine_cache_dir, max_bytes

    rows = cache_info()
    table = Table(title=f"engine caches in {engine_cache_dir()}")
    for column in ("kind", "model", "results", "size"):
        table.add_column(column, justify="right" if column in ("results", "size") else "left")
    for row in rows:
        table.add_row(row.kind, row.model, str(row.entries), _size(row.bytes))
    total = sum(row.bytes for row in rows)
    table.caption = f"total {_size(total)} of a {_size(max_bytes())} cap (E2H_CACHE_MAX_GB)"
    console().print(table)


@app.command("clear")
def clear_command(
    model: str | None = typer.Option(None, "--model", help="Only this model's caches (as `e2h cache info` names it)."),
    kind: str | None = typer.Option(None, "--kind", help="Only this kind: scores, hidden or generations."),
) -> None:
    """Delete cached results (all of them, or one model's and/or one kind's)."""
    from e2h.models.cache import clear

    removed = clear(kind=kind, model=model)
    freed = sum(row.bytes for row in removed)
    console().print(f"removed {len(removed)} cache file(s), {sum(r.entries for r in removed)} results, {_size(freed)}")


@app.command("export")
def export_command(
    file: str = typer.Argument(..., help="The SQLite file to write."),
    model: str | None = typer.Option(None, "--model", help="Only this model's results (as `e2h cache info` names it)."),
    kind: str | None = typer.Option(None, "--kind", help="Only this kind: scores, hidden or generations."),
) -> None:
    """Write cached results into one file, for `e2h cache import` on another machine or in a fresh checkout."""
    from e2h.models.cache import export_rows

    n_rows = export_rows(file, kind=kind, model=model)
    console().print(f"wrote {n_rows} results to {file}")


@app.command("import")
def import_command(file: str = typer.Argument(..., help="A file written by `e2h cache export`.")) -> None:
    """Merge the results of an exported file into this machine's caches (results already here are kept)."""
    from e2h.models.cache import import_rows

    added = import_rows(file)
    for (kind, model), n_rows in added.items():
        console().print(f"{kind} / {model}: {n_rows} new results")
