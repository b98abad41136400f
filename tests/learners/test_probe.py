"""The linear probe: optimisation on synthetic features, masking, z-scoring, and end to end on tiny-random."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from e2h.errors import E2HError
from e2h.learners.probe import (
    LinearProbe,
    fit_linear_scores,
    linear_choice_probs,
    pad_choice_features,
    zscore_stats,
)


def planted(n: int, n_choices: int = 4, n_features: int = 16, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Features (n, C, F) whose gold choice maximises a hidden linear score ``x @ w_true``."""
    rng = np.random.default_rng(seed)
    w_true = rng.normal(size=n_features)
    features = rng.normal(size=(n, n_choices, n_features))
    labels = np.argmax(features @ w_true, axis=1)
    return features, np.ones((n, n_choices), dtype=bool), labels, w_true


@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_recovers_a_planted_linear_rule(solver):
    features, mask, labels, w_true = planted(900, n_features=8)
    train, test = slice(0, 400), slice(400, 900)
    options = {"sgd": {"l2": 1e-3, "epochs": 500}, "lbfgs": {"l2": 1e-2}}[solver]
    coef = fit_linear_scores(features[train], mask[train], labels[train], solver=solver, **options)
    accuracy = (linear_choice_probs(features[test], mask[test], coef).argmax(axis=1) == labels[test]).mean()
    assert accuracy >= 0.95
    cosine = coef @ w_true / np.linalg.norm(coef) / np.linalg.norm(w_true)
    assert cosine > 0.99


def test_default_paper_settings_fit_a_separable_rule():
    features, mask, labels, _ = planted(160, n_features=32)
    coef = fit_linear_scores(features, mask, labels)  # l2=1, lr .05, 100 epochs, like the paper
    train_acc = (linear_choice_probs(features, mask, coef).argmax(axis=1) == labels).mean()
    assert train_acc >= 0.9


def test_padded_choice_never_gets_probability():
    features, mask, labels, w_true = planted(64, n_choices=4)
    mask[::2, 3] = False  # every other item has 3 choices, padded to 4
    features[~mask] = 1e3 * np.sign(w_true)  # a padded slot that would win any softmax if not masked
    labels = np.where(mask[np.arange(64), labels], labels, np.argmax(features[:, :3] @ w_true, axis=1))
    coef = fit_linear_scores(features, mask, labels, solver="lbfgs", l2=1e-2)
    probs = linear_choice_probs(features, mask, coef)
    assert np.all(probs[~mask] == 0.0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert np.isfinite(coef).all()


def test_zscore_uses_real_choices_only():
    per_item = [np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 10.0]]), np.array([[7.0, 10.0]])]
    features, mask = pad_choice_features(per_item)
    assert features.shape == (2, 3, 2) and mask.tolist() == [[True, True, True], [True, False, False]]
    mean, std = zscore_stats(features, mask)
    np.testing.assert_allclose(mean, [4.0, 10.0])  # padding zeros would pull the mean to 16/6 and 40/6
    np.testing.assert_allclose(std, [np.std([1, 3, 5, 7], ddof=1), 1.0])  # constant feature: left unscaled


def test_deterministic_for_a_seed():
    features, mask, labels, _ = planted(100)
    a = fit_linear_scores(features, mask, labels, seed=3)
    b = fit_linear_scores(features, mask, labels, seed=3)
    c = fit_linear_scores(features, mask, labels, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_unknown_solver_is_a_clear_error():
    features, mask, labels, _ = planted(10)
    with pytest.raises(E2HError, match="sgd, lbfgs"):
        fit_linear_scores(features, mask, labels, solver="adam")


# --- with the engine -------------------------------------------------------------------------


def toy_items(n: int, seed: int = 0) -> pd.DataFrame:
    """Multiple-choice items whose gold answer is always the word 'yes' (learnable from hidden states)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        n_choices = 3 if i % 5 == 0 else 4
        wrong = [w for w in ["red", "blue", "green", "cold", "tall"] if rng.random() < 0.9][: n_choices - 1]
        while len(wrong) < n_choices - 1:
            wrong.append("grey")
        label = int(rng.integers(n_choices))
        choices = [*wrong[:label], "yes", *wrong[label:]]
        rows.append(
            {
                "id": f"toy/{i}",
                "dataset": "toy",
                "question": f"Is {i} a number?",
                "choices": choices,
                "label": label,
                "reasoning": "",
                "subject": "",
                "source_split": "test",
            }
        )
    return pd.DataFrame(rows)


def test_probe_end_to_end_on_tiny_random(tiny_lm):
    items = toy_items(60)
    train, test = items.iloc[:40], items.iloc[40:]
    probe = LinearProbe(tiny_lm, solver="lbfgs", l2=1e-2)
    with pytest.raises(E2HError, match="not fitted"):
        probe.predict(test)
    predictions = probe.fit(train).predict(test)
    assert probe.coef_.shape == probe.mean_.shape == probe.std_.shape
    assert len(predictions) == 20
    assert [len(p) for p in predictions.probs] == [len(c) for c in test["choices"]]
    for p in predictions.probs:
        assert p.sum() == pytest.approx(1.0)
    # the gold answer is the same word each time: a probe on its hidden state should find it
    assert predictions.accuracy >= 0.9
    again = LinearProbe(tiny_lm, solver="lbfgs", l2=1e-2).fit(train).predict(test)
    np.testing.assert_array_equal(np.concatenate(again.probs), np.concatenate(predictions.probs))


def test_probe_refuses_generative_items(tiny_lm):
    items = toy_items(3)
    items["choices"] = [["42"]] * 3
    items["label"] = 0
    with pytest.raises(E2HError, match="multiple-choice"):
        LinearProbe(tiny_lm).fit(items)
