"""Item tables: the built-in datasets, user files, and their human and length measures.

>>> items = load_dataset("arc")                 # built-in, from pinned offline assets
>>> items = load_dataset("my_questions.csv")    # a user file (CSV / JSONL / Parquet)
>>> items = load_dataset("gsm8k", source="hub") # the Hugging Face hub (pip install 'e2h[hub]')
>>> items = load_dataset("arc", variant="paper") # another preparation (see the catalog's variants)

Every table passes :func:`e2h.data.schema.validate_items`, carries its measures as float columns
(NaN where missing), listed in ``items.attrs["measures"]``, and an ``answer_kind`` column. Model-based
measures computed with ``e2h hardness compute`` are attached as columns too (:mod:`e2h.data.measure_tables`). Parsed
tables are cached in memory, so repeated loads are instant; each call returns a fresh copy.

>>> dataset_facts("gsm8k")                      # how items are prompted and answered
DatasetFacts(format='qa', answer_kind='number', extraction='last', k=8, n_test=None, unsupervised='zero-shot-cot')
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pandas as pd

from e2h.assets import is_cached
from e2h.data import arc
from e2h.data.catalog import DATASETS, BuiltinDataset, base_name, builtin_facts, check_variant, finish_items, load_raw
from e2h.data.measure_tables import attach_computed, computed_tables
from e2h.data.schema import (
    ANSWER_KINDS,
    CORE_COLUMNS,
    EXTRACTION_RULES,
    PROMPT_FORMATS,
    DatasetFacts,
    measure_columns,
    validate_items,
)
from e2h.data.source_measures import LENGTH_MEASURES
from e2h.data.user import is_user_path, read_user_file, save_items, sidecar_path, user_facts
from e2h.errors import E2HError

SOURCES = ("local", "hub")

__all__ = [
    "ANSWER_KINDS",
    "CORE_COLUMNS",
    "DATASETS",
    "EXTRACTION_RULES",
    "PROMPT_FORMATS",
    "SOURCES",
    "BuiltinDataset",
    "DatasetFacts",
    "dataset_facts",
    "dataset_info",
    "load_dataset",
    "measure_columns",
    "save_items",
    "validate_items",
]


def load_dataset(
    name_or_path: str | os.PathLike,
    *,
    source: str = "local",
    variant: str | None = None,
    arc_annotations: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """The item table of a built-in dataset (see ``DATASETS``) or of a user file.

    ``source`` is ``"local"`` (pinned offline copies) or ``"hub"`` (Hugging Face hub, built-ins only).
    ``variant`` names another preparation of a built-in dataset (its catalog entry's ``variants``, e.g.
    ``"paper"`` for ARC, ``"verbatim"`` for GSM8k); None is the default one.
    ``arc_annotations`` is a path to the ARC annotations JSON, else ``E2H_ARC_ANNOTATIONS``; a file named
    either way must be the original (else an error). Without both it comes from the asset cache or a
    download, and when that fails ARC still loads (human measures NaN, one warning).
    """
    if source not in SOURCES:
        raise E2HError(f"unknown source {source!r}: use one of {', '.join(SOURCES)}.")
    name = os.fspath(name_or_path)
    if name in DATASETS:
        table = _builtin(DATASETS.get(name), source, check_variant(name, variant), arc_annotations).copy()
        return attach_computed(table, name, load_dataset, source=source, variant=variant)
    is_file = Path(name).expanduser().is_file() or is_user_path(name)
    if source != "local" and is_file:
        raise E2HError(f"source={source!r} is only for built-in datasets; {name} is read from disk: drop source.")
    if variant is not None and is_file:
        raise E2HError(f"variant={variant!r} is only for built-in datasets; {name} is read as written: drop variant.")
    return attach_computed(_user_table(name)[0].copy(), name, load_dataset)


def dataset_facts(name_or_path: str | os.PathLike) -> DatasetFacts:
    """How a dataset's items are prompted and answered: default format, answer kind, extraction rule.

    Built-ins: from their catalog entry (a view has its base's). A user file: the keys ``format``,
    ``answer_kind`` and ``extraction`` of an optional sidecar ``<file>.yaml`` (e.g. ``items.csv.yaml``),
    the rest inferred from its items (see :func:`e2h.data.schema.infer_facts`).
    """
    name = os.fspath(name_or_path)
    if name in DATASETS:
        return builtin_facts(name)
    return _user_table(name)[1]


def dataset_info(name_or_path: str | os.PathLike) -> dict:
    """Size (``size``, alias ``n_items``), measures and asset status of a dataset, without loading a built-in one."""
    name = os.fspath(name_or_path)
    if name not in DATASETS:
        items = load_dataset(name)
        return {
            "name": name,
            "description": f"user file {name}",
            "size": len(items),
            "n_items": len(items),
            "measures": list(items.attrs["measures"]),
            "assets": {},
            "cached": True,
        }
    spec = DATASETS.get(name)
    assets = {carrier: is_cached(carrier) for carrier in spec.carriers}
    return {
        "name": spec.name,
        "description": spec.description,
        "size": spec.size,
        "n_items": spec.size,
        "measures": [*spec.measures, *LENGTH_MEASURES, *computed_tables(name)],
        "variants": dict(spec.variants),
        "hub_only": spec.hub_only,
        "assets": assets,
        "cached": all(assets.values()),
    }


def _builtin(
    spec: BuiltinDataset, source: str, variant: str | None, arc_annotations: str | os.PathLike | None
) -> pd.DataFrame:
    base = base_name(spec.name)
    annotations = None
    if base == "arc":
        annotations = arc.resolve_annotations(arc_annotations) if arc_annotations else _default_annotations(*_env())
    stamp = annotations.stat().st_mtime_ns if annotations else 0
    items = _base_table(base, source, variant, annotations, stamp)
    if spec.subset is None:
        return items
    view = items[items["arc_subset"] == spec.subset].reset_index(drop=True)
    view["dataset"] = spec.name
    view.attrs = dict(items.attrs)
    return view


@functools.cache
def _base_table(name: str, source: str, variant: str | None, annotations: Path | None, stamp: int) -> pd.DataFrame:
    spec = DATASETS.get(name)
    rows = load_raw(name, source, annotations, variant)
    return finish_items(rows, name, spec.measures, source=f"dataset {name!r}", facts=builtin_facts(name))


def _user_table(name: str) -> tuple[pd.DataFrame, DatasetFacts]:
    """A user file's table and facts (the registry's did-you-mean error for a name that is no file)."""
    if not (Path(name).expanduser().is_file() or is_user_path(name)):
        DATASETS.get(name)  # raises the did-you-mean error
    path = Path(name).expanduser().resolve()
    return _user(path, (_stamp(path), _stamp(sidecar_path(path))))


def _stamp(path: Path) -> tuple[int, int]:
    """(mtime, size) of a file, (0, 0) when there is none."""
    if not path.is_file():
        return (0, 0)
    stat = path.stat()
    return (stat.st_mtime_ns, stat.st_size)


@functools.cache
def _user(path: Path, stamps: tuple[tuple[int, int], ...]) -> tuple[pd.DataFrame, DatasetFacts]:
    """Cached by the file's and its sidecar's (mtime, size), so an edit to either is seen."""
    rows, measures = read_user_file(path)
    facts = user_facts(path, rows)
    return finish_items(rows, path.stem, measures, source=str(path), facts=facts), facts


def _env() -> tuple[str | None, ...]:
    return tuple(os.environ.get(v) for v in ("E2H_ARC_ANNOTATIONS", "E2H_ASSET_DIR", "E2H_HOME", "E2H_OFFLINE"))


@functools.cache
def _default_annotations(*env: str | None) -> Path | None:
    """The default annotations file, resolved once per environment (a failed download is not retried)."""
    return arc.resolve_annotations(None)
