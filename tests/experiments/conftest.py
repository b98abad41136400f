"""Fixtures for experiment tests: a toy user dataset (arithmetic questions) and configs on the tiny model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from e2h.experiments import ExperimentConfig, parse_config


def write_toy_dataset(path: Path, n: int = 60, seed: int = 0, prefix: str = "toy") -> Path:
    """``n`` addition questions with three choices; ``difficulty`` = the sum, ``blank`` = a measure with no values."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        a, b = (int(x) for x in rng.integers(1, 20, size=2))
        choices = [a + b, a + b + 1, a + b - 1]
        order = rng.permutation(3)
        rows.append(
            {
                "id": f"{prefix}-{i}",
                "question": f"What is {a} plus {b}?",
                **{f"choice_{j + 1}": str(choices[o]) for j, o in enumerate(order)},
                "label": int(np.flatnonzero(order == 0)[0]),
                "difficulty": a + b,
                "blank": "",
            }
        )
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture
def write_toy():
    """The toy dataset writer, ``write_toy(path, n=60, seed=0, prefix="toy") -> path``."""
    return write_toy_dataset


@pytest.fixture
def toy_csv(tmp_path: Path) -> Path:
    return write_toy_dataset(tmp_path / "toy.csv")


def toy_config(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """A small valid config (as a mapping) on ``tmp_path/toy.csv``: 2 zero-shot + 4 ICL cells."""
    config = {
        "name": "toy",
        "models": ["tiny-random"],
        "datasets": [{"name": "toy.csv", "measures": ["difficulty"]}],
        "learners": ["zero-shot", {"name": "icl", "options": {"k": 2}}],
        "train_on": ["easy", "hard"],
        "n_train": 4,
        "n_test": 5,
        "seeds": 2,
        "output_dir": str(tmp_path / "runs"),
    }
    config.update(overrides)
    return config


@pytest.fixture
def make_config(tmp_path: Path, toy_csv: Path):
    """``make_config(**overrides) -> ExperimentConfig`` for the toy dataset."""

    def make(**overrides: Any) -> ExperimentConfig:
        return parse_config(toy_config(tmp_path, **overrides), source="config toy.yaml", base_dir=tmp_path)

    return make
