"""Config validation: typed values, one-line errors that list every problem with a did-you-mean."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2h.errors import ConfigError
from e2h.experiments import load_config
from e2h.experiments.config import dataset_learners, dataset_settings, learner_params, parse_config


def _error(make_config, **overrides) -> str:
    with pytest.raises(ConfigError) as info:
        make_config(**overrides)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("config toy.yaml: ")
    return message


def test_valid_config_is_normalised(make_config):
    config = make_config(seeds=3, label_noise=0.2, learners=["icl"], n_train=[4, 8], k=2)
    assert config.seeds == [0, 1, 2]
    assert config.label_noise.p == [0.2] and config.label_noise.hard_multiplier == 1.0
    assert config.learners[0].name == "icl" and config.learners[0].options == {}
    assert config.n_train == [4, 8] and config.test_on == "hard" and config.format is None
    assert config.dataset_path("toy.csv").endswith("toy.csv") and Path(config.dataset_path("toy.csv")).is_file()


def test_unknown_keys_suggest_the_closest(make_config, tmp_path):
    message = _error(make_config, seed=1, datasets=[{"name": "toy.csv", "measures": ["difficulty"], "mesures": []}])
    assert "seed: unknown key (did you mean 'seeds'?)" in message
    assert "datasets[0].mesures: unknown key (did you mean 'measures'" in message


def test_every_problem_is_reported_together(make_config):
    message = _error(
        make_config,
        datasets=[{"name": "arc", "measures": ["human_grde"]}],
        n_train=0,
        learners=["icll"],
        n_test="many",
        test_on="hardest",
    )
    assert "datasets[0].measures: unknown measure 'human_grde' (did you mean 'human_grade'?)" in message
    assert "n_train: must be > 0" in message
    assert "learners[0].name: unknown learner 'icll' (did you mean 'icl'" in message
    assert "n_test: " in message and "'many'" in message
    assert "test_on: unknown level 'hardest' (did you mean 'hard'?)" in message
    assert message.count(";") >= 4


def test_unknown_learner_option_and_seed_option(make_config):
    message = _error(make_config, learners=[{"name": "icl", "options": {"kk": 3}}])
    assert "learner 'icl' has no option 'kk' (did you mean 'k'?)" in message
    message = _error(make_config, learners=[{"name": "icl", "options": {"seed": 3}}])
    assert "set seeds at the top level" in message
    message = _error(make_config, learners=[{"name": "icl", "options": {"format": "listd"}}], normalization="per_tok")
    assert "learners[0]: learner 'icl': format='listd' must be one of cloze," in message
    assert "(did you mean 'listed'?)" in message
    assert "normalization: unknown normalization 'per_tok' (did you mean 'per_token'?)" in message


def test_missing_dataset_file_and_model(make_config):
    message = _error(make_config, datasets=[{"name": "nope.csv", "measures": ["difficulty"]}], models=["tiny-randm"])
    assert "datasets[0].name: unknown dataset 'nope.csv'" in message and "no such file" in message
    assert "models: unknown model 'tiny-randm' (did you mean 'tiny-random'?)" in message


def test_cross_field_checks(make_config):
    assert "k=6 demonstrations need n_train >= 6" in _error(make_config, k=6, learners=["icl"], n_train=[4, 8])
    assert "lo 9.0 must be <= hi 3.0" in _error(
        make_config, datasets=[{"name": "toy.csv", "measures": ["difficulty"], "cutoffs": {"difficulty": [9, 3]}}]
    )
    assert "every p must be in [0, 1]" in _error(make_config, label_noise={"p": [0.1, 1.5]})


def test_learner_params_resolution(make_config):
    config = make_config(k=3, format="letters", learners=["icl", {"name": "zero-shot", "options": {"format": "cloze"}}])
    icl = learner_params(config.learners[0], config, seed=7)
    assert icl["k"] == 3 and icl["format"] == "letters" and icl["seed"] == 7 and icl["normalization"] == "raw"
    zero_shot = learner_params(config.learners[1], config, seed=7)
    assert zero_shot == {"format": "cloze", "normalization": "raw", "extraction": "last"}


def test_format_and_extraction_default_to_the_datasets(make_config, tmp_path):
    """Unset at the top level, format and extraction come from the dataset entry, else the dataset's facts."""
    (tmp_path / "toy.csv.yaml").write_text("format: cloze\nextraction: first\n")
    config = make_config(learners=["icl"], k=2, datasets=[{"name": "toy.csv", "measures": ["difficulty"]}])
    params = learner_params(config.learners[0], config, seed=0, settings=dataset_settings(config, config.datasets[0]))
    assert params["format"] == "cloze" and params["extraction"] == "first"
    entry = make_config(
        learners=["icl"], k=2, datasets=[{"name": "toy.csv", "measures": ["difficulty"], "format": "qa"}]
    )
    assert learner_params(entry.learners[0], entry, 0, dataset_settings(entry, entry.datasets[0]))["format"] == "qa"
    top = make_config(learners=["icl"], k=2, format="letters", extraction="last")
    params = learner_params(top.learners[0], top, seed=0, settings=dataset_settings(top, top.datasets[0]))
    assert params["format"] == "letters" and params["extraction"] == "last"


