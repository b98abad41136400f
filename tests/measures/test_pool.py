"""The paper's two pool rules: its zero-shot MDL holds out no pool (MMLU, StrategyQA), and its 1,000-item hardness
pool is left out of every experiment (``exclude_pool``), whatever measure levels it."""

from __future__ import annotations

import numpy as np
import pytest

from e2h.data import load_dataset
from e2h.errors import ConfigError, E2HError
from e2h.experiments import parse_config, plan
from e2h.learners import ZeroShot
from e2h.measures import compute_measure

FAST_MDL = {"sizes": (5, 20), "resamples": 2}


def test_zero_shot_mdl_holds_out_no_pool_and_fits_once(synthetic, fake_lm):
    lm = fake_lm(load_dataset(synthetic))
    [result] = compute_measure(synthetic, "mdl_proxy", models=[lm], learner="zero-shot")
    assert result.measure == "mdl_proxy-zero-shot_synthetic"
    assert not result.table["held_out"].any() and result.table["value"].notna().all()
    assert result.provenance["summary"]["n_fits"] == 1 and result.provenance["settings"]["holdout"] == 0
    items = load_dataset(synthetic)
    gold = ZeroShot(lm, format="listed").fit(items.iloc[:0]).predict(items).gold_prob
    np.testing.assert_allclose(result.table["value"], 1.0 - gold)
    assert items[result.measure].notna().all()

    [pooled] = compute_measure(synthetic, "mdl_proxy", models=[lm], learner="zero-shot", holdout=50)
    held = pooled.table["held_out"].to_numpy()
    assert held.sum() == 50 and pooled.provenance["summary"]["n_fits"] == 1
    np.testing.assert_allclose(pooled.table["value"][~held], result.table["value"][~held])


def test_a_learner_that_trains_needs_a_pool(synthetic, fake_lm, e2h_cli):
    with pytest.raises(E2HError, match="a learner that trains needs a pool"):
        compute_measure(synthetic, "mdl_proxy", models=[fake_lm(load_dataset(synthetic))], holdout=0)
    code, _, err = e2h_cli(["hardness", "compute", str(synthetic), "--method", "mdl_proxy", "--set", "holdout=0"])
    assert code == 2 and err.count("\n") == 1 and "needs a pool" in err


def _config(tmp_path, **entry):
    data = {
        "name": "pool",
        "models": ["tiny-random"],
        "datasets": [{"name": "synthetic.jsonl", "measures": ["planted"], **entry}],
        "learners": ["zero-shot", "icl"],
        "train_on": ["easy", "hard"],
        "n_train": 10,
        "n_test": 20,
        "seeds": 3,
        "output_dir": str(tmp_path / "runs"),
    }
    return parse_config(data, source="config pool", base_dir=tmp_path)


def _used_ids(config) -> set[str]:
    from e2h.experiments.runner import cell_split

    data, cells, _ = plan(config)
    return {
        i for cell in cells for part in (cell_split(cell, data).train, cell_split(cell, data).test) for i in part["id"]
    }


def test_exclude_pool_leaves_the_pool_out_of_every_split(tmp_path, synthetic, fake_lm):
    [mdl] = compute_measure(synthetic, "mdl_proxy", models=[fake_lm(load_dataset(synthetic))], holdout=100, **FAST_MDL)
    pool = set(mdl.table["id"][mdl.table["held_out"]])
    assert _used_ids(_config(tmp_path)) & pool  # levelled by another measure, pool items are drawn without it

    config = _config(tmp_path, exclude_pool=mdl.measure)
    assert config.datasets[0].exclude_pool == [mdl.measure]
    data, _, _ = plan(config)
    assert len(data.items["synthetic.jsonl"]) == 140 and not set(data.items["synthetic.jsonl"]["id"]) & pool
    assert f"synthetic.jsonl: 100 items of the pool of {mdl.measure} left out of every split (exclude_pool)" in (
        data.notes
    )
    used = _used_ids(config)
    assert used and not used & pool


def test_exclude_pool_names_what_is_wrong(tmp_path, synthetic, fake_lm):
    lm = fake_lm(load_dataset(synthetic))
    with pytest.raises(ConfigError, match="'mdl_proxy_synthetic' is not computed yet: run `e2h hardness compute"):
        plan(_config(tmp_path, exclude_pool=["mdl_proxy_synthetic"]))
    [zero] = compute_measure(synthetic, "mdl_proxy", models=[lm], learner="zero-shot")
    with pytest.raises(ConfigError, match="holds out no items"):
        plan(_config(tmp_path, exclude_pool=[zero.measure]))
    with pytest.raises(ConfigError, match="exclude_pool: human_grade holds out no pool"):
        _config(tmp_path, exclude_pool=["human_grade"])
    with pytest.raises(ConfigError, match="exclude_pool: true needs an mdl_proxy measure in measures"):
        _config(tmp_path, exclude_pool=True)
    twice = _config(tmp_path).model_dump()
    twice["datasets"].append({**twice["datasets"][0], "exclude_pool": True, "measures": ["mdl_proxy_synthetic"]})
    with pytest.raises(ConfigError, match="listed twice with different exclude_pool"):
        parse_config(twice, base_dir=tmp_path)
