"""The results store's format, in one place: ``e2h.experiments.store`` writes it, ``e2h.analysis`` reads it.

It stands on the floor of small shared modules (no other e2h package), so the writer and the reader both import it
and analysis never imports ``e2h.experiments``. One run folder::

    <output_dir>/<run>/manifest.json            the config, provenance, the run's dtype, how each model was loaded
                                                (``models``), every cell of the grid with its status (``cells``)
    <output_dir>/<run>/cells/<cell_id>.parquet  one row per test item, columns ``SCHEMA``; exists ⇔ the cell finished
    <output_dir>/<run>/stale/                   cells (and manifests, ``manifest-<config_hash>.json``) of earlier
                                                configs of this run name: kept, never reported

The manifest facts analysis needs have typed readers: :func:`manifest_cells` (status, baseline mark, cutoffs),
:func:`manifest_models` (measured parameter count, dtype, device) and :func:`run_dtype`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from e2h.io import atomic_path

MANIFEST = "manifest.json"
CELLS = "cells"
STALE = "stale"

#: Columns of a cell's Parquet file, in order.
SCHEMA = pa.schema(
    [
        ("run", pa.string()),  # run name
        ("cell_id", pa.string()),  # content hash of the cell's config (e2h.experiments.grid.Cell)
        ("model", pa.string()),  # as named in the config (alias, hub id or folder)
        ("dataset", pa.string()),  # test dataset, as named in the config
        ("train_dataset", pa.string()),  # = dataset unless transfer
        ("measure", pa.string()),  # the measure that levels the test items ("random": none)
        ("learner", pa.string()),
        ("train_on", pa.string()),  # easy, medium, hard, all, easy_and_hard; "none" for unsupervised learners
        ("test_on", pa.string()),  # easy, medium, hard, all
        ("n_train", pa.int64()),  # training items (0 when unsupervised)
        ("k", pa.int64()),  # in-context demonstrations (0 if none)
        ("seed", pa.int64()),
        ("label_noise", pa.float64()),  # probability p that a training label is wrong
        ("item_id", pa.string()),  # the test item
        ("item_level", pa.string()),  # its hardness level
        ("n_choices", pa.int64()),  # chance = 1 / n_choices (generative items: 1 choice, chance 0)
        ("probs", pa.list_(pa.float64())),  # probability of each choice
        ("pred", pa.int64()),  # predicted choice
        ("correct", pa.bool_()),
        ("gold_prob", pa.float64()),  # probability of the gold choice
        ("quantization", pa.string()),  # none, nf4, int8: what was actually used
        ("fit_seconds", pa.float64()),
        ("predict_seconds", pa.float64()),
    ]
)
#: The columns a reader cannot do without; a store of an older e2h may lack the others.
REQUIRED_COLUMNS = (
    *("run", "cell_id", "model", "dataset", "measure", "learner", "train_on", "test_on", "n_train", "seed"),
    *("label_noise", "item_id", "item_level", "n_choices", "correct"),
)
#: What a column missing from an older store meant (a column name: that column's value).
OLD_DEFAULTS: dict[str, Any] = {"train_dataset": "dataset", "k": 0}


def manifest_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / MANIFEST


def cell_path(run_dir: str | Path, cell_id: str) -> Path:
    return Path(run_dir) / CELLS / f"{cell_id}.parquet"


def cell_files(run_dir: str | Path) -> list[Path]:
    """The finished cells' files of a run, sorted."""
    return sorted((Path(run_dir) / CELLS).glob("*.parquet"))


def stale_manifests(run_dir: str | Path) -> list[Path]:
    """The manifests of earlier configs of a run, set aside with their cells."""
    return sorted((Path(run_dir) / STALE).glob("manifest-*.json"))


def write_cell(path: Path, frame: pd.DataFrame) -> None:
    """A cell's rows (``SCHEMA`` columns) as its Parquet file, atomically."""
    table = pa.Table.from_pandas(frame, schema=SCHEMA, preserve_index=False).replace_schema_metadata(None)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_cell(path: Path) -> pd.DataFrame:
    """A cell's rows; a column an older e2h did not write gets what it meant then (:data:`OLD_DEFAULTS`)."""
    frame = pq.read_table(path).to_pandas()
    for column, default in OLD_DEFAULTS.items():
        if column not in frame.columns:
            frame[column] = frame[default] if default in frame.columns else default
    return frame


