"""Fixtures shared by the whole suite.

Real reference files come from ``../shared/data`` beside the checkout when it exists (tests
that need them skip otherwise); real assets are fetched into ``$E2H_HOME`` on first use.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("E2H_QUIET", "1")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of reference files, or skip."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not beside this checkout")
    return SHARED_DATA


@pytest.fixture(scope="session")
def arc_annotations(shared_data: Path) -> Path:
    return shared_data / "arc-challenge-easy-annotations.json"


@pytest.fixture(scope="session")
def strategyqa_file(shared_data: Path) -> Path:
    return shared_data / "bigbench-strategyqa-task.json"


@pytest.fixture(autouse=True)
def _reference_files_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the hand-supplied asset variables at ../shared/data so tests need not download them."""
    if SHARED_DATA.is_dir():
        monkeypatch.setenv("E2H_ARC_ANNOTATIONS", str(SHARED_DATA / "arc-challenge-easy-annotations.json"))
        monkeypatch.setenv("E2H_STRATEGYQA", str(SHARED_DATA / "bigbench-strategyqa-task.json"))


@pytest.fixture(scope="session")
def tiny_lm():
    """The tiny random Llama behind the engine (milliseconds per call)."""
    from e2h.models import load_model

    return load_model("tiny-random")
