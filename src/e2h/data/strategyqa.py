"""StrategyQA: yes/no questions whose reasoning steps are implicit (2,290 items).

Local source: BIG-bench's ``strategyqa/task.json`` (member ``strategyqa`` of the pinned
``bigbench`` sdist, or the file named by ``E2H_STRATEGYQA``). Each example has ``input`` (the
question), ``target_scores`` (``{"Yes": 1, "No": 0}``) and ``target`` = ``"Yes. "``/``"No. "``
followed by the gold facts, which become ``reasoning`` (on one line).

``num_steps``: the paper counts the question's decomposition steps, which BIG-bench does not ship.
Here it is the number of fact sentences — a proxy, documented as such (the hub path, from
``wics/strategy-qa``, has the decompositions and uses the paper's definition). Ids are
``strategyqa/<row>`` in the file's order.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from e2h.assets import member_path
from e2h.data.schema import one_line
from e2h.data.source_measures import split_sentences
from e2h.errors import E2HError

CHOICES = ["yes", "no"]


def item_from_bigbench(example: dict, row: int) -> dict:
    """One BIG-bench example as an item; the answer in ``target`` must agree with ``target_scores``."""
    where = f"StrategyQA example {row}"
    try:
        scores, target, question = example["target_scores"], example["target"], example["input"]
    except (KeyError, TypeError):
        raise E2HError(f"{where}: needs input, target and target_scores: the task.json is corrupt.") from None
    answer = [name for name, score in scores.items() if score == 1]
    if answer not in (["Yes"], ["No"]):
        raise E2HError(f"{where}: target_scores {scores} does not mark exactly one of Yes/No.")
    head, _, facts = target.partition(". ")
    if f"{head}." != f"{answer[0]}." or not facts.strip():
        raise E2HError(f"{where}: target {target[:40]!r}… does not start with '{answer[0]}. ' followed by facts.")
    facts = one_line(facts.strip())
    return _item(f"strategyqa/{row}", question, answer[0] == "Yes", facts, len(split_sentences(facts)), "train")


def item_from_hub(record: dict) -> dict:
    """One ``wics/strategy-qa`` record (``qid``, ``question``, ``answer`` bool, ``facts``, ``decomposition``)."""
    facts = one_line(" ".join(f.strip() for f in record["facts"]))
    return _item(
        f"strategyqa/{record['qid']}",
        record["question"],
        bool(record["answer"]),
        facts,
        len(record["decomposition"]),
        "train",
    )


def load_local(path: Path | None = None) -> pd.DataFrame:
    """All 2,290 examples of the BIG-bench task file."""
    path = path or member_path("strategyqa")
    try:
        examples = json.loads(Path(path).read_text(encoding="utf-8"))["examples"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise E2HError(
            f"cannot read StrategyQA from {path} ({exc}): point E2H_STRATEGYQA at BIG-bench's task.json."
        ) from None
    return pd.DataFrame([item_from_bigbench(e, row) for row, e in enumerate(examples)])


def _item(item_id: str, question: str, yes: bool, facts: str, steps: int, split: str) -> dict:
    return {
        "id": item_id,
        "question": question,
        "choices": list(CHOICES),
        "label": 0 if yes else 1,
        "reasoning": facts,
        "subject": "",
        "source_split": split,
        "num_steps": float(steps),
    }
