import json
from collections import Counter

import pytest

from e2h.data import gsm8k, load_dataset
from e2h.errors import E2HError

SOLUTION = "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 eggs.\nShe makes 9 * 2 = $<<9*2=18>>18.\n#### 18"


def test_split_solution_strips_calculator_annotations_and_joins_the_lines():
    reasoning, final, steps = gsm8k.split_solution(SOLUTION, "x")
    assert reasoning == "Janet sells 16 - 3 - 4 = 9 eggs. She makes 9 * 2 = $18."
    assert (final, steps) == ("18", 2)


def test_steps_are_capped_at_ten():
    solution = "\n".join(f"step {i}" for i in range(14)) + "\n#### 1,200"
    reasoning, final, steps = gsm8k.split_solution(solution, "x", verbatim=True)
    assert steps == 10 and final == "1,200" and reasoning.count("\n") == 13
    assert gsm8k.split_solution(solution, "x") == (" ".join(f"step {i}" for i in range(14)), "1,200", 10)


@pytest.mark.parametrize(
    ("solution", "message"), [("no marker 5", "0 '####'"), ("a #### 1 #### 2", "2 '####'"), ("a\n#### ", "empty")]
)
def test_malformed_solutions_raise(solution, message):
    with pytest.raises(E2HError, match=message):
        gsm8k.split_solution(solution, "GSM8k item 3")


def test_record_is_a_generative_item():
    item = gsm8k.item_from_record({"question": "How much?", "answer": SOLUTION}, "train", 5)
    assert item["id"] == "gsm8k/train/5" and item["choices"] == ["18"] and item["label"] == 0
    assert item["num_steps"] == 2.0 and item["source_split"] == "train"


def test_request_with_a_different_short_answer_raises():
    doc = {"id": 0, "question": "q", "answer": SOLUTION, "short_answer": "19"}
    line = json.dumps({"doc": doc, "doc_id": 0, "label": "19"})
    with pytest.raises(E2HError, match=r"differs from doc\.short_answer '19'"):
        gsm8k.items_from_requests([line], "gsm8k requests")


@pytest.mark.integration
def test_gsm8k_test_set_steps():
    items = load_dataset("gsm8k")
    assert len(items) == 1319 and items["id"].is_unique
    assert Counter(items["num_steps"].astype(int)) == {2: 326, 3: 370, 4: 298, 5: 174, 6: 88, 7: 40, 8: 20, 9: 2, 10: 1}
    assert not items["reasoning"].str.contains("<<").any() and not items["reasoning"].str.contains("\n").any()
    assert (items["choices"].map(len) == 1).all() and (items["label"] == 0).all()
    assert items["reasoning_num_words"].notna().all()


def test_the_verbatim_variant_keeps_the_calculator_notes():
    reasoning, final, steps = gsm8k.split_solution(SOLUTION, "x", verbatim=True)
    assert reasoning == "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 eggs.\nShe makes 9 * 2 = $<<9*2=18>>18."
    assert (final, steps) == ("18", 2)
    item = gsm8k.item_from_record({"question": "How much?", "answer": SOLUTION}, "test", 1, verbatim=True)
    assert "<<9*2=18>>" in item["reasoning"] and item["num_steps"] == 2.0


@pytest.mark.integration
def test_the_verbatim_variant_of_the_test_set():
    """Same items, ids and steps; only the reasoning text keeps its calculator notes."""
    plain, verbatim = load_dataset("gsm8k"), load_dataset("gsm8k", variant="verbatim")
    assert list(plain["id"]) == list(verbatim["id"]) and list(plain["num_steps"]) == list(verbatim["num_steps"])
    assert verbatim["reasoning"].str.contains("<<").sum() > 1000 and not plain["reasoning"].str.contains("<<").any()
    assert (verbatim["reasoning"].str.count("\n") + 1 >= verbatim["num_steps"]).all()  # one step per line
    assert (plain["reasoning_num_words"] == verbatim["reasoning_num_words"]).mean() > 0.9
