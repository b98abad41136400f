"""``compute_measure``: one model-based hardness method on one dataset, written as versioned measure tables.

The recipe, top to bottom: load the items → for each model: load it, wrap it in a :class:`MemoLM`,
run the method (every fit a resumable checkpoint unit) → average over models → write the table(s)
with their provenance (:mod:`e2h.data.measure_tables`) → remove the checkpoint. A rerun of an interrupted
computation resumes from its finished units; a rerun of a finished one recomputes (``list`` first).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import e2h
from e2h.data import dataset_facts, load_dataset
from e2h.data.measure_tables import dataset_key, items_fingerprint, write_measure
from e2h.errors import E2HError
from e2h.io import content_hash
from e2h.learners import LEARNERS, Learner, LinearProbe
from e2h.measure_names import DEFAULT_LEARNER, measure_name, model_slug
from e2h.measures import irt, mdl, nll, prequential
from e2h.measures.checkpoint import Checkpoint
from e2h.measures.memo import MemoLM
from e2h.paths import cache_dir

METHODS = ("mdl_proxy", "prequential", "nll", "irt")
#: settings each method takes (besides models, learner, options, format, seed)
SETTINGS = {
    "mdl_proxy": {"sizes": mdl.SIZES, "resamples": mdl.RESAMPLES, "holdout": None},
    "prequential": {"permutations": prequential.PERMUTATIONS, "first_block": prequential.FIRST_BLOCK},
    "nll": {},
    "irt": {"irt_model": "2pl", "min_responses": irt.MIN_RESPONSES},
}


@dataclass
class MeasureResult:
    """One written measure table: its name, path, rows and provenance."""

    measure: str
    path: Path
    table: pd.DataFrame
    provenance: dict[str, Any] = field(default_factory=dict)


def compute_measure(
    dataset: str | os.PathLike,
    method: str,
    *,
    models: Sequence[Any] = ("smollm2-135m",),
    learner: str = DEFAULT_LEARNER,
    options: dict[str, Any] | None = None,
    format: str | None = None,
    seed: int = 0,
    runs: Sequence[str | os.PathLike] = (),
    **settings: Any,
) -> list[MeasureResult]:
    """Compute ``method`` on ``dataset`` and write its table(s); see the module docstrings for each method.

    ``models``: registry aliases, hub ids or folders (or loaded models); ``learner``/``options`` fit
    ``mdl_proxy`` and ``prequential`` (default: the linear probe); ``format`` defaults to the dataset's;
    ``runs``: finished run folders for ``irt``. ``settings`` are the method's own (:data:`SETTINGS`).
    """
    if method not in METHODS:
        raise E2HError(f"unknown method {method!r}: use one of {', '.join(METHODS)}.")
    unknown = [key for key in settings if key not in SETTINGS[method]]
    if unknown:
        raise E2HError(
            f"method {method} takes no setting {', '.join(unknown)}; it takes: {', '.join(SETTINGS[method]) or 'none'}."
        )
    settings = {**SETTINGS[method], **settings}
    name = os.fspath(dataset)
    items = load_dataset(name)
    base = {
        "dataset": name,
        "dataset_key": dataset_key(name),
        "items_fingerprint": items_fingerprint(items),
        "n_items": len(items),
        "method": method,
        "seed": int(seed),
        "settings": settings,
        "e2h_version": e2h.__version__,
    }
    if method == "irt":
        return _irt(name, items, runs, base, settings)
    if not models:
        raise E2HError(f"method {method} needs a model: pass --models smollm2-135m.")
    fmt = format or dataset_facts(name).format
    cls = LEARNERS.get(learner)
    params = cls.resolve(options, {"format": fmt, "seed": seed})
    fits = method != "nll"
    base.update(format=fmt, learner=learner if fits else None, learner_params=params if fits else None)
    model_names = [m if isinstance(m, str) else m.name for m in models]
    base["models"] = model_names
    checkpoint = Checkpoint(cache_dir("measures", dataset_key(name), ".partial", content_hash(base)))
    per_model = []
    for model in models:
        lm = MemoLM(_load(model))
        unit = f"{model_slug(lm.name)}_"
        if method == "nll":
            per_model.append({part: nll.mean_token_nll(lm, items, part, fmt) for part in nll.PARTS})
            continue

        def make(lm: MemoLM = lm) -> Learner:
            return cls(lm, **params)

        _prefetch(make, items)
        run = {"seed": seed, "checkpoint": checkpoint, "unit": unit, **settings}
        if method == "mdl_proxy":
            held, probs = mdl.mdl_gold_probs(items, make, **run)
            per_model.append({"held_out": held, "gold_prob": probs})
        else:
            per_model.append({"bits": prequential.prequential_bits(items, make, **run)})
    base["created"] = _now()
    results = _write(name, items, method, model_names, learner, per_model, base)
    checkpoint.clear()
    return results


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _load(model: Any) -> Any:
    if not isinstance(model, str):
        return model
    from e2h.models import load_model

    return load_model(model)


def _prefetch(make: Callable[[], Learner], items: pd.DataFrame) -> None:
    """Compute every item's probe features in one engine call (one disk-cache entry shared by all methods).

    A one-step probe fit on every item is the probe's own feature path; its weights are thrown away.
    """
    learner = make()
    if isinstance(learner, LinearProbe):
        type(learner)(learner.lm, **{**learner.get_params(), "epochs": 1}).fit(items)


def _write(
    name: str, items: pd.DataFrame, method: str, models: list[str], learner: str, per_model: list[dict], base: dict
) -> list[MeasureResult]:
    ids = items["id"].astype(str).to_numpy()
    results = []

    def emit(prefix: str, values: np.ndarray, held: np.ndarray, extra: dict, summary: dict) -> None:
        measure = measure_name(prefix, models, None if method == "nll" else learner)
        table = pd.DataFrame({"id": ids, "value": values, "held_out": held, **extra})
        provenance = {**base, "summary": summary}
        results.append(MeasureResult(measure, write_measure(name, measure, table, provenance), table, provenance))

    none_held = np.zeros(len(ids), dtype=bool)
    if method == "nll":
        for part in nll.PARTS:
            values = np.mean([m[part] for m in per_model], axis=0)
            if np.isnan(values).all():
                continue  # no item has this part (e.g. reasoning on ARC)
            emit(f"nll_{part}", values, none_held, {}, {"n_values": int(np.isfinite(values).sum())})
    elif method == "mdl_proxy":
        held = per_model[0]["held_out"]
        gold = np.concatenate([m["gold_prob"] for m in per_model])  # (models · fits, N)
        mean_gold = np.full(len(ids), np.nan)
        mean_gold[~held] = gold[:, ~held].mean(axis=0)
        summary = {
            "n_held_out": int(held.sum()),
            "n_fits": len(gold),
            "mean_gold_prob": float(np.nanmean(mean_gold)),
        }
        emit("mdl_proxy", 1.0 - mean_gold, held, {"mean_gold_prob": mean_gold}, summary)
    else:
        bits = np.concatenate([m["bits"] for m in per_model])  # (models · permutations, N)
        uniform = prequential.uniform_bits(items)
        totals = bits.sum(axis=1)
        summary = {
            "total_bits": float(totals.mean()),
            "total_bits_per_order": totals.tolist(),
            "uniform_bits": float(uniform.sum()),
            "compression": float(uniform.sum() / totals.mean()),
            "bits_per_item": float(totals.mean() / len(ids)),
        }
        emit("prequential", bits.mean(axis=0), none_held, {"uniform_bits": uniform}, summary)
    return results


def _irt(name: str, items: pd.DataFrame, runs: Sequence, base: dict, settings: dict) -> list[MeasureResult]:
    if not runs:
        raise E2HError("method irt needs finished runs: pass --runs runs/NAME [runs/OTHER ...].")
    responses = irt.read_responses(list(runs))
    ids_list = items["id"].astype(str).tolist()
    fit = irt.fit_irt(responses, ids_list, model=settings["irt_model"], min_responses=settings["min_responses"])
    base = {**base, "runs": [os.fspath(r) for r in runs], "created": _now()}
    ids = items["id"].astype(str).to_numpy()
    held = np.zeros(len(ids), dtype=bool)
    results = []
    for measure, values in (("irt_difficulty", fit.difficulty), ("irt_discrimination", fit.discrimination)):
        if measure == "irt_discrimination" and settings["irt_model"] == "1pl":
            continue
        table = pd.DataFrame({"id": ids, "value": values, "held_out": held})
        provenance = {**base, "summary": fit.diagnostics}
        results.append(MeasureResult(measure, write_measure(name, measure, table, provenance), table, provenance))
    return results
