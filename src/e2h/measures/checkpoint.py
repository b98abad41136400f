"""Resumable units of work: each finished fit's per-item numbers are saved at once, so an interrupted
``e2h hardness compute`` resumes where it stopped.

A checkpoint is a folder ``$E2H_HOME/measures/<dataset key>/.partial/<hash of the computation>/``
holding one ``.npy`` array per unit; the hash covers everything the numbers depend on (method,
models, learner parameters, seed, item fingerprint), so a changed computation never reuses old
units. The folder is removed once the measure table is written.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from e2h.io import atomic_path


class Checkpoint:
    """``get(unit)`` → the saved array or None; ``put(unit, array)`` saves it atomically."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.n_resumed = 0  # units answered from disk in this session

    def _path(self, unit: str) -> Path:
        return self.folder / f"{unit.replace('/', '__')}.npy"

    def get(self, unit: str) -> np.ndarray | None:
        path = self._path(unit)
        if not path.is_file():
            return None
        self.n_resumed += 1
        return np.load(path)

    def put(self, unit: str, values: np.ndarray) -> np.ndarray:
        with atomic_path(self._path(unit)) as tmp, open(tmp, "wb") as handle:
            np.save(handle, np.asarray(values))
        return values

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
