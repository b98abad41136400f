"""Grid expansion: cell counts, zero-shot expanded once, content hashes that are stable and sensitive."""

from __future__ import annotations

from e2h.experiments import expand
from e2h.experiments.config import parse_config


def test_counts_and_zero_shot_expanded_once(make_config):
    config = make_config(
        models=["tiny-random", "tiny-random-copy/not-a-file"],
        datasets=[{"name": "toy.csv", "measures": ["difficulty", "question_num_words"]}],
        learners=["zero-shot", {"name": "icl", "options": {"k": 2}}],
        train_on=["easy", "hard"],
        n_train=[4, 8],
        label_noise={"p": [0.0, 0.2], "hard_multiplier": 2.0},
        seeds=3,
    )
    cells = expand(config)
    # per model and measure: zero-shot 3 seeds + icl 2 train_on x 2 n_train x 2 noise x 3 seeds
    assert len(cells) == 2 * 2 * (3 + 2 * 2 * 2 * 3)
    zero_shot = [c for c in cells if c.learner == "zero-shot"]
    assert len(zero_shot) == 2 * 2 * 3
    assert {(c.train_on, c.n_train, c.label_noise, c.k) for c in zero_shot} == {("none", 0, 0.0, 0)}
    icl = [c for c in cells if c.learner == "icl"]
    assert {c.k for c in icl} == {2} and {c.options["seed"] for c in icl} == {0, 1, 2}
    assert {c.hard_multiplier for c in icl if c.label_noise == 0} == {1.0}
    assert {c.hard_multiplier for c in icl if c.label_noise > 0} == {2.0}
    assert [c.model for c in cells] == sorted(c.model for c in cells)  # grouped by model, model by model
    assert len({c.cell_id for c in cells}) == len(cells)


def test_hash_is_stable_and_ignores_run_name_and_key_order(make_config, tmp_path):
    a = expand(make_config(learners=[{"name": "icl", "options": {"k": 2, "normalization": "per_token"}}]))
    b = expand(make_config(name="other", learners=[{"name": "icl", "options": {"normalization": "per_token", "k": 2}}]))
    assert [c.cell_id for c in a] == [c.cell_id for c in b]
    assert {c.run for c in b} == {"other"}


def test_hash_changes_with_what_changes_the_numbers(make_config):
    base = expand(make_config())
    for change, affected in (
        ({"learners": ["zero-shot", {"name": "icl", "options": {"k": 3}}]}, {"icl"}),
        ({"n_test": 6}, {"zero-shot", "icl"}),
        (
            {"datasets": [{"name": "toy.csv", "measures": ["difficulty"], "cutoffs": {"difficulty": [10, 25]}}]},
            {"zero-shot", "icl"},
        ),
        ({"format": "letters"}, {"zero-shot", "icl"}),
    ):
        changed = expand(make_config(**change))
        assert len(changed) == len(base)
        for old, new in zip(base, changed, strict=True):
            assert (old.cell_id != new.cell_id) == (old.learner in affected), (change, old.describe())
    # the data's fingerprint is part of the id
    config = make_config()
    assert {c.cell_id for c in expand(config, data_versions={"toy.csv": "v1"})}.isdisjoint(
        c.cell_id for c in expand(config, data_versions={"toy.csv": "v2"})
    )


def test_zero_shot_ids_do_not_depend_on_supervised_axes(make_config):
    zero = {c.cell_id for c in expand(make_config()) if c.learner == "zero-shot"}
    other = expand(make_config(train_on=["all"], label_noise=0.3))
    assert zero == {c.cell_id for c in other if c.learner == "zero-shot"}


def test_measures_override_and_transfer(make_config, tmp_path, write_toy):
    write_toy(tmp_path / "other.csv", seed=1)
    config = parse_config(
        {
            "name": "transfer",
            "models": ["tiny-random"],
            "datasets": [{"name": "toy.csv", "measures": ["difficulty"], "train_dataset": "other.csv"}],
            "learners": ["zero-shot", "icl"],
            "n_train": 10,
            "n_test": 5,
        },
        base_dir=tmp_path,
    )
    cells = expand(config, measures={0: ["question_num_words"]})
    assert {c.measure for c in cells} == {"question_num_words"}
    icl = [c for c in cells if c.learner == "icl"]
    assert {(c.dataset, c.train_dataset, c.reserve) for c in icl} == {("toy.csv", "other.csv", (0, 0, 0))}
    zero = [c for c in cells if c.learner == "zero-shot"]
    assert {(c.dataset, c.train_dataset) for c in zero} == {("toy.csv", "toy.csv")}


def test_zero_shot_and_supervised_cells_of_the_same_data_share_the_fingerprint(make_config):
    cells = expand(make_config(), data_versions={"toy.csv": "v1"})
    assert len({c.data_version for c in cells}) == 1


