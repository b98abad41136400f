"""The Ray backend: a grid's cells on a Ray cluster, each result sent back to the driver, which writes the store.

Ray does the scheduling; this module only sorts cells into groups and keeps each group's workers busy:

* **Groups.** Cells are grouped by (model, resources); each group gets up to as many :class:`CellWorker` actors as
  the cluster's resources hold (never more than it has cells). An actor loads its model once, on its device
  (``cuda`` when it holds a GPU, else ``cpu``), and computes one cell at a time with ``runner.run_cell``, the same
  function as the local backend, so a cell's rows are the same whichever backend computed it.
* **Resources per cell.** 1 GPU (and 1 CPU) for ``lora``/``qlora`` and for models of 1B+ parameters (read from the
  name, e.g. ``Llama-2-7b``) when the cluster has GPUs and the config's device is not ``cpu``; 1 CPU otherwise.
  The config's ``resources`` overrides this, by learner name or ``default`` (``{lora: {num_gpus: 1}}``); set it
  explicitly on an autoscaling cluster whose GPU nodes start at zero.
* **Results.** A worker returns the cell's DataFrame, or its error (with the worker's traceback); the driver records
  each through the :class:`~e2h.experiments.backends.Recorder` as it arrives, so the store stays the single writer.
  A worker process that dies (out of memory, a lost node) is restarted by Ray and its cell retried up to the
  config's ``max_retries`` times; after that the cell is recorded as failed and the run goes on.
* **Ctrl-C** kills every actor; cells in flight are recorded as interrupted and nothing of them is written.

The datasets travel once, through Ray's object store; models and caches are each node's (``E2H_HOME``; its
files are written atomically, so a shared filesystem is safe). README "Running on a cluster" says how to start one.
"""

from __future__ import annotations

import math
import os
import pickle
import re
import socket
import time
import traceback
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from e2h.errors import ConfigError, E2HError
from e2h.experiments import runner
from e2h.experiments.config import unknown
from e2h.notices import warn

if TYPE_CHECKING:
    from e2h.experiments.backends import Recorder
    from e2h.experiments.config import ExperimentConfig
    from e2h.experiments.grid import Cell
    from e2h.experiments.runner import RunData


RAY_VERSION = "2.60.0"  # the pin of the `ray` extra
GPU_LEARNERS = ("lora", "qlora")
LARGE_MODEL_BILLIONS = 1.0  # models at least this large (in parameters, from the name) get a GPU by default
_RAY_NAMES = {"num_cpus": "CPU", "num_gpus": "GPU", "memory": "memory"}


class WorkerDiedError(RuntimeError):
    """The worker process computing a cell died more often than ``max_retries`` allows."""


def import_ray() -> Any:
    """The ``ray`` module, or a one-line :class:`E2HError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise E2HError(f"the ray backend needs Ray: pip install 'e2h[ray]' (ray=={RAY_VERSION})") from None
    return ray


def model_billions(name: str) -> float:
    """Parameters of a model in billions as its name says (``Llama-2-7b`` → 7, ``Qwen2.5-0.5B`` → 0.5), else 0."""
    found = re.findall(r"(?:^|[^a-zA-Z0-9.])(?:\d+x)?(\d+(?:\.\d+)?)[bB](?![a-zA-Z0-9])", name)
    return max((float(n) for n in found), default=0.0)


def check_resources(config: ExperimentConfig) -> None:
    """Every key of the config's ``resources`` names a learner of the grid or ``default``."""
    known = {spec.name for spec in config.learners} | {"default"}
    bad = [unknown("learner", key, known) for key in config.resources if key not in known]
    if bad:
        raise ConfigError(f"{config.source}: resources: " + "; ".join(bad))


def cell_resources(config: ExperimentConfig, model: str, learner: str, cluster_gpus: float) -> dict[str, float]:
    """Ray resources of one cell: the rule of the module docstring < ``resources.default`` < ``resources[learner]``."""
    wants_gpu = learner in GPU_LEARNERS or model_billions(model) >= LARGE_MODEL_BILLIONS
    resources = {"num_cpus": 1.0}
    if wants_gpu and cluster_gpus > 0 and config.device != "cpu":
        resources["num_gpus"] = 1.0
    resources.update(config.resources.get("default", {}))
    resources.update(config.resources.get(learner, {}))
    return {key: value for key, value in resources.items() if value}


def _portable(exc: Exception) -> Exception:
    """``exc`` with the worker's traceback as a note, safe to send to the driver (else a RuntimeError naming it)."""
    note = f"on the Ray worker {socket.gethostname()} pid {os.getpid()}:\n" + "".join(traceback.format_exception(exc))
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        exc = RuntimeError(f"{type(exc).__name__}: {exc}")
    exc.add_note(note[-4000:])
    return exc


class CellWorker:
    """A Ray actor: one model, loaded once on this worker's device, computing the cells it is sent one by one."""

    def __init__(self, model_path: str, device: str, dtype: str | None, quantization: str = "none") -> None:
        from e2h.models import load_model
        from e2h.progress import set_quiet

        set_quiet(True)  # progress is the driver's
        self.lm, self.error, self.data, self.data_ref = None, None, None, None
        try:
            self.lm = load_model(model_path, device=device, dtype=dtype, quantization=quantization)
        except Exception as exc:  # every cell sent here fails with it, as in the local runner
            self.error = _portable(exc)

    def ready(self) -> str:
        return f"{socket.gethostname()} pid {os.getpid()}"

    def run(self, cell: Cell, data: list[Any]) -> tuple[str, Any, float]:
        """``("done", rows, seconds)`` or ``("failed", error, seconds)``; ``data`` is ``[ref to RunData]``,
        fetched once per worker."""
        import ray

        if self.error is not None:
            return "failed", self.error, 0.0
        if self.data_ref != data[0]:
            self.data, self.data_ref = ray.get(data[0]), data[0]
        start = time.perf_counter()
        try:
            frame = runner.run_cell(cell, self.lm, self.data)
        except Exception as exc:
            return "failed", _portable(exc), time.perf_counter() - start
        return "done", frame, time.perf_counter() - start


