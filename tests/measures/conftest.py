"""A synthetic dataset with planted per-item difficulty, and a fake model whose features carry it.

Item ``i`` ("item i") has four choices and a planted difficulty ``d_i`` in [0, 1]. The fake model's
hidden state of a choice is Gaussian noise plus, on one choice, a signal of strength ``4 (1 − d_i)``
along a fixed direction: the gold choice when labels are learnable, an unrelated choice when they are
random. Its scores give a mean token NLL of ``1 + 3 d_i`` plus noise. So a linear probe finds easy items
easy, and every measure should rank items as ``d`` does.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from e2h.models import ChoiceScores

N_FEATURES = 6
_ITEM = re.compile(r"item (\d+)\b")


def write_synthetic(path: Path, n: int = 240, seed: int = 0, random_labels: bool = False) -> Path:
    """``n`` four-choice items with a ``planted`` difficulty column; the signal's choice goes into ``signal``."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, size=n)
    signal = rng.integers(0, 4, size=n) if random_labels else labels
    rows = [
        {
            "id": f"syn-{i}",
            "question": f"What is the answer to item {i}?",
            "choices": [f"c{j}" for j in range(4)],
            "label": int(labels[i]),
            "reasoning": f"Think about item {i} step by step.",
            "planted": float(rng.uniform()),
            "signal": int(signal[i]),
        }
        for i in range(n)
    ]
    pd.DataFrame(rows).to_json(path, orient="records", lines=True)
    return path


def edit_item_file(path: Path, **columns: dict[int, object]) -> None:
    """Rewrite a JSONL item file with ``{column: {row: value}}`` changed."""
    items = pd.read_json(path, lines=True)
    for column, values in columns.items():
        for row, value in values.items():
            items.loc[row, column] = value
    items.to_json(path, orient="records", lines=True)


class SyntheticLM:
    """Answers ``hidden_states`` and ``score`` from the planted difficulty (see the module docstring)."""

    name = "synthetic"
    max_length = 1_000_000

    def __init__(self, items: pd.DataFrame) -> None:
        self.difficulty = items["planted"].to_numpy(dtype=float)
        self.signal = items["signal"].to_numpy(dtype=int)
        self.n_hidden_calls = 0

    def cache_allowed(self) -> bool:
        return True

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def _item(self, request) -> int:
        return int(_ITEM.search(request.context + "".join(request.continuations)).group(1))

    def hidden_states(self, requests, layers=None, **kwargs):
        self.n_hidden_calls += 1
        direction = np.linspace(1.0, -1.0, N_FEATURES) / np.sqrt(N_FEATURES)
        out = []
        for request in requests:
            i = self._item(request)
            rng = np.random.default_rng(i)
            states = rng.normal(size=(len(request.continuations), 1, N_FEATURES))  # (n_choices, 1 layer, F)
            states[self.signal[i], 0] += 4.0 * (1.0 - self.difficulty[i]) * direction * np.sqrt(N_FEATURES)
            out.append(states.astype(np.float32))
        return out

    def score(self, requests, **kwargs):
        out = []
        for request in requests:
            i = self._item(request)
            n_tokens = np.array([len(c.split()) for c in request.continuations])
            noise = np.random.default_rng(i).normal(0, 0.2)
            logprob = -(1.0 + 3.0 * self.difficulty[i] + noise) * n_tokens
            out.append(ChoiceScores(logprob.astype(float), n_tokens, np.array([len(c) for c in request.continuations])))
        return out


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Measure tables of these tests go to a fresh cache."""
    monkeypatch.setenv("E2H_HOME", str(tmp_path / "e2h-home"))


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Probe fits on a few hundred items are 5-7x slower with two spinning intra-op threads on a busy CPU."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def write_synth():
    """``write_synth(path, n=240, seed=0, random_labels=False) -> path``."""
    return write_synthetic


@pytest.fixture
def edit_items():
    """``edit_items(path, question={3: "new text"})``: change cells of a JSONL item file."""
    return edit_item_file


@pytest.fixture
def fake_lm():
    """``fake_lm(items) -> SyntheticLM``."""
    return SyntheticLM


@pytest.fixture
def synthetic(tmp_path: Path) -> Path:
    return write_synthetic(tmp_path / "synthetic.jsonl")
