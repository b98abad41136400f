"""Statistics, tables, plots and reports over a run's results store; never runs a model.

>>> from e2h.analysis import load_results, accuracy_table, sgr_table, write_report
>>> paths = write_report("runs/demo")               # runs/demo/report/report.{md,html}, PNGs, tables
>>> paths = write_report("runs/demo", ci="seed-t")  # intervals: grid (the paper's), nested, seed-t
"""

from e2h.analysis.report import ReportPaths, summary_table, write_report
from e2h.analysis.resampling import CI_METHODS
from e2h.analysis.results import load_manifest, load_results
from e2h.analysis.stats import Difference, Estimate, SGRResult, accuracy_estimate, difference, grid_bootstrap, sgr
from e2h.analysis.tables import (
    accuracy_table,
    generalization_table,
    per_seed_table,
    sgr_table,
    write_table,
)

__all__ = [
    "CI_METHODS",
    "Difference",
    "Estimate",
    "ReportPaths",
    "SGRResult",
    "accuracy_estimate",
    "accuracy_table",
    "difference",
    "generalization_table",
    "grid_bootstrap",
    "load_manifest",
    "load_results",
    "per_seed_table",
    "sgr",
    "sgr_table",
    "summary_table",
    "write_report",
    "write_table",
]
