"""``compute_measure``: one model-based hardness method on one dataset, written as versioned measure tables.

The recipe, top to bottom: load the items (the dataset in the preparation asked for: ``source``, ``variant``) →
for each model: load it, wrap it in a :class:`MemoLM`, run the method (every fit a resumable checkpoint unit) →
average over models → write the table(s) with their provenance under that preparation
(:mod:`e2h.data.measure_tables`) → remove the checkpoint. A rerun of an interrupted computation resumes from its
finished units; a rerun of a finished one recomputes (``list`` first).
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
from e2h.data.measure_tables import METHOD_VERSIONS, items_fingerprint, preparation_key, write_measure
from e2h.errors import E2HError
from e2h.io import content_hash
from e2h.learners import LEARNERS, Learner, LinearProbe
from e2h.learners.params import Interval, ListOf, Options, Param, check_params
from e2h.measure_names import DEFAULT_LEARNER, measure_name, model_slug
from e2h.measures import irt, mdl, nll, prequential
from e2h.measures.checkpoint import Checkpoint
from e2h.measures.memo import MemoLM
from e2h.paths import cache_dir

METHODS = ("mdl_proxy", "prequential", "nll", "nll_per_token", "irt")
_COUNT = (Interval(int, 1),)
#: settings each method takes (besides models, learner, options, format, seed), declared like learner parameters
SETTINGS: dict[str, dict[str, Param]] = {
    "mdl_proxy": {
        "sizes": Param(mdl.SIZES, "training-set sizes of each resample", allowed=(ListOf(Interval(int, 1)),)),
        "resamples": Param(mdl.RESAMPLES, "resamples of the held-out pool", allowed=_COUNT),
        "holdout": Param(
            None,
            "items held out for training (null: min(1000, n / 3); none for a learner that does not train)",
            allowed=(None, Interval(int, 0)),
        ),
    },
    "prequential": {
        "permutations": Param(prequential.PERMUTATIONS, "item orders averaged", allowed=_COUNT),
        "first_block": Param(prequential.FIRST_BLOCK, "items of the first block (coded uniformly)", allowed=_COUNT),
    },
    "nll": {},
    "nll_per_token": {},
    "irt": {
        "irt_model": Param("2pl", "2pl (difficulty and discrimination) or 1pl", allowed=(Options("2pl", "1pl"),)),
        "min_responses": Param(irt.MIN_RESPONSES, "responses an item needs to be fitted", allowed=_COUNT),
    },
}
#: methods that score text without fitting a learner
_SCORING = ("nll", "nll_per_token")


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
    source: str = "local",
    variant: str | None = None,
    **settings: Any,
) -> list[MeasureResult]:
    """Compute ``method`` on ``dataset`` and write its table(s); see the module docstrings for each method.

    ``models``: registry aliases, hub ids or folders (or loaded models); ``learner``/``options`` fit
    ``mdl_proxy`` and ``prequential`` (default: the linear probe); ``format`` defaults to the dataset's (``nll``
    takes none: it scores bare text); ``runs``: finished run folders for ``irt``; ``source`` and ``variant``: the
    preparation of a built-in dataset to compute on (``load_dataset``'s). ``settings`` are the method's own
    (:data:`SETTINGS`). Every name and value is checked before the items or a model load.
    """
    if method not in METHODS:
        raise E2HError(f"unknown method {method!r}: use one of {', '.join(METHODS)}.")
    declared = SETTINGS[method]
    unknown = [key for key in settings if key not in declared]
    if unknown:
        raise E2HError(
            f"method {method} takes no setting {', '.join(unknown)}; it takes: {', '.join(declared) or 'none'}."
        )
    if problems := check_params(declared, settings):
        raise E2HError(f"{method} setting {'; '.join(problems)}.")
    settings = {**{key: param.default for key, param in declared.items()}, **settings}
    name = os.fspath(dataset)
    fits = method not in _SCORING
    fmt = params = cls = None
    if method != "irt":
        fmt = None if method == "nll" else format or dataset_facts(name).format  # nll scores bare text
        cls = LEARNERS.get(learner)
        if fits:
            params = cls.resolve(options, {"format": fmt, "seed": seed})  # a bad option or value stops here
    items = load_dataset(name, source=source, variant=variant)
    key = preparation_key(name, source, variant)
    base = {
        "dataset": name,
        "dataset_key": key,
        "source": source,
        "variant": variant,
        "items_fingerprint": items_fingerprint(items),
        "n_items": len(items),
        "method": method,
        "method_version": METHOD_VERSIONS.get(method, 1),
        "seed": int(seed),
        "settings": settings,
        "e2h_version": e2h.__version__,
    }
    write = {"source": source, "variant": variant}
    if method == "irt":
        return _irt(name, items, runs, base, settings, write)
    if not models:
        raise E2HError(f"method {method} needs a model: pass --models smollm2-135m.")
    if method == "mdl_proxy":
        settings["holdout"] = mdl.pool_size(len(items), settings["holdout"], trains=cls.supervised)
    base.update(format=fmt, learner=learner if fits else None, learner_params=params)
    model_names = [m if isinstance(m, str) else m.name for m in models]
    base["models"] = model_names
    checkpoint = Checkpoint(cache_dir("measures", key, ".partial", content_hash(base)))
    per_model = []
    for model in models:
        lm = MemoLM(_load(model))
        unit = f"{model_slug(lm.name)}_"
        if method == "nll":
            scored = {part: nll.summed_nll(lm, items, part) for part in nll.PARTS}
            per_model.append({part: values for part, (values, _) in scored.items()})
            per_model[-1].update(unscorable={part: n for part, (_, n) in scored.items()}, start=nll.start_label(lm))
            continue
        if method == "nll_per_token":
            per_model.append({part: nll.mean_token_nll(lm, items, part, fmt) for part in nll.PARTS})
            continue

        def make(lm: MemoLM = lm) -> Learner:
            return cls(lm, **params)

        _prefetch(make, items)
        run = {"seed": seed, "checkpoint": checkpoint, "unit": unit, **settings}
        if method == "mdl_proxy":
            held, probs = mdl.mdl_gold_probs(items, make, trains=cls.supervised, **run)
            per_model.append({"held_out": held, "gold_prob": probs})
        else:
            per_model.append({"bits": prequential.prequential_bits(items, make, **run)})
    base["created"] = _now()
    results = _write(name, items, method, model_names, learner, per_model, base, write)
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
    name: str,
    items: pd.DataFrame,
    method: str,
    models: list[str],
    learner: str,
    per_model: list[dict],
    base: dict,
    write: dict,
) -> list[MeasureResult]:
    ids = items["id"].astype(str).to_numpy()
    results = []

    def emit(prefix: str, values: np.ndarray, held: np.ndarray, extra: dict, summary: dict) -> None:
        measure = measure_name(prefix, models, None if method in _SCORING else learner)
        table = pd.DataFrame({"id": ids, "value": values, "held_out": held, **extra})
        provenance = {**base, "summary": summary}
        path = write_measure(name, measure, table, provenance, **write)
        results.append(MeasureResult(measure, path, table, provenance))

    none_held = np.zeros(len(ids), dtype=bool)
    if method in _SCORING:
        for part in nll.PARTS:
            values = np.mean([m[part] for m in per_model], axis=0)
            if np.isnan(values).all():
                continue  # no item has this part (e.g. reasoning on ARC)
            summary: dict[str, Any] = {"n_values": int(np.isfinite(values).sum())}
            if method == "nll":
                summary["n_unscorable"] = int(sum(m["unscorable"][part] for m in per_model))
                summary["start_token"] = [m["start"] for m in per_model]
            emit(f"{method}_{part}", values, none_held, {}, summary)
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


def _irt(
    name: str, items: pd.DataFrame, runs: Sequence, base: dict, settings: dict, write: dict
) -> list[MeasureResult]:
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
        path = write_measure(name, measure, table, provenance, **write)
        results.append(MeasureResult(measure, path, table, provenance))
    return results
