"""The Ray backend: a grid's cells on a Ray cluster, each worker's events sent back to the driver, which records them.

Ray does the scheduling; this module sorts cells into groups and gives each group's workers their share:

* **Groups.** Cells are grouped by (model, resources); each group gets up to as many workers as the cluster's
  resources hold (never more than it has cells), each on its device (``cuda`` when it holds a GPU, else ``cpu``).
* **One recipe.** A worker is a Ray task running ``worker.run_model`` on its share, the same recipe as the local
  backend: it loads the model once, records its facts, prefetches the shared forward passes of its cells in one
  deduplicated pass, computes them one by one and reports its throughput. So a cell's rows are the same whichever
  backend computed it, and with one worker per model the forward work is the local run's, token for token.
* **Shares** (:func:`share_work`). Cells that test the same items (dataset, measure, seed) share forward passes
  and go to one worker; with more workers than such units, units are split.
* **Resources per cell.** 1 GPU (and 1 CPU) for ``lora``/``qlora`` and for models of 1B+ parameters (read from the
  name, e.g. ``Llama-2-7b``) when the cluster has GPUs and the config's device is not ``cpu``; 1 CPU otherwise.
  The config's ``resources`` overrides this, by learner name or ``default`` (``{lora: {num_gpus: 1}}``); set it
  explicitly on an autoscaling cluster whose GPU nodes start at zero.
* **Results.** A worker streams its events (cell started, its DataFrame or its error with the worker's traceback,
  model facts, throughput); the driver records each through the :class:`~e2h.experiments.recorder.Recorder` as
  it arrives, so the store stays the single writer. When a worker process dies (out of memory, a lost node) the
  rest of its share goes to a fresh worker, and the cell it was computing is retried up to the config's
  ``max_retries`` times; after that the cell is recorded as failed and the run goes on.
* **Ctrl-C** cancels every worker; cells in flight are recorded as interrupted and nothing of them is written.

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
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from e2h.errors import ConfigError, E2HError
from e2h.experiments.config import unknown
from e2h.experiments.worker import CellDone, CellFailed, CellStarted, Event, ModelLoad, Prefetched, run_model
from e2h.notices import warn

if TYPE_CHECKING:
    from e2h.experiments.cell import RunData
    from e2h.experiments.config import ExperimentConfig
    from e2h.experiments.grid import Cell
    from e2h.experiments.recorder import Recorder


RAY_VERSION = "2.60.0"  # the pin of the `ray` extra
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
    from e2h.learners import LEARNERS

    wants_gpu = LEARNERS.get(learner).wants_gpu or model_billions(model) >= LARGE_MODEL_BILLIONS
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


def worker_events(load: ModelLoad, cells: list[Cell], data: RunData) -> Iterator[Event]:
    """The Ray task: the worker recipe on this worker's cells, its events streamed to the driver (errors portable)."""
    from e2h.progress import set_quiet

    set_quiet(True)  # progress is the driver's
    for event in run_model(load, cells, data):
        failed = isinstance(event, CellFailed)
        yield CellFailed(event.cell, _portable(event.error), event.seconds) if failed else event


