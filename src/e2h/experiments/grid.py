"""The grid: a config expands into cells, each a pure function of its own fields.

A cell is one (model × dataset × measure × learner × train_on × n_train × label noise × seed). Its ``cell_id`` is
the content hash of every field that changes its numbers (learner parameters, cutoffs, the model's quantization, the
data's fingerprint and the cutoff-table version included; the run name and the ``baseline`` mark excluded), so a cell
is computed once and found again by its id. Unsupervised learners (zero-shot) do not depend on train_on, n_train or
noise: they expand once per (model, dataset, measure, seed) with ``train_on="none"`` and ``n_train=0``; the cells of a
dataset's unsupervised baseline (its ``unsupervised`` setting) are marked ``baseline=True``.

Test items are shared as widely as the data allows. With ``n_test`` null, or a fixed ``n_test`` drawn stratified
over several levels (``test_draw: stratified``, ``test_on: all``), each test level holds back for training
the largest number of items any in-domain cell of that dataset and measure trains on from that level (0 where no
cell trains, so that level is tested whole); every cell of that dataset and measure (transfer cells and zero-shot
included) gets the same ``reserve`` and therefore the same test items per seed. (A fixed ``n_test`` drawn at random
holds nothing back: training takes what the test set leaves.) With ``test_pool: point`` the
largest is taken per training size instead: the cells of one ``n_train`` share their test items, a smaller
``n_train`` tests more items, and unsupervised cells hold nothing back (their test items cover every point's).
``test_pool: cost`` does the same per labelling cost ``n_train × label_cost`` of the level trained on, so points
of equal cost (2n easy labels, n hard ones at a 2:1 cost) share their test items.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from e2h.experiments.config import (
    DatasetSettings,
    DatasetSpec,
    ExperimentConfig,
    dataset_learners,
    dataset_settings,
    is_supervised,
    learner_params,
)
from e2h.hardness import LEVELS, RANDOM
from e2h.io import content_hash

NO_RESERVE = (0, 0, 0)


@dataclass(frozen=True)
class Cell:
    """Everything one cell needs; ``cell_id`` hashes all of it but ``run``."""

    run: str
    model: str
    dataset: str  # test dataset, as named in the config
    train_dataset: str  # = dataset unless cross-dataset transfer
    measure: str  # levels the test items
    train_measure: str  # levels the training items (= measure unless transfer says otherwise)
    cutoffs: tuple[float, float] | None  # override for measure, else the cutoff table
    train_cutoffs: tuple[float, float] | None
    learner: str  # the registered learner name (make_learner)
    params: str  # every constructor argument, as canonical JSON
    train_on: str  # level, or "none" for unsupervised learners
    test_on: str
    n_train: int
    n_test: int | None
    reserve: tuple[int, int, int]  # (easy, medium, hard) items held back for training when n_test is None
    k: int  # in-context demonstrations (0 if none)
    label_noise: float  # base noise probability p
    hard_multiplier: float  # noise multiplier for hard training items (1.0 when p == 0)
    seed: int
    data_version: str = ""  # fingerprint of the test and train item tables
    baseline: bool = False  # the dataset's unsupervised baseline (not hashed: it changes no number)
    quantization: str = "none"  # how the model is loaded (int8, nf4); hashed unless "none", so older ids stay valid
    test_draw: str = ""  # "stratified" where a fixed n_test over several levels is drawn so; "" = the random draw
    learner_id: str = ""  # the config entry's `id` when it differs from `learner` (results call the cell by it)

    @property
    def options(self) -> dict[str, Any]:
        """Constructor arguments for ``make_learner``."""
        return json.loads(self.params)

    @property
    def reserves(self) -> dict[str, int]:
        """``reserve`` by level, as ``make_split`` takes it."""
        return dict(zip(LEVELS, self.reserve, strict=True))

    @property
    def label(self) -> str:
        """What results call the cell's learner: the config entry's ``id``, else the learner name."""
        return self.learner_id or self.learner

    @cached_property
    def cell_id(self) -> str:
        from e2h.hardness import CUTOFF_TABLE_VERSION

        fields = {k: v for k, v in asdict(self).items() if k not in ("run", "baseline")}
        if self.quantization == "none":
            del fields["quantization"]
        for name in ("test_draw", "learner_id"):  # hashed only when set, so cells without them keep their ids
            if not fields[name]:
                del fields[name]
        return content_hash(fields, CUTOFF_TABLE_VERSION)

    @property
    def transfer(self) -> bool:
        return self.train_dataset != self.dataset

    def describe(self) -> str:
        """A short human label: ``tiny-random arc/human_grade icl easy→hard n=8 p=0 seed=0`` (``tiny-random (int8)``
        for a quantized model)."""
        noise = f" p={self.label_noise:g}" if self.label_noise else ""
        train = f"{self.train_on}→{self.test_on} n={self.n_train}" if self.train_on != "none" else f"→{self.test_on}"
        data = Path(self.dataset).name
        data = data if not self.transfer else f"{Path(self.train_dataset).name}→{data}"
        model = self.model if self.quantization == "none" else f"{self.model} ({self.quantization})"
        return f"{model} {data}/{self.measure} {self.label} {train}{noise} seed={self.seed}"


def expand(
    config: ExperimentConfig,
    measures: Mapping[int, Sequence[str]] | None = None,
    data_versions: Mapping[str, str] | None = None,
) -> list[Cell]:
    """All cells of ``config``, grouped by model (outermost), duplicates removed.

    ``measures`` maps a dataset's index in ``config.datasets`` to the measures actually used (after the fallback,
    see ``runner.load_run_data``); ``data_versions`` maps dataset names to item-table fingerprints.
    """
    measures = {i: list((measures or {}).get(i, d.measures or [RANDOM])) for i, d in enumerate(config.datasets)}
    settings = [dataset_settings(config, spec) for spec in config.datasets]  # the defaults cascade, once per entry
    learners = [dataset_learners(config, spec, entry) for spec, entry in zip(config.datasets, settings, strict=True)]
    versions = data_versions or {}
    per_point = config.test_pool != "curve"
    reserves = {None: {} if per_point else held_back(config, settings, measures)}
    cells: dict[str, Cell] = {}
    for model in config.models:
        for index, spec in enumerate(config.datasets):
            train_dataset = spec.train_dataset or spec.name
            n_test, stratified = settings[index].n_test, stratifies(config, settings[index])
            for measure in measures[index]:
                train_measure = spec.train_measure or measure
                pool = _pool(spec, measure)
                for learner, baseline in learners[index]:
                    supervised = is_supervised(learner.name)
                    trains_on = train_dataset if supervised else spec.name
                    version = content_hash([versions.get(n, "") for n in (spec.name, trains_on)]) if versions else ""
                    axes = (
                        [
                            (t, n, p)
                            for t in train_kinds(config, spec)
                            for n in config.n_train
                            for p in config.label_noise.p
                        ]
                        if supervised
                        else [("none", 0, 0.0)]
                    )
                    for train_on, n_train, p in axes:
                        point = pool_point(config, train_on, n_train) if per_point and supervised else None
                        if point not in reserves:
                            reserves[point] = held_back(config, settings, measures, point)
                        held = n_test is None or (stratified and measure != RANDOM)
                        reserve = reserves[point].get(pool, NO_RESERVE) if held else NO_RESERVE
                        for seed in config.seeds:
                            params = learner_params(learner, config, seed, settings[index])
                            cell = Cell(
                                run=config.name,
                                model=model,
                                dataset=spec.name,
                                train_dataset=trains_on,
                                measure=measure,
                                train_measure=train_measure if supervised else measure,
                                cutoffs=spec.cutoffs.get(measure),
                                train_cutoffs=spec.cutoffs.get(train_measure) if supervised else None,
                                learner=learner.name,
                                params=json.dumps(params, sort_keys=True, default=str),
                                train_on=train_on,
                                test_on=config.test_on,
                                n_train=n_train,
                                n_test=n_test,
                                reserve=reserve,
                                k=int(params.get("k") or 0),
                                label_noise=float(p),
                                hard_multiplier=float(config.label_noise.hard_multiplier) if p else 1.0,
                                seed=seed,
                                data_version=version,
                                baseline=baseline,
                                quantization=config.model_quantization(model),
                                test_draw="stratified" if stratified and measure != RANDOM else "",
                                learner_id=learner.label if learner.label != learner.name else "",
                            )
                            cells.setdefault(cell.cell_id, cell)
    return list(cells.values())


def _pool(spec: DatasetSpec, measure: str) -> tuple[str, str, Any]:
    """What decides a dataset entry's test items under ``measure``: the test table, the measure and its cutoffs."""
    cutoffs = spec.cutoffs.get(measure)
    return (spec.name, measure, tuple(cutoffs) if cutoffs is not None else None)


