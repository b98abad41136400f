"""Computed measures of a run: computed first when the config asks, checked for the items the run uses, and the
hardness pool left out when the config asks.

With ``compute_measures: true`` a run first calls :func:`compute_missing`: every computed measure of a dataset entry
(``measures``, ``fallback_measures``, those of ``exclude_pool`` and those that level its ``train_dataset``) that the
loaded item table lacks, or borrows from another preparation of the dataset without a value for some of its items
(the local ARC's table read by a ``source: hub`` run lacks the train split), is computed by
:func:`e2h.measures.compute_measure`, the function behind ``e2h hardness compute``, on the items the run loads
(the entry's ``source`` and ``variant``, after any fallback), with what the measure's name says (method, learner,
models; :mod:`e2h.measure_names`) and that command's defaults; a stale table is recomputed in the prompt format it
was computed in. Each model slug of a name is the config's model of that slug when there is one, else the slug
itself (a registry alias). ``irt_*`` measures need finished runs and are left to the run's one-line stop. Without
``compute_measures`` the run stops and names the command instead (``runner.load_run_data``).

When the data is loaded, :func:`drop_pools` leaves out of a dataset the items its ``exclude_pool`` measures held out
(the paper's hardness pool, excluded from every experiment), and :func:`coverage_notes` warns, with counts per
source split, about every computed measure the run uses that has no value for some of its items (held-out items
aside): those items take part in no split that uses the measure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from e2h.data.measure_tables import missing_by_split, recompute_command
from e2h.errors import E2HError
from e2h.experiments.config import ExperimentConfig
from e2h.measure_names import DEFAULT_LEARNER, MeasureName, compute_command, model_slug, parse_measure_name
from e2h.notices import info


@dataclass
class ComputeJob:
    """One ``e2h hardness compute`` call and the measures the config wants from it."""

    dataset: str
    parsed: MeasureName
    format: str | None
    source: str = "local"
    variant: str | None = None
    measures: list[str] = field(default_factory=list)


def wanted_measures(config: ExperimentConfig) -> dict[str, list[str]]:
    """``{dataset name: measures}``: every measure the config's entries level, fall back to or take pools from."""
    wanted: dict[str, list[str]] = {}
    for spec in config.datasets:
        wanted.setdefault(spec.name, []).extend([*spec.measures, *spec.fallback_measures, *spec.pool_measures()])
        if spec.train_dataset:
            train_measures = [spec.train_measure] if spec.train_measure else spec.measures
            wanted.setdefault(spec.train_dataset, []).extend(train_measures)
    return {name: list(dict.fromkeys(measures)) for name, measures in wanted.items()}


def uncovered(items: pd.DataFrame, measure: str) -> bool:
    """Whether ``measure`` is borrowed from another preparation and lacks a value for some of these items."""
    return measure in items.attrs.get("borrowed_measures", {}) and bool(missing_by_split(items, measure))


def missing_measures(config: ExperimentConfig) -> dict[str, ComputeJob]:
    """``{command: job}`` for every computed measure the config names that its items lack, hold stale or borrow
    with gaps."""
    jobs: dict[str, ComputeJob] = {}
    for name, measures in wanted_measures(config).items():
        items, _ = config.load_items(name)
        preparation = {"source": "local", "variant": None, **items.attrs.get("preparation", {})}
        stale = items.attrs.get("stale_measures", {})
        for measure in measures:
            parsed = parse_measure_name(measure)
            if parsed is None or parsed.method == "irt":
                continue
            if measure in items.columns and not uncovered(items, measure):
                continue
            redo = stale.get(measure, {})
            if {key: redo.get(key) for key in preparation} != preparation:  # not stale, or stale elsewhere
                redo = {"dataset": config.dataset_path(name), "format": redo.get("format"), **preparation}
            job = ComputeJob(redo["dataset"], parsed, redo["format"], redo["source"], redo["variant"])
            command = compute_command(job.dataset, measure, job.format, job.source, job.variant)
            jobs.setdefault(command, job).measures.append(measure)
    return jobs


