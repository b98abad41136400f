"""Prompt formats (exact strings on handwritten items) and answer extraction on handwritten generations."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from e2h.answering import EXTRACTION_RULES, PROMPT_FORMATS
from e2h.data import save_items
from e2h.errors import E2HError
from e2h.models import templates
from e2h.models.templates import (
    FORMATS,
    answer_kind,
    answers_equal,
    build_request,
    cot_prompt,
    cot_target,
    extract_answer,
    format_demos,
    match_choice,
    uncond_request,
)

ICE = {
    "id": "t/1",
    "dataset": "arc",
    "question": "What melts ice?",
    "choices": ["heat", "cold", "dark"],
    "label": 0,
    "reasoning": "Heat raises the temperature.\nIce melts above 0 C.",
}
SUM = {"id": "t/2", "dataset": "gsm8k", "question": "What is 2+3?", "choices": ["5"], "label": 0, "reasoning": "2+3=5"}


def test_registry_lists_the_five_formats() -> None:
    assert FORMATS.names() == ["cloze", "cot", "letters", "listed", "qa"]
    with pytest.raises(E2HError, match="did you mean 'listed'"):
        FORMATS.get("listd")


@pytest.mark.parametrize(
    ("fmt", "context", "continuations"),
    [
        ("cloze", "Question: What melts ice?\nAnswer:", (" heat", " cold", " dark")),
        ("listed", "Question: What melts ice?\nA) heat\nB) cold\nC) dark\nAnswer:", (" heat", " cold", " dark")),
        ("letters", "Question: What melts ice?\nA) heat\nB) cold\nC) dark\nAnswer:", (" A", " B", " C")),
        ("qa", "Q: What melts ice?\nA:", (" heat", " cold", " dark")),
        (
            "cot",
            "Q: What melts ice?\nA:",
            tuple(
                f" Heat raises the temperature.\nIce melts above 0 C. So the answer is {c}."
                for c in ("heat", "cold", "dark")
            ),
        ),
    ],
)
def test_every_format_on_a_handwritten_item(fmt: str, context: str, continuations: tuple[str, ...]) -> None:
    request = build_request(ICE, fmt)
    assert request.context == context
    assert request.continuations == continuations
    assert request.prefix == ""


def test_demos_are_context_plus_gold_and_end_with_a_blank_line() -> None:
    second = {**ICE, "id": "t/3", "question": "What freezes water?", "label": 1}
    demos = format_demos([ICE, second], "cloze")
    assert demos == "Question: What melts ice?\nAnswer: heat\n\nQuestion: What freezes water?\nAnswer: cold\n\n"
    assert format_demos([], "cloze") == ""
    request = build_request(SUM, "qa", demos)
    assert request.prefix == demos
    assert build_request(SUM, "qa", demos.rstrip("\n")).prefix == demos  # separator added when missing
    assert request.context == "Q: What is 2+3?\nA:"
    assert request.continuations == (" 5",)


def test_letters_demo_uses_the_gold_letter() -> None:
    assert format_demos([{**ICE, "label": 2}], "letters").endswith("Answer: C\n\n")


def test_cot_prompt_and_target() -> None:
    assert cot_target(SUM) == "2+3=5 So the answer is 5."
    assert cot_target({**SUM, "reasoning": ""}) == "So the answer is 5."
    demos = format_demos([SUM], "cot")
    assert demos == "Q: What is 2+3?\nA: 2+3=5 So the answer is 5.\n\n"
    assert cot_prompt(ICE, demos) == demos + "Q: What melts ice?\nA:"
    assert cot_prompt(ICE) == "Q: What melts ice?\nA:"


def _cot_target_before(item) -> str:
    """``cot_target`` as it was before line breaks reached prompts: every whitespace run one space."""
    reasoning = " ".join(str(item.get("reasoning") or "").split())
    return f"{reasoning} So the answer is {item['choices'][int(item['label'])]}.".lstrip()


def test_cot_target_tidies_each_line_and_keeps_the_line_breaks() -> None:
    messy = {**SUM, "reasoning": "  2 +\t 3 = 5 \n\n\r\nand  5\u00a0is odd.\n"}
    assert cot_target(messy) == "2 + 3 = 5\nand 5 is odd. So the answer is 5."  # no blank line: it ends a demo
    one_line = {**SUM, "reasoning": " 2 +  3\t=\r5\u2028ok\x0c "}  # other whitespace, line separators included
    assert cot_target(one_line) == _cot_target_before(one_line) == "2 + 3 = 5 ok So the answer is 5."


def test_a_verbatim_gsm8k_demo_keeps_its_lines_and_notes_and_the_default_is_unchanged() -> None:
    from e2h.data import gsm8k

    record = {
        "question": "How many?",
        "answer": "Ann has 3 + 4 = <<3+4=7>>7.\nShe gives 2: 7 - 2 = <<7-2=5>>5.\n#### 5",
    }
    verbatim = gsm8k.item_from_record(record, "test", 0, verbatim=True)
    default = gsm8k.item_from_record(record, "test", 0)
    assert format_demos([verbatim], "cot") == (
        "Q: How many?\nA: Ann has 3 + 4 = <<3+4=7>>7.\nShe gives 2: 7 - 2 = <<7-2=5>>5. So the answer is 5.\n\n"
    )
    today = {**default, "reasoning": "Ann has 3 + 4 = 7.\nShe gives 2: 7 - 2 = 5."}  # the default item as it was
    assert format_demos([default], "cot") == "Q: How many?\nA: " + _cot_target_before(today) + "\n\n"
    assert cot_target(default) == "Ann has 3 + 4 = 7. She gives 2: 7 - 2 = 5. So the answer is 5."


def test_user_files_and_hub_strategyqa_give_the_cot_targets_of_before(tmp_path) -> None:
    from e2h.data import load_dataset, strategyqa

    raw = ["Step one.\nStep  two.", "  One\tline ", "Windows\r\nlines\r\n", ""]
    frame = pd.DataFrame(
        {"question": [f"q{i}" for i in range(4)], "choices": [["4"]] * 4, "label": 0, "reasoning": raw}
    )
    for path in (tmp_path / "mine.jsonl", tmp_path / "mine.csv"):
        save_items(frame, path)
        items = load_dataset(path)
        assert [cot_target(row) for _, row in items.iterrows()] == [
            _cot_target_before({"choices": ["4"], "label": 0, "reasoning": text}) for text in raw
        ]
    record = {
        "qid": "x",
        "question": "Q?",
        "answer": True,
        "facts": ["A fact\nover two lines.", "Another."],
        "decomposition": [],
    }
    item = strategyqa.item_from_hub(record)
    assert cot_target(item) == _cot_target_before({**item, "reasoning": "A fact\nover two lines. Another."})


@pytest.mark.shared_data("bigbench-strategyqa-task.json")
def test_strategyqa_cot_targets_are_as_before(strategyqa_file) -> None:
    from e2h.data import load_dataset

    examples = json.loads(strategyqa_file.read_text(encoding="utf-8"))["examples"]
    items = load_dataset("strategyqa")
    before = [
        {**item, "reasoning": e["target"].partition(". ")[2].strip()}
        for item, e in zip(items.to_dict("records"), examples, strict=True)
    ]
    assert [cot_target(item) for item in items.to_dict("records")] == [_cot_target_before(item) for item in before]


@pytest.mark.integration
def test_gsm8k_cot_targets_are_as_before_and_verbatim_keeps_its_lines() -> None:
    from e2h.data import gsm8k, load_dataset

    default, verbatim = (
        load_dataset("gsm8k").to_dict("records"),
        load_dataset("gsm8k", variant="verbatim").to_dict("records"),
    )
    # the default items as they were: the solution without calculator notes, still one step per line
    before = [
        {**item, "reasoning": gsm8k._CALCULATOR.sub("", v["reasoning"])}
        for item, v in zip(default, verbatim, strict=True)
    ]
    assert [cot_target(item) for item in default] == [_cot_target_before(item) for item in before]
    targets = [cot_target(item) for item in verbatim]
    lines = [[line for line in v["reasoning"].split("\n") if line.strip()] for v in verbatim]  # 2 have a blank line
    assert all(t.count("\n") == len(ls) - 1 > 0 for t, ls in zip(targets, lines, strict=True))
    assert sum("<<" in t for t in targets) > 1000


def test_cot_demos_need_reasoning() -> None:
    with pytest.raises(E2HError, match=r"'t/2' has no reasoning.*--learner icl"):
        format_demos([{**SUM, "reasoning": " "}], "cot")


def test_uncond_request_scores_the_same_continuations_after_the_cue() -> None:
    assert uncond_request(ICE, "listed").context == "Answer:"
    assert uncond_request(ICE, "listed").continuations == build_request(ICE, "listed").continuations
    assert uncond_request(ICE, "qa").context == "A:"
    assert uncond_request(ICE, "letters").continuations == (" A", " B", " C")


def test_every_format_and_rule_name_has_an_implementation() -> None:
    assert set(FORMATS.names()) == set(PROMPT_FORMATS)
    assert set(templates.EXTRACTORS.names()) == set(EXTRACTION_RULES)
    assert not hasattr(templates, "default_format")  # a dataset's format is a fact of the catalog


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (" She pays $1,250 in total. So the answer is $1,250.", "1250"),
        (" The loss is 3 - 10 = -7. So the answer is -7.", "-7"),
        (" 12 apples and 4.5 pears", "4.5"),
        (" 3 + 4 = 7. So the answer is 3 + 4 = 7.", "7"),  # the last number after the trigger
        (" first 3, the answer is 4, then the answer is 10 apples.", "10"),
        (" 10-4=6", "6"),
        (" I cannot tell.", None),
        ("", None),
    ],
)
def test_gsm8k_extraction(text: str, expected: str | None) -> None:
    assert extract_answer(text, "number") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (" Lions live in Africa. So the answer is yes.", "yes"),
        (" No, they do not.", "no"),
        (" Thus the answer is No. Yes would be wrong.", "no"),
        (" Nobody knows.", None),  # "no" must be a word
    ],
)
def test_yes_no_extraction(text: str, expected: str | None) -> None:
    assert extract_answer(text, "yes-no") == expected


@pytest.mark.parametrize(
    ("text", "expected", "index"),
    [
        (" So the answer is B.", "B", 1),
        (" So the answer is (C) dark.", "C", 2),
        (" B) cold", "B", 1),
        (" So the answer is heat.", "heat", 0),
        (" So the answer is Cold!", "Cold!", 1),
        (" the answer is: something dark, surely.\nQ: next", "something dark, surely", 2),
        (" A dog.", "A dog", -1),  # a capital word is not a letter
        (" So the answer is", None, -1),
    ],
)
def test_multiple_choice_extraction(text: str, expected: str | None, index: int) -> None:
    answer = extract_answer(text, "choice", ICE["choices"])
    assert answer == expected
    assert match_choice(answer, ICE["choices"]) == index


def test_match_choice_prefers_exact_then_earliest_longest() -> None:
    choices = ["heat", "heat and light", "light"]
    assert match_choice("heat", choices) == 0
    assert match_choice("Heat and light.", choices) == 1
    assert match_choice("light from the heat", choices) == 2
    assert match_choice("D", choices) == -1  # out-of-range letter
    assert match_choice("same", ["same", "Same"]) == 0  # exact match wins before the tie rule


@pytest.mark.parametrize(
    ("text", "kind", "last", "first"),
    [
        # one trigger: both rules read after it
        (" 2 + 3 = 5. So the answer is 5.", "number", "5", "5"),
        # several: `last` reads after the last, `first` between the first and the next (the paper's split)
        (" first 3, the answer is 4, then the answer is 10 apples.", "number", "10", "4"),
        (" The answer is yes. Wait, the answer is no.", "yes-no", "no", "yes"),
        (" So the answer is B. No, the answer is C.", "choice", "C", "B"),
        # no trigger: `last` reads the whole text, `first` has no answer
        (" 12 apples and 4.5 pears", "number", "4.5", None),
        (" No, they do not.", "yes-no", "no", None),
        (" B) cold", "choice", "B", None),
        ("", "number", None, None),
        # a trigger with nothing after it is no answer under either rule
        (" So the answer is", "number", None, None),
    ],
)
def test_first_and_last_extraction_rules(text: str, kind: str, last: str | None, first: str | None) -> None:
    assert extract_answer(text, kind, ICE["choices"], rule="last") == last
    assert extract_answer(text, kind, ICE["choices"], rule="first") == first
    assert extract_answer(text, kind, ICE["choices"]) == last  # `last` is the default


def test_unknown_rule_or_kind_is_one_clear_error() -> None:
    with pytest.raises(E2HError, match="unknown extraction rule 'frist': did you mean 'first'"):
        extract_answer("the answer is 4", "number", rule="frist")
    with pytest.raises(E2HError, match="unknown answer kind 'numeric'"):
        extract_answer("the answer is 4", "numeric")


def test_answer_kind_is_read_from_the_item_else_inferred_from_choices() -> None:
    assert answer_kind({**SUM, "answer_kind": "number"}) == "number"
    assert answer_kind({**ICE, "choices": ["1,000"], "answer_kind": "choice"}) == "choice"  # the column wins
    assert answer_kind({"choices": ["Yes", "No"]}) == "yes-no"
    assert answer_kind({"choices": ["1,000"], "answer_kind": float("nan")}) == "number"  # a concatenation's gap
    assert answer_kind({"choices": ["Paris"]}) == "choice"
    assert answer_kind(ICE) == "choice"


def test_an_item_and_a_table_of_it_get_the_same_answer_kind() -> None:
    """One rule (e2h.answering.infer_answer_kind): the table's facts and the item's kind never disagree."""
    from e2h.data.schema import infer_facts

    for choices in (["5 apples"], ["-$1,250.50"], ["Yes", "No"], ["Paris"], ["heat", "cold"]):
        table = pd.DataFrame({"choices": [choices, choices]})
        assert answer_kind({"choices": choices}) == infer_facts(table).answer_kind, choices


def test_answer_comparison() -> None:
    assert answers_equal("1000", "1,000", "number")
    assert answers_equal("5.0", "5", "number")
    assert not answers_equal("-5", "5", "number")
    assert not answers_equal(None, "5", "number")
    assert answers_equal("paris", "Paris.", "choice")


# Acceptance: the engine's fast path equals the naive reference on real ARC items in every format.
# The naive path runs one forward per prompt + choice, so only `listed` (the paper's prompt) runs on
# 200 items; the other formats run on 40 to keep the test near a minute on two CPU cores.
@pytest.mark.integration
@pytest.mark.parametrize(("fmt", "n_items"), [("listed", 200), ("cloze", 40), ("letters", 40), ("qa", 40), ("cot", 40)])
def test_fast_scores_equal_naive_scores_on_real_arc_items(fmt: str, n_items: int) -> None:
    import numpy as np

    from e2h.data import load_dataset
    from e2h.models import load_model
    from e2h.seeding import make_rng

    items = load_dataset("arc")
    items = items.iloc[np.sort(make_rng(0, "test-fast-naive").permutation(len(items))[:n_items])]
    lm = load_model("smollm2-135m")
    requests = [build_request(item, fmt) for _, item in items.iterrows()]
    fast = lm.score(requests, cache=False)
    naive = lm.score_naive(requests)
    for f, n in zip(fast, naive, strict=True):
        np.testing.assert_array_equal(f.n_tokens, n.n_tokens)
        np.testing.assert_allclose(f.logprob, n.logprob, rtol=0, atol=1e-4)
