"""`e2h cache info|clear`: the engine's per-request result caches (scores, hidden states, generations)."""

from __future__ import annotations

import typer
from rich.table import Table

from e2h.cli.console import console

app = typer.Typer(no_args_is_help=True, help="Show or clear the engine's result caches.")


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
