import json
import math

import pandas as pd
import pytest

from e2h.data import load_dataset, measure_columns, save_items
from e2h.errors import E2HError

ROWS = [
    {"question": "2+2?", "choices": ["3", "4"], "label": 1, "difficulty_score": 0.5, "topic": "math"},
    {"question": "Capital of France?", "choices": ["Paris", "Rome", "Oslo"], "label": 0, "difficulty_score": None},
]


def write_csv(path, text):
    path.write_text(text.strip() + "\n")
    return path


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_jsonl_file_becomes_an_item_table(tmp_path):
    items = load_dataset(write_jsonl(tmp_path / "quiz.jsonl", ROWS))
    assert items["id"].tolist() == ["quiz/1", "quiz/2"]
    assert items["dataset"].tolist() == ["quiz", "quiz"]
    assert items["choices"].tolist() == [["3", "4"], ["Paris", "Rome", "Oslo"]]
    assert items["label"].tolist() == [1, 0]
    assert items["topic"].iloc[0] == "math" and pd.isna(items["topic"].iloc[1])  # text: kept, not a measure
    assert items["difficulty_score"].iloc[0] == 0.5 and math.isnan(items["difficulty_score"].iloc[1])
    assert "difficulty_score" in measure_columns(items) and "topic" not in measure_columns(items)
    assert items["answer_num_chars"].tolist() == [1.0, 5.0]


def test_csv_with_numbered_choices_and_answer_text(tmp_path):
    path = write_csv(
        tmp_path / "mine.csv",
        """
id,question,choice_1,choice_2,choice_3,answer,steps,reasoning,subject
a1,Which is NA?,NA,Europe,,NA,2,,geo
a2,Largest planet?,Mars,Jupiter,Venus,Jupiter,,It is big.,astro
""",
    )
    items = load_dataset(path)
    assert items["id"].tolist() == ["a1", "a2"]
    assert items["choices"].tolist() == [["NA", "Europe"], ["Mars", "Jupiter", "Venus"]]  # "NA" stays a word
    assert items["label"].tolist() == [0, 1]
    assert items["subject"].tolist() == ["geo", "astro"]
    assert items["steps"].iloc[0] == 2 and math.isnan(items["steps"].iloc[1])
    assert measure_columns(items)[:1] == ["steps"]
    assert math.isnan(items["reasoning_num_words"].iloc[0]) and items["reasoning_num_words"].iloc[1] == 3


def test_csv_choices_as_json_list(tmp_path):
    path = write_csv(tmp_path / "j.csv", 'question,choices,label\n"Pick","[""x"", ""y""]",1')
    items = load_dataset(path)
    assert items["choices"].tolist() == [["x", "y"]] and items["label"].tolist() == [1]


def test_parquet_file(tmp_path):
    path = tmp_path / "p.parquet"
    pd.DataFrame(ROWS).to_parquet(path)
    items = load_dataset(path)
    assert items["choices"].tolist() == [["3", "4"], ["Paris", "Rome", "Oslo"]]
    assert "difficulty_score" in items.attrs["measures"]


