"""The experiment config: one YAML file that fully describes a run, validated once at the boundary.

Every problem in a file is reported together in one :class:`~e2h.errors.ConfigError` line::

    config demo.yaml: datasets[0].measures: unknown measure 'grde' (did you mean 'human_grade'?); n_test: must be > 0

The field reference is the pydantic ``Field`` descriptions below (``e2h.experiments.config_reference()`` renders
them as the README's table). Learner parameters are resolved once per cell (:func:`learner_params`): the learner's
declared defaults, then the shared options it declares (``k``, ``format``, ``normalization``, ``extraction``; the
dataset's own defaults where the config leaves them ``null``; the cell's ``seed``), then its ``options``. Relative
dataset and model paths are looked up next to the config file first, then in the working directory.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

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

from e2h.errors import ConfigError
from e2h.hardness import TEST_ON, TRAIN_ON


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
    """Measures of built-in datasets must be known or computed (``e2h.data.computed``); a user file may name any of
    its numeric columns."""
    from e2h.data import DATASETS
    from e2h.data.computed import is_computed_name
    from e2h.data.schema import KNOWN_MEASURES

    if dataset is not None and dataset not in DATASETS:
        return names  # checked against the file's columns once it is loaded
    known = [*KNOWN_MEASURES, "prequential_MODEL", "mdl_proxy_MODEL", "nll_answer_MODEL", "irt_difficulty"]
    bad = [unknown("measure", m, known) for m in names if m not in KNOWN_MEASURES and not is_computed_name(m)]
    if bad:
        raise ValueError("; ".join(bad))
    return names


def _check_choice(kind: str, value: Any) -> list[str]:
    """Problems with a prompt ``format``, score ``normalization`` or ``extraction`` rule name (empty when known)."""
    from e2h.data import EXTRACTION_RULES
    from e2h.learners.prompting import NORMALIZATIONS
    from e2h.models.templates import FORMATS

    known = {"format": list(FORMATS), "normalization": list(NORMALIZATIONS), "extraction": list(EXTRACTION_RULES)}
    return [] if value in known[kind] else [unknown(kind, value, known[kind])]


def learner_class(name: str) -> Any:
    """The registered class of learner ``name`` (its ``params``, ``supervised`` and ``resolve``)."""
    from e2h.learners import LEARNERS

    return LEARNERS.get(name)


def is_supervised(name: str) -> bool:
    """Whether learner ``name`` uses training items (zero-shot does not)."""
    return bool(learner_class(name).supervised)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LearnerSpec(_Strict):
    """One learner of the grid: ``icl`` or ``{name: icl, options: {k: 5}}``."""

    name: str = Field(description="a registered learner (see the learner table: zero-shot, icl, linear-probe…)")
    options: dict[str, Any] = Field(
        default_factory=dict, description="the learner's declared parameters, e.g. {epochs: 50}"
    )

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        from e2h.learners import LEARNERS

        if name not in LEARNERS:
            raise ValueError(unknown("learner", name, LEARNERS.names()))
        return name

    @model_validator(mode="after")
    def _options(self) -> LearnerSpec:
        from e2h.errors import E2HError

        if "seed" in self.options:
            raise ValueError("options.seed: set seeds at the top level (`seeds:`), not per learner")
        try:
            learner_class(self.name).check_options(self.options)
        except E2HError as exc:
            raise ValueError(str(exc).rstrip(".")) from None
        bad = [
            p
            for kind in ("format", "normalization")
            if kind in self.options
            for p in _check_choice(kind, self.options[kind])
        ]
        if bad:
            raise ValueError("; ".join(bad))
        return self


class DatasetSpec(_Strict):
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

    @field_validator("format")
    @classmethod
    def _format(cls, value: str | None) -> str | None:
        bad = [] if value is None else _check_choice("format", value)
        if bad:
            raise ValueError(bad[0])
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DatasetSpec:
        if self.train_measure and not self.train_dataset:
            raise ValueError("train_measure needs train_dataset (it levels the training dataset)")
        if not self.measures and (self.train_dataset or self.fallback_measures):
            raise ValueError("a random split (no measures) takes no train_dataset or fallback_measures")
        return self


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


class ExperimentConfig(_Strict):
    """A whole experiment: the grid of cells it expands to, and where results go."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="run name (folder under output_dir)")
    description: str = Field("", description="free text recorded in the manifest")
    models: list[str] = Field(min_length=1, description="model aliases, hub ids or local paths")
    device: str = Field("auto", description="auto, cpu, cuda, cuda:1…")
    dtype: str | None = Field(
        None,
        description="compute dtype: null/auto = bf16 on CUDA and, on CPU, whichever of fp32/bf16 this machine "
        "runs faster; or float32, bfloat16, float16",
    )
    datasets: list[DatasetSpec] = Field(
        min_length=1, description="datasets to test on, with their measures (datasets[] keys)"
    )
    learners: list[LearnerSpec] = Field(min_length=1, description="learner names or {name, options} (learners[] keys)")
    train_on: list[str] = Field(
        default_factory=lambda: ["easy", "hard"],
        min_length=1,
        description="levels to train on, one grid axis: easy, medium, hard, all, easy_and_hard",
    )
    test_on: str = Field("hard", description="test level; `all` keeps every level and breaks results down by it")
    n_train: list[int] = Field(default_factory=lambda: [160], min_length=1, description="training-set size(s)")
    k: int = Field(10, ge=0, description="in-context demonstrations for learners that take k")
    n_test: int | None = Field(None, gt=0, description="test items per cell; null = all remaining of the test level")
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

    _base_dir: Path | None = PrivateAttr(default=None)
    _source: str = PrivateAttr(default="config")

    @field_validator("n_train", "seeds", "train_on", mode="before")
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

    @field_validator("train_on")
    @classmethod
    def _train_on(cls, values: list[str]) -> list[str]:
        bad = [unknown("level", v, TRAIN_ON) for v in values if v not in TRAIN_ON]
        if bad:
            raise ValueError("; ".join(bad))
        return values

    @field_validator("test_on")
    @classmethod
    def _test_on(cls, value: str) -> str:
        if value not in TEST_ON:
            raise ValueError(unknown("level", value, TEST_ON))
        return value

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

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, value: str | None) -> str | None:
        known = ("auto", "float32", "bfloat16", "float16")
        if value is not None and value not in known:
            raise ValueError(unknown("dtype", value, known))
        return value

    @field_validator("format", "normalization", "extraction")
    @classmethod
    def _choice(cls, value: str | None, info: ValidationInfo) -> str | None:
        bad = [] if value is None else _check_choice(info.field_name, value)
        if bad:
            raise ValueError(bad[0])
        return value

    @model_validator(mode="after")
    def _grid_fits(self) -> ExperimentConfig:
        problems = []
        for spec in self.learners:
            k = learner_class(spec.name).resolve(spec.options, {"k": self.k}).get("k") or 0
            if is_supervised(spec.name) and k > min(self.n_train):
                problems.append(f"learner {spec.name}: k={k} demonstrations need n_train >= {k}")
        random = [d.name for d in self.datasets if not d.measures]
        if random and (self.train_on != ["all"] or self.test_on != "all"):
            problems.append(
                f"{', '.join(random)} has no measures (a random split without levels): set train_on: all and "
                "test_on: all, or name a measure"
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

    def model_path(self, name: str) -> str:
        """What to pass to ``e2h.models.load_model`` for a model named in this config."""
        from e2h.models.registry import MODELS

        path = None if name in MODELS else resolve_path(name, self._base_dir)
        return str(path) if path is not None else name


def learner_params(
    spec: LearnerSpec, config: ExperimentConfig, seed: int, dataset: DatasetSpec | None = None
) -> dict[str, Any]:
    """Every parameter of a learner in one cell: its defaults < the shared options < its ``options``.

    The shared options are the config's ``k``, ``normalization``, the cell's ``seed``, and ``format`` / ``extraction``
    from the dataset entry, else the top level, else the dataset's own defaults (``e2h.data.dataset_facts``).
    """
    shared: dict[str, Any] = {"k": config.k, "normalization": config.normalization, "seed": seed}
    shared["format"] = (dataset.format if dataset else None) or config.format
    shared["extraction"] = config.extraction
    if dataset is not None and (shared["format"] is None or shared["extraction"] is None):
        from e2h.data import dataset_facts

        facts = dataset_facts(config.dataset_path(dataset.name))
        shared["format"] = shared["format"] or facts.format
        shared["extraction"] = shared["extraction"] or facts.extraction
    return learner_class(spec.name).resolve(spec.options, shared)


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


def parse_config(data: Any, source: str = "config", base_dir: Path | None = None) -> ExperimentConfig:
    """Validate a config mapping; raise one :class:`ConfigError` line listing every problem."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys (name, models, datasets…), got {type(data).__name__}")
    try:
        config = ExperimentConfig.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(f"{source}: " + "; ".join(_error_line(e) for e in exc.errors())) from None
    config._base_dir, config._source = base_dir, source
    return config


def find_config(name: str | Path) -> Path:
    """A config file path, or a preset name: ``demo`` → ``configs/demo.yaml`` in the working directory."""
    path = Path(name)
    if path.is_file():
        return path
    presets = Path.cwd() / "configs"
    preset = presets / f"{path.name}.yaml"
    if path.suffix == "" and preset.is_file():
        return preset
    known = sorted(p.stem for p in presets.glob("*.yaml")) if presets.is_dir() else []
    hint = f"; {unknown('preset', path.stem, known)}" if known else ""
    raise ConfigError(f"config {name}: no such file{hint}; pass a YAML path (see configs/)")


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate a YAML config file (or a preset name, see :func:`find_config`)."""
    path = find_config(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config {path.name}: not valid YAML{where} ({getattr(exc, 'problem', exc)})") from None
    return parse_config(data, source=f"config {path.name}", base_dir=path.parent.resolve())