def train_kinds(config: ExperimentConfig, spec: DatasetSpec) -> list[str]:
    """The ``train_on`` axis of a dataset entry: its own, else the top level's."""
    return spec.train_on or config.train_on


def stratifies(config: ExperimentConfig, settings: DatasetSettings) -> bool:
    """Whether a dataset's fixed ``n_test`` is the paper's stratified draw over several levels (then the levels hold
    back their training items first, as with ``n_test`` null)."""
    return settings.n_test is not None and settings.test_draw == "stratified" and config.test_on == "all"


def pool_point(config: ExperimentConfig, train_on: str, n_train: int) -> float:
    """Which test pool a supervised cell shares under ``test_pool`` point (its n_train) or cost (its labelling
    cost, n_train × ``config.level_cost``)."""
    return n_train * config.level_cost(train_on) if config.test_pool == "cost" else n_train


def level_need(train_on: str, n_train: int) -> tuple[int, int, int]:
    """Items a training draw takes from each level (easy, medium, hard), at most.

    A level draw takes ``n_train`` from its level; ``all`` (in proportion to the levels' sizes) may take all of them
    from any level; ``all_balanced`` at most ``ceil(n/2)`` from a level (measures with two or three levels);
    ``easy_and_hard`` takes ``ceil(n/2)`` easy and ``floor(n/2)`` hard items.
    """
    if train_on == "all":
        return (n_train, n_train, n_train)
    if train_on == "all_balanced":
        return (math.ceil(n_train / 2),) * 3  # type: ignore[return-value]
    if train_on == "easy_and_hard":
        return (math.ceil(n_train / 2), 0, n_train // 2)
    return tuple(n_train if level == train_on else 0 for level in LEVELS)  # type: ignore[return-value]


def held_back(
    config: ExperimentConfig,
    settings: Sequence[DatasetSettings],
    measures: Mapping[int, Sequence[str]],
    point: float | None = None,
) -> dict[tuple, tuple[int, int, int]]:
    """Per test pool (dataset, measure, cutoffs): the items each level holds back for in-domain training.

    The largest need (:func:`level_need`) of any supervised in-domain cell with ``n_test`` null (or drawn stratified,
    :func:`stratifies`) and, with ``point``, whose :func:`pool_point` is ``point`` (None: every training size), at the
    levels ``test_on`` tests (the others hold nothing back); transfer entries train elsewhere and need nothing, but
    test on the same pool as the in-domain entries of their test dataset. ``settings``: each entry's resolved
    settings (``config.dataset_settings``), in the order of ``config.datasets``.
    """
    reserves: dict[tuple, tuple[int, int, int]] = {}
    for index, spec in enumerate(config.datasets):
        entry = settings[index]
        if spec.train_dataset or not (entry.n_test is None or stratifies(config, entry)):
            continue
        if not any(is_supervised(learner.name) for learner, _ in dataset_learners(config, spec, entry)):
            continue
        tested = [config.test_on in ("all", level) for level in LEVELS]  # only a tested level holds back
        needs = [
            tuple(n * t for n, t in zip(level_need(on, size), tested, strict=True))
            for on in train_kinds(config, spec)
            for size in config.n_train
            if point is None or pool_point(config, on, size) == point
        ]
        for measure in measures[index]:
            key = _pool(spec, measure)
            reserves[key] = tuple(max(level) for level in zip(reserves.get(key, NO_RESERVE), *needs, strict=True))
    return reserves
