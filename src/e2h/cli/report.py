"""`e2h report RUN_DIR`: write the report of a run and print its summary."""

from __future__ import annotations

from pathlib import Path

import typer

from e2h.cli.console import print_wide

CI_HELP = (
    "Interval method: grid (the paper's item × seed bootstrap), nested (seeds, then each seed's items) "
    "or seed-t (t-interval over seeds)."
)


def report_command(
    run_dir: Path = typer.Argument(..., help="The run folder, e.g. runs/demo (holds manifest.json and cells/)."),
    n_boot: int | None = typer.Option(
        None,
        "--n-boot",
        min=100,
        help="Bootstrap draws per estimate (default: the report's, 10,000).",
        show_default=False,
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap streams."),
    ci: str = typer.Option("grid", "--ci", metavar="grid|nested|seed-t", help=CI_HELP),
    unpaired: bool = typer.Option(
        False, "--unpaired", help="Resample each condition of an SGR on its own (the paper's per-condition bootstrap)."
    ),
) -> None:
    """Write the report of a run (report.md, report.html, plots, tables) into RUN_DIR/report."""
    import pandas as pd  # heavy imports wait until the command runs, so `e2h --help` stays fast

    from e2h.analysis.report import summary_table, write_report
    from e2h.analysis.stats import N_BOOT

    pairing = "unpaired" if unpaired else "paired"
    paths = write_report(run_dir, n_boot=N_BOOT if n_boot is None else n_boot, seed=seed, ci=ci, pairing=pairing)
    sgr = pd.read_parquet(paths.folder / "sgr.parquet")
    acc = pd.read_parquet(paths.folder / "accuracy.parquet")
    print_wide(summary_table(sgr=sgr, acc=acc))
    typer.echo(f"report: {paths.html}\n        {paths.markdown}")
    typer.echo(f"tables: {', '.join(str(p) for p in paths.tables if p.suffix == '.csv')}")
