"""`e2h hardness compute|list` on the tiny model, and a config naming a measure not computed yet."""

from __future__ import annotations

import pytest

from e2h.data import load_dataset


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
