"""`e2h hardness compute|list` on the tiny model, and configs naming a measure not computed yet or stale."""

from __future__ import annotations

import pytest

from e2h.data import load_dataset
from e2h.data.measure_tables import read_measure
from e2h.measures import compute_measure


def test_compute_then_list_then_use(tmp_path, write_synth, e2h_cli):
    path = str(write_synth(tmp_path / "small.jsonl", n=40))
    argv = ["hardness", "compute", path, "--method", "prequential", "--models", "tiny-random", "--format", "cloze"]
    code, out, err = e2h_cli([*argv, "--set", "permutations=1", "--set", "first_block=10"])
    assert code == 0, err
    assert "prequential_tiny-random: 40 items with a value" in out and "compression=" in out
    code, out, _ = e2h_cli(["hardness", "list", path])
    assert code == 0 and "prequential_tiny-random" in out and "tiny-random" in out
    assert "prequential_tiny-random" in load_dataset(path).attrs["measures"]
    code, out, _ = e2h_cli(["data", "show", path, "--measure", "prequential_tiny-random"])
    assert code == 0 and "prequential_tiny-random" in out


def test_bad_setting_is_one_line(tmp_path, write_synth, e2h_cli):
    path = str(write_synth(tmp_path / "small.jsonl", n=20))
    code, _, err = e2h_cli(["hardness", "compute", path, "--method", "nll", "--set", "holdout=3"])
    assert code == 2 and err.count("\n") == 1 and "takes no setting holdout" in err


def test_config_with_an_uncomputed_measure_names_the_command(tmp_path, write_synth):
    from e2h.errors import ConfigError
    from e2h.experiments import parse_config
    from e2h.experiments.runner import load_run_data

    write_synth(tmp_path / "small.jsonl", n=20)
    config = parse_config(
        {
            "name": "m",
            "models": ["tiny-random"],
            "datasets": [{"name": "small.jsonl", "measures": ["prequential_smollm2-135m"]}],
            "learners": ["zero-shot"],
            "n_train": 4,
            "n_test": 5,
            "output_dir": str(tmp_path / "runs"),
        },
        base_dir=tmp_path,
    )
    with pytest.raises(
        ConfigError,
        match=r"not computed yet: run `e2h hardness compute small.jsonl --method "
        r"prequential --models smollm2-135m`",
    ):
        load_run_data(config)


def test_builtin_config_accepts_computed_names_and_rejects_typos():
    from e2h.experiments.config import _check_measures

    assert _check_measures(["prequential_smollm2-135m", "irt_difficulty"], "arc")
    with pytest.raises(ValueError, match="unknown measure 'prequental_smollm2-135m'"):
        _check_measures(["prequental_smollm2-135m"], "arc")


def _config(tmp_path, measure: str, **overrides):
    from e2h.experiments import parse_config

    data = {
        "name": "m",
        "models": ["tiny-random"],
        "datasets": [{"name": "small.jsonl", "measures": [measure]}],
        "learners": ["zero-shot"],
        "train_on": ["easy"],
        "n_train": 4,
        "n_test": 5,
        "output_dir": str(tmp_path / "runs"),
        **overrides,
    }
    return parse_config(data, base_dir=tmp_path)


def test_config_naming_a_stale_measure_stops_with_the_command(tmp_path, write_synth, fake_lm, edit_items):
    from e2h.errors import ConfigError
    from e2h.experiments import plan
    from e2h.experiments.runner import load_run_data

    path = write_synth(tmp_path / "small.jsonl", n=20)
    compute_measure(path, "nll_per_token", models=[fake_lm(load_dataset(path))], format="cloze")
    edit_items(path, question={0: "What is the answer to item 0, reworded?"})
    command = f"e2h hardness compute {path} --method nll_per_token --models synthetic --format cloze"
    with pytest.raises(ConfigError) as stop:
        load_run_data(_config(tmp_path, "nll_per_token_question_synthetic"))
    message = str(stop.value)
    assert "\n" not in message and "'nll_per_token_question_synthetic' is stale" in message
    assert f"run `{command}` (or set compute_measures: true)" in message
    with pytest.raises(ConfigError, match="the run computes it first"):  # a plan without a run (--dry-run)
        plan(_config(tmp_path, "nll_per_token_question_synthetic", compute_measures=True))


