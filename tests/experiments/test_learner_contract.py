"""The learner contract: one declaration per learner, read by configs, the grid, `e2h run`, `e2h eval` and repr."""

from __future__ import annotations

import json
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import yaml

from e2h.errors import E2HError
from e2h.experiments import RunStore, expand, load_config
from e2h.learners import LEARNERS, SHARED_OPTIONS, Learner, LoRA, Param, Predictions, QLoRA, make_learner


class MajorityPosition(Learner):
    """A toy supervised learner: predicts the answer position seen most often in training (with smoothing)."""

    name = "majority-position"
    params: ClassVar[dict[str, Param]] = {
        "smoothing": Param(1.0, "pseudo-count added to every position"),
        "seed": Param(0, "unused; shows a shared option", shared=True),
    }

    def fit(self, train: pd.DataFrame) -> MajorityPosition:
        width = int(train["choices"].map(len).max())
        self.counts_ = np.bincount(train["label"].to_numpy(dtype=int), minlength=width) + self.smoothing
        return self

    def predict(self, test: pd.DataFrame) -> Predictions:
        self.check_is_fitted("counts_")
        probs = []
        for choices in test["choices"]:
            weights = np.resize(self.counts_, len(choices))
            probs.append(weights / weights.sum())
        return Predictions.from_probs(test, probs)


@pytest.fixture
def toy_learner(monkeypatch):
    """Register the toy learner for one test (as a user module would) and remove it afterwards."""
    monkeypatch.setitem(LEARNERS._items, MajorityPosition.name, MajorityPosition)
    return MajorityPosition


def test_every_registered_learner_declares_its_parameters():
    for name in LEARNERS.names():
        cls = LEARNERS.get(name)
        assert cls.name == name
        assert cls.params, name
        for key, param in cls.params.items():
            assert isinstance(param, Param) and param.help, (name, key)
            assert not param.shared or key in SHARED_OPTIONS, (name, key)


def test_resolve_orders_defaults_shared_options_and_own_options():
    shared = {"k": 4, "format": "cloze", "normalization": None, "seed": 3, "extraction": "first"}
    icl = LEARNERS.get("icl").resolve({"format": "letters"}, shared)
    assert icl == {"k": 4, "format": "letters", "normalization": "raw", "extraction": "first", "seed": 3}
    # a learner takes only the shared options it declares
    probe = LEARNERS.get("linear-probe").resolve({}, shared)
    assert "k" not in probe and probe["format"] == "cloze" and probe["seed"] == 3


def test_get_params_and_repr_come_from_the_declaration(tiny_lm):
    learner = make_learner("icl", tiny_lm, k=3, seed=4)
    assert learner.get_params() == LEARNERS.get("icl").resolve({"k": 3, "seed": 4})
    assert repr(learner).startswith("ICL(k=3, format='listed'")
    with pytest.raises(E2HError, match=r"learner 'icl' has no option 'kk' \(did you mean 'k'"):
        make_learner("icl", tiny_lm, kk=3)


def test_qlora_changes_one_default_of_lora():
    assert QLoRA.params.keys() == LoRA.params.keys()
    changed = [key for key in LoRA.params if LoRA.params[key] != QLoRA.params[key]]
    assert changed == ["quantization"] and QLoRA.params["quantization"].default == "nf4"


def test_a_learner_added_in_one_file_runs_through_run_and_eval(toy_learner, tmp_path, write_toy, e2h_cli):
    data = write_toy(tmp_path / "toy.csv", n=40)
    config = {
        "name": "plugin",
        "models": ["tiny-random"],
        "datasets": [{"name": str(data), "measures": ["difficulty"]}],
        "learners": [{"name": "majority-position", "options": {"smoothing": 2.0}}],
        "train_on": ["easy"],
        "n_train": 8,
        "n_test": 6,
        "seeds": [1],
        "output_dir": str(tmp_path / "runs"),
    }
    path = tmp_path / "plugin.yaml"
    path.write_text(yaml.safe_dump(config))
    assert e2h_cli(["-q", "run", str(path)])[0] == 0
    store = RunStore(tmp_path / "runs" / "plugin")
    (cell_file,) = (store.dir / "cells").glob("*.parquet")
    from_run = pd.read_parquet(cell_file).sort_values("item_id")
    (cell,) = expand(load_config(path))
    assert cell.options == {"smoothing": 2.0, "seed": 1} and cell.train_on == "easy"

    out = tmp_path / "eval.jsonl"
    argv = ["-q", "eval", "-m", "tiny-random", "-d", str(data), "-l", "majority-position", "--option", "smoothing=2"]
    argv += ["--measure", "difficulty", "--train-on", "easy", "--test-on", "hard", "--n-train", "8", "--n", "6"]
    assert e2h_cli([*argv, "--seed", "1", "--out", str(out)])[0] == 0
    from_eval = pd.DataFrame([json.loads(line) for line in out.read_text().splitlines()]).sort_values("id")
    assert from_eval["id"].tolist() == from_run["item_id"].tolist()
    assert np.allclose(np.stack(from_eval["probs"]), np.stack(from_run["probs"]))


def test_config_rejects_an_undeclared_option_of_a_registered_learner(toy_learner, tmp_path, write_toy):
    data = write_toy(tmp_path / "toy.csv", n=20)
    path = tmp_path / "bad.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "bad",
                "models": ["tiny-random"],
                "datasets": [{"name": str(data), "measures": ["difficulty"]}],
                "learners": [{"name": "majority-position", "options": {"smoothng": 1}}],
            }
        )
    )
    with pytest.raises(E2HError, match=r"has no option 'smoothng' \(did you mean 'smoothing'\?\)"):
        load_config(path)
