"""The worker recipe: one model's cells, the same on the local backend and on every Ray worker.

:func:`run_model` loads the model → records its facts (dtype, device, parameters) → computes the engine work
the cells' learners plan, deduplicated, in one pass (``experiments.prefetch``) → computes the cells one by one
from the engine's caches (``cell.run_cell``) → reports the engine's forward throughput. It yields what happens
as events; the driver's :class:`~e2h.experiments.recorder.Recorder` applies them to the store, the run's result
and the progress bar. The local backend iterates it in its own process, once per model; a Ray worker runs it on
the cells it is given and streams the events back (``experiments.ray_backend``). A failing cell is reported
and the others go on; a model that cannot load fails each of its cells with that error.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from e2h.experiments.cell import run_cell
from e2h.experiments.prefetch import prefetch_cells

if TYPE_CHECKING:
    import pandas as pd

    from e2h.experiments.cell import RunData
    from e2h.experiments.config import ExperimentConfig
    from e2h.experiments.grid import Cell
    from e2h.models import LanguageModel


@dataclass(frozen=True)
class ModelLoad:
    """How a worker loads one model of the run: ``load_model(path, device=device, dtype=dtype, quantization=...)``."""

    name: str  # as the config names it (the cells' ``model``)
    path: str
    device: str
    dtype: str | None
    quantization: str = "none"  # int8 | nf4 | none (the config's ``quantization``)

    @classmethod
    def of(cls, config: ExperimentConfig, model: str, device: str | None = None) -> ModelLoad:
        """The config's way of loading ``model`` (``device`` overrides the config's)."""
        device = device or config.device
        return cls(model, config.model_path(model), device, config.dtype, config.model_quantization(model))


@dataclass(frozen=True)
class ModelLoaded:
    model: str
    facts: dict[str, Any]  # model_facts()
    seconds: float


@dataclass(frozen=True)
class Prefetched:
    model: str
    requests: int  # requests computed (not already cached)
    seconds: float


@dataclass(frozen=True)
class CellStarted:
    cell: Cell


@dataclass(frozen=True)
class CellDone:
    cell: Cell
    frame: pd.DataFrame  # the cell's rows (store.SCHEMA)
    seconds: float


@dataclass(frozen=True)
class CellFailed:
    cell: Cell
    error: BaseException
    seconds: float


@dataclass(frozen=True)
class ModelDone:
    model: str
    engine: dict[str, float | str]  # LanguageModel.throughput() after these cells
    seconds: float  # the cells' wall time (fit, predict)


Event = ModelLoaded | Prefetched | CellStarted | CellDone | CellFailed | ModelDone


def model_facts(lm: LanguageModel) -> dict[str, Any]:
    """What the manifest records of a loaded model: dtype (and, on CPU, the probe behind an auto choice)."""
    from e2h.models.cpu import dtype_report

    facts: dict[str, Any] = {
        "dtype": str(lm.dtype).removeprefix("torch."),
        "device": str(lm.device),
        "quantization": lm.quantization,
        "parameters": sum(p.numel() for p in lm.model.parameters()),
    }
    if os.environ.get("E2H_DTYPE", "auto") != "auto":
        facts["dtype_env"] = os.environ["E2H_DTYPE"]  # what `auto` meant for this run
    if lm.device.type == "cpu":
        facts["cpu_dtype_probe"] = dtype_report(lm.device)
    return facts


def run_model(load: ModelLoad, cells: list[Cell], data: RunData) -> Iterator[Event]:
    """The recipe of the module docstring for ``cells`` (all of model ``load.name``), in their order."""
    from e2h.models import load_model

    start = time.perf_counter()
    try:
        lm = load_model(load.path, device=load.device, dtype=load.dtype, quantization=load.quantization)
    except Exception as exc:  # every cell of this model fails; the other models still run
        for cell in cells:
            yield CellFailed(cell, exc, 0.0)
        return
    yield ModelLoaded(load.name, model_facts(lm), time.perf_counter() - start)
    start = time.perf_counter()
    computed = prefetch_cells(cells, lm, data)  # their planned engine work, deduplicated, in one pass
    yield Prefetched(load.name, computed, time.perf_counter() - start)
    cells_start = time.perf_counter()
    for cell in cells:
        yield CellStarted(cell)
        start = time.perf_counter()
        try:
            frame = run_cell(cell, lm, data)
        except Exception as exc:  # reported with its traceback; the other cells go on
            yield CellFailed(cell, exc, time.perf_counter() - start)
            continue
        yield CellDone(cell, frame, time.perf_counter() - start)
    yield ModelDone(load.name, lm.throughput(), time.perf_counter() - cells_start)


__all__ = [
    "CellDone",
    "CellFailed",
    "CellStarted",
    "Event",
    "ModelDone",
    "ModelLoad",
    "ModelLoaded",
    "Prefetched",
    "model_facts",
    "run_model",
]
