"""Computed-measure names: the one scheme that says which measure a name is, read by every floor.

``e2h hardness compute`` (:mod:`e2h.measures`) names each table it writes so; :mod:`e2h.data.measure_tables`
stores and attaches the tables by these names, configs name them in ``measures:``, and a run parses a name to
compute a missing measure (:mod:`e2h.experiments.missing_measures`). It stands on the floor of shared modules
(only :mod:`e2h.errors` below it), so the CLI reads it without loading data or models.

**Naming scheme** (:func:`parse_measure_name`)::

    <method>[-<learner>]_<model>[+<model>...]     mdl_proxy_smollm2-135m, prequential_smollm2-135m,
                                                  prequential-zero-shot_smollm2-135m,
                                                  nll_question_smollm2-135m (also nll_answer, nll_reasoning),
                                                  nll_per_token_question_smollm2-135m (also …_answer, …_reasoning)
    irt_difficulty, irt_discrimination            from finished runs, no model in the name

The learner part is left out for the default learner (``linear-probe``); model names are lower-cased
with characters other than letters, digits, ``.`` and ``-`` replaced by ``-``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from e2h.errors import E2HError

DEFAULT_LEARNER = "linear-probe"
#: measure names each method writes (the three likelihood parts share one method)
_PARTS = ("question", "answer", "reasoning")
_METHOD_OF = {
    **{f"nll_per_token_{part}": "nll_per_token" for part in _PARTS},
    **{f"nll_{part}": "nll" for part in _PARTS},
    "mdl_proxy": "mdl_proxy",
    "prequential": "prequential",
}
#: measure-name prefixes of model-fitted methods, longest first
MODEL_METHODS = tuple(sorted(_METHOD_OF, key=len, reverse=True))
IRT_MEASURES = ("irt_difficulty", "irt_discrimination")
#: every family of computed names, ``MODEL`` standing for the model part (for hints in error messages)
NAME_FAMILIES = (*(f"{prefix}_MODEL" for prefix in MODEL_METHODS), *IRT_MEASURES)


@dataclass(frozen=True)
class MeasureName:
    """A parsed computed-measure name: method (``nll`` or ``nll_per_token`` for their three parts), learner, models."""

    name: str
    method: str
    learner: str | None
    models: tuple[str, ...]


def model_slug(model: str) -> str:
    """A model name as written in a measure name (``HuggingFaceTB/SmolLM2`` → ``huggingfacetb-smollm2``)."""
    return re.sub(r"[^a-z0-9.\-]", "-", model.lower())


def measure_name(prefix: str, models: list[str] | tuple[str, ...], learner: str | None = None) -> str:
    """The measure name of ``prefix`` (``mdl_proxy``, ``nll_answer``…) for ``models`` and ``learner``."""
    part = prefix if learner in (None, DEFAULT_LEARNER) else f"{prefix}-{learner}"
    return f"{part}_{'+'.join(model_slug(m) for m in models)}"


def parse_measure_name(name: str) -> MeasureName | None:
    """The parts of a computed-measure name, or None when ``name`` does not follow the scheme."""
    if name in IRT_MEASURES:
        return MeasureName(name, "irt", None, ())
    for prefix in MODEL_METHODS:
        match = re.fullmatch(rf"{prefix}(?:-([a-z0-9\-]+))?_([a-z0-9.\-+]+)", name)
        if match:
            models = tuple(m for m in match.group(2).split("+") if m)
            if models:
                return MeasureName(name, _METHOD_OF[prefix], match.group(1), models)
    return None


def is_computed_name(name: str) -> bool:
    return parse_measure_name(name) is not None


def compute_command(
    dataset: str, name: str, format: str | None = None, source: str = "local", variant: str | None = None
) -> str:
    """The ``e2h hardness compute`` command that produces measure ``name`` for ``dataset`` in its preparation
    (``source``, ``variant``) and prompt ``format``."""
    parsed = parse_measure_name(name)
    if parsed is None:
        raise E2HError(f"{name!r} is not a computed measure name: see `e2h hardness compute --help`.")
    if parsed.method == "irt":
        return f"e2h hardness compute {dataset} --method irt --runs RUN_DIR [RUN_DIR ...]"
    options = [f"--source {source}"] if source != "local" else []
    options += [f"--variant {variant}"] if variant else []
    options += [f"--learner {parsed.learner}"] if parsed.learner else []
    options += [f"--format {format}"] if format else []
    models = ",".join(parsed.models)
    return " ".join([f"e2h hardness compute {dataset} --method {parsed.method} --models {models}", *options])
