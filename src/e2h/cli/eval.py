"""Evaluate one learner on one dataset: a one-cell run, with accuracy under every normalization and 95% CIs.

Examples:

  e2h eval --dataset arc-easy --n 200
  e2h eval --dataset arc-challenge --learner icl --k 5 --format cloze
  e2h eval --dataset gsm8k --learner icl-cot --k 4 --n 20 --option max_new_tokens=128
  e2h eval --dataset arc --learner linear-probe --measure human_grade --train-on easy --test-on hard
  e2h eval --dataset my_items.csv --out predictions.jsonl

The command builds the one-cell config these options describe and computes it by the path every cell of
`e2h run` takes (split → fit → predict), with the same defaults (n_train 160, k 10, the dataset's format).
Without --measure the split is random (train_on and test_on all); nothing is written to a run folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import typer
import yaml

from e2h.errors import E2HError
from e2h.io import atomic_open, check_writable
from e2h.seeding import make_rng

if TYPE_CHECKING:
    from e2h.experiments import ExperimentConfig
    from e2h.learners import Predictions


def eval_command(
    dataset: str = typer.Option(..., "--dataset", "-d", help="A built-in dataset name or a CSV/JSONL/Parquet file."),
    model: str = typer.Option("smollm2-135m-instruct", "--model", "-m", help="Model alias, local folder or hub id."),
    learner: str = typer.Option("zero-shot", "--learner", "-l", help="zero-shot, icl, icl-cot, linear-probe, lora…"),
    option: list[str] = typer.Option([], "--option", help="A learner option KEY=VALUE (YAML value); repeatable."),
    k: int | None = typer.Option(None, "--k", help="In-context demonstrations (default 10)."),
    format: str | None = typer.Option(None, "--format", "-f", help="Prompt format (default: the dataset's)."),
    normalization: str | None = typer.Option(None, "--normalization", help="The learner's normalization (raw)."),
    extraction: str | None = typer.Option(None, "--extraction", help="Answer extraction rule (default: dataset's)."),
    n: int | None = typer.Option(None, "--n", help="Number of test items (default: all remaining)."),
    n_train: int = typer.Option(160, "--n-train", help="Training items (ICL draws its k demonstrations from them)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split, demonstrations and CIs."),
    measure: str | None = typer.Option(None, "--measure", help="Hardness measure of the split (e.g. human_grade)."),
    train_on: str = typer.Option("all", "--train-on", help="Training level: easy, medium, hard, all, easy_and_hard."),
    test_on: str = typer.Option("all", "--test-on", help="Test level: easy, medium, hard, all."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda…"),
    dtype: str | None = typer.Option(None, "--dtype", help="auto (default), float32, bfloat16, float16."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write one JSON object per test item to this file."),
) -> None:
    """Evaluate one learner on one dataset (a one-cell run)."""
    flags = {key: value for key, value in locals().items() if key not in ("option", "out")}
    from e2h.experiments import fit_predict, plan
    from e2h.models import load_model

    config = eval_config(options=parse_options(option), **flags)
    if out is not None:
        check_writable(out)  # before the model runs, not after
    data, cells, _ = plan(config)
    (cell,) = cells
    lm = load_model(config.model_path(cell.model), device=config.device, dtype=config.dtype)
    result = fit_predict(cell, lm, data)
    by_norm = {cell.options.get("normalization", learner): result.predictions}
    if hasattr(result.learner, "predict_all") and result.predictions.generation is None:
        by_norm = result.learner.predict_all(result.split.test)  # every normalization, from the score cache

    _print_summary(cell, result.split.train, result.split.test, result.predictions, by_norm)
    typer.echo(f"time: fit {result.fit_seconds:.1f}s, predict {result.predict_seconds:.1f}s")
    if out is not None:
        _write_jsonl(out, result.split.test, result.predictions)
        typer.echo(f"wrote {len(result.split.test)} predictions to {out}")


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """``["epochs=5", "layers=[6, 12]"]`` → ``{"epochs": 5, "layers": [6, 12]}`` (values read as YAML)."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise E2HError(f"--option {pair!r}: write KEY=VALUE, e.g. --option epochs=5.")
        options[key.strip()] = yaml.safe_load(value)
    return options


