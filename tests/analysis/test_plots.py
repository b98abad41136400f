"""Figure helpers: labelling cost, model sizes, the main setting of curves; figures skipped without their axis."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from e2h.analysis.plots import learner_panels, main_setting, supervision, supervision_name
from e2h.analysis.plots_curves import (
    _size_sgr,
    label_cost,
    model_parameters,
    plot_cost_curves,
    plot_model_size,
    plot_noise_curves,
)
from e2h.analysis.plots_items import load_item_tables, manifest_cutoffs, plot_hardness_values, plot_spearman
from e2h.analysis.results import load_manifest, load_results
from e2h.analysis.tables import accuracy_table, sgr_table

from fake_runs import write_fake_run


@pytest.fixture(scope="module")
def curves_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model, three n_train, two noise levels, an items file; tested on hard only."""
    return write_fake_run(
        tmp_path_factory.mktemp("runs") / "curves",
        n_train=(8, 16, 32),
        label_noise=(0.0, 0.3),
        test_on=("hard",),
        write_items=True,
        seeds=(0, 1),
        n_items=20,
        n_test=20,
        accuracy={"zero-shot": {"none": 0.35}, "icl": {"easy": 0.6, "hard": 0.65}},
    )


@pytest.fixture(scope="module")
def acc(curves_run: Path) -> pd.DataFrame:
    return accuracy_table(load_results(curves_run), n_boot=100)


def test_hard_labels_cost_twice_as_much_by_default():
    assert (label_cost("easy"), label_cost("hard"), label_cost("medium"), label_cost("all")) == (1.0, 2.0, 1.5, 1.5)
    assert label_cost("hard", hard_cost=3.0) == 3.0


def test_model_sizes_are_the_counts_the_manifest_records_for_any_model(tmp_path: Path):
    sizes = {"tiny-random": 35_168, "org/hub-model": 7_000_000_000, "/models/my-local": 1_234_567}
    run = write_fake_run(tmp_path / "sizes", models=sizes, seeds=(0,), n_items=4, n_test=4, test_on=("hard",))
    manifest = load_manifest(run)
    assert model_parameters(manifest, [*sizes, "never-loaded"]) == sizes
    del manifest["models"]  # a run of an older e2h: no measured sizes, no size axis
    assert model_parameters(manifest, list(sizes)) == {}


def test_curves_hold_the_other_settings_at_their_main_value(acc: pd.DataFrame):
    rows, held = main_setting(acc, vary=("n_train",))
    supervised = rows[rows["learner"] != "zero-shot"]
    assert held and set(supervised["label_noise"]) == {0.0} and set(supervised["n_train"]) == {8, 16, 32}
    assert (rows["learner"] == "zero-shot").sum() == (acc["learner"] == "zero-shot").sum()
    rows, _ = main_setting(acc)
    assert set(rows.loc[rows["learner"] != "zero-shot", "n_train"]) == {32}


def test_other_unsupervised_learners_are_panels_of_their_own_but_never_the_baseline(cot_run: Path):
    acc = accuracy_table(load_results(cot_run), n_boot=100)
    labels = dict(zip(acc["learner"] + " " + acc["train_on"], supervision(acc), strict=True))
    expected = {"zero-shot-cot none": "Unsupervised", "zero-shot none": "zero-shot"}  # the other: by its name
    assert labels == {**expected, "icl easy": "Easy", "icl hard": "Hard"}
    assert supervision_name("Unsupervised", acc) == "Unsupervised (zero-shot-cot)"
    unsup, panels = learner_panels(acc)
    assert set(unsup["learner"]) == {"zero-shot-cot"} and list(dict.fromkeys(panels["panel"])) == ["icl", "zero-shot"]
    _, curves = learner_panels(acc, others=False)  # curves and heatmaps: training levels against the baseline
    assert set(curves["panel"]) == {"icl"}
    alone, panels = learner_panels(acc[acc["baseline"]])
    assert alone.empty and set(panels["learner"]) == {"zero-shot-cot"}  # nothing else: the baseline is the panel


def test_cost_and_noise_curves_are_drawn_only_with_their_axis(acc: pd.DataFrame, tmp_path: Path):
    cost, noise = plot_cost_curves(acc, tmp_path), plot_noise_curves(acc, tmp_path)
    assert [p.path.name for p in cost] == ["cost_tiny-random_items.csv_human_grade_hard.png"]
    assert [p.path.name for p in noise] == ["noise_tiny-random_items.csv_human_grade_hard.png"]
    with Image.open(cost[0].path) as image:
        assert image.info["dpi"] == pytest.approx((150, 150), abs=0.1)
    one_n = acc[acc["n_train"].isin([0, 16])]
    assert plot_cost_curves(one_n, tmp_path) == [] and plot_noise_curves(acc[acc["label_noise"] == 0], tmp_path) == []
    assert plot_model_size(acc, tmp_path, {"tiny-random": 35_168}) == []  # one model


def test_model_size_figure_draws_each_models_sgr_under_its_accuracy(tmp_path: Path):
    run = write_fake_run(
        tmp_path / "sizes",
        models=("small", "large"),
        n_train=(8, 16),
        seeds=(0, 1),
        n_items=30,
        n_test=30,
        test_on=("hard",),
        accuracy={"zero-shot": {"none": 0.35}, "icl": {"easy": 0.6, "hard": 0.65}},
    )
    results = load_results(run)
    acc, sgr = accuracy_table(results, n_boot=100), sgr_table(results, n_boot=100)
    sizes = model_parameters(load_manifest(run), ["small", "large"])
    gaps = _size_sgr(sgr, sizes, "synthetic", "human_grade", "hard")
    assert sorted(gaps["params"]) == sorted(sizes.values()) and set(gaps["n_train"]) == {16}  # the main setting
    assert _size_sgr(sgr, sizes, "synthetic", "human_grade", "all") is None  # no SGR rows for that test set
    (alone,) = plot_model_size(acc, tmp_path / "accuracy", sizes)
    (both,) = plot_model_size(acc, tmp_path / "with_sgr", sizes, sgr)
    assert "SGR" not in alone.caption and "Below: SGR" in both.caption
    with Image.open(alone.path) as one_row, Image.open(both.path) as two_rows:
        assert two_rows.height > 1.5 * one_row.height  # a row of SGR panels under the accuracy panels


def test_hardness_values_need_the_items_measure(curves_run: Path, tmp_path: Path):
    results = load_results(curves_run)
    items, notes = load_item_tables(sorted(results["dataset"].unique()))
    assert notes == [] and len(items) == 1
    assert [p.path.name for p in plot_hardness_values(results, items, tmp_path)] == [
        "value_tiny-random_items.csv_human_grade.png"
    ]
    (name,) = items
    without = {name: items[name].drop(columns=["human_grade"])}
    assert plot_hardness_values(results, without, tmp_path) == []
    assert plot_spearman(items, tmp_path) == []  # one measure that varies: nothing to correlate


def test_unavailable_item_tables_are_notes(tmp_path: Path):
    items, notes = load_item_tables(["no-such-dataset", str(tmp_path / "missing.csv")])
    assert items == {} and len(notes) == 2
    assert notes[0].startswith("No item-level figures for no-such-dataset: its item table did not load (")
    assert "\n" not in notes[0]


def test_cutoff_overrides_are_read_from_the_manifest(curves_run: Path):
    manifest = load_manifest(curves_run)
    assert manifest_cutoffs(manifest) == {}
    manifest["cells"][0]["cutoffs"] = [2, 7]
    cell = manifest["cells"][0]
    assert manifest_cutoffs(manifest) == {(cell["dataset"], cell["measure"]): (2, 7)}
