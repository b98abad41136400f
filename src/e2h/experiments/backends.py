"""Runner backends: where a run's cells are computed. The store stays the single writer, on the driver.

A run is plan → run cells → store. :func:`~e2h.experiments.runner.run_experiment` plans (data, cells, checked
splits), opens the store and hands the cells still to compute to a backend; the backend computes them, one model
load per worker, and reports each outcome to the :class:`Recorder`, which is the only path to the store, the run's
result and the progress bar::

    local   LocalBackend          this process: load each model once, run its cells in grid order
    ray     ray_backend.RayBackend  a Ray cluster: one actor per (model, device) computes cells, results come back

Whichever backend computed a cell, the same cell gives the same rows (``run_cell`` on the same model, split and
seed) and the same Parquet file; a rerun with either backend resumes from the files already in the store.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import TYPE_CHECKING, Any, Protocol

from e2h.errors import E2HError
from e2h.experiments import runner
from e2h.experiments.config import unknown
from e2h.experiments.prefetch import prefetch_cells
from e2h.progress import bar

if TYPE_CHECKING:
    import pandas as pd

    from e2h.experiments.config import ExperimentConfig
    from e2h.experiments.grid import Cell
    from e2h.experiments.runner import RunData, RunResult
    from e2h.experiments.store import RunStore
    from e2h.models import LanguageModel


BACKENDS = ("local", "ray")


class Recorder:
    """The driver's side of a run: each cell's outcome, as it arrives, to the store, the result and the progress."""

    def __init__(self, store: RunStore, result: RunResult, todo: int) -> None:
        self.store, self.result = store, result
        self.running: dict[str, Cell] = {}
        total = len(result.cells)
        self.progress = bar(f"run {store.dir.name}", total=total, unit="cell", initial=total - todo)

    def start(self, cell: Cell) -> None:
        """The cell is being computed (manifest status ``running``)."""
        self.result.executed.append(cell.cell_id)
        self.store.start_cell(cell)
        self.running[cell.cell_id] = cell
        self._show()

    def finish(self, cell: Cell, frame: pd.DataFrame, seconds: float) -> None:
        """Write the cell's rows (atomically) and mark it done."""
        self.store.finish_cell(cell, frame, seconds)
        self._end(cell)

    def fail(self, cell: Cell, error: BaseException, seconds: float) -> None:
        """Record the cell as failed, with its error and traceback in the manifest; the run goes on."""
        self.store.fail_cell(cell, error, seconds)
        message = f"{type(error).__name__}: {error}".splitlines()[0]
        self.result.failures.append((cell, message))
        self._end(cell)

    def interrupt(self, cell: Cell, seconds: float) -> None:
        """Record a cell cut short by Ctrl-C as ``interrupted``; nothing of it is written."""
        self.store.fail_cell(cell, KeyboardInterrupt(), seconds)
        self.running.pop(cell.cell_id, None)

    def close(self) -> None:
        self.progress.close()

    def _end(self, cell: Cell) -> None:
        self.running.pop(cell.cell_id, None)
        self.progress.update(1)
        self._show()

    def _show(self) -> None:
        """``2 running, 1 failed`` (and the cell's name while one runs); tqdm adds done/total, rate and ETA."""
        text = f"{len(self.running)} running, {len(self.result.failures)} failed"
        if len(self.running) == 1:
            text += f" · {next(iter(self.running.values())).describe()}"
        self.progress.set_postfix_str(text, refresh=False)


class Backend(Protocol):
    """Computes ``cells`` (grouped by model) and reports every outcome to ``recorder`` as it arrives.

    A failing cell is recorded and the others go on; on Ctrl-C the cells in progress are recorded as interrupted
    and ``KeyboardInterrupt`` propagates (the runner then closes the store as interrupted).
    """

    def run(self, config: ExperimentConfig, data: RunData, cells: list[Cell], recorder: Recorder) -> None: ...


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


class LocalBackend:
    """This process: each model loaded once, its cells computed one after another in grid order."""

    def run(self, config: ExperimentConfig, data: RunData, cells: list[Cell], recorder: Recorder) -> None:
        from e2h.models import load_model

        for model, group in itertools.groupby(cells, key=lambda c: c.model):
            group = list(group)
            start = time.perf_counter()
            try:
                lm = load_model(
                    config.model_path(model),
                    device=config.device,
                    dtype=config.dtype,
                    quantization=config.model_quantization(model),
                )
            except Exception as exc:  # every cell of this model fails; the other models still run
                for cell in group:
                    recorder.fail(cell, exc, 0.0)
                continue
            recorder.result.timed("model load (download, convert)", start)
            recorder.store.record_model(model, model_facts(lm))
            start = time.perf_counter()
            prefetch_cells(group, lm, data)  # their planned engine work, deduplicated, in one pass
            recorder.result.timed("prefetch (shared forward passes)", start)
            cells_start = time.perf_counter()
            for cell in group:
                recorder.start(cell)
                start = time.perf_counter()
                try:
                    frame = runner.run_cell(cell, lm, data)
                except KeyboardInterrupt:
                    recorder.interrupt(cell, time.perf_counter() - start)
                    raise
                except Exception as exc:  # recorded with its traceback in the manifest; the run goes on
                    recorder.fail(cell, exc, time.perf_counter() - start)
                    continue
                recorder.finish(cell, frame, time.perf_counter() - start)
            recorder.result.timed("cells (fit, predict)", cells_start)
            recorder.result.engine[model] = lm.throughput()
            del lm


def make_backend(config: ExperimentConfig, backend: str | None = None, address: str | None = None) -> Backend:
    """The backend named ``backend`` (default: the config's ``backend``); ``address`` is a Ray cluster's."""
    name = backend or config.backend
    if name == "local":
        if address:
            raise E2HError(f"--address {address} is for the ray backend: add --backend ray, or drop --address")
        from e2h.models.loading import check_quantization

        for model in config.models:  # before the store opens: a quantized model this machine cannot load
            check_quantization(config.model_quantization(model), config.device, f"model {model}")
        return LocalBackend()
    if name == "ray":
        from e2h.experiments.ray_backend import RayBackend, check_resources

        check_resources(config)
        return RayBackend(address or config.ray_address)
    raise E2HError(unknown("backend", name, BACKENDS))


__all__ = ["BACKENDS", "Backend", "LocalBackend", "Recorder", "make_backend"]
