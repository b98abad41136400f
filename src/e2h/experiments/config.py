"""The experiment config: one YAML file that fully describes a run, validated once at the boundary.

Every problem in a file is reported together in one :class:`~e2h.errors.ConfigError` line::

    config demo.yaml: datasets[0].measures: unknown measure 'grde' (did you mean 'human_grade'?); n_test: must be > 0

The field reference is the pydantic ``Field`` descriptions below (``e2h.experiments.config_reference()`` renders
them as the README's table). Per-dataset settings (``format``, ``extraction``, ``k``, ``n_test``, ``test_draw``,
``unsupervised``) come from the dataset entry, else the top level, else the dataset's own defaults
(``e2h.data.dataset_facts``; the catalog for built-ins): :func:`dataset_settings`. Learner parameters are resolved
once per cell (:func:`learner_params`): the learner's declared defaults, then the shared options it declares (``k``,
``format``, ``normalization``, ``extraction`` from those settings; the cell's ``seed``), then its ``options``. The
learner name ``unsupervised`` in ``learners`` stands for each dataset's unsupervised baseline. A config may carry
named smaller versions of itself (``scales:``), applied by ``load_config(path, scale=...)``. Relative dataset and
model paths are looked up next to the config file first, then in the working directory.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from e2h.errors import ConfigError, E2HError
from e2h.hardness import LEVELS, TEST_DRAWS, TEST_ON, TRAIN_ON

if TYPE_CHECKING:
    import pandas as pd

#: the learner name that stands for each dataset's unsupervised baseline (its `unsupervised` setting)
UNSUPERVISED = "unsupervised"
#: what sets the items each test level holds back for training (see ``ExperimentConfig.test_pool``)
TEST_POOLS = ("curve", "point", "cost")


def suggest(name: object, options: Iterable[str]) -> str:
    """``did you mean 'human_grade'?``, or the known names when none is close."""
    from e2h.registry import did_you_mean

    options = sorted(options)
    return did_you_mean(name, options, n=1) or f"known: {', '.join(options)}"


def unknown(kind: str, name: object, options: Iterable[str]) -> str:
    """``unknown measure 'grde' (did you mean 'human_grade'?)``."""
    return f"unknown {kind} {name!r} ({suggest(name, options)})"


def resolve_path(name: str, base_dir: Path | None) -> Path | None:
    """An existing file or folder named ``name``: absolute, next to the config, or in the working directory."""
    path = Path(name).expanduser()
    candidates = [path] if path.is_absolute() else [*([base_dir / path] if base_dir else []), Path.cwd() / path]
    return next((c for c in candidates if c.exists()), None)


def _base_dir(info: ValidationInfo) -> Path | None:
    return (info.context or {}).get("base_dir")


def _check_dataset(name: str, info: ValidationInfo) -> str:
    from e2h.data import DATASETS

    if name not in DATASETS and resolve_path(name, _base_dir(info)) is None:
        raise ValueError(unknown("dataset", name, DATASETS.names()) + " and no such file")
    return name


def _check_measures(names: list[str], dataset: str | None = None) -> list[str]:
    """Measures of built-in datasets must be known or computed (``e2h.measure_names``); a user file may name any of
    its numeric columns."""
    from e2h.data import DATASETS
    from e2h.data.schema import KNOWN_MEASURES
    from e2h.measure_names import NAME_FAMILIES, is_computed_name

    if dataset is not None and dataset not in DATASETS:
        return names  # checked against the file's columns once it is loaded
    known = [*KNOWN_MEASURES, *NAME_FAMILIES]
    bad = [unknown("measure", m, known) for m in names if m not in KNOWN_MEASURES and not is_computed_name(m)]
    if bad:
        raise ValueError("; ".join(bad))
    return names


def _check_choice(kind: str, value: Any) -> list[str]:
    """Problems with a prompt ``format``, score ``normalization`` or ``extraction`` rule name (empty when known)."""
    from e2h.answering import EXTRACTION_RULES, PROMPT_FORMATS
    from e2h.learners.prompting import NORMALIZATIONS

    known = {
        "format": list(PROMPT_FORMATS),
        "normalization": list(NORMALIZATIONS),
        "extraction": list(EXTRACTION_RULES),
    }
    return [] if value in known[kind] else [unknown(kind, value, known[kind])]


def learner_class(name: str) -> Any:
    """The registered class of learner ``name`` (its ``params``, ``supervised`` and ``resolve``)."""
    from e2h.learners import LEARNERS

    return LEARNERS.get(name)


def is_supervised(name: str) -> bool:
    """Whether learner ``name`` uses training items (zero-shot does not; nor does the ``unsupervised`` baseline)."""
    return name != UNSUPERVISED and bool(learner_class(name).supervised)


def _check_n_test(value: Any) -> Any:
    if value is None or value == "all" or (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        return value
    raise ValueError(f"must be a whole number > 0, `all` (every remaining item) or null (got {value!r})")


DTYPES = ("auto", "float32", "bfloat16", "float16")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LearnerSpec(_Strict):
    """One learner of the grid: ``icl``, ``{name: icl, options: {k: 5}}`` or ``{id: lora-cot, name: lora, ...}``."""

    name: str = Field(description="a registered learner (see the learner table: zero-shot, icl, linear-probe…)")
    options: dict[str, Any] = Field(
        default_factory=dict, description="the learner's declared parameters, e.g. {epochs: 50}"
    )
    id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="what results call this entry (default: name); two entries of one learner with different "
        "options need different ids, e.g. {id: lora-cot, name: lora, options: {objective: cot}}",
    )

    @property
    def label(self) -> str:
        """The entry's name in cells and results: its ``id``, else its ``name``."""
        return self.id or self.name

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        from e2h.learners import LEARNERS

        if name not in LEARNERS and name != UNSUPERVISED:
            raise ValueError(unknown("learner", name, [*LEARNERS.names(), UNSUPERVISED]))
        return name

    @model_validator(mode="after")
    def _options(self) -> LearnerSpec:
        if self.name == UNSUPERVISED:
            if self.options:
                raise ValueError(
                    "the `unsupervised` baseline takes no options here: set them on the dataset's (or the top-level) "
                    "`unsupervised: {name, options}`"
                )
            return self
        if "seed" in self.options:
            raise ValueError("options.seed: set seeds at the top level (`seeds:`), not per learner")
        try:  # every option's name and value, as the learner declares them (e2h.learners.params)
            learner_class(self.name).check_options(self.options)
        except E2HError as exc:
            raise ValueError(str(exc).rstrip(".")) from None
        return self


