"""Read a run's results store: ``runs/<name>/manifest.json`` and ``runs/<name>/cells/*.parquet``.

The format (layout, columns, manifest facts) is :mod:`e2h.results_format`'s; this module adds the one-line errors.

``load_results`` adds a bool column ``baseline``: whether a row's cell is its dataset's unsupervised baseline
(the learner name ``unsupervised`` in a config, e.g. ``zero-shot-cot`` on GSM8k), as the manifest's cells mark it.
Cells of a manifest written before that mark existed count as the baseline when their learner is ``zero-shot``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from e2h import results_format as fmt
from e2h.errors import E2HError
from e2h.results_format import REQUIRED_COLUMNS

#: The unsupervised baseline of cells whose manifest entry has no ``baseline`` mark (runs of an older e2h).
FALLBACK_BASELINE = "zero-shot"


def _run_dir(run_dir: str | Path) -> Path:
    path = Path(run_dir)
    if not path.is_dir():
        raise E2HError(f"run folder {path} does not exist; run an experiment first with `e2h run CONFIG`")
    return path


def load_manifest(run_dir: str | Path) -> dict[str, Any]:
    """The run's ``manifest.json`` as a dict (its facts through the readers of :mod:`e2h.results_format`)."""
    path = fmt.manifest_path(_run_dir(run_dir))
    if not path.is_file():
        raise E2HError(
            f"{path.parent} has no manifest.json, so it is not a finished run; create it with `e2h run CONFIG`"
        )
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise E2HError(f"{path} is not valid JSON ({exc.msg}, line {exc.lineno}); rerun `e2h run CONFIG`") from exc


def load_results(run_dir: str | Path) -> pd.DataFrame:
    """Every cell of a run concatenated: one row per (cell, test item), columns as in the results store."""
    path = _run_dir(run_dir)
    manifest = load_manifest(path)
    files = fmt.cell_files(path)
    if not files:
        raise E2HError(f"{path} has no results in cells/*.parquet; run the experiment with `e2h run CONFIG`")
    frames = []
    for file in files:
        try:
            frame = fmt.read_cell(file)
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise E2HError(
                f"{file} is not a readable Parquet file ({exc}); delete it and rerun `e2h run CONFIG`"
            ) from exc
        missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
        if missing:
            raise E2HError(f"{file} lacks columns {missing}; it comes from an older e2h — rerun `e2h run CONFIG`")
        frames.append(frame)
    results = pd.concat(frames, ignore_index=True)
    results["correct"] = results["correct"].astype(bool)
    results["baseline"] = _baseline_flags(manifest, results)
    return results


def _baseline_flags(manifest: dict[str, Any], results: pd.DataFrame) -> pd.Series:
    """Each row's cell's ``baseline`` mark from the manifest; ``learner == FALLBACK_BASELINE`` where it has none."""
    marked = {c.cell_id: c.baseline for c in fmt.manifest_cells(manifest) if c.baseline is not None}
    fallback = results["learner"] == FALLBACK_BASELINE
    known = results["cell_id"].isin(list(marked))
    return fallback.where(~known, results["cell_id"].map(marked)).astype(bool)
