"""User datasets: CSV, JSONL or Parquet files read into the item table.

Columns (one row per item):

* ``question`` — required, non-empty;
* the choices — ``choices`` (a list; in CSV a JSON list string such as ``["4", "5"]``) **or**
  ``choice_1`` … ``choice_n`` (trailing cells may be empty, for items with fewer choices);
  one choice makes a generative item;
* the answer — ``label`` (0-based index into the choices) **or** ``answer`` (text equal to one choice);
* optional ``id`` (default ``<file stem>/<row>``), ``reasoning`` (its line breaks become spaces), ``subject``,
  ``source_split``, ``answer_kind`` (per item: ``choice``, ``number`` or ``yes-no``);
* every other numeric column is a hardness measure, kept under its own name (see :func:`_measure_or_text` for a
  column that mixes numbers and words).

How the items are prompted and answered (:class:`~e2h.data.schema.DatasetFacts`) may be declared in a
sidecar YAML file next to the data, ``<file>.yaml`` (``items.csv`` → ``items.csv.yaml``)::

    format: cloze        # default prompt format: cloze, listed, letters, qa, cot
    answer_kind: number  # choice, number, yes-no
    extraction: first    # answer extraction rule: last, first
    k: 8                 # run defaults: in-context demonstrations, test items per cell (null: every
    n_test: null         #   remaining item), and the learner of the unsupervised baseline
    unsupervised: zero-shot

Every key is optional; what is left out is inferred from the items (:func:`~e2h.data.schema.infer_facts`).

Errors name the file, the 1-based data row and the fix. :func:`save_items` writes any item
table in the same formats, so an exported table reads back as a user dataset.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from e2h.data.schema import DatasetFacts, check_facts, infer_facts, one_line
from e2h.data.source_measures import is_missing
from e2h.errors import E2HError
from e2h.io import atomic_path, check_writable
from e2h.notices import warn

READERS = {".csv": "CSV", ".jsonl": "JSONL", ".parquet": "Parquet"}
TEXT_COLUMNS = ["id", "question", "choices", "answer", "reasoning", "subject", "source_split", "answer_kind"]
_CHOICE_COLUMN = re.compile(r"choice_(\d+)")


def is_user_path(name: str) -> bool:
    """Whether ``name`` looks like a dataset file path rather than a registry name."""
    return Path(name).suffix.lower() in READERS or "/" in name or "\\" in name


def read_user_file(path: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """The items of a user file (core columns + measures) and the names of its own measure columns."""
    path = Path(path).expanduser()
    raw = _read(path)
    if "question" not in raw.columns:
        raise E2HError(f"{path} has no 'question' column: add one (columns found: {', '.join(map(str, raw.columns))}).")
    if raw.empty:
        raise E2HError(f"{path} has no rows: add at least one item.")
    choices = _choices(raw, path)
    items = pd.DataFrame(
        {
            "id": _ids(raw, path),
            "question": [_question(q, path, row) for row, q in enumerate(raw["question"], start=1)],
            "choices": choices,
            "label": _labels(raw, choices, path),
            "reasoning": [one_line(text) for text in _text_column(raw, "reasoning")],
            "subject": _text_column(raw, "subject"),
            "source_split": _text_column(raw, "source_split"),
        }
    )
    if "answer_kind" in raw.columns:
        items["answer_kind"] = _text_column(raw, "answer_kind")
    choice_columns = set(_choice_columns(raw, path))
    measures = []
    for column in raw.columns:
        if column in TEXT_COLUMNS or column in choice_columns or column == "label":
            continue
        values = _measure_or_text(raw[column], f"{path.name} column {str(column)!r}")
        items[column] = values if values is not None else raw[column].to_numpy()
        if values is not None:
            measures.append(str(column))
    return items, measures


def sidecar_path(path: str | Path) -> Path:
    """The facts file of a dataset file: ``items.csv`` → ``items.csv.yaml``."""
    path = Path(path)
    return path.with_name(path.name + ".yaml")


def user_facts(path: str | Path, items: pd.DataFrame) -> DatasetFacts:
    """The facts of a user file: its sidecar's keys, the others inferred from ``items``."""
    sidecar = sidecar_path(path)
    declared = _read_sidecar(sidecar)
    if "answer_kind" in declared and "answer_kind" in items.columns:
        other = sorted(set(items["answer_kind"]) - {declared["answer_kind"]})
        if other:
            raise E2HError(
                f"{sidecar} sets answer_kind {declared['answer_kind']!r} but {Path(path).name}'s answer_kind column "
                f"also has {other[0]!r}: keep one of the two."
            )
    return replace(infer_facts(items), **declared)


