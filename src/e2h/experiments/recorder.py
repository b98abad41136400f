"""The driver's side of a run: what the workers report, as it arrives, to the store, the run's result and the progress.

The :class:`Recorder` is the only path to the store while cells run, whichever backend computes them; the events
it takes are the worker recipe's (``experiments.worker``). :class:`RunResult` is what ``run_experiment`` returns.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from e2h.experiments.worker import CellDone, CellFailed, CellStarted, Event, ModelDone, ModelLoaded, Prefetched
from e2h.progress import bar

if TYPE_CHECKING:
    import pandas as pd

    from e2h.experiments.grid import Cell
    from e2h.experiments.store import RunStore


@dataclass
class RunResult:
    """What one invocation did: every cell of the grid, those computed now, and those that failed.

    ``seconds``: time per phase (data, model load, prefetch, cells…); with several workers (Ray) a worker's phase
    is the sum over the workers, and ``ray (wall)`` the wall time they took together. ``engine``: per model, the
    forward work of every worker that ran it (:func:`merge_throughput`).
    """

    run_dir: Path
    cells: list[Cell]
    executed: list[str] = field(default_factory=list)  # cell ids computed by this invocation
    failures: list[tuple[Cell, str]] = field(default_factory=list)  # (cell, one-line error)
    seconds: dict[str, float] = field(default_factory=dict)  # time per phase
    engine: dict[str, dict[str, float | str]] = field(default_factory=dict)  # model → LanguageModel.throughput()

    def add(self, phase: str, seconds: float) -> None:
        """Add ``seconds`` to ``phase``."""
        self.seconds[phase] = self.seconds.get(phase, 0.0) + seconds

    def timed(self, phase: str, start: float) -> None:
        """Add the wall time since ``start`` (``time.perf_counter()``) to ``phase``."""
        self.add(phase, time.perf_counter() - start)

    @property
    def ok(self) -> bool:
        return not self.failures


def merge_throughput(a: dict[str, float | str] | None, b: dict[str, float | str]) -> dict[str, float | str]:
    """Two reports of ``LanguageModel.throughput()`` for one model (two workers) as one: tokens and seconds add up."""
    if not a:
        return dict(b)
    tokens, seconds = float(a["tokens"]) + float(b["tokens"]), float(a["seconds"]) + float(b["seconds"])
    flops = float(a["gflops"]) * float(a["seconds"]) + float(b["gflops"]) * float(b["seconds"])  # GFLOP done
    dtypes = dict.fromkeys([*str(a.get("dtype", "")).split("/"), str(b.get("dtype", ""))])
    return {
        "tokens": tokens,
        "seconds": seconds,
        "tokens_per_s": tokens / seconds if seconds else 0.0,
        "gflops": flops / seconds if seconds else 0.0,
        "dtype": "/".join(d for d in dtypes if d),
    }


class Recorder:
    """Applies the workers' events (:meth:`record`) to the store, the :class:`RunResult` and a progress bar."""

    def __init__(self, store: RunStore, result: RunResult, todo: int) -> None:
        self.store, self.result = store, result
        self.running: dict[str, tuple[Cell, float]] = {}  # cell id → (cell, when it started)
        total = len(result.cells)
        self.progress = bar(f"run {store.dir.name}", total=total, unit="cell", initial=total - todo)

    def record(self, event: Event) -> None:
        """One event of the worker recipe (``experiments.worker``)."""
        match event:
            case ModelLoaded(model, facts, seconds):
                self.store.record_model(model, facts)
                self.result.add("model load (download, convert)", seconds)
            case Prefetched(_, _, seconds):
                self.result.add("prefetch (shared forward passes)", seconds)
            case CellStarted(cell):
                self.start(cell)
            case CellDone(cell, frame, seconds):
                self.finish(cell, frame, seconds)
            case CellFailed(cell, error, seconds):
                self.fail(cell, error, seconds)
            case ModelDone(model, engine, seconds):
                self.result.add("cells (fit, predict)", seconds)
                self.result.engine[model] = merge_throughput(self.result.engine.get(model), engine)

    def start(self, cell: Cell) -> None:
        """The cell is being computed (manifest status ``running``); a retried cell counts once."""
        if cell.cell_id not in self.running:
            self.result.executed.append(cell.cell_id)
        self.store.start_cell(cell)
        self.running[cell.cell_id] = (cell, time.perf_counter())
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

    def interrupt_running(self) -> None:
        """Ctrl-C: record every cell in progress as ``interrupted``; nothing of them is written."""
        for cell, started in self.running.values():
            self.store.fail_cell(cell, KeyboardInterrupt(), time.perf_counter() - started)
        self.running.clear()

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
            text += f" · {next(iter(self.running.values()))[0].describe()}"
        self.progress.set_postfix_str(text, refresh=False)


__all__ = ["Recorder", "RunResult", "merge_throughput"]
