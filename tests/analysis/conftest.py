"""Synthetic results stores for the analysis tests (no model involved)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fake_runs import write_fake_run


@pytest.fixture(scope="session")
def fake_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two measures, three seeds, zero-shot + ICL + linear probe, tested on hard and on all levels."""
    return write_fake_run(tmp_path_factory.mktemp("runs") / "fake", measures=("human_grade", "question_num_words"))


@pytest.fixture(scope="session")
def exact_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Deterministic answers: zero-shot always wrong, ICL trained on easy or hard always right."""
    accuracy = {
        "zero-shot": {"none": 0.0},
        "icl": {"easy": 1.0, "hard": 1.0},
        "linear-probe": {"easy": 0.0, "hard": 1.0},
    }
    return write_fake_run(tmp_path_factory.mktemp("runs") / "exact", accuracy=accuracy, test_on=("hard",))
