"""The runner: a config's cells, computed once each, model by model, into the results store.

:func:`run_experiment` is the recipe, top to bottom: compute missing measures when the config asks
(``experiments.missing_measures``) → :func:`plan` (load data, expand the grid, check every split) → open the store →
a backend runs the cells (``experiments.backends``: here or on Ray, each worker running ``experiments.worker``'s
recipe, each cell ``experiments.cell``'s path), its events recorded by ``experiments.recorder`` → close the store.
Everything that can be wrong with the data (a missing or stale measure, an impossible split) is reported as one
:class:`~e2h.errors.ConfigError` before any model loads. A failing cell is recorded with its error in the manifest
and the run goes on; Ctrl-C stops after recording the cells in progress as interrupted (finished cells are kept,
a rerun resumes).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pandas as pd

from e2h.errors import ConfigError, E2HError
from e2h.experiments.backends import make_backend
from e2h.experiments.cell import RunData, cell_split
from e2h.experiments.config import DatasetSpec, ExperimentConfig, suggest
from e2h.experiments.grid import Cell, expand
from e2h.experiments.missing_measures import coverage_notes, drop_pools
from e2h.experiments.recorder import Recorder, RunResult
from e2h.experiments.store import RunStore
from e2h.hardness import RANDOM
from e2h.io import content_hash
from e2h.notices import warn

if TYPE_CHECKING:
    from e2h.experiments.backends import Backend


def fingerprint(items: pd.DataFrame) -> str:
    """A content hash of an item table (so an edited dataset file gives new cells)."""
    return content_hash(items.to_json(orient="split", index=False, default_handler=str))


def _has_values(items: pd.DataFrame, measure: str) -> bool:
    return measure in items.columns and bool(pd.to_numeric(items[measure], errors="coerce").notna().any())


def load_run_data(config: ExperimentConfig) -> RunData:
    """Load every dataset once and choose each entry's measures; every data problem in one ConfigError."""
    names = dict.fromkeys(n for spec in config.datasets for n in (spec.name, spec.train_dataset) if n)
    loaded = {name: config.load_items(name) for name in names}  # (table, note when the hub fell back)
    items = {name: table for name, (table, _) in loaded.items()}
    measures: dict[int, list[str]] = {}
    notes, problems = drop_pools(config, items)  # exclude_pool: the hardness pool in no split
    notes = [note for _, note in loaded.values() if note] + notes
    for note in notes:
        warn(note)
    for index, spec in enumerate(config.datasets):
        where = f"datasets[{index}] ({spec.name})"
        measures[index], problem, note = _choose_measures(spec, items[spec.name], config.compute_measures)
        problems += [f"{where}: {p}" for p in problem]
        if note:
            notes.append(f"{where}: {note}")
            warn(notes[-1])
        if spec.train_dataset:
            train_items = items[spec.train_dataset]
            for m in [spec.train_measure] if spec.train_measure else measures[index]:
                if m not in train_items.columns:
                    why = _absent_measure(spec.train_dataset, m, train_items, config.compute_measures)
                    problems.append(f"{where}: train_dataset {spec.train_dataset}: {why}")
                elif not _has_values(train_items, m):
                    problems.append(f"{where}: train_dataset {spec.train_dataset} has no values of measure {m!r}")
    for note in coverage_notes(config, items, measures):  # computed measures missing for some items
        notes.append(note)
        warn(note)
    if problems:
        raise ConfigError(f"{config.source}: " + "; ".join(problems))
    return RunData(items, measures, {name: fingerprint(table) for name, table in items.items()}, notes)


def _choose_measures(spec: DatasetSpec, table: pd.DataFrame, compute: bool) -> tuple[list[str], list[str], str]:
    """(measures to use, problems, note): a measure with no values gives way to ``fallback_measures``."""
    if not spec.measures:
        return [RANDOM], [], ""
    absent = [m for m in [*spec.measures, *spec.fallback_measures] if m not in table.columns]
    problems = [_absent_measure(spec.name, m, table, compute) for m in absent]
    empty = [m for m in spec.measures if m in table.columns and not _has_values(table, m)]
    chosen = [m for m in spec.measures if m not in empty and m not in absent]
    if not empty:
        return chosen, problems, ""
    if not spec.fallback_measures:
        return chosen, [*problems, f"measure {', '.join(empty)} has no values (all NaN); add fallback_measures"], ""
    chosen = list(dict.fromkeys([*chosen, *(m for m in spec.fallback_measures if _has_values(table, m))]))
    if not chosen:
        return chosen, [*problems, f"neither {', '.join(empty)} nor the fallback measures have values"], ""
    return chosen, problems, f"{', '.join(empty)} has no values (all NaN); using {', '.join(chosen)} instead"