def eval_config(
    *,
    dataset: str,
    model: str,
    learner: str,
    options: dict[str, Any],
    n_train: int,
    n: int | None,
    seed: int,
    measure: str | None,
    train_on: str,
    test_on: str,
    device: str = "auto",
    dtype: str | None = None,
    k: int | None = None,
    format: str | None = None,
    normalization: str | None = None,
    extraction: str | None = None,
) -> ExperimentConfig:
    """The one-cell config that ``e2h eval`` runs (validated like any config file; ``--option`` values first, so that
    their error names the flag)."""
    from e2h.experiments import parse_config
    from e2h.learners import LEARNERS

    if learner in LEARNERS:
        try:
            LEARNERS.get(learner).check_options(options)
        except E2HError as exc:
            raise E2HError(f"--option: {exc}") from None

    data: dict[str, Any] = {
        "name": "eval",
        "models": [model],
        "device": device,
        "datasets": [{"name": dataset, "measures": [measure] if measure else []}],
        "learners": [{"name": learner, "options": options}],
        "train_on": [train_on],
        "test_on": test_on,
        "n_train": [n_train],
        "n_test": n,
        "seeds": [seed],
    }
    given = {"k": k, "format": format, "normalization": normalization, "extraction": extraction, "dtype": dtype}
    data.update({key: value for key, value in given.items() if value is not None})
    return parse_config(data, source="e2h eval", base_dir=Path.cwd())


def _ci(correct: np.ndarray, seed: int) -> tuple[float, float, float]:
    """Accuracy and its 95% item-bootstrap interval (``analysis.stats.N_BOOT`` draws, ``make_rng(seed, "ci")``)."""
    from e2h.analysis.stats import N_BOOT, grid_bootstrap

    estimate = grid_bootstrap(np.asarray(correct, dtype=float), n_boot=N_BOOT, rng=make_rng(seed, "ci"))
    return estimate.mean, estimate.lo, estimate.hi


def _print_summary(
    cell: Any, train: pd.DataFrame, test: pd.DataFrame, main: Predictions, by_norm: dict[str, Predictions]
) -> None:
    from e2h.answering import chance_rate
    from e2h.learners import LEARNERS
    from e2h.learners.prompting import NORMALIZATIONS

    chance = float(np.mean(chance_rate(test["choices"].map(len))))
    options = cell.options
    fmt = "cot" if LEARNERS.get(cell.learner).generates(options) else options.get("format", "-")
    k_used = main.info.get("k_used")
    shots = f", k_used {k_used}" if k_used is not None and "k" in options else ""  # a learner with demonstrations
    split = "random split" if cell.measure == "random" else f"{cell.measure} {cell.train_on}→{cell.test_on}"
    typer.echo(
        f"{cell.model} | {Path(cell.dataset).name} | {cell.learner} (format {fmt}{shots}) | {split} | "
        f"train {len(train)} | test {len(test)}"
    )
    typer.echo(f"chance {100 * chance:.1f}%")
    if main.generation is not None:
        typer.echo(f"unextractable answers: {main.info.get('n_unextractable', 0)} of {len(main)}")
        shown = {"generation": main}
    else:
        shown = {name: by_norm[name] for name in NORMALIZATIONS if name in by_norm} or by_norm
    chosen = options.get("normalization")
    typer.echo(f"{'normalization':<14}{'accuracy':>9}   95% CI")
    for name, preds in shown.items():
        mean, lo, hi = _ci(preds.correct, cell.seed)
        mark = " *" if name == chosen and len(shown) > 1 else ""
        typer.echo(f"{name:<14}{100 * mean:>8.1f}%   [{100 * lo:.1f}, {100 * hi:.1f}]{mark}")


def _write_jsonl(path: Path, test: pd.DataFrame, preds: Predictions) -> None:
    """One JSON object per test item, written atomically."""
    frame = preds.to_frame()
    if "level" in test.columns:
        frame["level"] = test["level"].to_numpy()
    with atomic_open(path) as handle:
        for record in frame.to_dict(orient="records"):
            handle.write(json.dumps(record, default=_json_default) + "\n")


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot serialise {type(value).__name__}")