def test_compute_measures_computes_a_missing_measure_then_runs(tmp_path, write_synth):
    from e2h.analysis import load_results
    from e2h.data.measure_tables import table_path
    from e2h.experiments import run_experiment

    path = write_synth(tmp_path / "small.jsonl", n=40)
    measure = "prequential_tiny-random"
    result = run_experiment(_config(tmp_path, measure, compute_measures=True))
    _, meta = read_measure(table_path(path, measure))
    assert meta["method"] == "prequential" and meta["models"] == ["tiny-random"]
    assert result.ok and len(result.executed) == 1 and "compute measures" in result.seconds
    assert set(load_results(result.run_dir)["measure"]) == {measure}


def test_compute_measures_recomputes_a_stale_measure_in_its_format(tmp_path, write_synth, edit_items):
    from e2h.data.measure_tables import items_fingerprint, table_path
    from e2h.experiments import run_experiment

    path = write_synth(tmp_path / "small.jsonl", n=20)
    compute_measure(path, "nll_per_token", models=["tiny-random"], format="cloze")
    edit_items(path, question={0: "What is the answer to item 0, reworded?"})
    result = run_experiment(_config(tmp_path, "nll_per_token_question_tiny-random", compute_measures=True))
    _, meta = read_measure(table_path(path, "nll_per_token_question_tiny-random"))
    assert meta["items_fingerprint"] == items_fingerprint(load_dataset(path)) and meta["format"] == "cloze"
    assert result.ok and len(result.executed) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--method", "mdl_proxy", "--set", "sizes=abc"], "sizes='abc' must be a list, each a whole number >= 1"),
        (["--method", "mdl_proxy", "--set", "sizes=5,x"], "sizes=[5, 'x'] must be a list"),
        (["--method", "mdl_proxy", "--set", "resamples=0"], "resamples=0 must be a whole number >= 1 (default 5)"),
        (["--method", "mdl_proxy", "--set", "holdout=-3"], "holdout=-3 must be null or a whole number >= 0"),
        (["--method", "prequential", "--set", "first_block=1.5"], "first_block=1.5 must be a whole number >= 1"),
        (["--method", "irt", "--set", "irt_model=3pl"], "irt_model='3pl' must be one of 2pl, 1pl"),
        (["--method", "prequential", "--option", "solver=sgdd"], "learner 'linear-probe': solver='sgdd' must be"),
        (["--method", "prequential", "--format", "clozed"], "format='clozed' must be one of"),
    ],
)
def test_settings_and_options_are_checked_before_any_model_or_item_loads(
    tmp_path, write_synth, e2h_cli, monkeypatch, argv, message
):
    path = str(write_synth(tmp_path / "small.jsonl", n=20))
    monkeypatch.setattr("e2h.models.load_model", lambda *a, **k: pytest.fail("a model was loaded"))
    monkeypatch.setattr("e2h.measures.compute.load_dataset", lambda *a, **k: pytest.fail("the items were loaded"))
    code, out, err = e2h_cli(["hardness", "compute", path, "--models", "tiny-random", *argv])
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("e2h: error: ") and message in err


def test_the_issues_mdl_proxy_command_stops_at_once(e2h_cli, monkeypatch):
    monkeypatch.setattr("e2h.models.load_model", lambda *a, **k: pytest.fail("a model was loaded"))
    code, _, err = e2h_cli(["hardness", "compute", "arc", "--method", "mdl_proxy", "--set", "sizes=abc"])
    assert code == 2 and "mdl_proxy setting sizes='abc' must be a list" in err
