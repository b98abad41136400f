import math

import pandas as pd
import pytest

from e2h.data.schema import measure_columns
from e2h.data.source_measures import (
    add_length_measures,
    arc_annotation_measures,
    bloom_number,
    difficulty_number,
    dok_number,
    grade_number,
    num_words,
    split_sentences,
)


@pytest.mark.parametrize(("value", "expected"), [("Grade 03", 3), ("Grade 08", 8), ("Grade 5", 5)])
def test_grade_number_reads_the_grade(value, expected):
    assert grade_number(value) == expected


@pytest.mark.parametrize("value", ["Biology", "Earth and Space Sciences", "", None, 7])
def test_grade_number_is_nan_for_subjects_and_junk(value):
    assert math.isnan(grade_number(value))


def test_bloom_scale_runs_remembering_to_creating():
    names = ["Remembering", "Understanding", "Applying", "Analyzing", "Evaluating", "Creating"]
    assert [bloom_number(n) for n in names] == [1, 2, 3, 4, 5, 6]
    assert math.isnan(bloom_number("remembering"))  # case matters: the annotations are capitalised


def test_dok_and_difficulty_scales():
    assert [dok_number(v) for v in ["I", "II", "III"]] == [1, 2, 3]
    assert [difficulty_number(v) for v in ["Low", "Medium", "High"]] == [1, 2, 3]
    assert math.isnan(dok_number("IV")) and math.isnan(difficulty_number("Hard"))


def test_arc_annotation_record_maps_every_field():
    record = {"grade": "Biology", "bloom": "Applying", "depth_of_knowledge": "II", "difficulty": "High"}
    measures = arc_annotation_measures(record)
    assert math.isnan(measures.pop("human_grade"))
    assert measures == {"human_bloom": 3.0, "human_dok": 2.0, "human_difficulty": 3.0}


def test_num_words_splits_on_any_whitespace():
    assert num_words("a  b\nc\td ") == 4
    assert num_words("") == 0
    assert math.isnan(num_words(None))


def test_split_sentences_keeps_initials_and_abbreviations_together():
    text = "P. G. Wodehouse died in 1975. George W. Bush lived in the U.S. Army base. It rained!"
    assert split_sentences(text) == [
        "P. G. Wodehouse died in 1975.",
        "George W. Bush lived in the U.S. Army base.",
        "It rained!",
    ]


def test_split_sentences_breaks_after_a_lowercase_word_then_letter():
    text = "Oranges are rich in vitamin C. When stress rises, it is used up. Decimal 0.59 g stays."
    assert len(split_sentences(text)) == 3


def test_add_length_measures_measures_gold_answer_and_reasoning():
    items = pd.DataFrame(
        {
            "question": ["What is two plus two?", "Pick one"],
            "choices": [["three", "four apples"], ["x"]],
            "label": [1, 0],
            "reasoning": ["", "Because  it is."],
        }
    )
    add_length_measures(items)
    assert items["question_num_words"].tolist() == [5, 2]
    assert items["answer_num_words"].tolist() == [2, 1]
    assert items["answer_num_chars"].tolist() == [11, 1]
    assert math.isnan(items["reasoning_num_words"][0]) and items["reasoning_num_words"][1] == 3


def test_add_length_measures_keeps_a_column_already_given():
    items = pd.DataFrame({"question": ["a b"], "choices": [["c"]], "label": [0], "reasoning": [""]})
    items["question_num_words"] = [99.0]
    add_length_measures(items)
    assert items["question_num_words"].tolist() == [99.0]


def test_measure_columns_honours_declared_measures():
    items = pd.DataFrame({"id": ["a"], "my_score": [1.0], "note": ["x"], "mdl_proxy_smol": [0.5], "num_steps": [2.0]})
    assert measure_columns(items) == ["mdl_proxy_smol", "num_steps"]
    items.attrs["measures"] = ["my_score"]
    assert measure_columns(items) == ["my_score", "mdl_proxy_smol", "num_steps"]