def _absent_measure(dataset: str, measure: str, table: pd.DataFrame, compute: bool = False) -> str:
    """Why a measure column is missing: a computed measure not computed yet (or stale) names the command.

    ``compute``: the config sets ``compute_measures`` (so only a plan without a run, e.g. ``--dry-run``, gets here).
    """
    from e2h.data.measure_tables import recompute_command
    from e2h.measure_names import parse_measure_name

    parsed = parse_measure_name(measure)
    if parsed is None:
        return f"no measure column {measure!r} ({suggest(measure, _measure_names(table))})"
    redo = table.attrs.get("stale_measures", {}).get(measure)
    command = recompute_command(table, dataset, measure)
    state = "is stale (its items changed since it was computed)" if redo else "is not computed yet"
    if compute and parsed.method != "irt":
        return f"measure {measure!r} {state}: the run computes it first (compute_measures: true) with `{command}`"
    hint = "" if parsed.method == "irt" else " (or set compute_measures: true)"
    return f"measure {measure!r} {state}: run `{command}`{hint}"


def _measure_names(items: pd.DataFrame) -> list[str]:
    return list(items.attrs.get("measures") or [])


def check_splits(
    config: ExperimentConfig, cells: list[Cell], data: RunData, *, strict: bool = True
) -> list[tuple[Cell, dict]]:
    """Draw every distinct split of the grid once (first seed): ``(a cell of it, its info)``.

    An impossible split's info is ``{"impossible": why}``; with ``strict`` they raise one ConfigError naming
    each (:func:`raise_impossible`), else they are returned for a plan to show.
    """
    seed = config.seeds[0]
    seen: dict[str, tuple[Cell, dict]] = {}
    for cell in cells:
        key = content_hash(cell.dataset, cell.train_dataset, cell.measure, cell.train_measure, cell.train_on)
        key = f"{key}/{cell.n_train}"
        if cell.seed != seed or key in seen:
            continue
        try:
            seen[key] = (cell, cell_split(cell, data).info)
        except E2HError as exc:
            why = f"{cell.dataset}/{cell.measure} train_on={cell.train_on} n_train={cell.n_train}: {exc}"
            seen[key] = (cell, {"impossible": why})
    splits = list(seen.values())
    if strict:
        raise_impossible(config, splits)
    return splits


def raise_impossible(config: ExperimentConfig, splits: list[tuple[Cell, dict]]) -> None:
    """One ConfigError naming every impossible split of :func:`check_splits`' result, if there is one."""
    problems = [info["impossible"] for _, info in splits if "impossible" in info]
    if problems:
        raise ConfigError(f"{config.source}: impossible split: " + "; ".join(problems))


def plan(config: ExperimentConfig, *, strict: bool = True) -> tuple[RunData, list[Cell], list[tuple[Cell, dict]]]:
    """Everything before a model loads: data, cells, and one checked split per distinct split of the grid
    (impossible ones raise, or with ``strict=False`` are marked, see :func:`check_splits`)."""
    data = load_run_data(config)
    cells = expand(config, data.measures, data.versions)
    return data, cells, check_splits(config, cells, data, strict=strict)


def run_experiment(
    config: ExperimentConfig,
    *,
    force: bool = False,
    backend: str | Backend | None = None,
    address: str | None = None,
) -> RunResult:
    """Run every cell of ``config`` not finished yet (all of them with ``force``); see the module docstring.

    ``backend``: ``"local"`` or ``"ray"`` (default: the config's ``backend``), or a backend object; ``address``:
    the Ray cluster to join (default: the config's ``ray_address``), see ``e2h.experiments.backends``.
    """
    from e2h.experiments.missing_measures import compute_missing

    start = time.perf_counter()
    computed = compute_missing(config) if config.compute_measures else []
    measures_seconds, start = time.perf_counter() - start, time.perf_counter()
    data, cells, _ = plan(config)
    if backend is None or isinstance(backend, str):
        backend = make_backend(config, backend, address)

    store = RunStore.for_config(config)
    store.open(config, cells, force=force, notes=data.notes)
    config = config.model_copy(update={"dtype": store.dtype})  # one dtype for every cell: resumed, on any worker
    result = RunResult(store.dir, cells)
    if computed:
        result.add("compute measures", measures_seconds)
    result.timed("data (load, check splits)", start)

    todo = [c for c in cells if force or not store.is_done(c.cell_id)]
    recorder = Recorder(store, result, len(todo))
    try:
        backend.run(config, data, todo, recorder)
    except KeyboardInterrupt:
        store.close("interrupted", len(result.executed))
        raise
    finally:
        recorder.close()
    store.close("failed" if result.failures else "finished", len(result.executed))
    return result


__all__ = ["check_splits", "fingerprint", "load_run_data", "plan", "raise_impossible", "run_experiment"]