def compute_missing(config: ExperimentConfig) -> list[str]:
    """Compute what :func:`missing_measures` finds (one ``compute_measure`` per command); the measures computed."""
    from e2h.measures import compute_measure

    done: list[str] = []
    for command, job in missing_measures(config).items():
        info(f"computing {', '.join(job.measures)} first (compute_measures: true): {command}")
        models = [_model(config, slug) for slug in job.parsed.models]
        learner = job.parsed.learner or DEFAULT_LEARNER
        results = compute_measure(
            job.dataset,
            job.parsed.method,
            models=models,
            learner=learner,
            format=job.format,
            source=job.source,
            variant=job.variant,
        )
        made = {r.measure for r in results}
        absent = [m for m in job.measures if m not in made]
        if absent:
            raise E2HError(
                f"`{command}` wrote {', '.join(sorted(made)) or 'nothing'}, not {', '.join(absent)}: name the model "
                "in `models:` by a registry alias, hub id or absolute path, as the measure name spells it."
            )
        done += job.measures
    return done


def _model(config: ExperimentConfig, slug: str) -> str:
    """The config's model whose name gives ``slug`` in a measure name (as it loads), else ``slug`` itself."""
    return next((config.model_path(m) for m in config.models if model_slug(m) == slug), slug)


def drop_pools(config: ExperimentConfig, items: dict[str, pd.DataFrame]) -> tuple[list[str], list[str]]:
    """Leave each entry's ``exclude_pool`` items out of its dataset (in ``items``, in place): (notes, problems).

    ``exclude_pool: true`` takes the pools of the entry's ``mdl_proxy`` measures that have one (a missing measure is
    reported by the measure check); a named measure must be computed and hold out a pool.
    """
    notes: list[str] = []
    problems: list[str] = []
    for index, spec in enumerate(config.datasets):
        table = items[spec.name]
        named = isinstance(spec.exclude_pool, list)
        pools: dict[str, tuple[str, ...]] = {}
        for measure in spec.pool_measures():
            where = f"datasets[{index}] ({spec.name}): exclude_pool: measure {measure!r}"
            held = table.attrs.get("held_out", {}).get(measure, ())
            if held:
                pools[measure] = held
            elif named and measure not in table.columns:
                state = "is stale" if measure in table.attrs.get("stale_measures", {}) else "is not computed yet"
                then = "the run computes it first with" if config.compute_measures else "run"
                problems.append(
                    f"{where} {state}: {then} `{recompute_command(table, config.dataset_path(spec.name), measure)}`"
                )
            elif named:
                problems.append(f"{where} holds out no items (computed without a pool): name one computed with a pool")
        present = [m for m in spec.pool_measures() if m in table.columns]
        if not named and spec.exclude_pool and present and not pools:
            problems.append(
                f"datasets[{index}] ({spec.name}): exclude_pool: true, but none of {', '.join(present)} holds out a "
                "pool (computed without one): name the measure whose pool to leave out"
            )
        pool = set().union(*pools.values())
        keep = ~table["id"].astype(str).isin(pool)
        if not keep.all():
            items[spec.name] = table[keep].reset_index(drop=True)
            notes.append(
                f"{spec.name}: {int((~keep).sum()):,} items of the pool of {', '.join(pools)} left out of every split "
                "(exclude_pool)"
            )
    return notes, problems


def coverage_notes(
    config: ExperimentConfig, items: dict[str, pd.DataFrame], measures: dict[int, list[str]]
) -> list[str]:
    """One note per (dataset, computed measure in use) without a value for some of the items, with counts per split."""
    used: dict[tuple[str, str], None] = {}
    for index, spec in enumerate(config.datasets):
        used.update(dict.fromkeys((spec.name, m) for m in measures.get(index, [])))
        if spec.train_dataset:
            train = [spec.train_measure] if spec.train_measure else measures.get(index, [])
            used.update(dict.fromkeys((spec.train_dataset, m) for m in train))
    notes = []
    for name, measure in used:
        table = items[name]
        if parse_measure_name(measure) is None or measure not in table.columns:
            continue
        counts = missing_by_split(table, measure)
        if not counts:
            continue
        parts = ", ".join(f"{n:,} of {total:,} {split}" for split, (n, total) in counts.items())
        note = f"{name}: measure {measure!r} has no value for {parts} items, which take part in no split that uses it"
        if measure in table.attrs.get("borrowed_measures", {}):
            note += (
                f" (it was computed on the default preparation's items): compute it on these items with "
                f"`{recompute_command(table, name, measure)}` (or set compute_measures: true)"
            )
        notes.append(note)
    return notes
