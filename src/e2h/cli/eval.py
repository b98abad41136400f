"""Evaluate one learner on one dataset: accuracy under every normalization, with 95% CIs.

Examples:

  e2h eval --dataset arc-easy --n 200
  e2h eval --dataset arc-challenge --learner icl --k 5 --format cloze
  e2h eval --dataset gsm8k --learner icl-cot --k 4 --n 20 --max-new-tokens 128
  e2h eval --dataset arc --learner icl --measure human_grade --train-on easy
  e2h eval --dataset my_items.csv --out predictions.jsonl

Training items (ICL demos, probe or LoRA data) come from the hardness split with
--measure, else from a random pool disjoint from the test items.
"""

from __future__ import annotations

import inspect
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import typer

from e2h.errors import E2HError
from e2h.io import atomic_open
from e2h.seeding import make_rng

if TYPE_CHECKING:
    from e2h.learners import Predictions

DEFAULT_N_TRAIN = 320  # the paper's default training size for probes and LoRA
N_BOOT = 10_000


def eval_command(
    dataset: str = typer.Option(..., "--dataset", "-d", help="A built-in dataset name or a CSV/JSONL/Parquet file."),
    model: str = typer.Option("smollm2-135m", "--model", "-m", help="Model alias, local folder or hub id."),
    learner: str = typer.Option("zero-shot", "--learner", "-l", help="zero-shot, icl, icl-cot, linear-probe, lora…"),
    k: int = typer.Option(10, "--k", help="ICL demonstrations."),
    format: str | None = typer.Option(None, "--format", "-f", help="Prompt format (default: qa or listed)."),
    normalization: str = typer.Option("raw", "--normalization", help="The learner's normalization (all are printed)."),
    n: int | None = typer.Option(None, "--n", help="Number of test items (default: all remaining)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split, demonstrations and CIs."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write one JSON object per test item to this file."),
    measure: str | None = typer.Option(None, "--measure", help="Hardness measure of the split (e.g. human_grade)."),
    train_on: str = typer.Option("all", "--train-on", help="Training level: easy, medium, hard, all, easy_and_hard."),
    test_on: str = typer.Option("all", "--test-on", help="Test level: easy, medium, hard, all."),
    n_train: int | None = typer.Option(None, "--n-train", help="Training pool size (default: k for ICL, 320 else)."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", help="Generation budget of icl-cot."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda…"),
) -> None:
    """Evaluate one learner on one dataset."""
    from e2h.data import dataset_facts, load_dataset
    from e2h.learners import LEARNERS, make_learner
    from e2h.learners.prompting import check_normalization
    from e2h.models import load_model
    from e2h.models.templates import FORMATS

    cls = LEARNERS.get(learner)
    check_normalization(normalization)
    if format is not None:
        FORMATS.get(format)
    if n is not None and n < 1:
        raise E2HError(f"--n {n}: give a number of test items >= 1 (or leave it out for all).")
    items = load_dataset(dataset)
    fmt = format or dataset_facts(dataset).format
    pool = _pool_size(learner, cls.supervised, k, n_train)
    train, test = _split(items, pool, n, seed, measure, train_on, test_on, n_train)

    lm = load_model(model, device=device)
    options = {"k": k, "format": fmt, "normalization": normalization, "seed": seed, "max_new_tokens": max_new_tokens}
    accepted = inspect.signature(cls.__init__).parameters
    est = make_learner(learner, lm, **{key: v for key, v in options.items() if key in accepted})
    start = time.perf_counter()
    est.fit(train)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    if hasattr(est, "predict_all"):  # zero-shot and ICL: every normalization from one scoring pass
        by_norm = est.predict_all(test)
        main = by_norm[normalization]
    else:
        main = est.predict(test)
        by_norm = {learner: main}
    predict_seconds = time.perf_counter() - start

    _print_summary(model, str(items["dataset"].iloc[0]), learner, fmt, train, test, main, by_norm, normalization, seed)
    typer.echo(f"time: fit {fit_seconds:.1f}s, predict {predict_seconds:.1f}s")
    if out is not None:
        _write_jsonl(out, test, main)
        typer.echo(f"wrote {len(test)} predictions to {out}")


def _pool_size(learner: str, supervised: bool, k: int, n_train: int | None) -> int:
    """How many training items the learner gets: none for zero-shot, k for ICL, else 320 unless given."""
    if n_train is not None:
        if n_train < 0:
            raise E2HError(f"--n-train {n_train}: give a number >= 0.")
        return n_train if supervised else 0
    if not supervised:
        return 0
    return k if learner in ("icl", "icl-cot") else DEFAULT_N_TRAIN


def _split(
    items: pd.DataFrame,
    pool: int,
    n: int | None,
    seed: int,
    measure: str | None,
    train_on: str,
    test_on: str,
    n_train: int | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and test items: a hardness split with ``--measure``, else a random disjoint pool."""
    if measure is not None:
        from e2h.hardness import make_split

        reserve = n_train if n_train is not None else pool
        split = make_split(items, measure, train_on, test_on, pool, n, seed, reserve=reserve)
        return split.train, split.test
    if pool >= len(items):
        raise E2HError(f"a training pool of {pool} leaves no test items among {len(items)}: lower --n-train or --k.")
    order = make_rng(seed, "eval").permutation(len(items))
    test_pos = order[pool:] if n is None else order[pool : pool + n]
    return items.iloc[order[:pool]].reset_index(drop=True), items.iloc[np.sort(test_pos)].reset_index(drop=True)


def _ci(correct: np.ndarray, seed: int) -> tuple[float, float, float]:
    """Accuracy and its 95% item-bootstrap interval (``N_BOOT`` draws, ``make_rng(seed, "ci")``)."""
    from e2h.analysis.stats import grid_bootstrap

    estimate = grid_bootstrap(np.asarray(correct, dtype=float), n_boot=N_BOOT, rng=make_rng(seed, "ci"))
    return estimate.mean, estimate.lo, estimate.hi


def _print_summary(
    model: str,
    dataset: str,
    learner: str,
    fmt: str,
    train: pd.DataFrame,
    test: pd.DataFrame,
    main: Predictions,
    by_norm: dict[str, Predictions],
    normalization: str,
    seed: int,
) -> None:
    n_choices = test["choices"].map(len).to_numpy()
    chance = float(np.mean(np.where(n_choices > 1, 1.0 / n_choices, 0.0)))
    k_used = main.info.get("k_used")
    shots = f", k_used {k_used}" if k_used is not None and learner != "zero-shot" else ""
    typer.echo(f"{model} | {dataset} | {learner} (format {fmt}{shots}) | train {len(train)} | test {len(test)}")
    typer.echo(f"chance {100 * chance:.1f}%")
    if main.generation is not None:
        typer.echo(f"unextractable answers: {main.info.get('n_unextractable', 0)} of {len(main)}")
    from e2h.learners.prompting import NORMALIZATIONS

    shown = {name: by_norm[name] for name in NORMALIZATIONS if name in by_norm} or by_norm
    if main.generation is not None:  # generated answers: one accuracy, whatever the normalization
        shown = {"generation": main}
    typer.echo(f"{'normalization':<14}{'accuracy':>9}   95% CI")
    for name, preds in shown.items():
        mean, lo, hi = _ci(preds.correct, seed)
        mark = " *" if name == normalization and len(shown) > 1 else ""
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
