"""`e2h hardness compute|list`: model-based hardness measures, computed once into the cache.

    e2h hardness compute arc --method prequential --models smollm2-135m --format cloze
    e2h hardness compute arc --method nll --models gemma3-270m,qwen2.5-coder-1.5b   # the paper's summed NLL
    e2h hardness compute arc --source hub --variant paper --method mdl_proxy          # on the items a run uses
    e2h hardness compute arc --method irt --runs runs/arc_learners --runs runs/other
    e2h hardness list arc

A computed measure is then a column of the dataset like any other (`e2h data show arc`, `measures:` in configs);
its name follows the scheme of :mod:`e2h.measure_names` (``prequential_smollm2-135m``).
"""

from __future__ import annotations

import math
import time

import typer
import yaml
from rich.table import Table

from e2h.cli.console import console, print_wide
from e2h.cli.eval import parse_options
from e2h.errors import E2HError
from e2h.measure_names import DEFAULT_LEARNER

app = typer.Typer(no_args_is_help=True, help="Compute and list model-based hardness measures.")

NAME_HELP = "Built-in dataset (see `e2h data list`) or a path to a CSV / JSONL / Parquet item table."


@app.command("compute")
def compute_command(
    name: str = typer.Argument(..., help=NAME_HELP, metavar="DATASET"),
    method: str = typer.Option(..., "--method", help="mdl_proxy, prequential, nll, nll_per_token or irt."),
    models: str = typer.Option("smollm2-135m-instruct", "--models", help="Comma-separated models (aliases, ids)."),
    learner: str = typer.Option(DEFAULT_LEARNER, "--learner", help="Learner fitted by mdl_proxy and prequential."),
    option: list[str] = typer.Option([], "--option", help="A learner option KEY=VALUE (YAML value); repeatable."),
    format: str | None = typer.Option(None, "--format", help="Prompt format (default: the dataset's)."),
    seed: int = typer.Option(0, "--seed", help="Seed of pools, resamples and orders."),
    runs: list[str] = typer.Option([], "--runs", help="Finished run folder for irt (repeatable, or comma-separated)."),
    source: str = typer.Option("local", "--source", help="Built-in dataset from: local or hub (a run's `source`)."),
    variant: str | None = typer.Option(None, "--variant", help="Another preparation (a run's `variant`), e.g. paper."),
    setting: list[str] = typer.Option(
        [],
        "--set",
        metavar="KEY=VALUE",
        help="A method setting (repeatable): mdl_proxy sizes=5,20,80 resamples=5 holdout=1000 (0: no pool, for "
        "--learner zero-shot, its default); "
        "prequential permutations=3 first_block=16; irt irt_model=2pl|1pl min_responses=5.",
    ),
) -> None:
    """Compute a model-based hardness measure of a dataset and store it (resumes an interrupted computation)."""
    from e2h.measures import compute_measure

    settings = {key: _setting(value) for key, value in parse_options(setting).items()}
    started = time.perf_counter()
    results = compute_measure(
        name,
        method,
        models=[m.strip() for m in models.split(",") if m.strip()],
        learner=learner,
        options=parse_options(option),
        format=format,
        seed=seed,
        runs=[r.strip() for text in runs for r in text.split(",") if r.strip()],
        source=source,
        variant=variant,
        **settings,
    )
    seconds = time.perf_counter() - started
    out = console()
    for result in results:
        values = result.table["value"].where(~result.table["held_out"])
        summary = ", ".join(f"{k}={_fmt(v)}" for k, v in result.provenance.get("summary", {}).items())
        out.print(
            f"{result.measure}: {int(values.notna().sum())} items with a value ({summary}); {result.path}",
            soft_wrap=True,
        )
    out.print(f"done in {seconds:.1f} s", soft_wrap=True)


def _setting(value: object) -> object:
    """``"5,20,80"`` → ``(5, 20, 80)``; other values as YAML gave them."""
    if isinstance(value, str) and "," in value:
        return tuple(yaml.safe_load(part) for part in value.split(","))
    return tuple(value) if isinstance(value, list) else value


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


@app.command("list")
def list_command(
    name: str | None = typer.Argument(None, help="Only this dataset (default: every dataset with a table)."),
) -> None:
    """Computed measures: dataset, measure, items with a value, method, models, learner, seed, date."""
    from e2h.data.measure_tables import computed_tables, dataset_key, list_computed, read_measure

    found = list_computed()
    if name:  # its default preparation's tables (a view's base's too), then those of its other preparations
        other = {k: p for k, p in found.items() if k.partition("/")[0].startswith(f"{dataset_key(name)}@")}
        found = {**computed_tables(name), **other}
    if not found:
        raise E2HError(
            f"no computed measure{' for ' + name if name else ''}: run `e2h hardness compute DATASET --method ...`."
        )
    table = Table(title="computed hardness measures")
    for column in (
        "dataset",
        "measure",
        "items",
        "held out",
        "method",
        "models",
        "learner",
        "format",
        "seed",
        "created",
    ):
        table.add_column(column, justify="right" if column in ("items", "held out", "seed") else "left")
    for measure, path in found.items():
        rows, meta = read_measure(path)
        held = rows["held_out"].to_numpy(dtype=bool)
        table.add_row(
            str(meta.get("dataset", path.parent.name)) + _preparation(path.parent.name),
            measure.split("/")[-1],
            str(int((~held & rows["value"].notna()).sum())),
            str(int(held.sum())),
            str(meta.get("method", "")),
            ",".join(meta.get("models") or []) or "—",
            str(meta.get("learner") or "—"),
            str(meta.get("format") or "—"),
            str(meta.get("seed", "")),
            str(meta.get("created", "")),
        )
    print_wide(table)


def _preparation(key: str) -> str:
    """`` @hub``, `` @local-paper``… for a table of another preparation than the default (its folder's suffix)."""
    suffix = key.partition("@")[2]
    return f" @{suffix}" if suffix else ""
