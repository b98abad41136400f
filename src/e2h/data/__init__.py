"""Item tables: the built-in datasets, user files, and their human and length measures.

>>> items = load_dataset("arc")                 # built-in, from pinned offline assets
>>> items = load_dataset("my_questions.csv")    # a user file (CSV / JSONL / Parquet)
>>> items = load_dataset("gsm8k", source="hub") # the Hugging Face hub (pip install 'e2h[hub]')

Every table passes :func:`e2h.data.schema.validate_items` and carries its measures as float
columns (NaN where missing), listed in ``items.attrs["measures"]``. Parsed tables are cached in
memory, so repeated loads are instant; each call returns a fresh copy.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pandas as pd

from e2h.assets import is_cached
from e2h.data import arc
from e2h.data.catalog import DATASETS, DatasetSpec, finish_items, load_raw
from e2h.data.measures import LENGTH_MEASURES
from e2h.data.schema import CORE_COLUMNS, measure_columns, validate_items
from e2h.data.user import is_user_path, read_user_file, save_items
from e2h.errors import E2HError

SOURCES = ("local", "hub")

__all__ = [
    "CORE_COLUMNS",
    "DATASETS",
    "SOURCES",
    "DatasetSpec",
    "dataset_info",
    "load_dataset",
    "measure_columns",
    "save_items",
    "validate_items",
]


def load_dataset(
    name_or_path: str | os.PathLike, *, source: str = "local", arc_annotations: str | os.PathLike | None = None
) -> pd.DataFrame:
    """The item table of a built-in dataset (see ``DATASETS``) or of a user file.

    ``source`` is ``"local"`` (pinned offline copies) or ``"hub"`` (Hugging Face hub, built-ins only).
    ``arc_annotations`` is a path to the ARC annotations JSON, else ``E2H_ARC_ANNOTATIONS``; a file named
    either way must be the original (else an error). Without both it comes from the asset cache or a
    download, and when that fails ARC still loads (human measures NaN, one warning).
    """
    if source not in SOURCES:
        raise E2HError(f"unknown source {source!r}: use one of {', '.join(SOURCES)}.")
    name = os.fspath(name_or_path)
    if name in DATASETS:
        return _builtin(DATASETS.get(name), source, arc_annotations).copy()
    if Path(name).expanduser().is_file() or is_user_path(name):
        if source != "local":
            raise E2HError(f"source={source!r} is only for built-in datasets; {name} is read from disk: drop source.")
        path = Path(name).expanduser().resolve()
        stat = path.stat() if path.is_file() else None
        return _user(path, stat.st_mtime_ns if stat else 0, stat.st_size if stat else 0).copy()
    DATASETS.get(name)  # raises the did-you-mean error
    raise AssertionError("unreachable")


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
        "measures": [*spec.measures, *LENGTH_MEASURES],
        "assets": assets,
        "cached": all(assets.values()),
    }


def _builtin(spec: DatasetSpec, source: str, arc_annotations: str | os.PathLike | None) -> pd.DataFrame:
    base = spec.base or spec.name
    annotations = None
    if base == "arc":
        annotations = arc.resolve_annotations(arc_annotations) if arc_annotations else _default_annotations(*_env())
    stamp = annotations.stat().st_mtime_ns if annotations else 0
    items = _base_table(base, source, annotations, stamp)
    if spec.subset is None:
        return items
    view = items[items["arc_subset"] == spec.subset].reset_index(drop=True)
    view["dataset"] = spec.name
    view.attrs = dict(items.attrs)
    return view


@functools.cache
def _base_table(name: str, source: str, annotations: Path | None, stamp: int) -> pd.DataFrame:
    spec = DATASETS.get(name)
    return finish_items(load_raw(name, source, annotations), name, spec.measures, source=f"dataset {name!r}")


@functools.cache
def _user(path: Path, mtime_ns: int, size: int) -> pd.DataFrame:
    rows, measures = read_user_file(path)
    return finish_items(rows, path.stem, measures, source=str(path))


def _env() -> tuple[str | None, ...]:
    return tuple(os.environ.get(v) for v in ("E2H_ARC_ANNOTATIONS", "E2H_ASSET_DIR", "E2H_HOME", "E2H_OFFLINE"))


@functools.cache
def _default_annotations(*env: str | None) -> Path | None:
    """The default annotations file, resolved once per environment (a failed download is not retried)."""
    return arc.resolve_annotations(None)