def test_the_baseline_mark_follows_the_datasets_unsupervised_setting(make_config):
    cells = expand(make_config(learners=["unsupervised", {"name": "icl", "options": {"k": 2}}]))
    assert {(c.learner, c.baseline) for c in cells} == {("zero-shot", True), ("icl", False)}
    listed = expand(make_config(learners=["zero-shot", {"name": "icl", "options": {"k": 2}}]))
    assert {c.cell_id for c in listed} == {c.cell_id for c in cells}  # the mark is not part of the id
    other = expand(make_config(learners=["zero-shot", "unsupervised"], unsupervised="zero-shot-cot"))
    assert {(c.learner, c.baseline) for c in other} == {("zero-shot", False), ("zero-shot-cot", True)}


def test_each_level_holds_back_only_what_training_on_it_needs(make_config):
    """With every remaining item tested, a level nobody trains on holds nothing back."""
    config = make_config(n_test=None, test_on="all", train_on=["easy", "hard"], n_train=[2, 4])
    assert {c.reserve for c in expand(config)} == {(4, 0, 4)}
    both = make_config(n_test=None, test_on="all", train_on=["easy_and_hard"], n_train=5)
    assert {c.reserve for c in expand(both)} == {(3, 0, 2)}
    anywhere = make_config(n_test=None, test_on="all", train_on=["all", "easy"], n_train=[3, 4])
    assert {c.reserve for c in expand(anywhere)} == {(4, 4, 4)}
    only_zero_shot = make_config(n_test=None, test_on="all", learners=["zero-shot"])
    assert {c.reserve for c in expand(only_zero_shot)} == {(0, 0, 0)}
    assert {c.reserve for c in expand(make_config(n_test=5))} == {(0, 0, 0)}  # a fixed test size holds nothing


def test_test_pool_point_holds_back_each_training_sizes_own(make_config):
    config = make_config(n_test=None, test_on="all", train_on=["easy", "hard"], n_train=[2, 4], test_pool="point")
    reserves = {(c.learner, c.n_train, c.reserve) for c in expand(config)}
    assert reserves == {("zero-shot", 0, (0, 0, 0)), ("icl", 2, (2, 0, 2)), ("icl", 4, (4, 0, 4))}


def test_a_transfer_entry_tests_the_pool_of_the_in_domain_entry(make_config, tmp_path, write_toy):
    write_toy(tmp_path / "other.csv", seed=1, prefix="other")
    in_domain = {"name": "toy.csv", "measures": ["difficulty"]}
    transfer = {**in_domain, "train_dataset": "other.csv"}
    cells = expand(make_config(datasets=[in_domain, transfer], n_test=None, n_train=3))
    assert {(c.train_dataset, c.reserve) for c in cells} == {("toy.csv", (0, 0, 3)), ("other.csv", (0, 0, 3))}
    alone = expand(make_config(datasets=[transfer], n_test=None, n_train=3))
    assert {c.reserve for c in alone} == {(0, 0, 0)}  # no in-domain training: the test level is tested whole


def test_each_dataset_entrys_defaults_are_resolved_once(make_config, tmp_path, write_toy, monkeypatch):
    """The cascade (entry > top level > the dataset's own defaults, here a sidecar file) runs once per entry, not
    per learner, training point and seed; each entry's cells still get its own settings."""
    import e2h.data

    write_toy(tmp_path / "other.csv", prefix="other")
    (tmp_path / "other.csv.yaml").write_text("format: cloze\n")
    config = make_config(
        models=["tiny-random", "tiny-random-copy/not-a-file"],
        datasets=[{"name": "toy.csv", "measures": ["difficulty"]}, {"name": "other.csv", "measures": ["difficulty"]}],
        learners=["zero-shot", {"name": "icl", "options": {"k": 2}}, "linear-probe"],
        n_train=[4, 8],
        seeds=3,
        n_test=None,
    )
    real, read = e2h.data.dataset_facts, []
    monkeypatch.setattr(e2h.data, "dataset_facts", lambda name: read.append(name) or real(name))
    cells = expand(config)
    assert len(cells) == 2 * 2 * 3 * (1 + 2 * 2 * 2) and len(read) == 2  # one read per dataset entry
    assert {c.dataset: c.options["format"] for c in cells if c.learner == "icl"} == {
        "toy.csv": "listed",
        "other.csv": "cloze",
    }


def test_a_stratified_fixed_test_set_holds_back_training_items_first(make_config):
    """test_on all with a fixed n_test: stratified (the default) holds back like n_test null, random holds nothing."""
    stratified = expand(make_config(n_test=6, test_on="all", train_on=["easy", "hard"], n_train=[2, 4]))
    assert {c.reserve for c in stratified} == {(4, 0, 4)} and {c.test_draw for c in stratified} == {"stratified"}
    random = expand(make_config(n_test=6, test_on="all", test_draw="random", train_on=["easy", "hard"], n_train=4))
    assert {c.reserve for c in random} == {(0, 0, 0)} and {c.test_draw for c in random} == {""}
    per_dataset = make_config(
        n_test=6, test_on="all", datasets=[{"name": "toy.csv", "measures": ["difficulty"], "test_draw": "random"}]
    )
    assert {c.test_draw for c in expand(per_dataset)} == {""}
    one_level = expand(make_config(n_test=6, test_on="hard"))  # nothing to stratify: the cells keep their ids
    assert {c.test_draw for c in one_level} == {""} and {c.reserve for c in one_level} == {(0, 0, 0)}


