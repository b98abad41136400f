"""Experiments: a YAML config → a grid of cells → a backend (local or Ray) → a resumable results store.

>>> from e2h.experiments import load_config, run_experiment
>>> result = run_experiment(load_config("configs/demo.yaml"))   # runs/demo/manifest.json + cells/*.parquet
>>> result.failures
[]
"""

from e2h.experiments.cell import CellOutcome, RunData, fit_predict, run_cell
from e2h.experiments.config import DatasetSpec, ExperimentConfig, LabelNoise, LearnerSpec, load_config, parse_config
from e2h.experiments.grid import Cell, expand
from e2h.experiments.recorder import RunResult
from e2h.experiments.runner import load_run_data, plan, run_experiment
from e2h.experiments.store import SCHEMA, RunStore

__all__ = [
    "SCHEMA",
    "Cell",
    "CellOutcome",
    "DatasetSpec",
    "ExperimentConfig",
    "LabelNoise",
    "LearnerSpec",
    "RunData",
    "RunResult",
    "RunStore",
    "expand",
    "fit_predict",
    "load_config",
    "load_run_data",
    "parse_config",
    "plan",
    "run_cell",
    "run_experiment",
]
