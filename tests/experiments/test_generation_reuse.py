"""A run generates each distinct (prompt, settings) once: cells with the same prompts share their generations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from e2h.experiments import RunStore, parse_config, run_experiment
from e2h.models.engine import LanguageModel


def _write_sums(path, n: int = 40) -> None:
    """Generative toy items (``a + b``, with a worked answer) levelled by ``size``, and their facts."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        a, b = (int(x) for x in rng.integers(1, 20, size=2))
        rows.append(
            {"id": f"sum-{i}", "question": f"What is {a} plus {b}?", "choice_1": str(a + b), "label": 0,
             "reasoning": f"{a} plus {b} is {a + b}.", "size": a + b}
        )  # fmt: skip
    pd.DataFrame(rows).to_csv(path, index=False)
    path.with_name(path.name + ".yaml").write_text("answer_kind: number\nunsupervised: zero-shot-cot\n")


@pytest.fixture
def generated(monkeypatch):
    """Every prompt the engine actually generated from (not served from a cache)."""
    prompts: list[str] = []
    real = LanguageModel._generate

    def spy(self, texts, *args, **kwargs):
        prompts.extend(texts)
        return real(self, texts, *args, **kwargs)

    monkeypatch.setattr(LanguageModel, "_generate", spy)
    return prompts


def test_cells_with_the_same_prompts_share_their_generations(tmp_path, monkeypatch, generated):
    monkeypatch.setenv("E2H_HOME", str(tmp_path / "home"))
    _write_sums(tmp_path / "sums.csv")
    raw = {
        "name": "sums",
        "models": ["tiny-random"],
        "datasets": [{"name": "sums.csv", "measures": ["size"]}],
        "unsupervised": {"name": "zero-shot-cot", "options": {"max_new_tokens": 6}},
        "learners": [
            "unsupervised",
            {"name": "icl-cot", "options": {"k": 2, "max_new_tokens": 6, "extraction": "first"}},
            {
                "id": "icl-cot-last",
                "name": "icl-cot",
                "options": {"k": 2, "max_new_tokens": 6, "extraction": "last"},
            },  # the same prompts
        ],
        "train_on": ["easy", "hard"],
        "n_train": 4,
        "n_test": 5,
        "seeds": 1,
        "output_dir": str(tmp_path / "runs"),
    }
    config = parse_config(raw, source="sums.yaml", base_dir=tmp_path)
    result = run_experiment(config)
    assert result.ok and len(result.cells) == 5  # the zero-shot-cot baseline; ICL-CoT easy, hard for each rule
    assert len(generated) == len(set(generated)) == 3 * 5  # the second rule's cells read the first's generations
    store = RunStore.for_config(config)
    cells = {(c.options.get("extraction"), c.train_on): store.read_cell(c.cell_id) for c in result.cells}
    for train_on in ("easy", "hard"):
        first, last = cells["first", train_on], cells["last", train_on]
        assert first["item_id"].tolist() == last["item_id"].tolist() and len(first) == 5

    generated.clear()
    assert run_experiment(config, force=True).ok  # every cell computed again: every generation from the cache
    assert generated == []
