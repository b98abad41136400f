"""Label noise: the paper's redraw rule, its exclude-true variant, generative items, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from e2h.errors import E2HError
from e2h.learners.noise import corrupt_labels
from e2h.seeding import make_rng


def mc_items(n: int, n_choices: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "id": [f"q{i}" for i in range(n)],
            "dataset": "toy",
            "question": [f"question {i}" for i in range(n)],
            "choices": [[f"c{j}" for j in range(n_choices)] for _ in range(n)],
            "label": rng.integers(n_choices, size=n),
            "reasoning": "",
            "subject": "",
            "source_split": "test",
        }
    )


def gen_items(answers: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"g{i}" for i in range(len(answers))],
            "dataset": "gsm8k",
            "question": [f"q{i}" for i in range(len(answers))],
            "choices": [[a] for a in answers],
            "label": 0,
            "reasoning": [f"steps {i}" for i in range(len(answers))],
            "subject": "",
            "source_split": "test",
        }
    )


def test_redraw_rate_matches_paper_rule():
    items = mc_items(20_000)
    noisy = corrupt_labels(items, 0.3, make_rng(0, "noise"))
    assert noisy["label_noise"].mean() == pytest.approx(0.3, abs=0.015)
    changed = (noisy["label"] != noisy["clean_label"]).mean()
    # a redraw uniform over 4 choices keeps the true label 1/4 of the time
    assert changed == pytest.approx(0.3 * 0.75, abs=0.015)
    # unpicked items keep their label; redrawn labels are uniform over the choices
    kept = noisy[~noisy["label_noise"]]
    assert (kept["label"] == kept["clean_label"]).all()
    counts = np.bincount(noisy.loc[noisy["label_noise"], "label"], minlength=4) / noisy["label_noise"].sum()
    np.testing.assert_allclose(counts, 0.25, atol=0.02)


def test_exclude_true_always_changes_a_picked_label():
    items = mc_items(5_000, n_choices=3)
    noisy = corrupt_labels(items, 0.5, make_rng(1, "noise"), exclude_true=True)
    picked = noisy[noisy["label_noise"]]
    assert len(picked) > 2_000
    assert (picked["label"] != picked["clean_label"]).all()
    assert picked["label"].between(0, 2).all()


def test_p_one_with_exclude_true_flips_every_item():
    items = mc_items(200)
    noisy = corrupt_labels(items, 1.0, make_rng(0, "noise"), exclude_true=True)
    assert (noisy["label"] != items["label"]).all()


def test_deterministic_for_the_rng_and_returns_a_copy():
    items = mc_items(500)
    original = items.copy(deep=True)
    a = corrupt_labels(items, 0.4, make_rng(7, "noise"))
    b = corrupt_labels(items, 0.4, make_rng(7, "noise"))
    c = corrupt_labels(items, 0.4, make_rng(8, "noise"))
    pd.testing.assert_frame_equal(a, b)
    assert not a["label"].equals(c["label"])
    pd.testing.assert_frame_equal(items, original)
    assert {"label_noise", "clean_label", "clean_answer"} <= set(a.columns)


def test_p_zero_changes_nothing():
    items = mc_items(300)
    noisy = corrupt_labels(items, 0.0, make_rng(0, "noise"))
    assert not noisy["label_noise"].any()
    assert (noisy["label"] == items["label"]).all()


def test_generative_items_take_another_items_answer():
    answers = [str(i) for i in range(50)]
    items = gen_items(answers)
    noisy = corrupt_labels(items, 1.0, make_rng(0, "noise"), exclude_true=True)
    new = noisy["choices"].map(lambda c: c[0])
    assert (noisy["label"] == 0).all()
    assert (new != noisy["clean_answer"]).all()
    assert set(new) <= set(answers)
    assert (noisy["reasoning"] == items["reasoning"]).all()


def test_generative_exclude_true_impossible_when_all_answers_equal():
    with pytest.raises(E2HError, match="exclude_true"):
        corrupt_labels(gen_items(["7", "7"]), 1.0, make_rng(0, "noise"), exclude_true=True)


def test_bad_probability_is_a_clear_error():
    with pytest.raises(E2HError, match=r"\[0, 1\]"):
        corrupt_labels(mc_items(3), 1.5, make_rng(0, "noise"))