@dataclass(frozen=True)
class ModelFacts:
    """How the run loaded one model (``manifest["models"][name]``): ``parameters`` is the counted total."""

    dtype: str
    device: str
    quantization: str = "none"
    parameters: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the CPU probe behind an auto dtype

    def to_json(self) -> dict[str, Any]:
        facts = {"dtype": self.dtype, "device": self.device, "quantization": self.quantization}
        return {**facts, "parameters": self.parameters, **self.extra}

    @classmethod
    def from_json(cls, facts: Mapping[str, Any]) -> ModelFacts:
        known = ("dtype", "device", "quantization", "parameters")
        parameters = facts.get("parameters")
        return cls(
            dtype=str(facts.get("dtype", "")),
            device=str(facts.get("device", "")),
            quantization=str(facts.get("quantization") or "none"),
            parameters=int(parameters) if isinstance(parameters, int | float) and parameters > 0 else None,
            extra={k: v for k, v in facts.items() if k not in known},
        )


@dataclass(frozen=True)
class CellEntry:
    """One cell of ``manifest["cells"]``: what it is, its status, and what analysis needs of it."""

    cell_id: str
    status: str  # pending, running, done, failed, interrupted
    model: str = ""
    dataset: str = ""
    measure: str = ""
    learner: str = ""
    train_on: str = ""
    test_on: str = ""
    seed: int | None = None
    baseline: bool | None = None  # the dataset's unsupervised baseline; None: written before the mark existed
    cutoffs: tuple[float, float] | None = None  # the run's override of the measure's cutoffs
    dtype: str | None = None  # the compute dtype of a finished cell
    error: str | None = None

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> CellEntry:
        text = {k: str(entry.get(k) or "") for k in ("model", "dataset", "measure", "learner", "train_on", "test_on")}
        cutoffs = entry.get("cutoffs")
        return cls(
            cell_id=str(entry["cell_id"]),
            status=str(entry.get("status", "done")),
            **text,
            seed=entry.get("seed"),
            baseline=bool(entry["baseline"]) if "baseline" in entry else None,
            cutoffs=(float(cutoffs[0]), float(cutoffs[1])) if cutoffs else None,
            dtype=entry.get("dtype"),
            error=entry.get("error"),
        )


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    """The run's manifest, or ``{}`` when there is none or it does not parse (the writer starts afresh)."""
    return read_json(manifest_path(run_dir))


def read_json(path: Path) -> dict[str, Any]:
    """A manifest file (also one set aside in ``stale/``); ``{}`` when missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def manifest_cells(manifest: Mapping[str, Any]) -> list[CellEntry]:
    """The manifest's cells (entries without a ``cell_id`` skipped)."""
    cells = manifest.get("cells")
    return [CellEntry.from_json(c) for c in cells or [] if isinstance(c, Mapping) and "cell_id" in c]


def manifest_models(manifest: Mapping[str, Any]) -> dict[str, ModelFacts]:
    """How each model was loaded, by its name in the config (the ``model`` column)."""
    models = manifest.get("models")
    return {str(m): ModelFacts.from_json(f) for m, f in (models or {}).items() if isinstance(f, Mapping)}


def run_dtype(manifest: Mapping[str, Any]) -> str | None:
    """The dtype every cell of the run is computed in; for a manifest of an older e2h, the one dtype its models
    were loaded in (None when they differ or none is recorded)."""
    if manifest.get("dtype"):
        return str(manifest["dtype"])
    dtypes = {facts.dtype for facts in manifest_models(manifest).values() if facts.dtype}
    return dtypes.pop() if len(dtypes) == 1 else None


def finished_dtypes(manifest: Mapping[str, Any]) -> dict[str, str | None]:
    """Cell id → compute dtype of each finished cell of the manifest (the run's dtype where a cell records none)."""
    default = run_dtype(manifest)
    return {c.cell_id: c.dtype or default for c in manifest_cells(manifest) if c.status == "done"}
