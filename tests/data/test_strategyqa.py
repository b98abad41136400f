import json
from collections import Counter

import pytest

from e2h.data import load_dataset, strategyqa
from e2h.errors import E2HError

EXAMPLE = {
    "input": "Would a pear sink in water?",
    "target_scores": {"Yes": 0, "No": 1},
    "target": "No. The density of a pear is about 0.59 g/cm^3. Water is denser. Objects sink only if denser.",
}


def test_bigbench_example_maps_to_yes_no_item():
    item = strategyqa.item_from_bigbench(EXAMPLE, 12)
    assert item["id"] == "strategyqa/12" and item["choices"] == ["yes", "no"] and item["label"] == 1
    assert item["reasoning"] == EXAMPLE["target"][4:]
    assert item["num_steps"] == 3.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"target_scores": {"Yes": 1, "No": 1}}, "exactly one"),
        ({"target": "Yes. Pears float."}, "does not start with 'No. '"),
        ({"target": "No."}, "followed by facts"),
    ],
)
def test_inconsistent_example_raises(change, message):
    with pytest.raises(E2HError, match=message):
        strategyqa.item_from_bigbench({**EXAMPLE, **change}, 4)


def test_unreadable_file_names_the_fix(tmp_path):
    bad = tmp_path / "task.json"
    bad.write_text(json.dumps({"no_examples": []}))
    with pytest.raises(E2HError, match="E2H_STRATEGYQA"):
        strategyqa.load_local(bad)


@pytest.mark.integration
def test_strategyqa_counts(strategyqa_file):
    items = load_dataset("strategyqa")
    assert len(items) == 2290 and items["id"].is_unique
    assert Counter(items["choices"].map(lambda c: c[0])) == {"yes": 2290}
    assert Counter(items["label"]) == {0: 1071, 1: 1219}
    assert items["num_steps"].between(1, 8).all() and items["num_steps"].median() == 2
    assert (items["reasoning"].str.len() > 0).all()
