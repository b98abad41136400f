"""Measure tables: naming scheme, read-back as columns, held-out items in no split, resume after an interruption."""

from __future__ import annotations

import numpy as np
import pytest

from e2h.data import load_dataset
from e2h.data.measure_tables import read_measure
from e2h.hardness import TRAIN_ON, make_split
from e2h.learners import LEARNERS, LinearProbe
from e2h.measure_names import compute_command, measure_name, parse_measure_name
from e2h.measures import compute_measure

FAST_MDL = {"sizes": (5, 20, 80), "resamples": 2, "holdout": 100}


def test_naming_scheme_round_trips():
    assert measure_name("prequential", ["smollm2-135m"]) == "prequential_smollm2-135m"
    assert measure_name("mdl_proxy", ["a", "HuggingFaceTB/SmolLM2"], "zero-shot") == (
        "mdl_proxy-zero-shot_a+huggingfacetb-smollm2"
    )
    parsed = parse_measure_name("mdl_proxy-zero-shot_a+huggingfacetb-smollm2")
    assert (parsed.method, parsed.learner, parsed.models) == ("mdl_proxy", "zero-shot", ("a", "huggingfacetb-smollm2"))
    assert parse_measure_name("nll_answer_smollm2-135m").method == "nll"
    per_token = parse_measure_name("nll_per_token_answer_smollm2-135m")
    assert (per_token.method, per_token.learner, per_token.models) == ("nll_per_token", None, ("smollm2-135m",))
    assert parse_measure_name("irt_difficulty").method == "irt"
    assert parse_measure_name("human_grade") is None and parse_measure_name("prequential_") is None
    assert compute_command("arc", "prequential_smollm2-135m") == (
        "e2h hardness compute arc --method prequential --models smollm2-135m"
    )
    assert "--runs" in compute_command("arc", "irt_difficulty")
    assert compute_command("arc", "nll_question_a", source="hub", variant="paper") == (
        "e2h hardness compute arc --method nll --models a --source hub --variant paper"
    )


def test_table_carries_provenance(synthetic, fake_lm):
    [result] = compute_measure(synthetic, "mdl_proxy", models=[fake_lm(load_dataset(synthetic))], seed=3, **FAST_MDL)
    table, meta = read_measure(result.path)
    assert list(table.columns[:3]) == ["id", "value", "held_out"]
    assert meta["method"] == "mdl_proxy" and meta["models"] == ["synthetic"] and meta["seed"] == 3
    assert meta["learner"] == "linear-probe" and meta["learner_params"]["format"] == "listed"
    assert meta["items_fingerprint"] and meta["e2h_version"] and meta["table_version"] == 1
    assert not any(p.name == ".partial" and any(p.iterdir()) for p in result.path.parent.iterdir())


def test_held_out_items_are_in_no_split(synthetic, fake_lm):
    [result] = compute_measure(synthetic, "mdl_proxy", models=[fake_lm(load_dataset(synthetic))], **FAST_MDL)
    held = set(result.table["id"][result.table["held_out"]])
    items = load_dataset(synthetic)
    assert len(held) == 100 and items.set_index("id").loc[sorted(held), result.measure].isna().all()
    for seed in range(3):
        for train_on in TRAIN_ON:
            for test_on, n_test in (("hard", None), ("all", 20), ("easy", None)):
                split = make_split(items, result.measure, train_on, test_on, n_train=10, n_test=n_test, seed=seed)
                used = set(split.train["id"]) | set(split.test["id"])
                assert used and not used & held


class InterruptedProbe(LinearProbe):
    """The probe, interrupted (as by Ctrl-C) at its ``fail_at``-th fit."""

    name = "interrupted-probe"
    fits = 0
    fail_at: int | None = None

    def fit(self, train):
        type(self).fits += 1
        if type(self).fits == self.fail_at:
            raise KeyboardInterrupt
        return super().fit(train)


@pytest.fixture
def interrupted_probe():
    LEARNERS.register(InterruptedProbe.name, InterruptedProbe)
    yield InterruptedProbe
    LEARNERS._items.pop(InterruptedProbe.name)


@pytest.mark.parametrize("method", ["prequential", "mdl_proxy"])
def test_an_interrupted_compute_resumes(method, synthetic, fake_lm, interrupted_probe):
    lm = fake_lm(load_dataset(synthetic))
    settings = FAST_MDL if method == "mdl_proxy" else {"permutations": 2, "first_block": 16}
    [reference] = compute_measure(synthetic, method, models=[lm], **settings)  # the plain probe, uninterrupted
    n_fits = 1 + (6 if method == "mdl_proxy" else 2 * 4)  # the feature pass + the method's fits

    interrupted_probe.fits, interrupted_probe.fail_at = 0, 5
    with pytest.raises(KeyboardInterrupt):
        compute_measure(synthetic, method, models=[lm], learner="interrupted-probe", **settings)
    interrupted_probe.fits, interrupted_probe.fail_at = 0, None
    [resumed] = compute_measure(synthetic, method, models=[lm], learner="interrupted-probe", **settings)
    assert interrupted_probe.fits == n_fits - 3  # fits 2..4 were saved before the interruption
    np.testing.assert_allclose(resumed.table["value"], reference.table["value"])
    assert resumed.measure == f"{method}-interrupted-probe_synthetic"


def test_a_table_of_changed_items_is_left_out_with_one_warning(synthetic, fake_lm, edit_items, capsys):
    compute_measure(synthetic, "nll_per_token", models=[fake_lm(load_dataset(synthetic))], format="cloze")
    measure = "nll_per_token_question_synthetic"
    edit_items(synthetic, planted={3: 0.5})  # not what a model sees: the table stays current
    assert measure in load_dataset(synthetic).attrs["measures"]
    capsys.readouterr()

    edit_items(synthetic, question={3: "What is the answer to item 3, now reworded?"})
    first, second = load_dataset(synthetic), load_dataset(synthetic)
    for items in (first, second):
        assert measure not in items.columns and measure not in items.attrs["measures"]
        redo = {"dataset": str(synthetic), "format": "cloze", "source": "local", "variant": None}
        assert items.attrs["stale_measures"][measure] == redo
    warnings = [line for line in capsys.readouterr().err.splitlines() if f"'{measure}'" in line]
    assert len(warnings) == 1  # once per table, however often the dataset loads
    assert "is stale" in warnings[0] and warnings[0].startswith("e2h: warning: ")
    command = f"e2h hardness compute {synthetic} --method nll_per_token --models synthetic --format cloze"
    assert f"`{command}`" in warnings[0]
