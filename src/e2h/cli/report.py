"""`e2h report RUN_DIR`: write the report of a run and print its summary; `e2h summary RUN_DIR...`: one table of
several reported runs."""

from __future__ import annotations

from pathlib import Path

import typer

from e2h.cli.console import print_wide

CI_HELP = (
    "Interval method: grid (the paper's item × seed bootstrap), nested (seeds, then each seed's own items; "
    "refused where seeds share most test items, as with n_test: all) or seed-t (t-interval over seeds: "
    "seed-to-seed spread only, test items shared by every seed held fixed)."
)
PAIRING_HELP = (
    "How SGR's three conditions are resampled together: paired (the same items and seeds), paper (the paper's "
    "analysis.Rmd: one item draw for all, each condition's seeds drawn apart, differences cell by cell; grid "
    "only) or unpaired (items and seeds drawn apart for each condition; not the paper's). Default: paired."
)


def report_command(
    run_dir: Path = typer.Argument(..., help="The run folder, e.g. runs/demo (holds manifest.json and cells/)."),
    n_boot: int | None = typer.Option(
        None, "--n-boot", min=100, help="Bootstrap draws per estimate (default: e2h.analysis.stats.N_BOOT)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap streams."),
    ci: str = typer.Option("grid", "--ci", metavar="grid|nested|seed-t", help=CI_HELP),
    pairing: str | None = typer.Option(None, "--pairing", metavar="paired|paper|unpaired", help=PAIRING_HELP),
    unpaired: bool = typer.Option(
        False, "--unpaired", help="Short for --pairing unpaired (each condition drawn apart; not the paper's scheme)."
    ),
) -> None:
    """Write the report of a run (report.md, report.html, plots, tables) into RUN_DIR/report."""
    import pandas as pd  # heavy imports wait until the command runs, so `e2h --help` stays fast

    from e2h.analysis.report import summary_table, write_report
    from e2h.analysis.stats import N_BOOT
    from e2h.errors import E2HError

    if unpaired and pairing not in (None, "unpaired"):
        raise E2HError(f"--unpaired contradicts --pairing {pairing}: give one of them")
    pairing = "unpaired" if unpaired else pairing or "paired"
    paths = write_report(run_dir, n_boot=n_boot or N_BOOT, seed=seed, ci=ci, pairing=pairing)
    sgr = pd.read_parquet(paths.folder / "sgr.parquet")
    acc = pd.read_parquet(paths.folder / "accuracy.parquet")
    print_wide(summary_table(sgr=sgr, acc=acc))
    typer.echo(f"report: {paths.html}\n        {paths.markdown}")
    typer.echo(f"tables: {', '.join(str(p) for p in paths.tables if p.suffix == '.csv')}")


def summary_command(
    run_dirs: list[Path] = typer.Argument(..., help="Run folders whose report was written (RUN/report/sgr.parquet)."),
) -> None:
    """Print one Markdown table of the SGR groups of several runs, from their reports (nothing is recomputed)."""
    import pandas as pd

    from e2h.analysis.display import runs_summary
    from e2h.analysis.report import markdown_table
    from e2h.errors import E2HError

    tables = {}
    for run_dir in run_dirs:
        path = run_dir / "report" / "sgr.parquet"
        if not path.is_file():
            raise E2HError(f"{run_dir} has no report ({path} is missing): write it with `e2h report {run_dir}`")
        tables[run_dir.name] = pd.read_parquet(path)
    typer.echo(markdown_table(runs_summary(tables)), nl=False)
