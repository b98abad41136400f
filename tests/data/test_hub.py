"""The hub path, offline: record mappers on handcrafted records and a fake ``datasets`` module."""

import sys
from types import SimpleNamespace

import pytest

from e2h.data import arc, gsm8k, hub, load_dataset, mmlu, strategyqa
from e2h.data.catalog import builtin_facts, finish_items
from e2h.errors import E2HError

ARC_RECORD = {
    "id": "Mercury_SC_400001",
    "question": "Which is a solid?",
    "choices": {"text": ["water", "ice", "steam", "air", "fog"], "label": ["A", "B", "C", "D", "E"]},
    "answerKey": "B",
}
MMLU_RECORD = {
    "question": "Unit of force?",
    "subject": "high_school_physics",
    "choices": ["N", "J", "W", "Pa"],
    "answer": 0,
}
GSM8K_RECORD = {"question": "1+1?", "answer": "One and one is <<1+1=2>>2.\n#### 2"}
STRATEGYQA_RECORD = {
    "qid": "a1b2",
    "term": "Pear",
    "description": "a fruit",
    "question": "Would a pear sink in water?",
    "answer": False,
    "facts": ["A pear is less dense than water. ", "Less dense objects float."],
    "decomposition": ["What is the density of a pear?", "What is the density of water?", "Is #1 greater than #2?"],
}


def fake_datasets(records: dict) -> SimpleNamespace:
    """A stand-in for the ``datasets`` module: ``load_dataset(repo, config, split=…)`` from a dict."""
    calls = []

    def load_dataset(repo, config, split, **kwargs):
        calls.append((repo, config, split, kwargs))
        return list(records.get((repo, config, split), []))

    return SimpleNamespace(load_dataset=load_dataset, calls=calls)


def test_arc_hub_record_maps_like_the_local_validation_set():
    item = arc.item_from_hf_record(ARC_RECORD, "challenge", "train")
    assert item["id"] == "arc/Mercury_SC_400001" and item["label"] == 1 and len(item["choices"]) == 5
    assert item["source_split"] == "train" and item["arc_challenge"] == 1.0


def test_mmlu_hub_record():
    item = mmlu.item_from_record(MMLU_RECORD, "high_school_physics", "test", 0)
    assert (item["id"], item["label"], item["human_level"], item["subject"]) == (
        "mmlu/high_school_physics/test/0",
        0,
        0.0,
        "physics",
    )


def test_gsm8k_hub_record():
    item = gsm8k.item_from_record(GSM8K_RECORD, "train", 3)
    assert item["reasoning"] == "One and one is 2." and item["choices"] == ["2"] and item["num_steps"] == 1.0


def test_strategyqa_hub_record_uses_decompositions_for_steps():
    item = strategyqa.item_from_hub(STRATEGYQA_RECORD)
    assert item["id"] == "strategyqa/a1b2" and item["label"] == 1 and item["choices"] == ["yes", "no"]
    assert item["reasoning"] == "A pear is less dense than water. Less dense objects float."
    assert item["num_steps"] == 3.0


def test_hub_loaders_fetch_the_documented_repositories(monkeypatch):
    fake = fake_datasets(
        {
            ("allenai/ai2_arc", "ARC-Challenge", "test"): [ARC_RECORD],
            ("openai/gsm8k", "main", "train"): [GSM8K_RECORD, GSM8K_RECORD],
            ("openai/gsm8k", "main", "test"): [GSM8K_RECORD],
            ("cais/mmlu", "high_school_physics", "validation"): [MMLU_RECORD],
            ("wics/strategy-qa", "strategyQA", "test"): [STRATEGYQA_RECORD],
        }
    )
    monkeypatch.setattr(hub, "_datasets", lambda: fake)
    arc_items = finish_items(
        hub.load_arc(None), "arc", ["human_grade", "arc_challenge"], "hub arc", facts=builtin_facts("arc")
    )
    assert arc_items["id"].tolist() == ["arc/Mercury_SC_400001"] and arc_items["human_grade"].isna().all()
    gsm = finish_items(hub.load_gsm8k(), "gsm8k", ["num_steps"], "hub gsm8k", facts=builtin_facts("gsm8k"))
    assert gsm["id"].tolist() == ["gsm8k/train/0", "gsm8k/train/1", "gsm8k/test/0"]
    assert set(arc_items["answer_kind"]) == {"choice"} and set(gsm["answer_kind"]) == {"number"}
    assert hub.load_mmlu()["id"].tolist() == ["mmlu/high_school_physics/validation/0"]
    assert hub.load_strategyqa()["num_steps"].tolist() == [3.0]
    assert ("wics/strategy-qa", "strategyQA", "test", {"revision": "refs/convert/parquet"}) in fake.calls
    assert len([c for c in fake.calls if c[0] == "cais/mmlu"]) == 20  # 10 subjects x (validation, test)


def test_hub_failure_is_one_line(monkeypatch):
    def load_dataset(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'openai/gsm8k' on the Hub\nmore detail")

    monkeypatch.setattr(hub, "_datasets", lambda: SimpleNamespace(load_dataset=load_dataset))
    with pytest.raises(E2HError, match=r"cannot load openai/gsm8k .*Couldn't reach") as info:
        hub.load_gsm8k()
    assert "\n" not in str(info.value) and "source='local'" in str(info.value)


def test_missing_datasets_package_gives_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail
    with pytest.raises(E2HError, match=r"pip install 'e2h\[hub\]'"):
        load_dataset("gsm8k", source="hub")
