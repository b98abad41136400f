"""The built-in datasets from the Hugging Face hub (``source="hub"``), for users with internet.

Needs the optional ``datasets`` package (``pip install 'e2h[hub]'``). Sources:

=============  ==============================================================  ======================
dataset        hub repository (config)                                         splits
=============  ==============================================================  ======================
arc            ``allenai/ai2_arc`` (``ARC-Easy``, ``ARC-Challenge``)            train, validation, test
mmlu-stem5     ``cais/mmlu`` (``high_school_<s>``, ``college_<s>``)             validation, test
gsm8k          ``openai/gsm8k`` (``main``)                                      train, test
strategyqa     ``wics/strategy-qa`` (``strategyQA``), parquet export branch     test (the 2,290 items)
=============  ==============================================================  ======================

``wics/strategy-qa`` is the copy the paper used; it ships a loading script, which ``datasets`` >= 4
no longer runs, so it is read from the hub's automatic parquet export (``refs/convert/parquet``).
It carries the question decompositions, so ``num_steps`` here is the paper's measure.

The record → item mapping lives in the dataset modules as pure functions (tested offline);
this module only fetches records.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pandas as pd

from e2h.data import arc, gsm8k, mmlu, strategyqa
from e2h.errors import E2HError

ARC_REPO = "allenai/ai2_arc"
MMLU_REPO = "cais/mmlu"
GSM8K_REPO, GSM8K_CONFIG = "openai/gsm8k", "main"
STRATEGYQA_REPO, STRATEGYQA_CONFIG, STRATEGYQA_REVISION = "wics/strategy-qa", "strategyQA", "refs/convert/parquet"


def _datasets() -> Any:
    if os.environ.get("E2H_OFFLINE", "0") not in ("", "0"):
        raise E2HError("source='hub' needs the network but E2H_OFFLINE is set: unset it, or use source='local'.")
    try:
        import datasets
    except ImportError:
        raise E2HError(
            "source='hub' needs the optional 'datasets' package: pip install 'e2h[hub]' "
            "(or use source='local', which reads the pinned offline copies)."
        ) from None
    return datasets


def _records(repo: str, config: str | None, split: str, **kwargs: Any) -> Iterator[dict]:
    try:
        dataset = _datasets().load_dataset(repo, config, split=split, **kwargs)
    except E2HError:
        raise
    except Exception as exc:  # network, auth, renamed repository: report it in one line
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise E2HError(
            f"cannot load {repo} ({config}, {split}) from the hub ({reason}): check the connection, "
            "or use source='local'."
        ) from exc
    yield from dataset


def load_arc(annotations: Any) -> pd.DataFrame:
    rows = [
        arc.item_from_hf_record(record, subset, split)
        for subset, name in arc.SUBSETS.items()
        for split in ("train", "validation", "test")
        for record in _records(ARC_REPO, f"ARC-{name}", split)
    ]
    return arc.add_annotations(pd.DataFrame(rows), annotations)


def load_mmlu() -> pd.DataFrame:
    rows = [
        mmlu.item_from_record(record, mmlu_subject, split, row)
        for mmlu_subject, _, _ in mmlu.mmlu_subjects()
        for split in mmlu.SPLITS
        for row, record in enumerate(_records(MMLU_REPO, mmlu_subject, split))
    ]
    return pd.DataFrame(rows)


def load_gsm8k(verbatim: bool = False) -> pd.DataFrame:
    rows = [
        gsm8k.item_from_record(record, split, row, verbatim)
        for split in ("train", "test")
        for row, record in enumerate(_records(GSM8K_REPO, GSM8K_CONFIG, split))
    ]
    return pd.DataFrame(rows)


def load_strategyqa() -> pd.DataFrame:
    records = _records(STRATEGYQA_REPO, STRATEGYQA_CONFIG, "test", revision=STRATEGYQA_REVISION)
    return pd.DataFrame([strategyqa.item_from_hub(record) for record in records])
