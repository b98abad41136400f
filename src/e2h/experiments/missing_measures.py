"""Computed measures a config names but the cache lacks (or holds stale), computed before the run plans its cells.

With ``compute_measures: true`` a run first calls :func:`compute_missing`: every computed measure of a dataset entry
(``measures``, ``fallback_measures``, and those that level its ``train_dataset``) that the loaded item table lacks
is computed by :func:`e2h.measures.compute_measure`, the function behind ``e2h hardness compute``, with what the
measure's name says (method, learner, models; :mod:`e2h.measure_names`) and that command's defaults; a stale table
is recomputed in the prompt format it was computed in. Each model slug of a name is the config's model of that slug
when there is one, else the slug itself (a registry alias). ``irt_*`` measures need finished runs and are left to
the run's one-line stop. Without ``compute_measures`` the run stops and names the command instead
(``runner.load_run_data``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    measures: list[str] = field(default_factory=list)


def missing_measures(config: ExperimentConfig) -> dict[str, ComputeJob]:
    """``{command: job}`` for every computed measure the config names that its dataset lacks or holds stale."""
    wanted: dict[str, list[str]] = {}
    for spec in config.datasets:
        wanted.setdefault(spec.name, []).extend([*spec.measures, *spec.fallback_measures])
        if spec.train_dataset:
            train_measures = [spec.train_measure] if spec.train_measure else spec.measures
            wanted.setdefault(spec.train_dataset, []).extend(train_measures)
    jobs: dict[str, ComputeJob] = {}
    for name, measures in wanted.items():
        items, _ = config.load_items(name)
        stale = items.attrs.get("stale_measures", {})
        for measure in dict.fromkeys(measures):
            parsed = parse_measure_name(measure)
            if parsed is None or parsed.method == "irt" or measure in items.columns:
                continue
            redo = stale.get(measure, {"dataset": config.dataset_path(name), "format": None})
            command = compute_command(redo["dataset"], measure, redo["format"])
            jobs.setdefault(command, ComputeJob(redo["dataset"], parsed, redo["format"])).measures.append(measure)
    return jobs


def compute_missing(config: ExperimentConfig) -> list[str]:
    """Compute what :func:`missing_measures` finds (one ``compute_measure`` per command); the measures computed."""
    from e2h.measures import compute_measure

    done: list[str] = []
    for command, job in missing_measures(config).items():
        info(f"computing {', '.join(job.measures)} first (compute_measures: true): {command}")
        models = [_model(config, slug) for slug in job.parsed.models]
        learner = job.parsed.learner or DEFAULT_LEARNER
        results = compute_measure(job.dataset, job.parsed.method, models=models, learner=learner, format=job.format)
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
