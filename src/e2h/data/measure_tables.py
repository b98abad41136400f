"""Computed measure tables: model-based hardness stored in the cache and read like any other column.

``e2h hardness compute`` (:mod:`e2h.measures`) writes one Parquet table per dataset and measure::

    $E2H_HOME/measures/<dataset key>/<measure>.parquet

with one row per item (``id``, ``value`` float, ``held_out`` bool, and method-specific columns such as
``bits``) and its provenance in the file's metadata (key ``e2h``: dataset, item fingerprint, method,
models, learner and its parameters, seeds, e2h version, summary numbers). The dataset key is the
built-in name (a view such as ``arc-easy`` also reads the tables of its base, ``arc``), or for a user
file ``<stem>-<hash of its absolute path>``.

:func:`attach_computed` adds every computed measure of a dataset to its item table as a float column
(NaN for items the table has no value for, and for held-out items, so they take part in no split) and
lists it in ``items.attrs["measures"]``. A table is attached only while its item fingerprint
(:func:`items_fingerprint`, stored when it is written) equals that of the items it was computed on as
they load now (the table's own dataset, or the base of a view, in its default preparation): when the
items changed since, the table is **stale**, left out, named in ``items.attrs["stale_measures"]``, and
one warning names the command that recomputes it. This module reads and writes the tables; it fits nothing.
Measure names follow :mod:`e2h.measure_names`.
"""

from __future__ import annotations

import functools
import json
import os
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


# ---------------------------------------------------------------------------------------------- where tables live


def dataset_key(dataset: str | os.PathLike) -> str:
    """The folder name of a dataset's tables: a built-in name, or ``<stem>-<path hash>`` for a user file."""
    from e2h.data.catalog import DATASETS

    name = os.fspath(dataset)
    if name in DATASETS:
        return name
    path = Path(name).expanduser().resolve()
    return f"{model_slug(path.stem)}-{content_hash(str(path), length=8)}"


def _keys(dataset: str | os.PathLike) -> list[str]:
    """The dataset's own key, then its base's for a built-in view."""
    from e2h.data.catalog import base_name

    name = os.fspath(dataset)
    base = base_name(name)
    return [dataset_key(name), *([base] if base != name else [])]


def table_path(dataset: str | os.PathLike, measure: str) -> Path:
    return cache_dir("measures", dataset_key(dataset)) / f"{measure}.parquet"


def items_fingerprint(items: pd.DataFrame) -> str:
    """A hash of what a model sees of the items (id, question, choices, label), not of their other measures."""
    core = items[["id", "question", "choices", "label"]]
    return content_hash(core.to_json(orient="split", index=False, default_handler=str))


# ---------------------------------------------------------------------------------------------- read and write


def write_measure(dataset: str | os.PathLike, measure: str, table: pd.DataFrame, provenance: dict[str, Any]) -> Path:
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
    path = table_path(dataset, measure)
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


def computed_tables(dataset: str | os.PathLike) -> dict[str, Path]:
    """``{measure: path}`` of every computed table of a dataset (its own win over its base's)."""
    found: dict[str, Path] = {}
    for key in reversed(_keys(dataset)):
        folder = e2h_home() / "measures" / key
        found.update({path.stem: path for path in sorted(folder.glob("*.parquet"))})
    return found


def attach_computed(
    items: pd.DataFrame, dataset: str | os.PathLike, *, default_preparation: bool = True
) -> pd.DataFrame:
    """Add each current computed measure of ``dataset`` as a float column (NaN: no value or held out); list it in attrs.

    A column the table already has (e.g. from an exported file) is kept as it is. A stale table (see the module
    docstring) is left out and listed in ``items.attrs["stale_measures"]`` as ``{measure: {"dataset", "format"}}``,
    what recomputes it (:func:`compute_command`). ``default_preparation``: ``items`` is what
    ``load_dataset(dataset)`` gives without a variant or source (else the fingerprints are compared with that table).
    """
    measures = list(items.attrs.get("measures", ()))
    stale = dict(items.attrs.get("stale_measures", {}))
    fingerprints: dict[str, str] = {}  # dataset key → fingerprint of the items its tables were computed on
    for measure, path in computed_tables(dataset).items():
        if measure in items.columns:
            continue
        table, meta = read_measure(path)
        key = path.parent.name
        if key not in fingerprints:
            fingerprints[key] = _current_fingerprint(key, items, dataset, default_preparation)
        if meta.get("items_fingerprint", fingerprints[key]) != fingerprints[key]:
            stale[measure] = _stale(measure, key, dataset, path, meta)
            continue
        values = table["value"].to_numpy(dtype=float).copy()
        values[table["held_out"].to_numpy(dtype=bool)] = np.nan
        items[measure] = items["id"].map(dict(zip(table["id"], values, strict=True))).astype(float)
        measures.append(measure)
    items.attrs["measures"] = measures
    if stale:
        items.attrs["stale_measures"] = stale
    return items


def _current_fingerprint(key: str, items: pd.DataFrame, dataset: str | os.PathLike, default: bool) -> str:
    """The fingerprint of the items the tables under ``key`` were computed on, as they load now."""
    if key == dataset_key(dataset) and default:
        return items_fingerprint(items)
    from e2h.data import load_dataset  # a built-in (a view's base, or another preparation of this one)

    return items_fingerprint(load_dataset(key))


#: (table, stored fingerprint) of the stale tables already warned about by this process
_WARNED: set[tuple[Path, str]] = set()


def _stale(measure: str, key: str, dataset: str | os.PathLike, path: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """What recomputes a stale table, after one warning per table and process."""
    redo = {"dataset": os.fspath(dataset) if key == dataset_key(dataset) else key, "format": meta.get("format")}
    if (path, meta["items_fingerprint"]) not in _WARNED:
        _WARNED.add((path, meta["items_fingerprint"]))
        warn(
            f"computed measure {measure!r} of {redo['dataset']} is stale (its items changed since "
            f"{meta.get('created', 'it was computed')}) and is left out: recompute it with "
            f"`{compute_command(redo['dataset'], measure, redo['format'])}`"
        )
    return redo


def list_computed() -> dict[str, Path]:
    """``{"<dataset key>/<measure>": path}`` of every computed table in the cache."""
    root = cache_dir("measures")
    return {f"{path.parent.name}/{path.stem}": path for path in sorted(root.glob("*/*.parquet"))}
