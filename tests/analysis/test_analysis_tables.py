"""accuracy_table and sgr_table on synthetic stores with known correctness."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from e2h.analysis.results import load_results
from e2h.analysis.tables import (
    ACC_KEYS,
    accuracy_table,
    generalization_table,
    per_seed_table,
    sgr_table,
    write_table,
)
from e2h.answering import chance_rate
from e2h.errors import E2HError

from fake_runs import COT_ACCURACY, write_fake_run

N_BOOT = 300


@pytest.fixture(scope="module")
def results(fake_run: Path) -> pd.DataFrame:
    return load_results(fake_run)


@pytest.fixture(scope="module")
def acc(results: pd.DataFrame) -> pd.DataFrame:
    return accuracy_table(results, n_boot=N_BOOT)


def test_accuracy_rows_equal_the_raw_means(results: pd.DataFrame, acc: pd.DataFrame):
    hard = results[results["test_on"] == "hard"]
    direct = hard.groupby(["measure", "learner", "train_on"])["correct"].mean()
    rows = acc[acc["test_on"] == "hard"].set_index(["measure", "learner", "train_on"])
    pd.testing.assert_series_equal(rows["acc"].sort_index(), direct.sort_index(), check_names=False)
    assert (rows["ci_lo"] <= rows["acc"]).all() and (rows["acc"] <= rows["ci_hi"]).all()
    assert (rows["n_seeds"] == 3).all() and (rows["chance"] == 0.25).all()
    n_items = hard.groupby(["measure", "learner", "train_on"])["item_id"].nunique()
    assert (rows["n_items"].sort_index() == n_items.sort_index()).all()


def test_cells_tested_on_all_get_one_row_per_item_level(results: pd.DataFrame, acc: pd.DataFrame):
    all_rows = acc[(acc["test_on"] == "all") & (acc["learner"] == "icl") & (acc["train_on"] == "easy")]
    assert sorted(all_rows["item_level"]) == sorted(["all", "easy", "hard", "medium"] * 2)  # two measures
    sub = results[(results["test_on"] == "all") & (results["learner"] == "icl") & (results["train_on"] == "easy")]
    by_level = sub.groupby(["measure", "item_level"])["correct"].mean()
    got = all_rows[all_rows["item_level"] != "all"].set_index(["measure", "item_level"])["acc"]
    pd.testing.assert_series_equal(got.sort_index(), by_level.sort_index(), check_names=False)
    # one row per key: no two rows share every key column
    assert not acc.duplicated(ACC_KEYS).any()


def test_tables_are_reproducible(results: pd.DataFrame, acc: pd.DataFrame):
    pd.testing.assert_frame_equal(acc, accuracy_table(results, n_boot=N_BOOT))
    other = accuracy_table(results, n_boot=N_BOOT, seed=1)
    assert not np.allclose(acc["ci_lo"], other["ci_lo"])


def test_chance_is_zero_for_generative_items():
    assert chance_rate(pd.Series([4, 2, 1])).tolist() == [0.25, 0.5, 0.0]


def test_sgr_exact_run(exact_run: Path):
    table = sgr_table(load_results(exact_run), n_boot=N_BOOT).set_index("learner")
    icl, probe = table.loc["icl"], table.loc["linear-probe"]
    assert (icl.unsup_acc, icl.easy_acc, icl.hard_acc) == (0.0, 1.0, 1.0)
    assert icl.defined and icl.sgr == 1.0 and (icl.sgr_lo, icl.sgr_hi) == (1.0, 1.0)
    assert icl.easy_unsup_diff == 1.0 and icl.easy_unsup_p == pytest.approx(2 / (N_BOOT + 1))
    assert probe.defined and probe.sgr == 0.0 and probe.easy_unsup_p == 1.0
    assert (table["unsup_alignment"] == "paired by (item, seed)").all()


def test_sgr_table_rows_and_accuracies(results: pd.DataFrame):
    table = sgr_table(results, n_boot=N_BOOT)
    # 2 measures × 2 supervised learners × test_on {hard, all}
    assert len(table) == 8
    assert set(table["learner"]) == {"icl", "linear-probe"}
    row = table[(table.learner == "icl") & (table.measure == "human_grade") & (table.test_on == "hard")].iloc[0]
    hard = results[(results.measure == "human_grade") & (results.test_on == "hard")]
    for column, learner, train_on in [
        ("easy_acc", "icl", "easy"),
        ("hard_acc", "icl", "hard"),
        ("unsup_acc", "zero-shot", "none"),
    ]:
        expected = hard[(hard.learner == learner) & (hard.train_on == train_on)]["correct"].mean()
        assert row[column] == pytest.approx(expected)
    if row.defined:
        assert row.sgr == pytest.approx((row.easy_acc - row.unsup_acc) / (row.hard_acc - row.unsup_acc))
    else:
        assert row.gap_lo <= 0 and "does not beat" in row.reason


def test_zero_shot_matched_by_item_when_seeds_are_missing(tmp_path: Path):
    # Every seed tests all 20 hard items; zero-shot kept for seed 0 only → matched by item.
    run = write_fake_run(tmp_path / "r", n_items=20, n_test=20, test_on=("hard",))
    results = load_results(run)
    partial = results[(results.learner != "zero-shot") | (results.seed == 0)]
    table = sgr_table(partial, n_boot=N_BOOT)
    assert (table["unsup_alignment"] == "by item").all()
    full = sgr_table(results, n_boot=N_BOOT)
    np.testing.assert_allclose(table["unsup_acc"], full["unsup_acc"])  # zero-shot depends on the item only


def test_missing_baseline_gives_an_explained_row(fake_run: Path):
    results = load_results(fake_run)
    table = sgr_table(results[~results.baseline], n_boot=N_BOOT)
    assert not table["defined"].any() and (table["unsup_learner"] == "").all()
    assert table["reason"].str.match(r"no predictions of the unsupervised baseline for (\d+) of \1 hard").all()
    assert table["reason"].str.endswith("add `unsupervised` to the run's learners").all()


def _hard_mean(results: pd.DataFrame, learner: str) -> float:
    return results[(results.learner == learner) & (results.item_level == "hard")]["correct"].mean()


def test_sgr_is_against_the_runs_baseline_not_plain_zero_shot(cot_run: Path):
    results = load_results(cot_run)
    table = sgr_table(results, n_boot=N_BOOT)
    assert list(table["learner"]) == ["icl"] and list(table["unsup_learner"]) == ["zero-shot-cot"]
    cot, plain = _hard_mean(results, "zero-shot-cot"), _hard_mean(results, "zero-shot")
    assert cot < plain  # planted: 0.2 vs 0.5 of the items
    assert table["unsup_acc"].iloc[0] == pytest.approx(cot)
    assert (table["unsup_alignment"] == "paired by (item, seed)").all()
    for s, row in per_seed_table(results).set_index("seed").iterrows():
        assert row.unsup == pytest.approx(_hard_mean(results[results.seed == s], "zero-shot-cot"))
    acc = accuracy_table(results, n_boot=N_BOOT).set_index("learner")
    assert acc.loc["zero-shot-cot", "baseline"] and not acc.loc["zero-shot", "baseline"]  # a row of its own
    assert acc.loc["zero-shot", "acc"] == pytest.approx(plain)


def test_without_baseline_marks_sgr_is_against_zero_shot(tmp_path: Path):
    run = write_fake_run(tmp_path / "old", accuracy=COT_ACCURACY, baseline=None, test_on=("hard",))
    results = load_results(run)
    table = sgr_table(results, n_boot=N_BOOT)
    assert list(table["unsup_learner"]) == ["zero-shot"]
    assert table["unsup_acc"].iloc[0] == pytest.approx(_hard_mean(results, "zero-shot"))


def test_the_baseline_and_its_learner_unmarked_are_separate_rows(results: pd.DataFrame):
    # e.g. a zero-shot baseline with format cloze beside plain zero-shot: one learner name, two cells per seed
    plain = results[results.baseline].assign(cell_id=lambda d: d.cell_id + "-plain", baseline=False)
    both = pd.concat([results, plain], ignore_index=True)
    acc = accuracy_table(both, n_boot=N_BOOT)
    zero_shot = acc[acc.learner == "zero-shot"]
    assert zero_shot.groupby("baseline").size().to_dict() == {False: len(zero_shot) // 2, True: len(zero_shot) // 2}
    pd.testing.assert_frame_equal(sgr_table(both, n_boot=N_BOOT), sgr_table(results, n_boot=N_BOOT))


def test_misaligned_easy_and_hard_cells_leave_their_group_undefined(results: pd.DataFrame):
    cell = (results.learner == "icl") & (results.train_on == "hard") & (results.test_on == "hard")
    drop = results[cell & (results.measure == "human_grade") & (results.seed == 0)].index[:3]
    table = sgr_table(results.drop(index=drop), n_boot=N_BOOT)
    broken = (table.learner == "icl") & (table.test_on == "hard") & (table.measure == "human_grade")
    assert not table.loc[broken, "defined"].any()
    assert table.loc[broken, "reason"].str.contains("identical test items").all()
    pd.testing.assert_frame_equal(  # every other group as before
        table[~broken].reset_index(drop=True),
        sgr_table(results, n_boot=N_BOOT)[~broken].reset_index(drop=True),
        check_dtype=False,  # counts are floats in a table with an undefined row
    )


def test_duplicate_cells_under_one_key_raise(results: pd.DataFrame):
    cell = results[results.cell_id == results.cell_id.iloc[0]].assign(cell_id="twin")
    with pytest.raises(E2HError, match="differ in options the store does not record"):
        accuracy_table(pd.concat([results, cell]), n_boot=N_BOOT)


def test_write_table_round_trips(acc: pd.DataFrame, tmp_path: Path):
    csv, parquet = write_table(acc, tmp_path / "out", "accuracy")
    pd.testing.assert_frame_equal(pd.read_parquet(parquet), acc)
    assert len(pd.read_csv(csv)) == len(acc)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["accuracy.csv", "accuracy.parquet"]


def test_counts_say_what_they_count(results: pd.DataFrame, acc: pd.DataFrame):
    rows = acc[(acc["test_on"] == "hard")].set_index(["measure", "learner", "train_on"])
    hard = results[results["test_on"] == "hard"].groupby(["measure", "learner", "train_on"])
    assert (rows["n_results"].sort_index() == hard.size().sort_index()).all()  # item × seed results
    assert (rows["n_items"] < rows["n_results"]).all() and (acc["ci"] == "grid").all()


def test_sgr_table_has_paired_differences_with_two_sided_p(results: pd.DataFrame):
    table = sgr_table(results, n_boot=N_BOOT)
    np.testing.assert_allclose(table["easy_hard_diff"], table["easy_acc"] - table["hard_acc"])
    np.testing.assert_allclose(table["easy_unsup_diff"], table["easy_acc"] - table["unsup_acc"])
    for name in ("easy_hard", "easy_unsup"):
        assert (table[f"{name}_lo"] <= table[f"{name}_diff"]).all() and (
            table[f"{name}_diff"] <= table[f"{name}_hi"]
        ).all()
        assert table[f"{name}_p"].between(0, 1).all()
    assert (table.loc[table["learner"] == "icl", "easy_unsup_diff"] > 0).all()  # zero-shot 0.35 vs ICL 0.60
    assert set(table["ci"]) == {"grid"} and set(table["pairing"]) == {"paired"}


def test_sgr_table_takes_the_interval_method(results: pd.DataFrame):
    grid = sgr_table(results, n_boot=N_BOOT)
    seed_t = sgr_table(results, n_boot=N_BOOT, ci="seed-t")
    np.testing.assert_allclose(seed_t["easy_acc"], grid["easy_acc"])  # the same point estimates
    assert not np.allclose(seed_t["easy_lo"], grid["easy_lo"]) and set(seed_t["ci"]) == {"seed-t"}
    for pairing in ("paper", "unpaired"):
        other = sgr_table(results, n_boot=N_BOOT, pairing=pairing)
        assert set(other["pairing"]) == {pairing}
        np.testing.assert_allclose(other["easy_hard_diff"], grid["easy_hard_diff"])  # the same point estimates
        assert not np.allclose(other["easy_hard_lo"], grid["easy_hard_lo"])


def test_per_seed_table_equals_each_seeds_means(results: pd.DataFrame):
    table = per_seed_table(results)
    assert len(table) == 8 * 3  # the 8 SGR groups × 3 seeds
    row = table[(table.learner == "icl") & (table.measure == "human_grade") & (table.test_on == "hard")]
    hard = results[(results.measure == "human_grade") & (results.test_on == "hard")]
    for s, r in row.set_index("seed").iterrows():
        of_seed = hard[hard.seed == s]
        for column, learner, train_on in [
            ("easy", "icl", "easy"),
            ("hard", "icl", "hard"),
            ("unsup", "zero-shot", "none"),
        ]:
            expected = of_seed[(of_seed.learner == learner) & (of_seed.train_on == train_on)]["correct"].mean()
            assert r[column] == pytest.approx(expected)
        assert r.easy_minus_hard == pytest.approx(r.easy - r.hard)
        assert r.n_items == len(of_seed[of_seed.learner == "zero-shot"])


def test_generalization_gap_finds_the_planted_level_effect(tmp_path: Path):
    # test_on=all cells: easy items +0.15, hard items −0.10 (fake_runs.LEVEL_SHIFT): the gap of easy-trained
    # cells (easy items − all items) is positive, that of hard-trained cells negative.
    run = write_fake_run(tmp_path / "gap", n_items=100, n_test=240, test_on=("all",))
    results = load_results(run)
    table = generalization_table(results, n_boot=N_BOOT).set_index(["learner", "train_on"])
    assert len(table) == 6  # icl and linear-probe, each trained on easy, medium and hard
    easy, hard = table.loc[("icl", "easy")], table.loc[("icl", "hard")]
    cells = results[(results.learner == "icl") & (results.train_on == "easy")]
    assert easy.gap == pytest.approx(cells[cells.item_level == "easy"]["correct"].mean() - cells["correct"].mean())
    assert easy.gap_lo > 0 and easy.p_value < 0.05 and hard.gap_hi < 0 and hard.p_value < 0.05
    assert easy.n_results == len(cells) and easy.n_level_results == (cells.item_level == "easy").sum()


def _fail(results: pd.DataFrame, **cell: object) -> pd.DataFrame:
    """``results`` without the rows of the cells matching ``cell`` (as if they had failed)."""
    match = np.logical_and.reduce([results[k] == v for k, v in cell.items()])
    return results[~match]


def test_a_failed_seed_leaves_only_that_seed_out_of_its_groups(results: pd.DataFrame):
    partial = _fail(results, learner="icl", train_on="easy", test_on="hard", measure="human_grade", seed=2)
    table = sgr_table(partial, n_boot=N_BOOT)
    full = sgr_table(results, n_boot=N_BOOT)
    hit = (table.learner == "icl") & (table.test_on == "hard") & (table.measure == "human_grade")
    row = table[hit].iloc[0]
    assert row.n_seeds == 2 and row.note == "seed 2 (no easy results)"
    kept = results[(results.measure == "human_grade") & (results.test_on == "hard") & (results.seed < 2)]
    assert row.hard_acc == pytest.approx(kept[(kept.learner == "icl") & (kept.train_on == "hard")]["correct"].mean())
    assert row.unsup_acc == pytest.approx(kept[kept.learner == "zero-shot"]["correct"].mean())
    assert (table.loc[~hit, "note"] == "").all() and (table.loc[~hit, "n_seeds"] == 3).all()
    np.testing.assert_allclose(table.loc[~hit, "easy_acc"], full.loc[~hit, "easy_acc"])
    per_seed = per_seed_table(partial)
    assert len(per_seed) == 8 * 3 - 1  # the group without seed 2 has two rows


def test_a_failed_baseline_seed_is_matched_by_item_or_left_out(tmp_path: Path):
    run = write_fake_run(tmp_path / "r", n_items=20, n_test=20, test_on=("hard",))
    results = load_results(run)
    by_item = sgr_table(_fail(results, learner="zero-shot", seed=2), n_boot=N_BOOT)
    assert (by_item["unsup_alignment"] == "by item").all() and (by_item["n_seeds"] == 3).all()
    # The baseline answers one item differently in seeds 0 and 1: by item is impossible, seed 2 is left out.
    first = results[(results.learner == "zero-shot") & (results.seed == 1)].index[0]
    flipped = results.copy()
    flipped.loc[first, "correct"] = not flipped.loc[first, "correct"]
    table = sgr_table(_fail(flipped, learner="zero-shot", seed=2), n_boot=N_BOOT)
    assert (table["unsup_alignment"] == "paired by (item, seed)").all() and (table["n_seeds"] == 2).all()
    assert (table["note"] == "seed 2 (no unsupervised baseline results)").all()


def test_a_baseline_that_answers_an_item_differently_in_two_cells_says_so(tmp_path: Path):
    # The baseline ran only on all levels; the hard groups match it by item, which needs one answer per item.
    run = write_fake_run(tmp_path / "r", n_items=20, n_test=60, test_on=("hard", "all"))
    results = load_results(run)
    results = results[(results.learner != "zero-shot") | (results.test_on == "all")]
    hard = sgr_table(results, n_boot=N_BOOT).query("test_on == 'hard'")
    assert (hard["unsup_alignment"] == "by item").all()
    rows = results[(results.learner == "zero-shot") & (results.item_id == "item-hard-003")]
    flipped = results.copy()
    flipped.loc[rows.index[0], "correct"] = not rows["correct"].iloc[0]
    table = sgr_table(flipped, n_boot=N_BOOT)
    hard = table[table.test_on == "hard"]
    assert not hard["defined"].any()
    reason = hard["reason"].iloc[0]
    assert reason.startswith("the unsupervised baseline answers 1 of 20 hard test items differently in different ")
    assert "item-hard-003: right in cell" in reason and ", wrong in cell" in reason
    assert rows["cell_id"].iloc[0] in reason and rows["cell_id"].iloc[1] in reason
    assert table[table.test_on == "all"]["easy_acc"].notna().all()  # the groups tested on all are computed


def test_with_three_seeds_or_fewer_seed_t_sits_beside_the_bootstrap(results: pd.DataFrame, tmp_path: Path):
    table = sgr_table(results, n_boot=N_BOOT)
    per_seed = per_seed_table(results)
    row = table[(table.learner == "icl") & (table.measure == "human_grade") & (table.test_on == "hard")].iloc[0]
    diffs = per_seed[(per_seed.learner == "icl") & (per_seed.measure == "human_grade") & (per_seed.test_on == "hard")]
    half = stats.t.ppf(0.975, 2) * diffs["easy_minus_hard"].std(ddof=1) / np.sqrt(3)
    assert row.easy_hard_seed_t_lo == pytest.approx(row.easy_hard_diff - half)
    assert row.easy_hard_seed_t_hi == pytest.approx(row.easy_hard_diff + half)
    assert table["easy_hard_seed_t_p"].between(0, 1).all()
    assert sgr_table(results, n_boot=N_BOOT, ci="seed-t")["easy_hard_seed_t_lo"].isna().all()
    four = load_results(write_fake_run(tmp_path / "four", n_items=20, n_test=10, seeds=(0, 1, 2, 3)))
    assert sgr_table(four, n_boot=N_BOOT)["easy_hard_seed_t_lo"].isna().all()


def test_seeds_that_agree_exactly_get_no_t_interval_beside_the_bootstrap(results: pd.DataFrame):
    from e2h.analysis.display import sgr_display

    table = sgr_table(results, n_boot=N_BOOT).iloc[:1].copy()
    table[["easy_hard_seed_t_lo", "easy_hard_seed_t_hi"]] = table["easy_hard_diff"].iloc[0]  # zero spread
    cell = sgr_display(table)["Easy − Hard, t-interval over seeds, two-sided p"].iloc[0]
    assert cell == f"{table['easy_hard_diff'].iloc[0]:.3f} in every seed: no spread to base an interval on"


def test_nested_is_refused_for_seeds_that_share_test_items(results: pd.DataFrame, tmp_path: Path):
    for table in (accuracy_table, sgr_table, generalization_table):
        with pytest.raises(
            E2HError,
            match=r"^synthetic, human_grade, test_on hard: the nested bootstrap assumes each seed tests its own items, "
            r"but 9\d% ",
        ) as info:
            table(results, n_boot=N_BOOT, ci="nested")
        assert "\n" not in str(info.value)
    own = load_results(write_fake_run(tmp_path / "own", n_items=60, n_test=10, test_on=("hard",)))
    assert set(sgr_table(own, n_boot=N_BOOT, ci="nested")["ci"]) == {"nested"}


def _transfer_results() -> pd.DataFrame:
    """College test items (10 per seed, 2 seeds) answered after training on college MMLU or on ARC grades."""
    rng = np.random.default_rng(3)
    rows = []
    conditions = (("mmlu", "hard", 0.6), ("arc", "easy", 0.5), ("arc", "hard", 0.3), ("mmlu", "none", 0.2))
    for source, train_on, p in conditions:
        for seed in (0, 1):
            for item in range(10):
                rows.append(
                    {"model": "m", "dataset": "mmlu", "train_dataset": source if train_on != "none" else "mmlu",
                     "measure": "human_level", "learner": "icl" if train_on != "none" else "zero-shot", "k": 0,
                     "n_train": 10 if train_on != "none" else 0, "label_noise": 0.0, "test_on": "hard",
                     "item_level": "hard", "train_on": train_on, "baseline": train_on == "none",
                     "item_id": f"q{item}", "seed": seed, "correct": float(rng.random() < p),
                     "cell_id": f"{source}-{train_on}-{seed}"}
                )  # fmt: skip
    return pd.DataFrame(rows)


def test_training_on_another_dataset_is_compared_with_hard_training_on_the_same_items():
    from e2h.analysis.tables import transfer_table

    results = _transfer_results()
    table = transfer_table(results, n_boot=N_BOOT).set_index(["source", "train_on"])
    assert sorted(table.index) == [("arc", "easy"), ("arc", "hard")]
    own = results[(results.train_dataset == "mmlu") & (results.train_on == "hard")]["correct"].mean()
    for train_on in ("easy", "hard"):
        other = results[(results.train_dataset == "arc") & (results.train_on == train_on)]["correct"].mean()
        row = table.loc[("arc", train_on)]
        assert row["diff"] == pytest.approx(other - own) and row.hard_acc == pytest.approx(own)
        assert row.diff_lo <= row["diff"] <= row.diff_hi and (row.n_items, row.n_seeds, row.n_results) == (10, 2, 20)
    assert transfer_table(results[results.train_dataset == "mmlu"], n_boot=N_BOOT).empty


def test_a_random_split_tested_on_all_is_one_accuracy_per_cell_group():
    """Items of a random split have no level (item_level "all"): nothing is counted twice."""
    results = _transfer_results().assign(measure="random", test_on="all", item_level="all", n_choices=4)
    table = accuracy_table(results, n_boot=N_BOOT)
    assert set(table["item_level"]) == {"all"} and len(table) == 4
    mmlu_hard = table[(table.train_dataset == "mmlu") & (table.train_on == "hard")].iloc[0]
    assert mmlu_hard.n_results == 20
