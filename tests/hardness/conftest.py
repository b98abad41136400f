"""Small synthetic item tables for the hardness tests (milliseconds, no assets)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def make_items(grades: list[float], dataset: str = "arc", prefix: str = "q", **measures: list[float]) -> pd.DataFrame:
    """An item table with one row per grade (``human_grade``) plus any extra measure columns."""
    n = len(grades)
    table = pd.DataFrame(
        {
            "id": [f"{prefix}{i}" for i in range(n)],
            "dataset": dataset,
            "question": [f"Question {i}?" for i in range(n)],
            "choices": [["a", "b", "c", "d"] for _ in range(n)],
            "label": [i % 4 for i in range(n)],
            "reasoning": "",
            "subject": "",
            "source_split": "test",
            "human_grade": np.asarray(grades, dtype=float),
        }
    )
    for name, values in measures.items():
        table[name] = np.asarray(values, dtype=float)
    return table


@pytest.fixture
def graded_items() -> pd.DataFrame:
    """300 ARC-like items: grades 3..8 (50 each; easy = 3,4,5 → 150, medium = 6,7 → 100, hard = 8 → 50)
    plus 20 unannotated items (NaN), and a continuous ``question_num_words``."""
    grades = [g for g in range(3, 9) for _ in range(50)] + [np.nan] * 20
    words = np.random.default_rng(0).integers(5, 60, size=len(grades))
    return make_items(grades, question_num_words=list(words))


@pytest.fixture
def items_factory():
    """``make_items`` as a fixture, for tests that build their own table."""
    return make_items
