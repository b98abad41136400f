"""Synthetic results stores for the analysis tests (no model involved)."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2h.analysis.report import write_report

from fake_runs import COT_ACCURACY, write_fake_run

MODELS = {"smollm2-135m": 135_000_000, "gemma3-270m": 270_000_000}  # with sizes, for the model-size figure


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


@pytest.fixture(scope="session")
def cot_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The baseline is zero-shot-cot (right on 20% of items); plain zero-shot (50%) is run beside it, unmarked."""
    run = tmp_path_factory.mktemp("runs") / "cot"
    return write_fake_run(run, accuracy=COT_ACCURACY, baseline="zero-shot-cot", test_on=("hard",))


@pytest.fixture(scope="session")
def axes_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run with every axis a figure needs, its report written: two models, two n_train, two noise levels,
    test_on all, and an items file with two measures (the run levels by one of them)."""
    run = write_fake_run(
        tmp_path_factory.mktemp("runs") / "axes",
        models=MODELS,
        n_train=(8, 16),
        label_noise=(0.0, 0.2),
        measures=("human_grade",),
        item_measures=("human_grade", "num_steps"),
        test_on=("all",),
        write_items=True,
        seeds=(0, 1),
        n_items=20,
        n_test=40,
        accuracy={"zero-shot": {"none": 0.35}, "icl": {"easy": 0.6, "hard": 0.65}},
    )
    write_report(run, n_boot=200)
    return run
