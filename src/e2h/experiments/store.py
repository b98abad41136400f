"""The results store's writer: ``<output_dir>/<run>/manifest.json`` and one Parquet file per finished cell.

The format (layout, Parquet schema, manifest facts) is :mod:`e2h.results_format`'s; this module writes it. Rules:

* A cell's Parquet file is written atomically, so it exists only once the cell is complete; an interrupted run
  (Ctrl-C, ``kill -9``) loses at most the cell in progress. The manifest is rewritten atomically after each cell;
  the temporary files of a killed writer are deleted when the run is opened again.
* A rerun skips every cell whose file exists; ``force=True`` recomputes (each file is replaced when its cell ends).
* When the config under a run name changes, files of cells that are no longer in the grid move to ``stale/`` (kept,
  never reported; a warning says how many), and move back if a later config contains them again. So ``cells/``
  always holds exactly the current config's finished cells, which is all ``e2h.analysis.load_results`` reads.
* One dtype per run (:func:`resolve_run_dtype`): the run's finished cells fix it (each records its dtype); a run
  without any takes the config's ``dtype``, else ``$E2H_DTYPE``, else what ``auto`` picks on this machine. A config
  or ``$E2H_DTYPE`` naming another dtype than the finished cells' is a ConfigError, never a silent mix.
* One process per run folder at a time: there is no lock, and two runners would recompute each other's cells.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from e2h import results_format as fmt
from e2h.errors import ConfigError, E2HError
from e2h.experiments.config import ExperimentConfig
from e2h.experiments.grid import Cell
from e2h.io import content_hash, remove_stale_temps, write_json
from e2h.learners.base import Predictions
from e2h.notices import warn
from e2h.results_format import SCHEMA, ModelFacts

PACKAGES = ("e2h", "torch", "transformers", "peft", "accelerate", "gguf", "numpy", "pandas", "pyarrow", "scipy")


def cell_frame(
    cell: Cell, test: pd.DataFrame, predictions: Predictions, fit_seconds: float, predict_seconds: float
) -> pd.DataFrame:
    """The rows of one finished cell, in ``SCHEMA`` order; ``test`` has the split's ``level`` column."""
    if list(predictions.ids) != list(test["id"]):
        raise RuntimeError(f"learner {cell.learner} returned predictions for other items than the test items")
    n = len(test)
    constant = {
        "run": cell.run,
        "cell_id": cell.cell_id,
        "model": cell.model,
        "dataset": cell.dataset,
        "train_dataset": cell.train_dataset,
        "measure": cell.measure,
        "learner": cell.label,
        "train_on": cell.train_on,
        "test_on": cell.test_on,
        "n_train": cell.n_train,
        "k": cell.k,
        "seed": cell.seed,
        "label_noise": cell.label_noise,
    }
    frame = pd.DataFrame({name: [value] * n for name, value in constant.items()})
    frame["item_id"] = list(test["id"])
    frame["item_level"] = [None if pd.isna(v) else str(v) for v in test["level"]]
    frame["n_choices"] = [len(c) for c in test["choices"]]
    frame["probs"] = [np.asarray(p, dtype=float).tolist() for p in predictions.probs]
    frame["pred"] = np.asarray(predictions.pred, dtype=np.int64)
    frame["correct"] = np.asarray(predictions.correct, dtype=bool)
    frame["gold_prob"] = np.asarray(predictions.gold_prob, dtype=float)
    frame["quantization"] = str(predictions.info.get("quantization") or "none")
    frame["fit_seconds"] = float(fit_seconds)
    frame["predict_seconds"] = float(predict_seconds)
    return frame[SCHEMA.names]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _git() -> dict[str, Any] | None:
    """Commit (and whether the tree is dirty) of the checkout e2h runs from, if it is a git repository."""
    here = str(Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(
            ["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", here, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(status.strip())}


def _machine() -> dict[str, Any]:
    import torch

    from e2h.models.cpu import cpu_flags, cpu_name

    cuda = torch.cuda.is_available()
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu_name(),
        "cpu_flags": cpu_flags(),  # the vector extensions that set its matmul speed per dtype
        "cpu_count": os.cpu_count(),
        "torch_device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "cuda": cuda,
    }


def resolve_run_dtype(config: ExperimentConfig, finished: set[str]) -> tuple[str, str]:
    """(dtype, how it was chosen) of every cell of a run whose finished cells were computed in ``finished``.

    Finished cells fix it; without any, the config's ``dtype``, else ``$E2H_DTYPE``, else what ``auto`` picks here
    (:func:`e2h.models.cpu.dtype_report`). Another dtype asked for explicitly is a ConfigError naming both.
    """
    from e2h.models.cpu import dtype_report
    from e2h.models.loading import requested_dtype, resolve_device

    asked = requested_dtype(config.dtype)
    by_env = config.dtype in (None, "auto")
    who = "E2H_DTYPE" if by_env else "the config's dtype"
    where, redo = f"{config.source}: run {config.name!r}", "recompute every cell with `e2h run --force`"
    if len(finished) > 1:
        raise ConfigError(f"{where} has finished cells in {' and '.join(sorted(finished))}: {redo}")
    if finished:
        (dtype,) = finished
        if asked is not None and asked != dtype:
            fix = f"unset E2H_DTYPE (or set it to {dtype})" if by_env else f"set dtype: {dtype} (or auto) in the config"
            raise ConfigError(f"{where} has finished cells in {dtype}, but {who} asks for {asked}: {fix}, or {redo}")
        return dtype, "the dtype of the run's finished cells"
    if asked is not None:
        return asked, who
    try:
        device = resolve_device(config.device)
    except E2HError as exc:  # e.g. device cuda on a Ray driver without the GPUs its workers hold
        raise ConfigError(f"{where}: dtype auto cannot be resolved here ({exc}); set dtype in the config") from exc
    report = dtype_report(device)
    return str(report["dtype"]), f"auto on {device.type}: {report['reason']}"


class RunStore:
    """The folder of one run: manifest + per-cell Parquet files (see the module docstring)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.dir = Path(run_dir)
        self.cells_dir = self.dir / fmt.CELLS
        self.stale_dir = self.dir / fmt.STALE
        self.manifest_path = fmt.manifest_path(self.dir)
        self.manifest: dict[str, Any] = {}
        self.dtype: str | None = None  # the run's compute dtype, once opened
        self._entries: dict[str, dict[str, Any]] = {}

    @classmethod
    def for_config(cls, config: ExperimentConfig) -> RunStore:
        return cls(Path(config.output_dir) / config.name)

    def cell_path(self, cell_id: str) -> Path:
        return fmt.cell_path(self.dir, cell_id)

    def is_done(self, cell_id: str) -> bool:
        return self.cell_path(cell_id).is_file()

    def read_cell(self, cell_id: str) -> pd.DataFrame:
        return fmt.read_cell(self.cell_path(cell_id))

    def open(
        self, config: ExperimentConfig, cells: list[Cell], *, force: bool = False, notes: Sequence[str] = ()
    ) -> None:
        """Start (or resume) the run: fix its dtype, set stale cells aside, mark finished ones, write the manifest."""
        self.cells_dir.mkdir(parents=True, exist_ok=True)
        for folder in (self.dir, self.cells_dir):  # a manifest or cell killed while being written (kill -9)
            remove_stale_temps(folder)
        previous = fmt.read_manifest(self.dir)
        config_json = config.model_dump(mode="json")
        current = {c.cell_id for c in cells}
        dtypes = {} if force else self._finished_dtypes(current, previous)
        self.dtype, dtype_source = resolve_run_dtype(config, {d for d in dtypes.values() if d})
        self._set_aside(current, previous if previous.get("config") != config_json else None)
        self._entries = {}
        for c in cells:
            done = self.is_done(c.cell_id) and not force
            entry = {"cell_id": c.cell_id, **{k: v for k, v in asdict(c).items() if k != "run"}}
            entry["status"] = "done" if done else "pending"
            if done and dtypes.get(c.cell_id):
                entry["dtype"] = dtypes[c.cell_id]
            self._entries[c.cell_id] = entry
        history = previous.get("history", []) if previous.get("config") == config_json else []
        loaded = fmt.manifest_models(previous)  # models whose cells are all done now load no more
        self.manifest = {
            "name": config.name,
            "description": config.description,
            "config": config_json,
            "config_hash": content_hash(config_json),
            "dtype": self.dtype,
            "dtype_source": dtype_source,
            "notes": list(notes),
            "packages": _versions(),
            "git": _git(),
            "machine": _machine(),
            "started": _now(),
            "finished": None,
            "history": history,
            "models": {m: f.to_json() for m, f in loaded.items() if m in config.models and f.dtype == self.dtype},
            "cells": list(self._entries.values()),
        }
        self._save()

    def _finished_dtypes(self, current: set[str], previous: dict[str, Any]) -> dict[str, str | None]:
        """Cell id → compute dtype of each cell of the grid with a file here (in ``cells/`` or ``stale/``), as the
        manifests recorded it (None: by an older e2h that recorded none)."""
        files = {p.stem for folder in (self.cells_dir, self.stale_dir) for p in folder.glob("*.parquet")}
        known = fmt.finished_dtypes(previous)
        if (files & current) - known.keys():  # cells set aside earlier: their config's manifest was set aside too
            for path in fmt.stale_manifests(self.dir):
                known = {**fmt.finished_dtypes(fmt.read_json(path)), **known}
        return {cell_id: known.get(cell_id) for cell_id in files & current}

    def _set_aside(self, current: set[str], old_manifest: dict[str, Any] | None) -> None:
        """Move other configs' cells to ``stale/``; bring back stale cells the current grid contains."""
        for path in sorted(self.stale_dir.glob("*.parquet")) if self.stale_dir.is_dir() else []:
            if path.stem in current and not self.cell_path(path.stem).exists():
                os.replace(path, self.cell_path(path.stem))
        foreign = [p for p in sorted(self.cells_dir.glob("*.parquet")) if p.stem not in current]
        if not foreign:
            return
        self.stale_dir.mkdir(exist_ok=True)
        for path in foreign:
            os.replace(path, self.stale_dir / path.name)
        if old_manifest:
            shutil.copyfile(self.manifest_path, self.stale_dir / f"manifest-{old_manifest.get('config_hash')}.json")
        run = self.dir.name
        warn(
            f"{len(foreign)} cell(s) of an earlier config of run {run!r} moved to {self.stale_dir} (kept, not reported)"
        )

    def _save(self) -> None:
        counts: dict[str, int] = {}
        for entry in self._entries.values():
            counts[entry["status"]] = counts.get(entry["status"], 0) + 1
        self.manifest["counts"] = counts
        write_json(self.manifest_path, self.manifest)

    def record_model(self, name: str, facts: ModelFacts | Mapping[str, Any]) -> None:
        """Record how a model was loaded for this run (dtype and why, device, parameters) in the manifest."""
        facts = facts if isinstance(facts, ModelFacts) else ModelFacts.from_json(facts)
        self.manifest.setdefault("models", {})[name] = facts.to_json()
        self._save()

    def start_cell(self, cell: Cell) -> None:
        self._entries[cell.cell_id].update(status="running", started=_now(), error=None)
        self._save()

    def finish_cell(self, cell: Cell, frame: pd.DataFrame, seconds: float) -> None:
        """Write the cell's rows (atomically), then record it as done."""
        fmt.write_cell(self.cell_path(cell.cell_id), frame)
        entry = self._entries[cell.cell_id]
        entry.update(status="done", dtype=self.dtype, seconds=round(seconds, 3), finished=_now())
        self._save()

    def fail_cell(self, cell: Cell, error: BaseException, seconds: float) -> None:
        """Record a failed (or interrupted) cell with its error; no file is written."""
        status = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
        message = f"{type(error).__name__}: {error}".splitlines()[0] if str(error) else type(error).__name__
        self._entries[cell.cell_id].update(
            status=status,
            seconds=round(seconds, 3),
            error=message,
            traceback="".join(traceback.format_exception(error))[-4000:],
        )
        self._save()

    def close(self, status: str, executed: int) -> None:
        """End this invocation: times, how many cells were computed, and the run's status."""
        self.manifest["finished"] = _now()
        self.manifest["status"] = status
        self.manifest["history"].append(
            {"started": self.manifest["started"], "finished": self.manifest["finished"], "executed": executed}
        )
        self._save()
