"""Computed measure tables: model-based hardness stored in the cache and read like any other column.

``e2h hardness compute`` (:mod:`e2h.measures`) writes one Parquet table per dataset preparation and measure::

    $E2H_HOME/measures/<preparation key>/<measure>.parquet

with one row per item (``id``, ``value`` float, ``held_out`` bool, and method-specific columns such as
``bits``) and its provenance in the file's metadata (key ``e2h``: dataset, source, variant, item fingerprint,
method and its definition version, models, learner and its parameters, seeds, e2h version, summary numbers).
The preparation key (:func:`preparation_key`) is the dataset key for the default preparation (local source, no
variant): the built-in name, or for a user file ``<stem>-<hash of its absolute path>``; another preparation of a
built-in adds ``@<source>[-<variant>]`` (``arc@hub``, ``arc@local-paper``), because its items differ (the hub's
ARC and GSM8k have a train split, the hub's StrategyQA other ids, a variant other items or text).

:func:`attach_computed` adds every computed measure of the items' preparation as a float column (NaN for items
the table has no value for, and for held-out items, so they take part in no split) and lists it in
``items.attrs["measures"]``; held-out ids go to ``items.attrs["held_out"][measure]``. Tables are looked up in
this order: the preparation's own, its view base's (``arc`` for ``arc-easy``), then, for another preparation,
the default preparation's. A default-preparation table lent to another preparation gives a value only to the
items equal in id, question, choices and label to a default item (``items.attrs["borrowed_measures"]``); one
that matches no item is not attached. A table is attached only while its item fingerprint
(:func:`items_fingerprint`, stored when it is written) equals that of the items it was computed on as they load
now, and its method's definition is current (:data:`METHOD_VERSIONS`): otherwise it is **stale**, left out,
named in ``items.attrs["stale_measures"]``, and one warning names the command that recomputes it. This module
reads and writes the tables; it fits nothing.
Measure names follow :mod:`e2h.measure_names`.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from e2h.errors import E2HError
from e2h.io import atomic_path, content_hash
from e2h.measure_names import compute_command, model_slug
from e2h.notices import warn
from e2h.paths import cache_dir, e2h_home

TABLE_VERSION = 1  # bump when the table layout changes
METADATA_KEY = b"e2h"
#: a method's definition version: bump it when the values a method writes change meaning; older tables are stale
METHOD_VERSIONS = {"nll": 2}
#: what the current version of a method changed, for the stale warning
METHOD_CHANGES = {"nll": "nll is now the paper's summed NLL of the bare strings; the former mean is nll_per_token"}
#: methods whose tables may hold out a training pool
POOL_METHODS = ("mdl_proxy",)


def recompute_command(items: pd.DataFrame, dataset: str, name: str) -> str:
    """The command that (re)computes measure ``name`` for these items: a stale table's own, else for the
    preparation the items were loaded in (``items.attrs["preparation"]``)."""
    redo = items.attrs.get("stale_measures", {}).get(name)
    if redo:
        return compute_command(
            redo["dataset"], name, redo.get("format"), redo.get("source", "local"), redo.get("variant")
        )
    return compute_command(dataset, name, **items.attrs.get("preparation", {}))


# ---------------------------------------------------------------------------------------------- where tables live


def dataset_key(dataset: str | os.PathLike) -> str:
    """The folder name of a dataset's tables: a built-in name, or ``<stem>-<path hash>`` for a user file."""
    from e2h.data.catalog import DATASETS

    name = os.fspath(dataset)
    if name in DATASETS:
        return name
    path = Path(name).expanduser().resolve()
    return f"{model_slug(path.stem)}-{content_hash(str(path), length=8)}"


def preparation_key(dataset: str | os.PathLike, source: str = "local", variant: str | None = None) -> str:
    """The folder of one preparation's tables: ``arc``, ``arc@hub``, ``arc@local-paper``, ``gsm8k@hub-verbatim``."""
    key = dataset_key(dataset)
    if source == "local" and variant is None:
        return key
    return f"{key}@{source}" + (f"-{variant}" if variant else "")


def _lookup(dataset: str | os.PathLike, source: str, variant: str | None) -> list[tuple[str, str, bool]]:
    """``(folder key, dataset it describes, same preparation?)`` in order of precedence (see the module docstring)."""
    from e2h.data.catalog import base_name

    name = os.fspath(dataset)
    names = [name, *([base_name(name)] if base_name(name) != name else [])]
    own = [(preparation_key(n, source, variant), n, True) for n in names]
    if source == "local" and variant is None:
        return own
    return [*own, *((dataset_key(n), n, False) for n in names)]


