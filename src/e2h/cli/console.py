"""Rich output shared by the commands: tables are never squeezed into unreadable columns."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def print_wide(table: Table) -> None:
    """Print ``table`` without wrapping its cells: widen the console past the terminal if it must."""
    out = console()
    needed = out.measure(table, options=out.options.update_width(1000)).maximum
    if needed > out.width:
        out = Console(highlight=False, soft_wrap=False, width=needed)
    out.print(table)