class _RunOptions(_Strict):
    """Checks of the run options a config sets at its top level and per dataset (format, n_test, unsupervised…)."""

    @field_validator("format", "normalization", "extraction", check_fields=False)
    @classmethod
    def _choice(cls, value: str | None, info: ValidationInfo) -> str | None:
        bad = [] if value is None else _check_choice(info.field_name, value)
        if bad:
            raise ValueError(bad[0])
        return value

    @field_validator("n_test", mode="before", check_fields=False)
    @classmethod
    def _n_test(cls, value: Any) -> Any:
        return _check_n_test(value)

    @field_validator("unsupervised", check_fields=False)
    @classmethod
    def _unsupervised(cls, value: LearnerSpec | None) -> LearnerSpec | None:
        return _check_baseline(value)

    @field_validator("train_on", mode="before", check_fields=False)
    @classmethod
    def _train_on_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("train_on", check_fields=False)
    @classmethod
    def _train_on(cls, values: list[str] | None) -> list[str] | None:
        bad = [unknown("level", v, TRAIN_ON) for v in values or [] if v not in TRAIN_ON]
        if bad:
            raise ValueError("; ".join(bad))
        return values

    @field_validator("test_draw", check_fields=False)
    @classmethod
    def _test_draw(cls, value: str | None) -> str | None:
        if value is not None and value not in TEST_DRAWS:
            raise ValueError(unknown("test_draw", value, TEST_DRAWS))
        return value


