"""A run computes its cells' planned engine work once, up front: the cells then run no forward pass for it."""

from __future__ import annotations

import numpy as np

from e2h.experiments import plan
from e2h.experiments.prefetch import prefetch_cells
from e2h.experiments.runner import fit_predict
from e2h.models import load_model


def test_zero_shot_and_probe_cells_share_one_pass(make_config, tmp_path, monkeypatch):
    monkeypatch.setenv("E2H_HOME", str(tmp_path / "home"))
    config = make_config(learners=["zero-shot", "linear-probe"], train_on=["easy", "hard"], seeds=[0])
    data, cells, _ = plan(config)
    lm = load_model("tiny-random")
    assert prefetch_cells(cells, lm, data) > 0
    calls = lm.n_forward_calls
    outcomes = [fit_predict(cell, lm, data) for cell in cells]
    assert lm.n_forward_calls == calls  # every score and hidden state came from the prefetched caches
    assert prefetch_cells(cells, lm, data) == 0  # and nothing is computed twice

    fresh = load_model("tiny-random", cache=False)  # the same cells without any cache
    for cell, outcome in zip(cells, outcomes, strict=True):
        reference = fit_predict(cell, fresh, data).predictions
        assert np.allclose(np.concatenate(outcome.predictions.probs), np.concatenate(reference.probs), atol=1e-4)
