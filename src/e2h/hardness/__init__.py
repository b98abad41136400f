"""Hardness: the cutoff table, easy/medium/hard levels and train/test splits by level.

>>> from e2h.hardness import make_split
>>> split = make_split(items, "human_grade", train_on="easy", test_on="hard", n_train=160, n_test=None, seed=0)
>>> split.train["level"].unique(), split.test["level"].unique()
"""

from e2h.hardness.cutoffs import CUTOFF_TABLE, CUTOFF_TABLE_VERSION, Cutoffs, get_cutoffs, parse_cutoff_option
from e2h.hardness.levels import LEVELS, assign_levels, level_counts, measure_values
from e2h.hardness.split import RANDOM, TEST_DRAWS, TEST_ON, TRAIN_ON, Split, make_random_split, make_split, train_levels
from e2h.hardness.summary import MeasureSummary, spearman_matrix, summarize_measure

__all__ = [
    "CUTOFF_TABLE",
    "CUTOFF_TABLE_VERSION",
    "LEVELS",
    "RANDOM",
    "TEST_DRAWS",
    "TEST_ON",
    "TRAIN_ON",
    "Cutoffs",
    "MeasureSummary",
    "Split",
    "assign_levels",
    "get_cutoffs",
    "level_counts",
    "make_random_split",
    "make_split",
    "measure_values",
    "parse_cutoff_option",
    "spearman_matrix",
    "summarize_measure",
    "train_levels",
]