def table_path(dataset: str | os.PathLike, measure: str, source: str = "local", variant: str | None = None) -> Path:
    return cache_dir("measures", preparation_key(dataset, source, variant)) / f"{measure}.parquet"


def items_fingerprint(items: pd.DataFrame) -> str:
    """A hash of what a model sees of the items (id, question, choices, label), not of their other measures."""
    core = items[["id", "question", "choices", "label"]]
    return content_hash(core.to_json(orient="split", index=False, default_handler=str))


def _item_texts(items: pd.DataFrame) -> pd.Series:
    """Per item id, one string of what a model sees of it (question, choices, label)."""
    texts = [
        json.dumps([q, list(c), int(label)], default=str)
        for q, c, label in zip(items["question"], items["choices"], items["label"], strict=True)
    ]
    return pd.Series(texts, index=items["id"].astype(str).to_numpy())


# ---------------------------------------------------------------------------------------------- read and write


def write_measure(
    dataset: str | os.PathLike,
    measure: str,
    table: pd.DataFrame,
    provenance: dict[str, Any],
    *,
    source: str = "local",
    variant: str | None = None,
) -> Path:
    """Write a measure table (columns ``id``, ``value``, ``held_out`` + extras) with its provenance, atomically."""
    missing = [c for c in ("id", "value", "held_out") if c not in table.columns]
    if missing:
        raise E2HError(f"measure table {measure!r} lacks column(s) {', '.join(missing)}.")
    frame = table.assign(id=table["id"].astype(str), value=table["value"].astype(float))
    arrow = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    meta = {"table_version": TABLE_VERSION, "measure": measure, **provenance}
    arrow = arrow.replace_schema_metadata(
        {**(arrow.schema.metadata or {}), METADATA_KEY: json.dumps(meta, default=str)}
    )
    path = table_path(dataset, measure, source, variant)
    with atomic_path(path) as tmp:
        pq.write_table(arrow, tmp)
    return path


