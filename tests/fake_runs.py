"""A synthetic results store with known accuracies, for tests and report previews (no model involved).

``write_fake_run(path)`` writes ``manifest.json`` and ``cells/*.parquet`` in the results-store format
(docs/design.md). Each seed draws its own test pool, and every learner of a seed is scored on that
same pool, as the real splits do. Zero-shot answers depend on the item only (one latent per item);
supervised learners are right with probability ``accuracy[learner][train_on]`` per (item, seed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from e2h.io import atomic_path, content_hash, write_json
from e2h.seeding import make_rng

LEVELS = ("easy", "medium", "hard")
DEFAULT_ACCURACY = {
    "zero-shot": {"none": 0.35},
    "icl": {"easy": 0.60, "medium": 0.62, "hard": 0.65},
    "linear-probe": {"easy": 0.50, "medium": 0.52, "hard": 0.55},
}
LEVEL_SHIFT = {"easy": 0.15, "medium": 0.0, "hard": -0.10}  # test_on=all cells: easier items are easier


def _cell_rows(
    config: dict, items: pd.DataFrame, correct: np.ndarray, rng: np.random.Generator, n_choices: int
) -> pd.DataFrame:
    """Store rows for one cell: probabilities consistent with ``correct`` (gold choice is 0)."""
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
            "fit_seconds": 0.0 if config["learner"] == "zero-shot" else 1.5,
            "predict_seconds": 0.5,
        }
    )


def write_fake_run(
    run_dir: str | Path,
    *,
    n_items: int = 40,
    n_test: int = 30,
    seeds: Sequence[int] = (0, 1, 2),
    measures: Sequence[str] = ("human_grade",),
    accuracy: Mapping[str, Mapping[str, float]] | None = None,
    test_on_all: bool = True,
    model: str = "tiny-random",
    dataset: str = "arc",
    n_choices: int = 4,
    seed: int = 0,
) -> Path:
    """Write a fake run with ``n_items`` items per level; returns ``run_dir``.

    ``accuracy`` maps learner → {train_on: probability of a correct answer}; ``"zero-shot"`` uses key ``"none"``.
    Cells: every learner × train_on tested on ``hard`` (and on ``all`` when ``test_on_all``).
    """
    run_dir = Path(run_dir)
    accuracy = DEFAULT_ACCURACY if accuracy is None else accuracy
    pool = pd.DataFrame({"item_id": [f"{dataset}-{level}-{i:03d}" for level in LEVELS for i in range(n_items)]}).assign(
        level=np.repeat(LEVELS, n_items)
    )
    latent = make_rng(seed, "fake", "latent").random(len(pool))  # zero-shot: item-only correctness
    latent = pd.Series(latent, index=pool["item_id"])
    test_levels = ["hard", "all"] if test_on_all else ["hard"]
    cells = []
    for measure in measures:
        for s in seeds:
            for test_on in test_levels:
                candidates = pool if test_on == "all" else pool[pool["level"] == test_on]
                size = min(n_test, len(candidates))
                pick = make_rng(s, "fake", "split", measure, test_on).choice(len(candidates), size, replace=False)
                test = candidates.iloc[np.sort(pick)]
                shift = test["level"].map(LEVEL_SHIFT).to_numpy() if test_on == "all" else 0.0
                for learner, by_level in accuracy.items():
                    for train_on, p in by_level.items():
                        config = {
                            "run": run_dir.name,
                            "model": model,
                            "dataset": dataset,
                            "train_dataset": dataset,
                            "measure": measure,
                            "learner": learner,
                            "train_on": train_on,
                            "test_on": test_on,
                            "n_train": 0 if learner == "zero-shot" else 16,
                            "k": 4 if learner == "icl" else 0,
                            "seed": s,
                            "label_noise": 0.0,
                        }
                        cell_id = content_hash(config)
                        rng = make_rng(s, "fake", "cell", cell_id)
                        if learner == "zero-shot":
                            correct = latent[test["item_id"]].to_numpy() < np.clip(p + shift, 0, 1)
                        else:
                            correct = rng.random(len(test)) < np.clip(p + shift, 0, 1)
                        rows = _cell_rows({"cell_id": cell_id, **config}, test, correct, rng, n_choices)
                        with atomic_path(run_dir / "cells" / f"{cell_id}.parquet") as tmp:
                            rows.to_parquet(tmp, index=False)
                        cells.append({"cell_id": cell_id, **config, "status": "done"})
    write_json(
        run_dir / "manifest.json",
        {
            "name": run_dir.name,
            "description": "synthetic results written by tests/fake_runs.py (no model was run)",
            "config": {"model": model, "dataset": dataset, "measures": list(measures), "seeds": list(seeds)},
            "packages": {"e2h": "fake", "numpy": np.__version__, "pandas": pd.__version__},
            "git": {"commit": "0000000", "dirty": False},
            "machine": {"platform": "fake", "torch_device": "cpu", "cuda": False},
            "started": "2024-01-01T00:00:00+00:00",
            "finished": "2024-01-01T00:01:00+00:00",
            "cells": cells,
        },
    )
    return run_dir
