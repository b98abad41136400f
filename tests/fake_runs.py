"""A synthetic results store with known accuracies, for tests and report previews (no model involved).

``write_fake_run(path)`` writes ``manifest.json`` and ``cells/*.parquet`` through the results-store format
(``e2h.results_format``: its schema, layout and model facts). Each seed draws its own test pool, and every
learner of a seed is scored on that same pool, as the real splits do. Unsupervised learners (``train_on``
"none") answer by the item only (one latent per item, shared by all of them); supervised learners are right with
probability ``accuracy[learner][train_on]`` per (item, seed), plus the planted effects below. The manifest marks
the cells of the ``baseline`` learner as the unsupervised baseline, as a real run marks its dataset's.
``write_items=True`` also writes the items (with a value of every measure that grows with the item's level)
to ``<run>/items.csv`` and names the dataset by that path.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from e2h import results_format as fmt
from e2h.io import atomic_path, content_hash, write_json
from e2h.seeding import make_rng

LEVELS = ("easy", "medium", "hard")
DEFAULT_ACCURACY = {
    "zero-shot": {"none": 0.35},
    "icl": {"easy": 0.60, "medium": 0.62, "hard": 0.65},
    "linear-probe": {"easy": 0.50, "medium": 0.52, "hard": 0.55},
}
# A run whose unsupervised baseline is zero-shot-cot (as GSM8k's), with plain zero-shot run beside it:
COT_ACCURACY = {"zero-shot-cot": {"none": 0.2}, "zero-shot": {"none": 0.5}, "icl": {"easy": 0.6, "hard": 0.7}}
# Planted effects on the probability of a correct answer:
LEVEL_SHIFT = {"easy": 0.15, "medium": 0.0, "hard": -0.10}  # test_on=all cells: easier items are easier
N_TRAIN_GAIN = 0.05  # per doubling of n_train above the smallest
NOISE_DROP = 0.5  # per unit of label noise p
MODEL_GAIN = 0.10  # per position in ``models`` (later models are larger)
MEASURE_RANGE = {"easy": (1, 3), "medium": (4, 5), "hard": (6, 8)}  # measure values of each level's items
BASE_PARAMETERS = 10**6  # the default size of the first model; each later one is 10 times larger


def _cell_rows(
    config: dict, items: pd.DataFrame, correct: np.ndarray, rng: np.random.Generator, n_choices: int
) -> pd.DataFrame:
    """Store rows for one cell (``SCHEMA`` columns): probabilities consistent with ``correct`` (gold choice is 0)."""
    n = len(items)
    probs = rng.dirichlet(np.ones(n_choices), size=n)  # (n, n_choices)
    best = probs.argmax(axis=1)
    wrong = 1 + rng.integers(0, n_choices - 1, size=n)
    pred = np.where(correct, 0, wrong)
    probs[np.arange(n), best], probs[np.arange(n), pred] = probs[np.arange(n), pred], probs[np.arange(n), best]
    return pd.DataFrame(
        {
            **{k: [v] * n for k, v in config.items()},
            "item_id": items["item_id"].to_numpy(),
            "item_level": items["level"].to_numpy(),
            "n_choices": n_choices,
            "probs": list(probs),
            "pred": pred,
            "correct": correct.astype(bool),
            "gold_prob": probs[:, 0],
            "quantization": "none",
            "fit_seconds": 0.0 if config["train_on"] == "none" else 1.5,
            "predict_seconds": 0.5,
        }
    )[fmt.SCHEMA.names]


def _write_items(path: Path, pool: pd.DataFrame, measures: Sequence[str], n_choices: int, seed: int) -> None:
    """A user dataset of the pool's items; each measure's value lies in its level's ``MEASURE_RANGE``."""
    rng = make_rng(seed, "fake", "items")
    table = pd.DataFrame(
        {
            "id": pool["item_id"],
            "question": [f"Synthetic question {i}?" for i in range(len(pool))],
            "choices": [json.dumps([f"choice {c}" for c in range(n_choices)])] * len(pool),
            "label": 0,
        }
    )
    for measure in measures:
        lo, hi = np.array([MEASURE_RANGE[level] for level in pool["level"]]).T
        table[measure] = rng.integers(lo, hi + 1).astype(float)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def write_fake_run(
    run_dir: str | Path,
    *,
    n_items: int = 40,
    n_test: int = 30,
    seeds: Sequence[int] = (0, 1, 2),
    measures: Sequence[str] = ("human_grade",),
    accuracy: Mapping[str, Mapping[str, float]] | None = None,
    test_on: Sequence[str] = ("hard", "all"),
    models: Sequence[str] | Mapping[str, int] = ("tiny-random",),
    dataset: str = "synthetic",
    n_train: Sequence[int] = (16,),
    label_noise: Sequence[float] = (0.0,),
    seed_shift: Mapping[int, float] | None = None,
    write_items: bool = False,
    item_measures: Sequence[str] | None = None,
    n_choices: int = 4,
    baseline: str | None = "zero-shot",
    seed: int = 0,
) -> Path:
    """Write a fake run with ``n_items`` items per level; returns ``run_dir``.

    ``accuracy`` maps learner → {train_on: probability of a correct answer}; unsupervised learners use key
    ``"none"``. Cells: every model × measure × seed × test level in ``test_on`` × learner × train_on × n_train ×
    label_noise (unsupervised: n_train 0, no noise). ``seed_shift`` adds to the supervised accuracy of each seed.
    ``baseline`` is the learner whose cells the manifest marks ``baseline: true`` (others ``false``); None
    writes no mark, as an older e2h did.
    ``models``: names, or name → parameter count for the manifest's model facts (default: ``BASE_PARAMETERS``
    for the first model, each later one 10 times larger, as ``MODEL_GAIN`` makes it more accurate).
    ``item_measures`` (default: ``measures``) are the columns of the items file. The default dataset name
    is no built-in one, so reports find no item table.
    """
    run_dir = Path(run_dir)
    if not isinstance(models, Mapping):
        models = {m: BASE_PARAMETERS * 10**i for i, m in enumerate(models)}
    accuracy = DEFAULT_ACCURACY if accuracy is None else accuracy
    seed_shift = seed_shift or {}
    pool = pd.DataFrame({"item_id": [f"item-{level}-{i:03d}" for level in LEVELS for i in range(n_items)]})
    pool = pool.assign(level=np.repeat(LEVELS, n_items))
    if write_items:
        run_dir.mkdir(parents=True, exist_ok=True)
        dataset = str(run_dir / "items.csv")
        _write_items(Path(dataset), pool, measures if item_measures is None else item_measures, n_choices, seed)
    latent = make_rng(seed, "fake", "latent").random(len(pool))  # unsupervised: item-only correctness
    latent = pd.Series(latent, index=pool["item_id"])
    variants = [
        (learner, train_on, p, n, noise)
        for learner, by_level in accuracy.items()
        for train_on, p in by_level.items()
        for n in ([0] if train_on == "none" else n_train)
        for noise in ([0.0] if train_on == "none" else label_noise)
    ]
    cells = []
    for (m, model), measure, s, tested in itertools.product(enumerate(models), measures, seeds, test_on):
        candidates = pool if tested == "all" else pool[pool["level"] == tested]
        size = min(n_test, len(candidates))
        test = candidates.iloc[
            np.sort(make_rng(s, "fake", "split", measure, tested).choice(len(candidates), size, replace=False))
        ]
        shift = (test["level"].map(LEVEL_SHIFT).to_numpy() if tested == "all" else 0.0) + MODEL_GAIN * m
        for learner, train_on, p, n, noise in variants:
            config = {
                "run": run_dir.name,
                "model": model,
                "dataset": dataset,
                "train_dataset": dataset,
                "measure": measure,
                "learner": learner,
                "train_on": train_on,
                "test_on": tested,
                "n_train": n,
                "k": 4 if learner == "icl" else 0,
                "seed": s,
                "label_noise": noise,
            }
            cell_id = content_hash(config)
            rng = make_rng(s, "fake", "cell", cell_id)
            if train_on == "none":
                correct = latent[test["item_id"]].to_numpy() < np.clip(p + shift, 0, 1)
            else:
                effect = N_TRAIN_GAIN * np.log2(n / min(n_train)) - NOISE_DROP * noise + seed_shift.get(s, 0.0)
                correct = rng.random(len(test)) < np.clip(p + shift + effect, 0, 1)
            rows = _cell_rows({"cell_id": cell_id, **config}, test, correct, rng, n_choices)
            fmt.write_cell(fmt.cell_path(run_dir, cell_id), rows)
            mark = {} if baseline is None else {"baseline": learner == baseline}
            cells.append({"cell_id": cell_id, **config, **mark, "status": "done"})
    loaded = {m: fmt.ModelFacts("float32", "cpu", parameters=n).to_json() for m, n in models.items()}
    write_json(
        fmt.manifest_path(run_dir),
        {
            "name": run_dir.name,
            "description": "synthetic results written by tests/fake_runs.py (no model was run)",
            "config": {"models": list(models), "dataset": dataset, "measures": list(measures), "seeds": list(seeds)},
            "packages": {"e2h": "fake", "numpy": np.__version__, "pandas": pd.__version__},
            "git": {"commit": "0000000", "dirty": False},
            "machine": {"platform": "fake", "torch_device": "cpu", "cuda": False},
            "started": "2024-01-01T00:00:00+00:00",
            "finished": "2024-01-01T00:01:00+00:00",
            "dtype": "float32",
            "models": loaded,
            "cells": cells,
        },
    )
    return run_dir