def test_a_dataset_without_measures_is_a_random_split(make_config):
    config = make_config(datasets=[{"name": "toy.csv"}], train_on="all", test_on="all")
    assert config.datasets[0].measures == []
    message = _error(make_config, datasets=[{"name": "toy.csv"}])
    assert "has no measures (a random split without levels): set train_on: all and test_on: all" in message


def test_yaml_file_errors(tmp_path, toy_csv):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmodels: [tiny-random\n")
    with pytest.raises(ConfigError, match=r"^config bad.yaml: not valid YAML at line \d+"):
        load_config(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(listed)
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.yaml")


def test_relative_paths_resolve_next_to_the_config(tmp_path, toy_csv, monkeypatch):
    config_file = tmp_path / "sub.yaml"
    config_file.write_text(
        "name: sub\nmodels: [tiny-random]\nlearners: [zero-shot]\ndatasets: [{name: toy.csv, measures: [difficulty]}]\n"
    )
    monkeypatch.chdir(Path("/"))
    config = load_config(config_file)
    assert Path(config.dataset_path("toy.csv")) == toy_csv.resolve()


@pytest.mark.parametrize("name", ["demo", "arc_learners", "smoke"])
def test_shipped_configs_validate(name):
    configs = Path(__file__).resolve().parents[2] / "configs"
    config = load_config(configs / f"{name}.yaml")
    assert config.name == name


def test_preset_names_reach_subfolders_and_suggest(monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    assert load_config("paper/mmlu").name == "paper-mmlu"
    assert load_config("paper/mmlu", scale="small").name == "paper-mmlu-small"
    with pytest.raises(ConfigError, match="unknown preset 'paper/mlu' \\(did you mean 'paper/mmlu'"):
        load_config("paper/mlu")
    with pytest.raises(ConfigError, match=r"^config mmlu.yaml: no scale 'smal' \(did you mean 'small'\?\)"):
        load_config("paper/mmlu", scale="smal")


@pytest.mark.parametrize("section", ["config-reference", "learner-reference"])
def test_readme_tables_are_generated_from_the_declarations(section):
    """README's config and learner tables equal what the field descriptions and learner params render."""
    from e2h.experiments.reference import block, render

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert block(readme, section) == render(section), "refresh with: python -m e2h.experiments.reference README.md"


# --- per-dataset settings, the unsupervised baseline, data options, scales ----------------------------------------


def _settings(make_config, **overrides):
    config = make_config(**overrides)
    return config, dataset_settings(config, config.datasets[0])


def test_dataset_settings_precedence(make_config, tmp_path):
    """Learner options > dataset entry > top level > the dataset's defaults (here: a sidecar file)."""
    (tmp_path / "toy.csv.yaml").write_text("k: 3\nn_test: 7\nformat: cloze\nunsupervised: zero-shot-cot\n")
    _, facts = _settings(make_config, learners=["unsupervised", "icl"], n_test=None)
    assert (facts.k, facts.n_test, facts.format, facts.unsupervised.name) == (3, 7, "cloze", "zero-shot-cot")
    _, top = _settings(make_config, learners=["icl"], k=2, n_test="all", format="letters")
    assert (top.k, top.n_test, top.format) == (2, None, "letters")
    entry = {"name": "toy.csv", "measures": ["difficulty"], "k": 1, "n_test": 4, "format": "qa"}
    _, own = _settings(make_config, learners=["icl"], k=2, n_test=5, format="letters", datasets=[entry])
    assert (own.k, own.n_test, own.format) == (1, 4, "qa")
    options = make_config(learners=[{"name": "icl", "options": {"k": 0}}], k=2, datasets=[entry])
    assert learner_params(options.learners[0], options, 0, dataset_settings(options, options.datasets[0]))["k"] == 0


def test_builtin_datasets_bring_the_papers_k_and_baseline(make_config):
    config = make_config(
        datasets=[{"name": "arc", "measures": ["human_grade"]}, {"name": "gsm8k", "measures": ["num_steps"]}],
        learners=["unsupervised", "icl"],
        n_train=10,
    )
    arc, gsm8k = (dataset_settings(config, d) for d in config.datasets)
    assert (arc.k, arc.format, arc.unsupervised.name) == (10, "listed", "zero-shot")
    assert (gsm8k.k, gsm8k.format, gsm8k.unsupervised.name) == (8, "qa", "zero-shot-cot")
    assert [(s.name, base) for s, base in dataset_learners(config, config.datasets[1], gsm8k)] == [
        ("zero-shot-cot", True),
        ("icl", False),
    ]


def test_the_unsupervised_name_and_setting(make_config):
    baseline = {"name": "zero-shot", "options": {"format": "cloze"}}
    config = make_config(learners=["unsupervised", "zero-shot", "icl"], k=2, unsupervised=baseline)
    chosen = dataset_learners(config, config.datasets[0], dataset_settings(config, config.datasets[0]))
    assert [(s.name, s.options, base) for s, base in chosen] == [
        ("zero-shot", {"format": "cloze"}, True),
        ("zero-shot", {}, False),
        ("icl", {}, False),
    ]
    same = make_config(learners=["unsupervised", "zero-shot"])  # the baseline listed twice runs once
    entry = same.datasets[0]
    assert dataset_learners(same, entry, dataset_settings(same, entry)) == [(same.learners[1], True)]
    assert "'icl' cannot be the unsupervised baseline" in _error(make_config, unsupervised="icl")
    message = _error(make_config, learners=[{"name": "unsupervised", "options": {"format": "qa"}}])
    assert "the `unsupervised` baseline takes no options here" in message
    assert "unknown learner 'unsupervisd' (did you mean 'unsupervised'" in _error(make_config, learners=["unsupervisd"])


def test_k_is_checked_per_dataset(make_config):
    """ICL's k comes from each dataset; a k larger than n_train is an error for that dataset only."""
    message = _error(
        make_config,
        datasets=[{"name": "toy.csv", "measures": ["difficulty"]}, {"name": "toy.csv", "measures": ["blank"], "k": 9}],
        learners=["icl"],
        k=2,
        n_train=4,
    )
    assert "learner icl on toy.csv: k=9 demonstrations need n_train >= 9" in message and "k=2" not in message


def test_data_options_are_checked(make_config):
    message = _error(
        make_config,
        datasets=[
            {"name": "toy.csv", "measures": ["difficulty"], "source": "hub"},
            {"name": "arc", "measures": ["human_grade"], "variant": "papr", "fallback_source": "local"},
            {"name": "gsm8k", "measures": ["num_steps"], "source": "web"},
        ],
    )
    assert "datasets[0]: source and variant are for built-in datasets" in message
    assert "dataset 'arc' has no variant 'papr' (did you mean 'paper'?)" in message
    assert "fallback_source: local only goes with source: hub" in message
    assert "datasets[2].source: unknown source 'web'" in message
    twice = [
        {"name": "arc", "measures": ["human_grade"]},
        {"name": "arc", "measures": ["human_bloom"], "variant": "paper"},
    ]
    assert "arc is listed twice with different source, fallback_source or variant" in _error(
        make_config, datasets=twice
    )


def test_n_test_label_cost_and_test_pool_values(make_config):
    message = _error(make_config, n_test=0, label_cost={"hardd": 2, "easy": 0}, test_pool="points")
    assert "n_test: must be a whole number > 0, `all` (every remaining item) or null (got 0)" in message
    assert "unknown level 'hardd' (did you mean 'hard'?)" in message and "easy: cost must be > 0" in message
    assert "test_pool: unknown test_pool 'points' (did you mean 'point'?)" in message


def test_a_scale_replaces_top_level_keys_and_renames_the_run(tmp_path, toy_csv):
    def toy_config(tmp_path, **more):
        base = {"name": "toy", "models": ["tiny-random"], "learners": ["zero-shot"], "seeds": 3}
        return {**base, "datasets": [{"name": "toy.csv", "measures": ["difficulty"]}], **more}

    data = toy_config(tmp_path, scales={"small": {"n_test": 2, "seeds": 1}, "tiny": {"name": "x"}})
    small = parse_config(data, base_dir=tmp_path, scale="small")
    assert (small.name, small.n_test, small.seeds) == ("toy-small", 2, [0])
    assert parse_config(data, base_dir=tmp_path, scale="tiny").name == "x"
    assert parse_config(data, base_dir=tmp_path).name == "toy"
    with pytest.raises(ConfigError, match="scales: small: unknown key 'n_tset' \\(did you mean 'n_test'"):
        parse_config(toy_config(tmp_path, scales={"small": {"n_tset": 2}}), base_dir=tmp_path)
    with pytest.raises(ConfigError, match="no scale 'small' \\(it has no `scales:`\\)"):
        parse_config(toy_config(tmp_path), base_dir=tmp_path, scale="small")


@pytest.mark.parametrize(
    ("learner", "message"),
    [
        ({"name": "linear-probe", "options": {"solver": "sgdd"}}, "solver='sgdd' must be one of sgd, lbfgs"),
        ({"name": "lora", "options": {"objective": "mcq"}}, "objective='mcq' must be one of mc, cot"),
        ({"name": "lora", "options": {"r": 0, "dropout": 1.5}}, "r=0 must be a whole number >= 1"),
        ({"name": "icl", "options": {"k": "abc"}}, "learner 'icl': k='abc' must be a whole number >= 0"),
        ({"name": "icl-cot", "options": {"max_new_tokens": 2.5}}, "max_new_tokens=2.5 must be a whole number >= 1"),
        ({"name": "linear-probe", "options": {"layers": [3, "last"]}}, "layers=[3, 'last'] must be null or a list"),
        ({"name": "qlora", "options": {"quantization": "fp4"}}, "quantization='fp4' must be one of null, none"),
    ],
)
def test_learner_option_values_are_checked_with_the_config(make_config, learner, message):
    error = _error(make_config, learners=["zero-shot", learner])
    assert f"learners[1]: learner {learner['name']!r}: " in error and message in error


def test_every_bad_value_of_a_learner_is_named_together(make_config):
    error = _error(make_config, learners=[{"name": "lora", "options": {"r": 0, "dropout": 1.5, "objektive": "mc"}}])
    assert "has no option 'objektive' (did you mean 'objective'?)" in error
    assert "r=0 must be a whole number >= 1" in error and "dropout=1.5 must be a number in [0, 1)" in error


def test_the_unsupervised_baselines_options_are_checked(make_config):
    error = _error(make_config, unsupervised={"name": "zero-shot-cot", "options": {"instruction": "mathh"}})
    assert "unsupervised: learner 'zero-shot-cot': instruction='mathh' must be one of auto" in error
    assert "(did you mean 'math'?)" in error