def test_the_random_draw_keeps_the_cell_ids_it_had_before_test_draw_existed(make_config):
    """Cells whose numbers the new rule does not change keep their ids (test_draw and learner_id hashed only when
    set); a stratified cell gets a new one."""
    from dataclasses import asdict

    from e2h.hardness import CUTOFF_TABLE_VERSION
    from e2h.io import content_hash

    def old_id(cell) -> str:  # the hash of the fields a cell had before test_draw and learner_id
        fields = {k: v for k, v in asdict(cell).items() if k not in ("run", "baseline", "test_draw", "learner_id")}
        return content_hash(fields, CUTOFF_TABLE_VERSION)

    random = expand(make_config(n_test=6, test_on="all", test_draw="random"))
    assert [c.cell_id for c in random] == [old_id(c) for c in random]
    stratified = expand(make_config(n_test=6, test_on="all"))
    assert all(c.cell_id != old_id(c) for c in stratified)
    assert {c.cell_id for c in random}.isdisjoint(c.cell_id for c in stratified)


def test_learner_ids_keep_two_entries_of_one_learner_apart(make_config):
    from e2h.errors import ConfigError

    learners = [
        "zero-shot",
        {"name": "icl", "options": {"k": 2}},
        {"id": "icl-k3", "name": "icl", "options": {"k": 3}},
    ]
    cells = expand(make_config(learners=learners))
    assert {(c.learner, c.label, c.k) for c in cells if c.learner == "icl"} == {("icl", "icl", 2), ("icl", "icl-k3", 3)}
    assert any("icl-k3 easy→hard" in c.describe() for c in cells)
    try:
        make_config(learners=["zero-shot", {"name": "icl", "options": {"k": 2}}, {"name": "icl", "options": {"k": 3}}])
    except ConfigError as exc:
        assert "learner 'icl' on toy.csv is listed twice with different settings: give each entry its own `id:`" in str(
            exc
        )
    else:
        raise AssertionError("two icl entries without ids were accepted")


def test_a_dataset_entry_may_set_its_own_train_on_and_learners(make_config, tmp_path, write_toy):
    write_toy(tmp_path / "other.csv", seed=1, prefix="other")
    config = make_config(
        test_on="all",
        n_test=None,
        train_on=["easy", "hard"],
        datasets=[
            {"name": "toy.csv", "measures": ["difficulty"]},
            {"name": "other.csv", "train_on": ["all_balanced"], "learners": ["zero-shot"], "measures": ["difficulty"]},
            {"name": "other.csv", "train_on": "all", "learners": [{"name": "icl", "options": {"k": 2}}]},
        ],
    )
    cells = expand(config)
    toy = {(c.learner, c.train_on) for c in cells if c.dataset == "toy.csv"}
    assert toy == {("zero-shot", "none"), ("icl", "easy"), ("icl", "hard")}
    other = {(c.learner, c.measure, c.train_on) for c in cells if c.dataset == "other.csv"}
    assert other == {("zero-shot", "difficulty", "none"), ("icl", "random", "all")}
    balanced = make_config(n_test=None, test_on="all", train_on=["all_balanced"], n_train=5)
    assert {c.reserve for c in expand(balanced)} == {(3, 3, 3)}  # at most ceil(5/2) from a level


def test_test_pool_cost_gives_points_of_equal_cost_the_same_items(make_config):
    """label_cost easy 1, hard 2: 4 easy labels cost what 2 hard ones do, so those cells hold back the same items."""
    from e2h.errors import ConfigError

    config = make_config(
        n_test=None, train_on=["easy", "hard"], n_train=[2, 4], test_pool="cost", label_cost={"easy": 1, "hard": 2}
    )
    reserves = {(c.learner, c.train_on, c.n_train): c.reserve for c in expand(config)}
    assert reserves[("icl", "easy", 4)] == reserves[("icl", "hard", 2)] == (0, 0, 2)  # cost 4: the hard cell's 2
    assert reserves[("icl", "easy", 2)] == (0, 0, 0) and reserves[("icl", "hard", 4)] == (0, 0, 4)
    assert reserves[("zero-shot", "none", 0)] == (0, 0, 0)
    try:
        make_config(test_pool="cost")
    except ConfigError as exc:
        assert "test_pool: cost needs label_cost" in str(exc)
    else:
        raise AssertionError("test_pool: cost without label_cost was accepted")
