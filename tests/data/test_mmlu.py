from collections import Counter

import pytest

from e2h.data import load_dataset, mmlu
from e2h.errors import E2HError

RECORD = {"question": "What is 2+2?", "subject": "college_mathematics", "choices": ["3", "4", "5", "6"], "answer": 1}


def test_record_maps_level_subject_and_answer():
    item = mmlu.item_from_record(RECORD, "college_mathematics", "test", 7)
    assert item == {
        "id": "mmlu/college_mathematics/test/7",
        "question": "What is 2+2?",
        "choices": ["3", "4", "5", "6"],
        "label": 1,
        "reasoning": "",
        "subject": "mathematics",
        "source_split": "test",
        "human_level": 1.0,
    }
    high_school = mmlu.item_from_record(RECORD, "high_school_computer_science", "validation", 0)
    assert (high_school["human_level"], high_school["subject"]) == (0.0, "computer_science")


def test_record_with_a_bad_answer_or_subject_raises():
    with pytest.raises(E2HError, match="row 3: answer 4"):
        mmlu.item_from_record(dict(RECORD, answer=4), "college_physics", "test", 3)
    with pytest.raises(E2HError, match="neither high_school"):
        mmlu.item_from_record(RECORD, "anatomy", "test", 0)


def test_the_ten_source_subjects():
    subjects = mmlu.mmlu_subjects()
    assert len(subjects) == 10
    assert ("high_school_physics", "physics", 0.0) in subjects and ("college_biology", "biology", 1.0) in subjects


@pytest.mark.integration
def test_mmlu_stem5_counts():
    items = load_dataset("mmlu-stem5")
    assert len(items) == 1746 and items["id"].is_unique
    assert Counter(items["human_level"]) == {0.0: 1143, 1.0: 603}
    assert set(items["subject"]) == set(mmlu.SUBJECTS)
    assert set(items["source_split"]) == {"validation", "test"}
    assert (items["choices"].map(len) == 4).all()