def _read_sidecar(sidecar: Path) -> dict[str, object]:
    if not sidecar.is_file():
        return {}
    try:
        data = yaml.safe_load(sidecar.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "cannot parse"
        raise E2HError(f"{sidecar} is not valid YAML ({problem}{where}): write one `key: value` per line.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise E2HError(f"{sidecar} must map keys to values (e.g. `format: qa`), not a {type(data).__name__}.")
    return check_facts(data, str(sidecar))


def check_output(path: str | Path) -> Path:
    """``path`` if an item table can be written there (known extension, writable place), else a one-line E2HError."""
    path = Path(path).expanduser()
    if path.suffix.lower() not in READERS:
        raise E2HError(f"cannot write {path}: unknown extension {path.suffix!r}: use .csv, .jsonl or .parquet.")
    return check_writable(path)


def save_items(items: pd.DataFrame, path: str | Path) -> Path:
    """Write an item table to .parquet, .jsonl or .csv (choices as a JSON list), atomically."""
    path = check_output(path)
    kind = READERS[path.suffix.lower()]
    frame = items.copy()
    frame["choices"] = frame["choices"].map(list)
    with atomic_path(path) as tmp:
        if kind == "Parquet":
            frame.to_parquet(tmp, index=False)
        elif kind == "CSV":
            frame["choices"] = frame["choices"].map(lambda c: json.dumps(c, ensure_ascii=False))
            frame.to_csv(tmp, index=False)
        else:
            frame.to_json(tmp, orient="records", lines=True, force_ascii=False)
    return path


def _read(path: Path) -> pd.DataFrame:
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise E2HError(f"{path}: unknown extension {path.suffix!r}: save the dataset as .csv, .jsonl or .parquet.")
    if not path.is_file():
        raise E2HError(f"dataset file {path} does not exist: check the path.")
    try:
        if kind == "CSV":
            # every cell as text: numbers are parsed below, "NA" stays a word
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        if kind == "Parquet":
            return pd.read_parquet(path)
        return pd.DataFrame(_jsonl_records(path))
    except E2HError:
        raise
    except Exception as exc:  # pandas/pyarrow raise many types for a bad file
        raise E2HError(
            f"cannot read {path} as {kind} ({type(exc).__name__}: {exc}): check the file's format."
        ) from None


def _jsonl_records(path: Path) -> list[dict]:
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise E2HError(
                    f"{path} line {number} is not valid JSON ({exc.msg}): one JSON object per line."
                ) from None
            if not isinstance(record, dict):
                raise E2HError(f"{path} line {number} is not a JSON object: write one {{...}} item per line.")
            records.append(record)
    return records


def _question(value: object, path: Path, row: int) -> str:
    if is_missing(value) or not str(value).strip():
        raise E2HError(f"{path} row {row}: empty question: fill it in or delete the row.")
    return str(value)


def _choice_columns(raw: pd.DataFrame, path: Path) -> list[str]:
    numbered = sorted((int(m.group(1)), c) for c in raw.columns if (m := _CHOICE_COLUMN.fullmatch(str(c))))
    if [n for n, _ in numbered] != list(range(1, len(numbered) + 1)):
        raise E2HError(
            f"{path}: choice columns {[c for _, c in numbered]} must be numbered choice_1..choice_n without gaps."
        )
    return [c for _, c in numbered]


def _choices(raw: pd.DataFrame, path: Path) -> list[list[str]]:
    columns = _choice_columns(raw, path)
    if "choices" in raw.columns and columns:
        raise E2HError(f"{path} has both 'choices' and choice_1..: keep one way of giving the choices.")
    if "choices" in raw.columns:
        return [_choice_list(value, path, row) for row, value in enumerate(raw["choices"], start=1)]
    if not columns:
        raise E2HError(f"{path} has no choices: add a 'choices' column (a list) or columns choice_1..choice_n.")
    result = []
    for row, values in enumerate(raw[columns].itertuples(index=False), start=1):
        cells = ["" if is_missing(v) else str(v) for v in values]
        while cells and not cells[-1].strip():
            cells.pop()
        if not cells or any(not c.strip() for c in cells):
            raise E2HError(f"{path} row {row}: empty choice among {columns}: fill choices in order from choice_1.")
        result.append(cells)
    return result


def _choice_list(value: object, path: Path, row: int) -> list[str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise E2HError(
                f'{path} row {row}: choices {value[:40]!r} is not a JSON list: write it like ["a", "b"].'
            ) from None
    if isinstance(value, np.ndarray | tuple):
        value = list(value)
    if not isinstance(value, list) or not value or any(is_missing(v) for v in value):
        raise E2HError(f"{path} row {row}: choices must be a non-empty list of strings, got {value!r}.")
    return [str(v) for v in value]


def _labels(raw: pd.DataFrame, choices: list[list[str]], path: Path) -> list[int]:
    if "label" not in raw.columns and "answer" not in raw.columns:
        raise E2HError(
            f"{path} has no answer: add a 'label' column (0-based choice index) or an 'answer' column (choice text)."
        )
    labels = []
    for row, options in enumerate(choices, start=1):
        index = raw.index[row - 1]
        if "label" in raw.columns:
            label = _label(raw.at[index, "label"], options, path, row)
        if "answer" in raw.columns:
            answer = raw.at[index, "answer"]
            text = "" if is_missing(answer) else str(answer).strip()
            matches = [i for i, choice in enumerate(options) if choice.strip() == text]
            if not matches:
                raise E2HError(
                    f"{path} row {row}: answer {text!r} is not among the choices {options}: make it equal one choice."
                )
            if "label" in raw.columns and label not in matches:
                raise E2HError(f"{path} row {row}: label {label} and answer {text!r} disagree: keep one or fix it.")
            label = matches[0] if "label" not in raw.columns else label
        labels.append(label)
    return labels


def _label(value: object, options: list[str], path: Path, row: int) -> int:
    try:
        number = float(value)  # ints, floats and numeric strings
    except (TypeError, ValueError):
        number = float("nan")
    if not number.is_integer():
        raise E2HError(
            f"{path} row {row}: label {value!r} is not a whole number: give the 0-based index of the answer."
        )
    if not 0 <= number < len(options):
        raise E2HError(
            f"{path} row {row}: label {int(number)} is out of range for {len(options)} choices: "
            f"labels are 0-based (0..{len(options) - 1})."
        )
    return int(number)


def _ids(raw: pd.DataFrame, path: Path) -> list[str]:
    if "id" not in raw.columns:
        return [f"{path.stem}/{row}" for row in range(1, len(raw) + 1)]
    seen: dict[str, int] = {}
    ids = []
    for row, value in enumerate(raw["id"], start=1):
        text = "" if is_missing(value) else str(value).strip()
        if not text:
            raise E2HError(f"{path} row {row}: empty id: give every row an id or drop the id column.")
        if text in seen:
            raise E2HError(f"{path} row {row}: duplicate id {text!r} (first at row {seen[text]}): ids must be unique.")
        seen[text] = row
        ids.append(text)
    return ids


def _text_column(raw: pd.DataFrame, name: str) -> list[str]:
    if name not in raw.columns:
        return [""] * len(raw)
    return ["" if is_missing(v) else str(v) for v in raw[name]]


#: rows and values a warning lists before "and N more"
SHOWN = 5


def _measure_or_text(column: pd.Series, where: str) -> np.ndarray | None:
    """The column as floats (a measure; empty cells → NaN), or None (a text column, kept as it is).

    A column whose non-empty cells are all numbers is a measure, and one with no number is text. A column that
    mixes them is read by what most of its cells are, and never silently: a warning names the column, the 1-based
    rows and the values that do not fit. When at least half are numbers it is a measure and the other cells
    become missing (NaN, so those items take part in no split by it); otherwise it is text, not a measure.

    A warning rather than an error: hand-made annotations often mark an unknown value with a word (``?``,
    ``n/a``, ``unknown``), and one such cell should neither cost the user the rest of the column (the
    behaviour this replaces) nor stop every command on a file whose other measures are fine. The warning
    repeats on every load until the cells are numbers or empty, so the choice is made by the user, not
    hidden; a measure with no usable values left still stops any split that names it.
    """
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        return column.astype("float64").to_numpy()
    cells = column.map(lambda v: np.nan if is_missing(v) or (isinstance(v, str) and not v.strip()) else v)
    numbers = pd.to_numeric(cells.map(_number), errors="coerce").astype("float64")
    words = (cells.notna() & numbers.isna()).to_numpy()
    n_values, n_words = int(cells.notna().sum()), int(words.sum())
    if n_words == 0:
        return numbers.to_numpy() if n_values else None
    if n_words == n_values:
        return None
    if n_words * 2 > n_values:
        rows = _listed([str(i + 1) for i in np.flatnonzero(numbers.notna().to_numpy())])
        warn(
            f"{where}: {n_values - n_words} of {n_values} values are numbers (row(s) {rows}), so it is read as text, "
            "not a hardness measure; if it is one, make every cell a number or leave it empty."
        )
        return None
    odd = np.flatnonzero(words)
    rows, values = _listed([str(i + 1) for i in odd]), _listed([repr(cells.iloc[i]) for i in odd])
    which = f"row {rows} has a non-number" if len(odd) == 1 else f"rows {rows} have non-numbers"
    warn(
        f"{where}: {which} ({values}), read as missing, so those items take part in no split by it; write numbers "
        "there or leave the cells empty."
    )
    return numbers.to_numpy()


def _number(value: object) -> object:
    """``value`` if it is a number or a numeric string, else NaN (bools are not numbers here)."""
    if isinstance(value, bool):
        return np.nan
    if isinstance(value, int | float | np.number):
        return value
    try:
        return float(str(value))
    except ValueError:
        return np.nan


def _listed(parts: list[str]) -> str:
    """``a, b, c`` or ``a, b, c, d, e and 7 more``."""
    more = f" and {len(parts) - SHOWN} more" if len(parts) > SHOWN else ""
    return ", ".join(parts[:SHOWN]) + more