def test_reloading_after_an_edit_sees_the_new_content(tmp_path):
    path = write_jsonl(tmp_path / "e.jsonl", ROWS[:1])
    assert len(load_dataset(path)) == 1
    write_jsonl(path, ROWS)
    assert len(load_dataset(path)) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("choices,label\n[],0", "no 'question' column"),
        ("question,label\nq,0", "no choices"),
        ("question,choice_1\nq,a", "no answer: add a 'label' column"),
        ("question,choice_1,label\n,a,0", "row 1: empty question"),
        ("question,choice_1,choice_2,label\nq,a,b,0\nq2,a,b,2", "row 2: label 2 is out of range for 2 choices"),
        ("question,choice_1,choice_2,label\nq,a,b,x", "row 1: label 'x' is not a whole number"),
        ("question,choice_1,choice_2,answer\nq,a,b,c", r"row 1: answer 'c' is not among the choices \['a', 'b'\]"),
        ("question,choice_1,choice_2,choice_3,label\nq,a,,c,0", "row 1: empty choice"),
        ("question,choice_1,choice_3,label\nq,a,c,0", "without gaps"),
        ("question,choices,label\nq,not json,0", "row 1: choices 'not json' is not a JSON list"),
        ("question,choices,choice_1,label\nq,[],a,0", "both 'choices' and choice_1"),
        ("id,question,choice_1,label\nx,q,a,0\nx,q,a,0", "row 2: duplicate id 'x' .first at row 1."),
        ("question,choice_1,choice_2,label,answer\nq,a,b,0,b", "label 0 and answer 'b' disagree"),
        ("question,choice_1,label", "has no rows"),
    ],
)
def test_csv_validation_messages_name_file_row_and_fix(tmp_path, text, message):
    path = write_csv(tmp_path / "bad.csv", text)
    with pytest.raises(E2HError, match=message) as info:
        load_dataset(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_bad_jsonl_line_is_named(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text('{"question": "q", "choices": ["a"], "label": 0}\n{"question": \n')
    with pytest.raises(E2HError, match="line 2 is not valid JSON"):
        load_dataset(path)


def test_unknown_extension_and_missing_file(tmp_path):
    other = tmp_path / "data.xlsx"
    other.write_text("x")
    with pytest.raises(E2HError, match=r"unknown extension '\.xlsx'.*\.csv, \.jsonl or \.parquet"):
        load_dataset(other)
    with pytest.raises(E2HError, match="does not exist"):
        load_dataset(tmp_path / "nope.csv")


def test_unreadable_parquet_names_the_file(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(E2HError, match=r"cannot read .*broken\.parquet as Parquet"):
        load_dataset(path)


def test_user_file_is_not_read_from_the_hub(tmp_path):
    path = write_jsonl(tmp_path / "q.jsonl", ROWS)
    with pytest.raises(E2HError, match="only for built-in datasets"):
        load_dataset(path, source="hub")


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_saved_items_read_back_as_a_user_dataset(tmp_path, suffix):
    original = load_dataset(write_jsonl(tmp_path / "orig.jsonl", ROWS))
    original["choices"] = [["3", "4"], ['Paris, "the" city', "Rome", "Óslo"]]  # commas, quotes, non-ASCII
    path = save_items(original, tmp_path / f"out{suffix}")
    again = load_dataset(path)
    assert again["id"].tolist() == original["id"].tolist()
    assert again["choices"].tolist() == original["choices"].tolist()
    assert again["label"].tolist() == original["label"].tolist()
    assert again["answer_kind"].tolist() == original["answer_kind"].tolist() == ["choice", "choice"]
    assert set(original.attrs["measures"]) <= set(measure_columns(again))
    pd.testing.assert_series_equal(again["difficulty_score"], original["difficulty_score"])


def test_save_items_refuses_an_unknown_extension(tmp_path):
    items = load_dataset(write_jsonl(tmp_path / "q.jsonl", ROWS))
    with pytest.raises(E2HError, match=r"unknown extension '\.txt'"):
        save_items(items, tmp_path / "out.txt")
    assert not list(tmp_path.glob("out*"))


def test_a_folder_or_an_unwritable_place_is_refused_before_writing(tmp_path):
    from e2h.data.user import check_output

    items = load_dataset(write_jsonl(tmp_path / "q.jsonl", ROWS))
    (tmp_path / "d.parquet").mkdir()
    with pytest.raises(E2HError, match=r"d\.parquet: it is a folder: name a file in it"):
        save_items(items, tmp_path / "d.parquet")
    with pytest.raises(
        E2HError, match=r"cannot write /proc/nope/x\.csv: /proc is not writable: choose a folder you can write to"
    ):
        check_output("/proc/nope/x.csv")
    assert check_output(tmp_path / "new" / "x.csv") == tmp_path / "new" / "x.csv"  # a missing folder is made


MIXED = [
    {"question": f"Q{i}?", "choices": ["a", "b"], "label": 0, "difficulty": d, "notes": n}
    for i, (d, n) in enumerate([(1, "fine"), ("very", "ok"), (3, "7"), (2, "good"), ("", "fine"), ("n/a", "")])
]


def test_a_numeric_column_with_a_few_words_keeps_its_numbers_and_names_the_rest(tmp_path, capsys):
    """A user's measure never vanishes silently: the words become missing values, one warning names them."""
    path = write_jsonl(tmp_path / "mixed.jsonl", MIXED)
    items = load_dataset(path)
    err = capsys.readouterr().err
    assert "difficulty" in measure_columns(items)
    values = items["difficulty"]
    assert values.iloc[[0, 2, 3]].tolist() == [1.0, 3.0, 2.0] and values.iloc[[1, 4, 5]].isna().all()
    line = next(x for x in err.splitlines() if "'difficulty'" in x)
    assert line.startswith("e2h: warning: ") and "rows 2, 6" in line and "'very', 'n/a'" in line
    assert "read as missing" in line
    # a text column with one number stays text, and says so
    assert "notes" not in measure_columns(items) and items["notes"].tolist()[0] == "fine"
    notes = next(x for x in err.splitlines() if "'notes'" in x)
    assert "1 of 5 values are numbers" in notes and "read as text" in notes


def test_data_show_keeps_the_measure_with_a_stray_word(tmp_path, e2h_cli):
    rows = [{"question": f"Q{i}?", "choices": ["a", "b"], "label": 0, "difficulty": i % 4} for i in range(12)]
    rows[5]["difficulty"] = "very"
    code, out, err = e2h_cli(["data", "show", str(write_jsonl(tmp_path / "d.jsonl", rows)), "-m", "difficulty"])
    assert code == 0 and "difficulty: cutoffs" in out
    assert "column 'difficulty'" in err and "row 6" in err and "'very'" in err
