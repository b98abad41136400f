"""The grid: a config expands into cells, each a pure function of its own fields.

A cell is one (model × dataset × measure × learner × train_on × n_train × label noise × seed). Its ``cell_id`` is
the content hash of every field that changes its numbers (learner parameters, cutoffs, the data's fingerprint and
the cutoff-table version included; the run name excluded), so a cell is computed once and found again by its id.
Unsupervised learners (zero-shot) do not depend on train_on, n_train or noise: they expand once per
(model, dataset, measure, seed) with ``train_on="none"`` and ``n_train=0``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from e2h.experiments.config import ExperimentConfig, is_supervised, learner_params
from e2h.hardness import RANDOM
from e2h.io import content_hash


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
    learner: str
    params: str  # every constructor argument, as canonical JSON
    train_on: str  # level, or "none" for unsupervised learners
    test_on: str
    n_train: int
    n_test: int | None
    reserve: int  # items per test level held back for training when n_test is None (make_split's reserve)
    k: int  # in-context demonstrations (0 if none)
    label_noise: float  # base noise probability p
    hard_multiplier: float  # noise multiplier for hard training items (1.0 when p == 0)
    seed: int
    data_version: str = ""  # fingerprint of the test (and train) item tables

    @property
    def options(self) -> dict[str, Any]:
        """Constructor arguments for ``make_learner``."""
        return json.loads(self.params)

    @cached_property
    def cell_id(self) -> str:
        from e2h.hardness import CUTOFF_TABLE_VERSION

        fields = {k: v for k, v in asdict(self).items() if k != "run"}
        return content_hash(fields, CUTOFF_TABLE_VERSION)

    @property
    def transfer(self) -> bool:
        return self.train_dataset != self.dataset

    def describe(self) -> str:
        """A short human label: ``tiny-random arc/human_grade icl easy→hard n=8 p=0 seed=0``."""
        noise = f" p={self.label_noise:g}" if self.label_noise else ""
        train = f"{self.train_on}→{self.test_on} n={self.n_train}" if self.train_on != "none" else f"→{self.test_on}"
        data = Path(self.dataset).name
        data = data if not self.transfer else f"{Path(self.train_dataset).name}→{data}"
        return f"{self.model} {data}/{self.measure} {self.learner} {train}{noise} seed={self.seed}"


def expand(
    config: ExperimentConfig,
    measures: Mapping[int, Sequence[str]] | None = None,
    data_versions: Mapping[str, str] | None = None,
) -> list[Cell]:
    """All cells of ``config``, grouped by model (outermost), duplicates removed.

    ``measures`` maps a dataset's index in ``config.datasets`` to the measures actually used (after the fallback,
    see ``runner.load_run_data``); ``data_versions`` maps dataset names to item-table fingerprints.
    """
    measures = measures or {}
    versions = data_versions or {}
    cells: dict[str, Cell] = {}
    for model in config.models:
        for index, spec in enumerate(config.datasets):
            train_dataset = spec.train_dataset or spec.name
            # the same test items for every cell of this dataset: in-domain, hold back the largest n_train per
            # level when testing on "every remaining item"; transfer trains elsewhere, so nothing is held back
            reserve = max(config.n_train) if config.n_test is None and not spec.train_dataset else 0
            for measure in measures.get(index, spec.measures or [RANDOM]):
                train_measure = spec.train_measure or measure
                for learner in config.learners:
                    supervised = is_supervised(learner.name)
                    used = [spec.name, train_dataset] if supervised else [spec.name]
                    version = content_hash([versions.get(name, "") for name in used]) if versions else ""
                    axes = (
                        [(t, n, p) for t in config.train_on for n in config.n_train for p in config.label_noise.p]
                        if supervised
                        else [("none", 0, 0.0)]
                    )
                    for train_on, n_train, p in axes:
                        for seed in config.seeds:
                            params = learner_params(learner, config, seed, spec)
                            cell = Cell(
                                run=config.name,
                                model=model,
                                dataset=spec.name,
                                train_dataset=train_dataset if supervised else spec.name,
                                measure=measure,
                                train_measure=train_measure if supervised else measure,
                                cutoffs=spec.cutoffs.get(measure),
                                train_cutoffs=spec.cutoffs.get(train_measure) if supervised else None,
                                learner=learner.name,
                                params=json.dumps(params, sort_keys=True, default=str),
                                train_on=train_on,
                                test_on=config.test_on,
                                n_train=n_train,
                                n_test=config.n_test,
                                reserve=reserve,
                                k=int(params.get("k") or 0),
                                label_noise=float(p),
                                hard_multiplier=float(config.label_noise.hard_multiplier) if p else 1.0,
                                seed=seed,
                                data_version=version,
                            )
                            cells.setdefault(cell.cell_id, cell)
    return list(cells.values())
