"""Statistics, tables, plots and reports over a run's results store; never runs a model.

>>> from e2h.analysis import load_results, accuracy_table, sgr_table, write_report
>>> paths = write_report("runs/demo")          # runs/demo/report/report.{md,html}, PNGs, tables
"""

from e2h.analysis.report import ReportPaths, summary_table, write_report
from e2h.analysis.results import load_manifest, load_results
from e2h.analysis.stats import Estimate, SGRResult, grid_bootstrap, sgr
from e2h.analysis.tables import accuracy_table, sgr_table, write_table

__all__ = [
    "Estimate",
    "ReportPaths",
    "SGRResult",
    "accuracy_table",
    "grid_bootstrap",
    "load_manifest",
    "load_results",
    "sgr",
    "sgr_table",
    "summary_table",
    "write_report",
    "write_table",
]