class DatasetSpec(_RunOptions):
    """A dataset to test on, its hardness measures, and optionally another dataset to train on.

    Levels of **test** items come from ``measures`` on ``name``. Without ``train_dataset`` training items are drawn
    from the same dataset (disjoint from the test items) and levelled by the same measure. With ``train_dataset``
    (cross-dataset transfer, e.g. train on ARC grade ≤ 3, test on college MMLU) training items come from that dataset,
    levelled by ``train_measure`` (default: the same measure name), and ``train_on`` refers to those levels.
    ``cutoffs`` are keyed by measure name and apply to whichever dataset that measure levels.

    A measure with no value at all in the data (all NaN, e.g. ARC human measures without the annotation file) is an
    error, unless ``fallback_measures`` are given: then those measures replace it (a warning and a manifest note say
    so), and the run goes on.
    """

    name: str = Field(description="built-in dataset (arc, mmlu-stem5, strategyqa, gsm8k…) or a CSV/JSONL/Parquet path")
    measures: list[str] = Field(
        default_factory=list,
        description="hardness measures, one grid axis (human_grade…); none: a random split without levels "
        "(train_on and test_on must then be `all`)",
    )
    format: str | None = Field(None, description="prompt format on this dataset; null = the top-level `format`")
    extraction: str | None = Field(None, description="answer extraction rule on this dataset; null = the top level's")
    k: int | None = Field(None, ge=0, description="in-context demonstrations on this dataset; null = the top level's")
    n_test: int | str | None = Field(
        None, description="test items per cell on this dataset (`all`: every remaining item); null = the top level's"
    )
    test_draw: str | None = Field(
        None, description="how a fixed n_test is drawn on this dataset (stratified, random); null = the top level's"
    )
    train_on: list[str] | None = Field(None, description="levels to train on for this dataset; null = the top level's")
    learners: list[LearnerSpec] | None = Field(
        None, description="the learners run on this dataset (learners[] keys); null = the top level's"
    )
    unsupervised: LearnerSpec | None = Field(
        None,
        description="the unsupervised baseline on this dataset, which the learner name `unsupervised` runs: a learner "
        "name or {name, options}; null = the top level's",
    )
    source: str = Field("local", description="where a built-in dataset comes from: local (pinned copies) or hub")
    fallback_source: str | None = Field(
        None, description="`local`: use the local copy when the hub is unreachable (the manifest notes what it lacks)"
    )
    variant: str | None = Field(
        None,
        description="another preparation of a built-in dataset: `paper` (ARC: only items with every human "
        "annotation), `verbatim` (GSM8k: reasoning with line breaks and calculator notes)",
    )
    fallback_measures: list[str] = Field(
        default_factory=list,
        description="replace any measure of `measures` that has no values (all NaN) in the data, "
        "e.g. ARC's human measures without the annotation file",
    )
    cutoffs: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="{measure: [lo, hi]} overriding the cutoff table: easy <= lo, hard >= hi"
    )
    train_dataset: str | None = Field(None, description="dataset to train on (cross-dataset transfer); default: name")
    train_measure: str | None = Field(None, description="measure that levels train_dataset; default: the test measure")
    exclude_pool: bool | list[str] = Field(
        False,
        description="leave out of every split, whatever the measure, the items a computed measure held out to train "
        "on (its pool), as the paper left its 1,000-item hardness pool out of every experiment: true (the pools of "
        "this entry's mdl_proxy measures) or the mdl_proxy measure names",
    )

    @field_validator("name", "train_dataset")
    @classmethod
    def _dataset(cls, name: str | None, info: ValidationInfo) -> str | None:
        return None if name is None else _check_dataset(name, info)

    @field_validator("measures", "fallback_measures", "cutoffs")
    @classmethod
    def _measures(cls, names: Any, info: ValidationInfo) -> Any:
        _check_measures(list(names), info.data.get("name"))
        return names

    @field_validator("train_measure")
    @classmethod
    def _train_measure(cls, name: str | None, info: ValidationInfo) -> str | None:
        return None if name is None else _check_measures([name], info.data.get("train_dataset"))[0]

    @field_validator("cutoffs")
    @classmethod
    def _cutoffs(cls, cutoffs: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        bad = [f"{m}: lo {lo} must be <= hi {hi}" for m, (lo, hi) in cutoffs.items() if not lo <= hi]
        if bad:
            raise ValueError("; ".join(bad))
        return cutoffs

    @field_validator("source", "fallback_source")
    @classmethod
    def _source(cls, value: str | None, info: ValidationInfo) -> str | None:
        from e2h.data import SOURCES

        if value is not None and value not in SOURCES:
            raise ValueError(unknown("source", value, SOURCES))
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DatasetSpec:
        from e2h.data import DATASETS
        from e2h.data.catalog import check_variant

        problems = []
        if self.train_measure and not self.train_dataset:
            problems.append("train_measure needs train_dataset (it levels the training dataset)")
        if not self.measures and (self.train_dataset or self.fallback_measures):
            problems.append("a random split (no measures) takes no train_dataset or fallback_measures")
        builtin = self.name in DATASETS
        if not builtin and (self.source != "local" or self.variant):
            problems.append(f"source and variant are for built-in datasets; {self.name} is read from disk as written")
        if self.fallback_source is not None and (self.source != "hub" or self.fallback_source == "hub"):
            problems.append("fallback_source: local only goes with source: hub")
        if builtin and self.variant:
            try:
                check_variant(self.name, self.variant)
            except E2HError as exc:
                problems.append(str(exc).split(": drop")[0])
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @field_validator("exclude_pool", mode="before")
    @classmethod
    def _pool_names(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _pool(self) -> DatasetSpec:
        from e2h.data.measure_tables import POOL_METHODS
        from e2h.measure_names import parse_measure_name

        def pooled(name: str) -> bool:
            parsed = parse_measure_name(name)
            return parsed is not None and parsed.method in POOL_METHODS

        named = self.exclude_pool if isinstance(self.exclude_pool, list) else []
        bad = [name for name in named if not pooled(name)]
        if bad:
            raise ValueError(
                f"exclude_pool: {', '.join(bad)} holds out no pool: name a computed measure of "
                f"{', '.join(POOL_METHODS)} (e.g. mdl_proxy_smollm2-135m), or set true"
            )
        if self.exclude_pool is True and not any(pooled(m) for m in [*self.measures, *self.fallback_measures]):
            raise ValueError(
                "exclude_pool: true needs an mdl_proxy measure in measures: add one, or name it "
                "(exclude_pool: [mdl_proxy_MODEL])"
            )
        return self

    def pool_measures(self) -> list[str]:
        """The computed measures whose pools ``exclude_pool`` leaves out (none when it is false)."""
        from e2h.data.measure_tables import POOL_METHODS
        from e2h.measure_names import parse_measure_name

        if isinstance(self.exclude_pool, list):
            return list(self.exclude_pool)
        if not self.exclude_pool:
            return []
        parsed = [parse_measure_name(m) for m in dict.fromkeys([*self.measures, *self.fallback_measures])]
        return [p.name for p in parsed if p is not None and p.method in POOL_METHODS]

    def data_options(self) -> tuple[str, str | None, str | None]:
        """How ``name`` is loaded: ``(source, fallback_source, variant)``."""
        return (self.source, self.fallback_source, self.variant)


def _check_baseline(spec: LearnerSpec | None) -> LearnerSpec | None:
    """An ``unsupervised:`` setting must name an unsupervised learner."""
    if spec is not None and (spec.name == UNSUPERVISED or is_supervised(spec.name)):
        raise ValueError(
            f"{spec.name!r} cannot be the unsupervised baseline: name a learner that trains on nothing "
            "(zero-shot, zero-shot-cot)"
        )
    return spec


class LabelNoise(_Strict):
    """Training-label noise (the paper's noisy-label study).

    Each training item's label is replaced, with probability ``p``, by a choice drawn uniformly from its choices
    (``e2h.learners.noise.corrupt_labels``); items at the ``hard`` level use ``min(1, p * hard_multiplier)``, so
    ``hard_multiplier: 2.0`` makes hard labels twice as noisy. Every ``p`` is one grid axis value; ``0`` = clean.
    """

    p: list[float] = Field(default_factory=lambda: [0.0], description="noise probabilities, each in [0, 1]")
    hard_multiplier: float = Field(1.0, ge=0, description="noise multiplier for items at the hard level")

    @model_validator(mode="before")
    @classmethod
    def _from_number(cls, value: Any) -> Any:
        return {"p": [value]} if isinstance(value, int | float) else value

    @field_validator("p", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, int | float) else value

    @field_validator("p")
    @classmethod
    def _in_unit(cls, values: list[float]) -> list[float]:
        if any(not 0 <= v <= 1 for v in values):
            raise ValueError(f"every p must be in [0, 1] (got {values})")
        return values


class ExperimentConfig(_RunOptions):
    """A whole experiment: the grid of cells it expands to, and where results go."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="run name (folder under output_dir)")
    description: str = Field("", description="free text recorded in the manifest")
    models: list[str] = Field(
        min_length=1, description="model aliases, hub ids or local paths; an entry may be {name, quantization}"
    )
    quantization: dict[str, str] = Field(
        default_factory=dict,
        description="per model, how it is loaded for scoring, hidden states and generation: int8 or nf4 "
        "(bitsandbytes, CUDA only) or none; usually written in its models entry: {name: MODEL, quantization: int8}",
    )
    device: str = Field("auto", description="auto, cpu, cuda, cuda:1…")
    dtype: str | None = Field(
        None,
        description="compute dtype: null/auto = bf16 on CUDA and, on CPU, whichever of fp32/bf16 this machine "
        "runs faster; or float32, bfloat16, float16. Fixed when a run starts, for all its cells (manifest `dtype`): "
        "a resumed run keeps it",
    )
    datasets: list[DatasetSpec] = Field(
        min_length=1, description="datasets to test on, with their measures (datasets[] keys)"
    )
    compute_measures: bool = Field(
        False,
        description="true: before the run plans its cells, compute every computed measure the datasets name "
        "(prequential_smollm2-135m…) that is not in the cache yet or is stale (its items changed), as the "
        "`e2h hardness compute` command its name implies would (irt ones need finished runs and are not); "
        "false: stop and name that command",
    )
    learners: list[LearnerSpec] = Field(min_length=1, description="learner names or {name, options} (learners[] keys)")
    train_on: list[str] = Field(
        default_factory=lambda: ["easy", "hard"],
        min_length=1,
        description="levels to train on, one grid axis: easy, medium, hard, easy_and_hard, all (levels in "
        "proportion to their size, as a random draw: the paper's), all_balanced (equal shares of the levels)",
    )
    test_on: str = Field("hard", description="test level; `all` keeps every level and breaks results down by it")
    n_train: list[int] = Field(default_factory=lambda: [160], min_length=1, description="training-set size(s)")
    k: int | None = Field(
        None, ge=0, description="in-context demonstrations for learners that take k; null = the dataset's (10 or 8)"
    )
    n_test: int | str | None = Field(
        None,
        description="test items per cell; `all` = every remaining item of the test level; null = the dataset's "
        "(every remaining item for the built-ins)",
    )
    test_draw: str = Field(
        "stratified",
        description="how a fixed n_test over several levels (test_on: all) is drawn: `stratified` = the paper's, "
        "about n_test/3 per level from the items not held back for training; `random` = n_test at random over "
        "the levels, in proportion to their size",
    )
    unsupervised: LearnerSpec | None = Field(
        None,
        description="the unsupervised baseline that the learner name `unsupervised` runs on every dataset; null = "
        "the dataset's (zero-shot; zero-shot-cot with the paper's instruction on gsm8k)",
    )
    test_pool: str = Field(
        "curve",
        description="with n_test `all`, what each level holds back for training: `curve` = the largest n_train "
        "trained on it (every point of a learning curve tests the same items), `point` = each n_train its own "
        "(smaller points test more items; zero-shot tests them all), `cost` = each labelling cost n_train × "
        "label_cost its own (points of equal cost, e.g. 2n easy and n hard labels, test the same items; needs "
        "label_cost)",
    )
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1, description="seeds, or a count n = 0..n-1")
    format: str | None = Field(
        None, description="prompt format for learners that take one (cloze, listed, letters, qa); null = the dataset's"
    )
    normalization: str = Field("raw", description="choice-score normalization for learners that take one")
    extraction: str | None = Field(
        None, description="answer extraction rule of generated answers (last, first); null = the dataset's"
    )
    label_noise: LabelNoise = Field(
        default_factory=LabelNoise,
        description="training-label noise: a number p, or {p: [...], hard_multiplier} (label_noise keys)",
    )
    label_cost: dict[str, float] = Field(
        default_factory=dict,
        description="labelling cost of one training item per level, e.g. {easy: 1, hard: 2}; unnamed levels cost 1, "
        "mixtures the mean of their levels; the report's cost curves put n_train × this cost on the x-axis (empty: "
        "easy 1, hard 2, others 1.5); changes no cell",
    )
    output_dir: str = Field("runs", description="folder of runs, relative to the working directory")
    backend: Literal["local", "ray"] = Field(
        "local", description="where cells run: local (this process) or ray (a Ray cluster; pip install e2h[ray])"
    )
    ray_address: str | None = Field(
        None, description="Ray cluster to join: auto, ray://host:port; null = start a local one (backend ray)"
    )
    resources: dict[str, dict[Literal["num_cpus", "num_gpus", "memory"], float]] = Field(
        default_factory=dict,
        description="Ray resources per cell by learner name or `default`, e.g. {lora: {num_gpus: 1}}; "
        "unset: 1 GPU for lora/qlora and models of 1B+ parameters when the cluster has GPUs, else 1 CPU",
    )
    max_retries: int = Field(1, ge=0, description="times Ray retries a cell whose worker process died")
    scales: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="named smaller versions, e.g. {small: {n_test: 100, seeds: 2}}: `e2h run CONFIG --scale small` "
        "replaces those top-level keys and runs as NAME-small",
    )

    _base_dir: Path | None = PrivateAttr(default=None)
    _source: str = PrivateAttr(default="config")

    @field_validator("n_train", "seeds", mode="before")
    @classmethod
    def _listify(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name == "seeds" and isinstance(value, int) and not isinstance(value, bool):
            if value < 1:
                raise ValueError(f"a seed count must be >= 1 (got {value})")
            return list(range(value))
        return [value] if isinstance(value, int | str) else value

    @field_validator("n_train")
    @classmethod
    def _positive(cls, values: list[int]) -> list[int]:
        if any(v <= 0 for v in values):
            raise ValueError(f"must be > 0 (got {values})")
        return values

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, values: list[int]) -> list[int]:
        if any(v < 0 for v in values) or len(set(values)) != len(values):
            raise ValueError(f"seeds must be distinct and >= 0 (got {values})")
        return values

    @field_validator("models")
    @classmethod
    def _models(cls, names: list[str], info: ValidationInfo) -> list[str]:
        from e2h.models.registry import MODELS

        bad = [
            unknown("model", n, MODELS.names()) + " and no such path (hub ids look like org/name)"
            for n in names
            if n not in MODELS and "/" not in n and resolve_path(n, _base_dir(info)) is None
        ]
        if bad:
            raise ValueError("; ".join(bad))
        return names

    @model_validator(mode="before")
    @classmethod
    def _model_entries(cls, data: Any) -> Any:
        """``models`` entries written ``{name, quantization}``: the names stay in ``models``, the quantization goes to
        ``quantization`` (one mapping, so every later step reads one place)."""
        if not isinstance(data, dict) or not isinstance(data.get("models"), list):
            return data
        names, from_entries = [], {}
        for entry in data["models"]:
            if not isinstance(entry, dict):
                names.append(entry)
                continue
            extra = sorted(set(entry) - {"name", "quantization"})
            if "name" not in entry or extra:
                hint = f"unknown key ({suggest(extra[0], ['name', 'quantization'])})" if extra else "it needs a name"
                raise ValueError(f"models: an entry is a name or {{name, quantization}}, got {entry!r}: {hint}")
            names.append(entry["name"])
            if entry.get("quantization") is not None:
                from_entries[str(entry["name"])] = entry["quantization"]
        quantized = data.get("quantization")
        if from_entries and (quantized is None or isinstance(quantized, dict)):
            quantized = {**(quantized or {}), **from_entries}
        return {**data, "models": names, **({"quantization": quantized} if quantized is not None else {})}

    @field_validator("quantization")
    @classmethod
    def _quantization(cls, values: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        from e2h.models.loading import QUANTIZATIONS

        known = ("none", *QUANTIZATIONS)
        models = info.data.get("models") or []
        bad = [f"{model}: {unknown('quantization', q, known)}" for model, q in values.items() if q not in known]
        bad += [f"{model} is not in models (name it there, or drop it here)" for model in values if model not in models]
        if bad:
            raise ValueError("; ".join(bad))
        return values

    @field_validator("test_on", "dtype", "test_pool")
    @classmethod
    def _named(cls, value: str | None, info: ValidationInfo) -> str | None:
        known = {"test_on": TEST_ON, "dtype": DTYPES, "test_pool": TEST_POOLS}[info.field_name]
        if value is not None and value not in known:
            raise ValueError(unknown("level" if info.field_name == "test_on" else info.field_name, value, known))
        return value

    @field_validator("label_cost")
    @classmethod
    def _label_cost(cls, costs: dict[str, float]) -> dict[str, float]:
        bad = [unknown("level", level, LEVELS) for level in costs if level not in LEVELS]
        bad += [f"{level}: cost must be > 0 (got {cost})" for level, cost in costs.items() if not cost > 0]
        if bad:
            raise ValueError("; ".join(bad))
        return costs

    @field_validator("scales")
    @classmethod
    def _scales(cls, scales: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        keys = [k for k in cls.model_fields if k != "scales"]
        bad = [
            f"{scale}: {unknown('key', key, keys)}"
            for scale, values in scales.items()
            for key in values
            if key not in keys
        ]
        if bad:
            raise ValueError("; ".join(bad))
        return scales

    def level_cost(self, train_on: str) -> float:
        """Labelling cost of one training item of a kind: its level's ``label_cost`` (1 where unnamed), the mean
        over the levels a mixture draws from."""
        from e2h.hardness import train_levels

        levels = train_levels(train_on)
        return sum(self.label_cost.get(level, 1.0) for level in levels) / len(levels)

    @model_validator(mode="after")
    def _grid_fits(self) -> ExperimentConfig:
        problems = []
        if self.test_pool == "cost" and not self.label_cost:
            problems.append("test_pool: cost needs label_cost, e.g. {easy: 1, hard: 2}")
        loads: dict[str, tuple] = {}
        pools: dict[str, list[str]] = {}
        for spec in self.datasets:
            if loads.setdefault(spec.name, spec.data_options()) != spec.data_options():
                problems.append(f"{spec.name} is listed twice with different source, fallback_source or variant")
            if pools.setdefault(spec.name, spec.pool_measures()) != spec.pool_measures():
                problems.append(f"{spec.name} is listed twice with different exclude_pool (its items are shared)")
        random = [d.name for d in self.datasets if not d.measures and ((d.train_on or self.train_on) != ["all"])]
        random += [d.name for d in self.datasets if not d.measures and self.test_on != "all"]
        if random:
            problems.append(
                f"{', '.join(dict.fromkeys(random))} has no measures (a random split without levels): set train_on: "
                "all and test_on: all, or name a measure"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def base_dir(self) -> Path | None:
        """The folder of the config file (relative dataset and model paths are looked up there first)."""
        return self._base_dir

    @property
    def source(self) -> str:
        """How errors name this config: ``config demo.yaml``."""
        return self._source

    def dataset_path(self, name: str) -> str:
        """What to pass to ``e2h.data.load_dataset`` for a dataset named in this config."""
        from e2h.data import DATASETS

        if name in DATASETS:
            return name
        path = resolve_path(name, self._base_dir)
        return str(path) if path is not None else name

    def model_quantization(self, name: str) -> str:
        """How model ``name`` is loaded: ``int8``, ``nf4`` or ``none`` (see the ``quantization`` field)."""
        return self.quantization.get(name, "none")

    def model_path(self, name: str) -> str:
        """What to pass to ``e2h.models.load_model`` for a model named in this config."""
        from e2h.models.registry import MODELS

        path = None if name in MODELS else resolve_path(name, self._base_dir)
        return str(path) if path is not None else name

    def load_items(self, name: str) -> tuple[pd.DataFrame, str]:
        """The item table of dataset ``name`` as its entry asks (source, variant), and a note when it fell back.

        A ``source: hub`` entry with ``fallback_source: local`` loads the local copy when the hub is unreachable; the
        note says so and names what the local copy uses instead (the catalog's ``hub_only``).
        """
        from e2h.data import DATASETS, load_dataset

        spec = next((d for d in self.datasets if d.name == name), None)
        source, fallback, variant = spec.data_options() if spec else ("local", None, None)
        path = self.dataset_path(name)
        try:
            return load_dataset(path, source=source, variant=variant), ""
        except E2HError as exc:
            if fallback is None:
                raise
            reason = str(exc).rstrip(".")
        lacks = DATASETS.get(name).hub_only or "nothing the experiment uses"
        note = f"{name}: the hub is unreachable ({reason}); using the {fallback} copy, which lacks {lacks}"
        return load_dataset(path, source=fallback, variant=variant), note


@dataclass(frozen=True)
class DatasetSettings:
    """The per-dataset settings of one ``datasets:`` entry, resolved (see :func:`dataset_settings`)."""

    format: str
    extraction: str
    k: int
    n_test: int | None  # None: every remaining item of the test level
    unsupervised: LearnerSpec
    test_draw: str = "stratified"  # how a fixed n_test over several levels is drawn


def dataset_settings(config: ExperimentConfig, dataset: DatasetSpec) -> DatasetSettings:
    """``format``, ``extraction``, ``k``, ``n_test``, ``unsupervised`` and ``test_draw`` of a dataset entry: the
    defaults cascade.

    Each comes from the entry, else the config's top level, else the dataset's own defaults
    (``e2h.data.dataset_facts``: the catalog for built-ins, a sidecar file or inference for user files). Resolve it
    once per entry and pass the result on (:func:`dataset_learners`, :func:`learner_params`, ``grid.expand``).
    """
    from e2h.data import dataset_facts

    facts = dataset_facts(config.dataset_path(dataset.name))

    def pick(key: str) -> Any:
        for value in (getattr(dataset, key), getattr(config, key)):
            if value is not None:
                return value
        return getattr(facts, key)

    n_test, baseline = pick("n_test"), pick("unsupervised")
    return DatasetSettings(
        format=pick("format"),
        extraction=pick("extraction"),
        k=pick("k"),
        n_test=None if n_test == "all" else n_test,
        unsupervised=baseline if isinstance(baseline, LearnerSpec) else _default_baseline(baseline, dataset.name),
        test_draw=dataset.test_draw or config.test_draw,
    )


def _default_baseline(name: str, dataset: str) -> LearnerSpec:
    """The baseline a dataset's defaults name, checked like a config's ``unsupervised:``."""
    try:
        return _check_baseline(LearnerSpec(name=name))  # type: ignore[return-value]
    except (ValidationError, ValueError) as exc:
        reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise E2HError(f"dataset {dataset}: its default unsupervised learner {name!r}: {reason}") from None


def dataset_learners(
    config: ExperimentConfig, dataset: DatasetSpec, settings: DatasetSettings
) -> list[tuple[LearnerSpec, bool]]:
    """The learners run on a dataset entry (its ``learners``, else the top level's; ``settings``: its resolved
    defaults), each with whether it is the entry's unsupervised baseline.

    The name ``unsupervised`` becomes the entry's baseline learner; entries are keyed by their label (``id``, else
    ``name``) and the baseline mark: one listed twice runs once (two that differ are a config error,
    :func:`learner_clashes`).
    """
    baseline = settings.unsupervised
    chosen: dict[tuple[str, bool], tuple[LearnerSpec, bool]] = {}
    for spec in dataset.learners or config.learners:
        spec = baseline if spec.name == UNSUPERVISED else spec
        chosen.setdefault((spec.label, spec == baseline), (spec, spec == baseline))
    return list(chosen.values())


def learner_clashes(config: ExperimentConfig, dataset: DatasetSpec) -> list[str]:
    """Entries of a dataset's learners that share a label (id, else name) but differ: results could not tell them
    apart (the unsupervised baseline is told apart by its mark)."""
    baseline = dataset_settings(config, dataset).unsupervised
    seen: dict[tuple[str, bool], LearnerSpec] = {}
    problems = []
    for spec in dataset.learners or config.learners:
        spec = baseline if spec.name == UNSUPERVISED else spec
        first = seen.setdefault((spec.label, spec == baseline), spec)
        if first != spec:
            problems.append(
                f"learner {spec.label!r} on {dataset.name} is listed twice with different settings: give each entry "
                f"its own `id:` (e.g. {{id: {spec.name}-2, name: {spec.name}, options: ...}})"
            )
    return problems


def learner_params(
    spec: LearnerSpec, config: ExperimentConfig, seed: int, settings: DatasetSettings | None = None
) -> dict[str, Any]:
    """Every parameter of a learner in one cell: its defaults < the shared options < its ``options``.

    The shared options are the config's ``normalization``, the cell's ``seed``, and ``format``, ``extraction`` and
    ``k`` of the dataset entry's resolved ``settings`` (:func:`dataset_settings`; the top level's without).
    """
    shared: dict[str, Any] = {"normalization": config.normalization, "seed": seed}
    if settings is None:
        shared.update(k=config.k, format=config.format, extraction=config.extraction)
    else:
        shared.update(k=settings.k, format=settings.format, extraction=settings.extraction)
    if spec.name == UNSUPERVISED:
        raise E2HError("learner_params needs a real learner: resolve `unsupervised` with dataset_learners first.")
    return learner_class(spec.name).resolve(spec.options, shared)


def check_grid(config: ExperimentConfig) -> list[str]:
    """Problems of the grid that need each dataset's settings: too few training items for k demonstrations."""
    problems = []
    for dataset in config.datasets:
        settings = dataset_settings(config, dataset)
        problems += learner_clashes(config, dataset)
        for spec, _ in dataset_learners(config, dataset, settings):
            if not is_supervised(spec.name):
                continue
            k = learner_params(spec, config, 0, settings).get("k") or 0
            if k > min(config.n_train):
                problems.append(f"learner {spec.name} on {dataset.name}: k={k} demonstrations need n_train >= {k}")
    return list(dict.fromkeys(problems))


_NESTED = {"datasets": DatasetSpec, "learners": LearnerSpec, "label_noise": LabelNoise}


def _error_line(error: Any) -> str:
    loc = error["loc"]
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "extra_forbidden":
        parents = [p for p in loc[:-1] if isinstance(p, str)]
        model = _NESTED.get(parents[-1], ExperimentConfig) if parents else ExperimentConfig
        message = f"unknown key ({suggest(loc[-1], model.model_fields)})"
    elif kind == "missing":
        message = "required key is missing"
    elif kind == "value_error":
        message = str(ctx.get("error", error["msg"]))
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        op = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}[kind]
        message = f"must be {op} {next(iter(ctx.values()))} (got {error['input']!r})"
    elif kind == "too_short":
        message = "must not be empty"
    else:
        message = f"{error['msg'][:1].lower()}{error['msg'][1:]} (got {error['input']!r})"
    return (f"{where}: {message}" if where else message).replace("\n", " ")


