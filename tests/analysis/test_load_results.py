"""load_results / load_manifest: the results store and its one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from e2h.analysis.results import REQUIRED_COLUMNS, load_manifest, load_results
from e2h.errors import E2HError

from fake_runs import COT_ACCURACY, write_fake_run


def test_concatenates_every_cell(fake_run: Path):
    results = load_results(fake_run)
    cells = sorted((fake_run / "cells").glob("*.parquet"))
    assert len(results) == sum(len(pd.read_parquet(c)) for c in cells)
    manifest_ids = {c["cell_id"] for c in load_manifest(fake_run)["cells"]}
    assert set(results["cell_id"]) == manifest_ids == {c.stem for c in cells}
    assert set(REQUIRED_COLUMNS) <= set(results.columns)
    assert results["correct"].dtype == bool


def test_missing_folder_names_the_folder_and_the_fix(tmp_path: Path):
    with pytest.raises(E2HError, match=r"does not exist; run an experiment first with `e2h run CONFIG`") as info:
        load_results(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(info.value)


def test_folder_without_manifest(tmp_path: Path):
    with pytest.raises(E2HError, match=r"has no manifest\.json"):
        load_results(tmp_path)


def test_manifest_without_cells(tmp_path: Path):
    (tmp_path / "manifest.json").write_text(json.dumps({"name": "empty"}))
    with pytest.raises(E2HError, match=r"no results in cells/\*.parquet.*`e2h run CONFIG`"):
        load_results(tmp_path)


def test_broken_manifest(tmp_path: Path):
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(E2HError, match="not valid JSON"):
        load_manifest(tmp_path)


def test_cells_missing_columns(fake_run: Path, tmp_path: Path):
    run = tmp_path / "old"
    shutil.copytree(fake_run, run)
    cell = next((run / "cells").glob("*.parquet"))
    pd.read_parquet(cell).drop(columns=["item_level"]).to_parquet(cell)
    with pytest.raises(E2HError, match=r"lacks columns \['item_level'\]"):
        load_results(run)


def test_baseline_column_comes_from_the_manifest(cot_run: Path):
    results = load_results(cot_run)
    marked = {c["cell_id"] for c in load_manifest(cot_run)["cells"] if c["baseline"]}
    assert results["baseline"].dtype == bool
    assert set(results.loc[results["baseline"], "cell_id"]) == marked
    assert set(results.loc[results["baseline"], "learner"]) == {"zero-shot-cot"}  # plain zero-shot is not


def test_a_manifest_without_baseline_marks_takes_zero_shot(tmp_path: Path):
    run = write_fake_run(tmp_path / "old", accuracy=COT_ACCURACY, baseline=None, test_on=("hard",), seeds=(0,))
    assert not any("baseline" in cell for cell in load_manifest(run)["cells"])
    results = load_results(run)
    assert results["baseline"].any()
    assert (results["baseline"] == (results["learner"] == "zero-shot")).all()