@dataclass
class _Slot:
    """One actor of a group, and the cell it computes (None while its model loads)."""

    group: tuple[str, tuple[tuple[str, float], ...]]
    actor: Any
    cell: Cell | None = None
    started: float = 0.0


class RayBackend:
    """Cells on a Ray cluster: ``address`` None starts a local one, ``auto`` joins the running one,
    ``ray://host:port`` connects through Ray Client. An already initialized Ray connection is used as it is."""

    def __init__(self, address: str | None = None) -> None:
        self.address = address
        self.ray = import_ray()

    def run(self, config: ExperimentConfig, data: RunData, cells: list[Cell], recorder: Recorder) -> None:
        if not cells:
            return
        ray = self.ray
        owned = not ray.is_initialized()
        if owned:
            kwargs = {} if self.address else {"include_dashboard": False}
            ray.init(address=self.address, **kwargs)
        slots: dict[Any, _Slot] = {}  # in-flight ObjectRef → its slot
        try:
            self._run(config, data, cells, recorder, slots)
        except KeyboardInterrupt:
            for slot in slots.values():
                if slot.cell is not None:
                    recorder.interrupt(slot.cell, time.perf_counter() - slot.started)
            raise
        finally:
            for slot in slots.values():
                ray.kill(slot.actor)
            if owned:
                ray.shutdown()

    def _run(
        self, config: ExperimentConfig, data: RunData, cells: list[Cell], recorder: Recorder, slots: dict[Any, _Slot]
    ) -> None:
        ray = self.ray
        total = ray.cluster_resources()
        queues: dict[tuple, deque[Cell]] = {}
        for cell in cells:
            resources = cell_resources(config, cell.model, cell.learner, total.get("GPU", 0))
            queues.setdefault((cell.model, tuple(sorted(resources.items()))), deque()).append(cell)
        data_ref = ray.put(data)
        worker = ray.remote(CellWorker)
        for group, queue in queues.items():
            model, resources = group[0], dict(group[1])
            options = {**resources, "max_restarts": -1, "max_task_retries": config.max_retries}
            device = "cuda" if resources.get("num_gpus") else "cpu"
            for _ in range(self._capacity(total, resources, len(queue), model)):
                actor = worker.options(**options).remote(
                    config.model_path(model), device, config.dtype, config.model_quantization(model)
                )
                slots[actor.ready.remote()] = _Slot(group, actor)
        while slots:
            (ref,), _ = ray.wait(list(slots), num_returns=1)
            slot = slots.pop(ref)
            if slot.cell is not None:
                self._record(ref, slot, config, recorder)
            elif not self._started(ref, slot, queues, recorder, slots):
                continue
            queue = queues[slot.group]
            if not queue:
                ray.kill(slot.actor)  # frees its resources for the workers of other groups
                continue
            slot.cell, slot.started = queue.popleft(), time.perf_counter()
            recorder.start(slot.cell)
            slots[slot.actor.run.remote(slot.cell, [data_ref])] = slot

    def _capacity(self, total: dict[str, float], resources: dict[str, float], cells: int, model: str) -> int:
        """How many workers of one group the cluster holds at once (at most one per cell)."""
        fits = [total.get(_RAY_NAMES[key], 0.0) / need for key, need in resources.items()] or [cells]
        if min(fits) >= 1:
            return max(1, min(cells, math.floor(min(fits))))
        missing = ", ".join(f"{key}={need:g}" for key, need in resources.items())
        where = "this local Ray cluster" if self.address is None else f"the Ray cluster at {self.address}"
        if self.address is None:
            raise E2HError(f"{model}: a cell needs {missing}, more than {where} has; lower `resources:` in the config")
        warn(f"{model}: a cell needs {missing}, more than {where} has now; waiting for the autoscaler")
        return 1

    def _started(self, ref: Any, slot: _Slot, queues: dict, recorder: Recorder, slots: dict[Any, _Slot]) -> bool:
        """Whether the actor came up; when the last actor of a group cannot, the group's cells fail with why."""
        try:
            self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:
            self.ray.kill(slot.actor)
            if not any(s.group == slot.group for s in slots.values()):
                error = WorkerDiedError(f"no Ray worker for {slot.group[0]} could start: {_one_line(exc)}")
                error.__cause__ = exc
                while queues[slot.group]:
                    recorder.fail(queues[slot.group].popleft(), error, 0.0)
            return False
        return True

    def _record(self, ref: Any, slot: _Slot, config: ExperimentConfig, recorder: Recorder) -> None:
        cell, slot.cell = slot.cell, None
        try:
            status, payload, seconds = self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:  # the worker died more often than max_retries allows
            tries = config.max_retries + 1
            error = WorkerDiedError(
                f"the Ray worker died computing this cell ({tries} tr{'y' if tries == 1 else 'ies'}; raise "
                f"max_retries to retry more): {_one_line(exc)}"
            )
            error.__cause__ = exc
            recorder.fail(cell, error, time.perf_counter() - slot.started)
            return
        if status == "done":
            recorder.finish(cell, payload, seconds)
        else:
            recorder.fail(cell, payload, seconds)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


__all__ = [
    "RAY_VERSION",
    "CellWorker",
    "RayBackend",
    "WorkerDiedError",
    "cell_resources",
    "check_resources",
    "import_ray",
    "model_billions",
]