def apply_scale(data: Any, scale: str | None, source: str = "config") -> Any:
    """``data`` with the top-level keys of its scale ``scale`` replaced, named ``NAME-SCALE`` (unless it sets one)."""
    if scale is None:
        return data
    scales = data.get("scales") if isinstance(data, dict) else None
    if not isinstance(scales, dict) or scale not in scales:
        names = list(scales) if isinstance(scales, dict) else []
        hint = suggest(scale, names) if names else "it has no `scales:`"
        raise ConfigError(f"{source}: no scale {scale!r} ({hint}); run it without --scale or add it under `scales:`")
    values = scales[scale] or {}
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: scales.{scale} must map config keys to values, e.g. {{n_test: 100, seeds: 2}}")
    name = data.get("name")
    return {**data, **({"name": f"{name}-{scale}"} if isinstance(name, str) else {}), **values}


def parse_config(
    data: Any, source: str = "config", base_dir: Path | None = None, scale: str | None = None
) -> ExperimentConfig:
    """Validate a config mapping (at ``scale``, see :func:`apply_scale`); one ConfigError lists every problem."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys (name, models, datasets…), got {type(data).__name__}")
    data = apply_scale(data, scale, source)
    try:
        config = ExperimentConfig.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(f"{source}: " + "; ".join(_error_line(e) for e in exc.errors())) from None
    config._base_dir, config._source = base_dir, source
    try:
        problems = check_grid(config)
    except E2HError as exc:
        problems = [str(exc).rstrip(".")]
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))
    return config


def find_config(name: str | Path) -> Path:
    """A config file path, or a preset name: ``demo`` → ``configs/demo.yaml``, ``paper/arc`` → its YAML."""
    path = Path(name)
    if path.is_file():
        return path
    presets = Path.cwd() / "configs"
    preset = presets / f"{path}.yaml"
    if path.suffix == "" and preset.is_file():
        return preset
    known = sorted(p.relative_to(presets).with_suffix("").as_posix() for p in presets.rglob("*.yaml"))
    hint = f"; {unknown('preset', str(path.with_suffix('')), known)}" if known else ""
    raise ConfigError(f"config {name}: no such file{hint}; pass a YAML path (see configs/)")


def load_config(path: str | Path, scale: str | None = None) -> ExperimentConfig:
    """Read and validate a YAML config file (or a preset name, see :func:`find_config`), at ``scale`` if given."""
    path = find_config(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config {path.name}: not valid YAML{where} ({getattr(exc, 'problem', exc)})") from None
    return parse_config(data, source=f"config {path.name}", base_dir=path.parent.resolve(), scale=scale)
