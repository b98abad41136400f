"""One cell's path, the same for ``e2h run`` (either backend) and ``e2h eval``.

split (seeded; identical test items for every train_on, learner and n_train of a dataset/measure/seed,
``e2h.hardness``) → the training draw with the cell's label noise → ``make_learner`` → ``fit`` → ``predict`` →
the cell's rows (``store.SCHEMA``). A cell is a pure function of its fields and the run's item tables
(:class:`RunData`), so it gives the same rows wherever it is computed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from e2h.experiments.grid import Cell
from e2h.experiments.store import cell_frame
from e2h.hardness import RANDOM
from e2h.seeding import make_rng

if TYPE_CHECKING:
    from e2h.hardness import Split
    from e2h.learners import Learner, Predictions
    from e2h.models import LanguageModel


@dataclass
class RunData:
    """The datasets of a run, loaded once, and the measures each dataset entry actually uses."""

    items: dict[str, pd.DataFrame]  # dataset name as written in the config → item table
    measures: dict[int, list[str]]  # index in config.datasets → measures in use (after the fallback)
    versions: dict[str, str]  # dataset name → fingerprint of its item table
    notes: list[str] = field(default_factory=list)


def cell_split(cell: Cell, data: RunData) -> Split:
    """The cell's train/test split (``e2h.hardness.Split``); zero-shot cells get the same test items, no training."""
    from e2h.hardness import make_random_split, make_split

    test_table = data.items[cell.dataset]
    if cell.measure == RANDOM:
        return make_random_split(test_table, cell.n_train, cell.n_test, cell.seed, reserve=max(cell.reserve))
    if cell.transfer:
        return make_split(
            data.items[cell.train_dataset],
            cell.train_measure,
            cell.train_on,
            cell.test_on,
            cell.n_train,
            cell.n_test,
            cell.seed,
            cutoffs=cell.train_cutoffs,
            test_items=test_table,
            test_measure=cell.measure,
            test_cutoffs=cell.cutoffs,
            reserve=cell.reserves,
            test_draw=cell.test_draw or "random",
        )
    train_on = "all" if cell.train_on == "none" else cell.train_on
    return make_split(
        test_table,
        cell.measure,
        train_on,
        cell.test_on,
        cell.n_train,
        cell.n_test,
        cell.seed,
        cutoffs=cell.cutoffs,
        reserve=cell.reserves,
        test_draw=cell.test_draw or "random",
    )


def noisy_labels(train: pd.DataFrame, cell: Cell) -> pd.DataFrame:
    """Training items with labels corrupted: probability p, ``min(1, p * hard_multiplier)`` at the hard level."""
    from e2h.learners.noise import corrupt_labels

    if not cell.label_noise or train.empty:
        return train
    rng = make_rng(cell.seed, "noise", cell.train_dataset, cell.train_measure, cell.train_on, cell.label_noise)
    hard = (train["level"] == "hard").to_numpy()
    p_hard = min(1.0, cell.label_noise * cell.hard_multiplier)
    parts = [corrupt_labels(train[~hard], cell.label_noise, rng), corrupt_labels(train[hard], p_hard, rng)]
    return pd.concat(parts).loc[train.index]  # back to the drawn order


def cell_train(cell: Cell, split: Split) -> pd.DataFrame:
    """The training items a cell's learner fits on: none for unsupervised cells, else with the cell's label noise."""
    return split.train.iloc[:0] if cell.train_on == "none" else noisy_labels(split.train, cell)


@dataclass
class CellOutcome:
    """What computing one cell produced: its split, the fitted learner, its predictions and timings."""

    split: Split
    learner: Learner
    predictions: Predictions
    fit_seconds: float
    predict_seconds: float


def fit_predict(cell: Cell, lm: LanguageModel, data: RunData) -> CellOutcome:
    """Split → label noise → fit → predict (``e2h eval`` shows the outcome, :func:`run_cell` records it)."""
    from e2h.learners import make_learner

    split = cell_split(cell, data)
    train = cell_train(cell, split)
    learner = make_learner(cell.learner, lm, **cell.options)
    start = time.perf_counter()
    learner.fit(train)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    predictions = learner.predict(split.test)
    return CellOutcome(split, learner, predictions, fit_seconds, time.perf_counter() - start)


def run_cell(cell: Cell, lm: LanguageModel, data: RunData) -> pd.DataFrame:
    """Compute one cell on a loaded model: its result rows (``store.SCHEMA``)."""
    out = fit_predict(cell, lm, data)
    return cell_frame(cell, out.split.test, out.predictions, out.fit_seconds, out.predict_seconds)


__all__ = ["CellOutcome", "RunData", "cell_split", "cell_train", "fit_predict", "noisy_labels", "run_cell"]
