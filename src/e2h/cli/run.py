"""`e2h run CONFIG`: run an experiment config (resumable), then write its report."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from e2h.cli.console import console as make_console
from e2h.cli.console import print_wide


def run_command(
    config: Path = typer.Argument(..., help="A YAML config, or a preset name (demo → configs/demo.yaml)."),
    force: bool = typer.Option(False, "--force", help="Recompute finished cells instead of reusing them."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the cells, split sizes and each SGR group's power; load no model."
    ),
    backend: str | None = typer.Option(
        None, "--backend", help="local or ray (default: the config's `backend`, local)."
    ),
    address: str | None = typer.Option(
        None, "--address", help="Ray cluster to join: auto, ray://host:port (default: a local one)."
    ),
    scale: str | None = typer.Option(
        None, "--scale", help="A named smaller version from the config's `scales:` (e.g. small: CPU-sized)."
    ),
) -> None:
    """Run an experiment config: every cell not finished yet, then the report (RUN/report) and its summary.

    Results go to OUTPUT_DIR/NAME (manifest.json, cells/*.parquet); a rerun resumes where the last one stopped,
    with either backend (`--backend ray` computes the cells on a Ray cluster; see README "Running on a cluster").
    With --scale SCALE the config's `scales: {SCALE: {...}}` keys replace its top-level ones and the run is NAME-SCALE.
    Exit code 1 when a cell failed (errors are in the manifest), 2 for an invalid config, backend or impossible split.
    """
    from e2h.experiments import load_config, plan, run_experiment
    from e2h.experiments.backends import make_backend
    from e2h.experiments.store import RunStore
    from e2h.progress import set_quiet

    if quiet:
        set_quiet(True)
    cfg = load_config(config, scale=scale)
    runs_on = make_backend(cfg, backend, address)  # a bad --backend or --address: one line, before anything loads
    console = make_console()
    if dry_run:  # the whole plan, impossible splits marked, then the usual one-line error for them
        from e2h.experiments.runner import raise_impossible

        data, cells, splits = plan(cfg, strict=False)
        _print_plan(console, cells, splits, RunStore.for_config(cfg), force)
        _print_power(console, cells, data)
        raise_impossible(cfg, splits)
        return
    result = run_experiment(cfg, force=force, backend=runs_on)
    done = sum(RunStore(result.run_dir).is_done(c.cell_id) for c in result.cells)
    console.print(
        f"{cfg.name}: {len(result.executed)} cell(s) computed, {done}/{len(result.cells)} finished", soft_wrap=True
    )
    report_error = _report(console, result) if done else None
    _print_timings(console, result)
    if report_error is not None and not result.failures:
        raise report_error  # the CLI's one line, exit 2
    if report_error is not None:
        console.print(f"[red]report not written[/red]: {report_error}", highlight=False, soft_wrap=True)
    for cell, error in result.failures:  # always, also when the report could not be written
        console.print(f"[red]failed[/red] {cell.cell_id} {cell.describe()}: {error}", highlight=False, soft_wrap=True)
    if result.failures:
        console.print(
            f"{len(result.failures)} cell(s) failed; tracebacks in {result.run_dir / 'manifest.json'}", soft_wrap=True
        )
        raise SystemExit(1)  # not typer.Exit: with standalone_mode=False its code would be returned, not used


def _report(console: Console, result) -> Exception | None:
    """Write the run's report and print its summary; the error (not raised) when it could not be written."""
    import time

    from e2h.analysis.report import summary_table, write_report
    from e2h.errors import E2HError

    start = time.perf_counter()
    try:
        paths = write_report(result.run_dir)
    except E2HError as exc:
        return exc
    result.timed("report", start)
    sgr, acc = (_read(paths.folder / f"{name}.parquet") for name in ("sgr", "accuracy"))
    print_wide(summary_table(sgr=sgr, acc=acc))
    console.print(f"report: {paths.html}\n        {paths.markdown}", soft_wrap=True)
    return None


def _print_timings(console: Console, result) -> None:
    """Wall time per phase, and how close each model's forward passes ran to this CPU's matmul ceiling."""
    from e2h.models.cpu import cpu_name, matmul_ceiling

    if not result.executed:
        return
    phases = " · ".join(f"{name} {seconds:.0f} s" for name, seconds in result.seconds.items())
    console.print(f"wall time ({cpu_name()}): {phases}", soft_wrap=True, highlight=False)
    for model, engine in result.engine.items():
        if not engine["seconds"]:
            continue
        dtype = str(engine.get("dtype", "float32"))
        ceiling = matmul_ceiling().get(dtype, 0.0)
        share = f" = {100 * engine['gflops'] / ceiling:.0f}% of this CPU's {dtype} matmul ceiling"
        share += f" ({ceiling:.0f} GFLOP/s)"
        console.print(
            f"engine {model} ({dtype}): {engine['tokens']:,.0f} tokens in {engine['seconds']:.0f} s of forward "
            f"passes, {engine['gflops']:.1f} GFLOP/s{share if ceiling else ''}",
            soft_wrap=True,
            highlight=False,
        )


def _read(path: Path):
    import pandas as pd

    return pd.read_parquet(path)


def _print_power(console: Console, cells: list, data) -> None:
    """One line per SGR group: its hard test items × seeds and the expected 95% half-width of Hard − Unsup."""
    from e2h.experiments.power import sgr_power
    from e2h.experiments.runner import cell_split

    lines = sgr_power(cells, lambda cell: cell_split(cell, data))
    if not lines:
        console.print(
            "power: no SGR group in this plan (it needs the unsupervised baseline and a learner trained on both "
            "easy and hard items, with a possible split)",
            highlight=False,
            soft_wrap=True,
        )
    for what, power in lines:
        console.print(f"power {what}: {power.describe()}", highlight=False, soft_wrap=True)


def _print_plan(console: Console, cells: list, splits: list, store, force: bool) -> None:
    from rich.table import Table

    table = Table(title="splits (first seed)")
    for column in ("dataset", "measure", "train_on", "n_train", "train", "test", "test levels"):
        table.add_column(column)
    for cell, info in splits:
        levels = ", ".join(f"{k} {v}" for k, v in info.get("test_counts", {}).items() if v)
        data = cell.dataset if not cell.transfer else f"{cell.train_dataset}→{cell.dataset}"
        row = (data, cell.measure, cell.train_on, cell.n_train, info.get("n_train"), info.get("n_test"), levels)
        if "impossible" in info:
            row = (*row[:4], "impossible", "", "")
        table.add_row(*map(str, row))
    console.print(table)
    for cell in cells:
        status = "done" if store.is_done(cell.cell_id) and not force else "todo"
        console.print(f"{cell.cell_id}  {status}  {cell.describe()}", highlight=False, soft_wrap=True)
    pending = sum(not store.is_done(c.cell_id) or force for c in cells)
    console.print(f"{len(cells)} cells, {pending} to compute → {store.dir}", soft_wrap=True)