def share_work(cells: list[Cell], workers: int) -> list[list[Cell]]:
    """The cells of one group split among at most ``workers``, each part in grid order.

    Cells that test the same items (one dataset, measure and seed: the zero-shot cell and every supervised cell of
    it) share their forward passes, so they go to one worker, each such unit to the worker with the fewest cells so
    far. With fewer units than workers, the largest units are halved until each worker has one.
    """
    units: dict[tuple, list[Cell]] = {}
    for cell in cells:
        units.setdefault((cell.dataset, cell.train_dataset, cell.measure, cell.seed), []).append(cell)
    parts = sorted(units.values(), key=len, reverse=True)
    while len(parts) < workers and len(parts[0]) > 1:
        big = parts.pop(0)
        parts = sorted([*parts, big[: len(big) // 2], big[len(big) // 2 :]], key=len, reverse=True)
    shares: list[list[Cell]] = [[] for _ in range(min(workers, len(parts)))]
    for part in parts:
        min(shares, key=len).extend(part)
    order = {cell.cell_id: i for i, cell in enumerate(cells)}
    return [sorted(share, key=lambda c: order[c.cell_id]) for share in shares]


@dataclass
class _Share:
    """One worker's cells (those not finished yet) and the cell it is computing."""

    load: ModelLoad
    resources: dict[str, float]
    cells: list[Cell]
    running: Cell | None = None
    prefetched: bool = False

    def update(self, event: Event) -> None:
        if isinstance(event, Prefetched):
            self.prefetched = True
        elif isinstance(event, CellStarted):
            self.running = event.cell
        elif isinstance(event, CellDone | CellFailed):
            self.cells.remove(event.cell)
            self.running = None

    def current(self) -> Cell | None:
        """The cell the worker computes now: once it has prefetched, always its first unfinished cell (whose
        start may still be on its way to the driver)."""
        return self.running or (self.cells[0] if self.prefetched and self.cells else None)


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
        pending: dict[Any, _Share] = {}  # a worker's stream of events → its share
        start = time.perf_counter()
        try:
            self._run(config, data, cells, recorder, pending)
        except KeyboardInterrupt:
            for share in pending.values():
                if (cell := share.current()) is not None:
                    recorder.start(cell)
            recorder.interrupt_running()
            raise
        finally:
            for stream in pending:
                ray.cancel(stream, force=True)
            if owned:
                ray.shutdown()
            recorder.result.timed("ray (wall)", start)

    def _run(
        self, config: ExperimentConfig, data: RunData, cells: list[Cell], recorder: Recorder, pending: dict[Any, _Share]
    ) -> None:
        ray = self.ray
        total = ray.cluster_resources()
        groups: dict[tuple, list[Cell]] = {}
        for cell in cells:
            resources = cell_resources(config, cell.model, cell.learner, total.get("GPU", 0))
            groups.setdefault((cell.model, tuple(sorted(resources.items()))), []).append(cell)
        data_ref = ray.put(data)
        task = ray.remote(worker_events)

        def submit(share: _Share) -> None:
            stream = task.options(**share.resources, max_retries=0).remote(share.load, list(share.cells), data_ref)
            pending[stream] = share

        for (model, items), group in groups.items():
            resources = dict(items)
            load = ModelLoad.of(config, model, "cuda" if resources.get("num_gpus") else "cpu")
            for part in share_work(group, self._capacity(total, resources, len(group), model)):
                submit(_Share(load, resources, part))
        tries: dict[str | int, int] = {}  # cell id (or id of the share, before its first cell) → worker deaths
        while pending:
            (stream,), _ = ray.wait(list(pending), num_returns=1)
            share = pending[stream]
            try:
                event = ray.get(next(stream))
            except StopIteration:
                del pending[stream]
                continue
            except ray.exceptions.RayTaskError:
                raise  # the recipe itself failed (not a cell: those are events), as it would locally
            except ray.exceptions.RayError as exc:  # the worker process died (out of memory, a lost node…)
                del pending[stream]
                self._died(share, exc, config, recorder, tries)
                if share.cells:
                    submit(share)  # the rest, on a fresh worker
                continue
            recorder.record(event)
            share.update(event)

    def _died(self, share: _Share, exc: Exception, config: ExperimentConfig, recorder: Recorder, tries: dict) -> None:
        """Count a worker's death against the cell it was computing; past ``max_retries`` that cell fails (or, when
        no cell had started, every cell of the share)."""
        cell = share.running
        key = cell.cell_id if cell is not None else id(share)
        tries[key] = tries.get(key, 0) + 1
        share.running, share.prefetched = None, False
        if tries[key] <= config.max_retries:
            return
        count = f"{tries[key]} tr{'y' if tries[key] == 1 else 'ies'}; raise max_retries to retry more"
        if cell is not None:
            error = WorkerDiedError(f"the Ray worker died computing this cell ({count}): {_one_line(exc)}")
        else:
            error = WorkerDiedError(
                f"the Ray worker for {share.load.name} died before its first cell ({count}): {_one_line(exc)}"
            )
        error.__cause__ = exc
        for failed in [cell] if cell is not None else list(share.cells):
            recorder.fail(failed, error, 0.0)
            share.cells.remove(failed)

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


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


__all__ = [
    "RAY_VERSION",
    "RayBackend",
    "WorkerDiedError",
    "cell_resources",
    "check_resources",
    "import_ray",
    "model_billions",
    "share_work",
    "worker_events",
]