def read_measure(path: str | os.PathLike) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A measure table and its provenance."""
    path = Path(path)
    stat = path.stat()
    return _read(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _read(path: Path, mtime: int, size: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    try:
        arrow = pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise E2HError(f"{path} is not a readable measure table ({exc}); delete it and compute it again.") from exc
    meta = json.loads((arrow.schema.metadata or {}).get(METADATA_KEY, b"{}"))
    return arrow.to_pandas(), meta


def computed_tables(dataset: str | os.PathLike, source: str = "local", variant: str | None = None) -> dict[str, Path]:
    """``{measure: path}`` of every computed table a preparation of a dataset reads (see the module docstring)."""
    return {measure: path for measure, (path, _, _) in _tables(dataset, source, variant).items()}


def _tables(dataset: str | os.PathLike, source: str, variant: str | None) -> dict[str, tuple[Path, str, bool]]:
    found: dict[str, tuple[Path, str, bool]] = {}
    for key, name, same in reversed(_lookup(dataset, source, variant)):
        folder = e2h_home() / "measures" / key
        found.update({path.stem: (path, name, same) for path in sorted(folder.glob("*.parquet"))})
    return found


def attach_computed(
    items: pd.DataFrame,
    dataset: str | os.PathLike,
    load: Callable[..., pd.DataFrame],
    *,
    source: str = "local",
    variant: str | None = None,
) -> pd.DataFrame:
    """Add each current computed measure of ``dataset`` as a float column (NaN: no value or held out); list it in attrs.

    ``items`` is what ``load_dataset(dataset, source=source, variant=variant)`` gives. A column the table already
    has (e.g. from an exported file) is kept as it is. A stale table (see the module docstring) is left out and
    listed in ``items.attrs["stale_measures"]`` as ``{measure: {"dataset", "format", "source", "variant"}}``, what
    recomputes it (:func:`compute_command`). ``load``: ``e2h.data.load_dataset``, for the tables of
    a base dataset or another preparation (passed in: this module is below it).
    """
    measures = list(items.attrs.get("measures", ()))
    stale = dict(items.attrs.get("stale_measures", {}))
    held_out = dict(items.attrs.get("held_out", {}))
    borrowed = dict(items.attrs.get("borrowed_measures", {}))
    current: dict[str, tuple[str, pd.Series | None]] = {}  # folder key → (fingerprint, item texts when borrowed)
    mine: pd.Series | None = None  # these items' texts, once a default-preparation table is lent to them
    for measure, (path, name, same) in _tables(dataset, source, variant).items():
        if measure in items.columns:
            continue
        table, meta = read_measure(path)
        key = path.parent.name
        if key not in current:
            current[key] = _current(items, dataset, name, same, source, variant, load)
        fingerprint, texts = current[key]
        outdated = meta.get("method_version", 1) != METHOD_VERSIONS.get(meta.get("method"), 1)
        if outdated or meta.get("items_fingerprint", fingerprint) != fingerprint:
            stale[measure] = _stale(measure, name, path, meta, outdated)
            continue
        values = table["value"].to_numpy(dtype=float).copy()
        held = table["held_out"].to_numpy(dtype=bool)
        values[held] = np.nan
        column = items["id"].astype(str).map(dict(zip(table["id"], values, strict=True))).astype(float)
        if texts is not None:  # a default-preparation table: only items equal to a default item get its values
            mine = _item_texts(items) if mine is None else mine
            matched = mine.to_numpy() == texts.reindex(mine.index).to_numpy()
            if not matched.any():
                continue
            column = column.where(matched)
            borrowed[measure] = key
        items[measure] = column.to_numpy()
        measures.append(measure)
        if held.any():
            held_out[measure] = tuple(table["id"][held].astype(str))
    items.attrs["measures"] = measures
    if source != "local" or variant is not None:
        items.attrs["preparation"] = {"source": source, "variant": variant}
    for attr, value in (("stale_measures", stale), ("held_out", held_out), ("borrowed_measures", borrowed)):
        if value:
            items.attrs[attr] = value
    return items


def _current(
    items: pd.DataFrame,
    dataset: str | os.PathLike,
    name: str,
    same: bool,
    source: str,
    variant: str | None,
    load: Callable[..., pd.DataFrame],
) -> tuple[str, pd.Series | None]:
    """(fingerprint of the items a folder's tables describe, as they load now; their texts when they are borrowed)."""
    if same and name == os.fspath(dataset):
        return items_fingerprint(items), None
    if same:
        return items_fingerprint(load(name, source=source, variant=variant)), None
    default = load(name)  # a built-in: a view's base, or the default preparation of these items
    return items_fingerprint(default), _item_texts(default)


#: (table, stored fingerprint) of the stale tables already warned about by this process
_WARNED: set[tuple[Path, str]] = set()


def _stale(measure: str, name: str, path: Path, meta: dict[str, Any], outdated: bool) -> dict[str, Any]:
    """What recomputes a stale table, after one warning per table and process."""
    redo = {
        "dataset": name,
        "format": meta.get("format"),
        "source": meta.get("source", "local"),
        "variant": meta.get("variant"),
    }
    stamp = (path, str(meta.get("items_fingerprint")) + ("/outdated" if outdated else ""))
    if stamp not in _WARNED:
        _WARNED.add(stamp)
        why = (
            METHOD_CHANGES.get(meta.get("method"), f"it was computed with an older definition of {meta.get('method')}")
            if outdated
            else f"its items changed since {meta.get('created', 'it was computed')}"
        )
        warn(
            f"computed measure {measure!r} of {redo['dataset']} is stale ({why}) and is left out: recompute it "
            f"with `{compute_command(redo['dataset'], measure, redo['format'], redo['source'], redo['variant'])}`"
        )
    return redo


def missing_by_split(items: pd.DataFrame, measure: str) -> dict[str, tuple[int, int]]:
    """``{source_split: (items without a value, items)}`` of a measure column, held-out items not counted as
    missing; only splits with a missing item."""
    held = items["id"].astype(str).isin(items.attrs.get("held_out", {}).get(measure, ()))
    missing = pd.to_numeric(items[measure], errors="coerce").isna().to_numpy() & ~held.to_numpy()
    splits = items["source_split"].astype(str).to_numpy()
    counts = {}
    for split in dict.fromkeys(splits):
        where = splits == split
        if missing[where].any():
            counts[split] = (int(missing[where].sum()), int(where.sum()))
    return counts


def list_computed() -> dict[str, Path]:
    """``{"<preparation key>/<measure>": path}`` of every computed table in the cache."""
    root = cache_dir("measures")
    return {f"{path.parent.name}/{path.stem}": path for path in sorted(root.glob("*/*.parquet"))}
