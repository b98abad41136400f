"""`e2h data …`: list, inspect, correlate and export datasets.

NAME is a built-in dataset (``e2h data list``) or a path to a CSV / JSONL / Parquet item table.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich import box
from rich.table import Table

from e2h.cli.console import console, print_wide
from e2h.errors import E2HError

if TYPE_CHECKING:
    from e2h.hardness.summary import MeasureSummary

app = typer.Typer(no_args_is_help=True, help="Inspect, correlate and export datasets.")

NAME_HELP = "Built-in dataset (see `e2h data list`) or a path to a CSV / JSONL / Parquet item table."


def _fmt(value: float) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:g}"


@app.command("list")
def list_command() -> None:
    """Built-in datasets: items, measures, and whether their assets are cached."""
    from e2h.data import DATASETS, dataset_info
    from e2h.data.source_measures import LENGTH_MEASURES

    table = Table(title="built-in datasets", caption=f"every dataset also has {', '.join(LENGTH_MEASURES)}")
    for column in ("name", "items", "measures", "cached", "description"):
        table.add_column(column, justify="right" if column == "items" else "left")
    for name in DATASETS.names():
        info = dataset_info(name)
        missing = [carrier for carrier, cached in info.get("assets", {}).items() if not cached]
        table.add_row(
            name,
            str(info["n_items"]),
            ", ".join(m for m in info["measures"] if m not in LENGTH_MEASURES),
            "yes" if not missing else f"no ({', '.join(missing)})",
            info.get("description", ""),
        )
    console().print(table)


@app.command("show")
def show_command(
    name: str = typer.Argument(..., help=NAME_HELP, metavar="NAME"),
    measure: list[str] | None = typer.Option(
        None, "--measure", "-m", metavar="MEASURE", help="Only this measure (repeatable)."
    ),
    cutoff: list[str] | None = typer.Option(
        None, "--cutoff", metavar="MEASURE=LO,HI", help="Override a measure's cutoffs (repeatable)."
    ),
) -> None:
    """Per measure: cutoffs and their source, items per level, and the distribution of values.

    Without ``--measure`` every measure is shown; one the dataset has no values of gets one line ("no values").
    """
    from e2h.data import load_dataset
    from e2h.data.schema import measure_columns
    from e2h.hardness.cutoffs import parse_cutoff_option
    from e2h.hardness.levels import measure_values
    from e2h.hardness.summary import PAPER_N_TRAIN, has_values, summarize_measure

    overrides = dict(parse_cutoff_option(text) for text in cutoff or [])
    items = load_dataset(name)
    measures = list(measure) if measure else measure_columns(items)
    for m in [*measures, *overrides]:
        measure_values(items, m)  # an unknown measure fails here, before any output
    empty = set() if measure else {m for m in measures if not has_values(items, m)}
    out = console()
    out.print(f"[bold]{name}[/bold]: {len(items)} items, {len(measures)} measure(s)", soft_wrap=True)
    for m in measures:
        if m in empty:
            out.print(f"\n[bold]{m}[/bold]: no values (missing for every item)", soft_wrap=True)
            continue
        summary = summarize_measure(items, m, overrides)
        cut = summary.cutoffs
        out.print(f"\n[bold]{m}[/bold]: cutoffs lo={cut.lo:g}, hi={cut.hi:g} ({cut.source})", soft_wrap=True)
        side_by_side = Table.grid(padding=(0, 2))
        side_by_side.add_row(_levels_table(summary), _distribution_table(summary))
        out.print(side_by_side)
        small = summary.small_levels()
        if small:
            counts = ", ".join(f"{level} {summary.counts[level]}" for level in small)
            out.print(
                f"[yellow]warning:[/yellow] {m}: fewer than the paper's n_train = {PAPER_N_TRAIN} items in {counts}; "
                f"use a smaller n_train there or other cutoffs (--cutoff {m}=LO,HI).",
                soft_wrap=True,
            )


def _levels_table(summary: MeasureSummary) -> Table:
    lo, hi = summary.cutoffs.lo, summary.cutoffs.hi
    table = Table()
    table.add_column("level")
    table.add_column("rule")
    table.add_column("items", justify="right")
    rules = {"easy": f"x <= {lo:g}", "medium": f"{lo:g} < x < {hi:g}", "hard": f"x >= {hi:g}", "missing": "NaN"}
    for level, rule in rules.items():
        table.add_row(level, rule, str(summary.counts[level]))
    return table


def _distribution_table(summary: MeasureSummary) -> Table:
    if summary.distribution is not None:
        table = Table()
        table.add_column("value", justify="right")
        table.add_column("items", justify="right")
        for value, count in summary.distribution.items():
            table.add_row(_fmt(value), str(count))
        return table
    table = Table()
    table.add_column("quantile")
    table.add_column("value", justify="right")
    for q, value in summary.quantiles.items():
        table.add_row({0.0: "min", 1.0: "max"}.get(q, f"{q:.0%}"), _fmt(value))
    return table


@app.command("correlate")
def correlate_command(
    name: str = typer.Argument(..., help=NAME_HELP, metavar="NAME"),
    plot: Path | None = typer.Option(None, "--plot", metavar="FILE.png", help="Also draw the matrix as a heatmap PNG."),
) -> None:
    """Spearman rank correlations between the dataset's measures (pairwise complete items)."""
    if plot is not None and plot.suffix.lower() != ".png":  # before loading: a built-in table takes seconds
        raise E2HError(
            f"--plot writes a PNG, not {plot.suffix or 'a file without extension'}: name it e.g. {plot.stem}.png"
        )
    from e2h.data import load_dataset
    from e2h.data.schema import measure_columns
    from e2h.hardness.levels import measure_values
    from e2h.hardness.summary import spearman_matrix

    items = load_dataset(name)
    measures = measure_columns(items)
    counts = {m: int(measure_values(items, m).notna().sum()) for m in measures}
    present = [m for m in measures if counts[m] >= 3]
    if not present:
        raise E2HError(f"{name} has no hardness measure with 3+ values: add numeric columns such as num_steps.")
    matrix = spearman_matrix(items, present)
    notes = ["items with a value: " + ", ".join(f"{i}: {counts[m]}" for i, m in enumerate(present, start=1))]
    if len(present) < len(measures):
        notes.append(f"too few values: {', '.join(m for m in measures if m not in present)}")
    table = Table(
        title=f"{name}: Spearman correlation between measures (pairwise complete items)",
        caption="; ".join(notes),
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("measure", no_wrap=True)
    for number in range(1, len(present) + 1):  # numbered headers keep wide matrices readable
        table.add_column(str(number), justify="right", no_wrap=True, min_width=5)
    for number, (m, row) in enumerate(matrix.iterrows(), start=1):
        table.add_row(f"{number} {m}", *("—" if math.isnan(v) else f"{v:.2f}" for v in row))
    print_wide(table)
    if plot is not None:
        from e2h.analysis.plots import save_figure
        from e2h.analysis.plots_items import spearman_figure

        save_figure(spearman_figure(matrix, f"{Path(name).name}: Spearman correlation of measures"), plot)
        console().print(f"plot: {plot}", soft_wrap=True)


@app.command("export")
def export_command(
    name: str = typer.Argument(..., help=NAME_HELP, metavar="NAME"),
    to: str = typer.Option(
        ..., "--to", metavar="FILE", help="Output file: .parquet, .jsonl or .csv (choices as a JSON list)."
    ),
) -> None:
    """Write the item table (with every measure) to a file, atomically."""
    from e2h.data import load_dataset, save_items
    from e2h.data.user import check_output

    check_output(to)  # before loading: a built-in table takes seconds
    items = load_dataset(name)
    path = save_items(items, to)
    console().print(f"wrote {len(items)} items to {path}", soft_wrap=True)
