"""A run computes its cells' planned engine work once, up front: the cells then run no forward pass for it."""

from __future__ import annotations

import numpy as np
import pytest

from e2h.experiments import plan
from e2h.experiments.cell import fit_predict
from e2h.experiments.prefetch import prefetch_cells
from e2h.models import load_model


@pytest.mark.parametrize(
    "learners, label_noise",
    [(["zero-shot", "linear-probe"], 0.0), (["zero-shot", "icl", "linear-probe"], 0.0), (["icl"], 0.3)],
    ids=["zero-shot+probe", "with-icl", "icl-noisy-labels"],
)
def test_cells_run_from_one_prefetched_pass(make_config, tmp_path, monkeypatch, learners, label_noise):
    monkeypatch.setenv("E2H_HOME", str(tmp_path / "home"))
    config = make_config(learners=learners, train_on=["easy", "hard"], seeds=[0], k=2, label_noise=label_noise)
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


def test_adding_a_probe_does_not_recompute_cached_icl_scores(make_config, tmp_path, monkeypatch):
    """ICL prompts scored by an earlier run are not recomputed for hidden states a probe never reads."""

    def computed(home: str, learners: list[str]) -> int:
        monkeypatch.setenv("E2H_HOME", str(tmp_path / home))
        config = make_config(learners=learners, train_on=["easy", "hard"], seeds=[0], k=2)
        data, cells, _ = plan(config)
        return prefetch_cells(cells, load_model("tiny-random"), data)

    probe_alone = computed("probe", ["linear-probe"])
    assert computed("icl-then-probe", ["icl"]) > 0
    assert computed("icl-then-probe", ["icl", "linear-probe"]) == probe_alone
