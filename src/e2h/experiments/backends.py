"""Runner backends: where a run's cells are computed. The store stays the single writer, on the driver.

:func:`~e2h.experiments.runner.run_experiment` plans (data, cells, checked splits), opens the store and hands the
cells still to compute to a backend. Both backends run the same worker recipe per model
(``experiments.worker.run_model``: load, record the model's facts, prefetch the shared forward passes, compute the
cells, report throughput) and feed its events to the :class:`~e2h.experiments.recorder.Recorder`, the only path to
the store, the run's result and the progress bar::

    local   LocalBackend            this process: the recipe once per model, its cells in grid order
    ray     ray_backend.RayBackend  a Ray cluster: the recipe on each worker, over the cells it is given

Whichever backend computed a cell, the same cell gives the same rows (``cell.run_cell`` on the same model, split
and seed) and the same Parquet file; a rerun with either backend resumes from the files already in the store.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Protocol

from e2h.errors import E2HError
from e2h.experiments.config import unknown
from e2h.experiments.worker import ModelLoad, run_model

if TYPE_CHECKING:
    from e2h.experiments.cell import RunData
    from e2h.experiments.config import ExperimentConfig
    from e2h.experiments.grid import Cell
    from e2h.experiments.recorder import Recorder


BACKENDS = ("local", "ray")


class Backend(Protocol):
    """Computes ``cells`` (grouped by model) and reports every outcome to ``recorder`` as it arrives.

    A failing cell is recorded and the others go on; on Ctrl-C the cells in progress are recorded as interrupted
    and ``KeyboardInterrupt`` propagates (the runner then closes the store as interrupted).
    """

    def run(self, config: ExperimentConfig, data: RunData, cells: list[Cell], recorder: Recorder) -> None: ...


class LocalBackend:
    """This process: each model loaded once, its cells computed one after another in grid order."""

    def run(self, config: ExperimentConfig, data: RunData, cells: list[Cell], recorder: Recorder) -> None:
        try:
            for model, group in itertools.groupby(cells, key=lambda c: c.model):
                for event in run_model(ModelLoad.of(config, model), list(group), data):
                    recorder.record(event)
        except KeyboardInterrupt:
            recorder.interrupt_running()
            raise


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


__all__ = ["BACKENDS", "Backend", "LocalBackend", "make_backend"]
