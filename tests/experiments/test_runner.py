"""The local runner and the results store, end to end on the tiny model and a toy CSV (seconds)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import ClassVar

import pandas as pd
import pytest

import e2h.experiments.worker as worker
from e2h.errors import ConfigError, E2HError
from e2h.experiments import SCHEMA, RunStore, expand, load_run_data, run_experiment
from e2h.experiments.cell import cell_split, noisy_labels
from e2h.models.cpu import cpu_flags, cpu_name

TIMINGS = ["fit_seconds", "predict_seconds"]


def _results(store: RunStore, cells) -> pd.DataFrame:
    """Every cell's rows, in grid order, without the timing columns."""
    frames = [store.read_cell(c.cell_id) for c in cells]
    return pd.concat(frames, ignore_index=True).drop(columns=TIMINGS)


@pytest.fixture
def counted(monkeypatch):
    """Count (and optionally sabotage) cell computations: ``counted.calls`` lists the cell ids computed."""

    class Counter:
        calls: ClassVar[list[str]] = []
        fail_on: ClassVar[dict[int, BaseException]] = {}

    real = worker.run_cell

    def run_cell(cell, lm, data):
        Counter.calls.append(cell.cell_id)
        error = Counter.fail_on.get(len(Counter.calls))
        if error is not None:
            raise error
        return real(cell, lm, data)

    Counter.calls, Counter.fail_on = [], {}
    monkeypatch.setattr(worker, "run_cell", run_cell)
    return Counter


def test_run_writes_the_store(make_config):
    config = make_config()
    result = run_experiment(config)
    assert result.ok and len(result.cells) == 6 and len(result.executed) == 6
    store = RunStore.for_config(config)
    frame = store.read_cell(result.cells[2].cell_id)
    assert list(frame.columns) == SCHEMA.names
    assert len(frame) == 5 and set(frame["item_level"]) == {"hard"}
    row = frame.iloc[0]
    assert (row["run"], row["model"], row["dataset"], row["train_dataset"], row["measure"]) == (
        "toy",
        "tiny-random",
        "toy.csv",
        "toy.csv",
        "difficulty",
    )
    assert (row["learner"], row["train_on"], row["test_on"], row["n_train"], row["k"]) == ("icl", "easy", "hard", 4, 2)
    assert row["n_choices"] == 3 and len(row["probs"]) == 3 and abs(sum(row["probs"]) - 1) < 1e-6
    assert row["gold_prob"] == pytest.approx(row["probs"][_label(row["item_id"], store)])
    assert row["quantization"] == "none" and row["fit_seconds"] >= 0

    manifest = json.loads(store.manifest_path.read_text())
    assert manifest["counts"] == {"done": 6} and manifest["status"] == "finished"
    assert manifest["config"]["name"] == "toy" and manifest["packages"]["torch"]
    assert manifest["machine"]["cpu_count"] >= 1 and manifest["started"] <= manifest["finished"]
    assert manifest["machine"]["cpu"] == cpu_name() and manifest["machine"]["cpu_flags"] == cpu_flags()  # times' CPU
    assert {c["cell_id"] for c in manifest["cells"]} == {c.cell_id for c in result.cells}
    loaded = manifest["models"]["tiny-random"]  # how the model ran, and why that dtype
    assert loaded["dtype"] == loaded.get("dtype_env", loaded["cpu_dtype_probe"]["dtype"]) and loaded["device"] == "cpu"
    assert loaded["parameters"] > 0
    assert loaded["cpu_dtype_probe"]["dtype"] in ("float32", "bfloat16") and loaded["cpu_dtype_probe"]["reason"]
    assert set(result.seconds) >= {"data (load, check splits)", "cells (fit, predict)"}


def _label(item_id: str, store: RunStore) -> int:
    items = pd.read_csv(store.dir.parents[1] / "toy.csv")
    return int(items.set_index("id").loc[item_id, "label"])


def test_test_items_are_paired_across_learners_and_train_on(make_config):
    config = make_config(train_on=["easy", "hard", "all"])
    result = run_experiment(config)
    store = RunStore.for_config(config)
    results = _results(store, result.cells)
    for _seed, rows in results.groupby("seed"):
        by_cell = rows.groupby("cell_id")["item_id"].apply(tuple)
        assert by_cell.nunique() == 1 and len(by_cell) == 4  # zero-shot + icl x 3 train_on
    assert results.groupby("seed")["item_id"].apply(frozenset).nunique() == 2  # seeds draw different items


def test_rerun_skips_finished_cells_and_force_recomputes_the_same_numbers(make_config, counted):
    config = make_config(seeds=1)
    first = run_experiment(config)
    store = RunStore.for_config(config)
    before = _results(store, first.cells)
    assert len(counted.calls) == 3

    again = run_experiment(config)
    assert again.executed == [] and len(counted.calls) == 3

    forced = run_experiment(config, force=True)
    assert len(forced.executed) == 3 and len(counted.calls) == 6
    pd.testing.assert_frame_equal(_results(store, forced.cells), before)  # deterministic, timings aside


def test_interrupted_run_resumes_to_identical_results(make_config, counted, tmp_path):
    config = make_config()
    counted.fail_on = {4: KeyboardInterrupt()}
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config)
    store = RunStore.for_config(config)
    finished = sorted(p.stem for p in store.cells_dir.glob("*.parquet"))
    assert len(finished) == 3 and finished == sorted(counted.calls[:3])
    manifest = json.loads(store.manifest_path.read_text())
    assert manifest["status"] == "interrupted" and manifest["counts"] == {"done": 3, "interrupted": 1, "pending": 2}
    (store.cells_dir / f".{counted.calls[3]}.parquet.x1y2.tmp").write_bytes(b"half a file")  # as kill -9 leaves it

    counted.calls, counted.fail_on = [], {}
    resumed = run_experiment(config)
    assert sorted(resumed.executed) == sorted(counted.calls) and len(counted.calls) == 3
    assert not set(counted.calls) & set(finished)  # no finished cell computed twice
    assert list(store.cells_dir.glob(".*")) == []

    reference = make_config(output_dir=str(tmp_path / "reference"))
    uninterrupted = run_experiment(reference)
    pd.testing.assert_frame_equal(
        _results(store, resumed.cells), _results(RunStore.for_config(reference), uninterrupted.cells)
    )


def test_failing_cell_is_recorded_and_the_run_continues(make_config, counted):
    config = make_config()
    counted.fail_on = {2: RuntimeError("boom")}
    result = run_experiment(config)
    assert len(result.failures) == 1 and result.failures[0][1] == "RuntimeError: boom"
    failed = result.failures[0][0]
    store = RunStore.for_config(config)
    assert sum(store.is_done(c.cell_id) for c in result.cells) == 5 and not store.is_done(failed.cell_id)
    manifest = json.loads(store.manifest_path.read_text())
    entry = next(c for c in manifest["cells"] if c["cell_id"] == failed.cell_id)
    assert entry["status"] == "failed" and entry["error"] == "RuntimeError: boom" and "boom" in entry["traceback"]
    assert manifest["status"] == "failed"

    counted.calls, counted.fail_on = [], {}
    retry = run_experiment(config)
    assert retry.ok and counted.calls == [failed.cell_id]


def test_changed_config_sets_old_cells_aside(make_config, capsys):
    first = make_config(learners=["zero-shot"])
    old = run_experiment(first)
    store = RunStore.for_config(first)
    changed = make_config(learners=["zero-shot"], n_test=4)
    capsys.readouterr()
    new = run_experiment(changed)
    warning = capsys.readouterr().err
    assert warning.startswith("e2h: warning: ") and "cell(s) of an earlier config" in warning and "moved to" in warning
    assert {p.stem for p in store.cells_dir.glob("*.parquet")} == {c.cell_id for c in new.cells}
    assert {p.stem for p in store.stale_dir.glob("*.parquet")} == {c.cell_id for c in old.cells}
    assert list(store.stale_dir.glob("manifest-*.json"))

    back = run_experiment(first)  # the old config again: its cells come back, nothing is recomputed
    assert back.executed == [] and all(store.is_done(c.cell_id) for c in old.cells)


def test_impossible_split_is_one_config_error_before_any_model_loads(make_config, monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr("e2h.models.load_model", no_model)
    config = make_config(train_on=["hard"], n_train=[4, 40])
    with pytest.raises(ConfigError) as info:
        run_experiment(config)
    message = str(info.value)
    assert message.startswith("config toy.yaml: impossible split: toy.csv/difficulty train_on=hard n_train=40: ")
    assert "\n" not in message and "n_train=4:" not in message
    assert not (config.output_dir and RunStore.for_config(config).manifest_path.exists())


def test_fallback_measures_when_the_measure_has_no_values(make_config, capsys):
    config = make_config(datasets=[{"name": "toy.csv", "measures": ["blank"], "fallback_measures": ["difficulty"]}])
    data = load_run_data(config)
    assert data.measures == {0: ["difficulty"]} and "blank has no values" in data.notes[0]
    assert capsys.readouterr().err == f"e2h: warning: {data.notes[0]}\n"
    assert {c.measure for c in expand(config, data.measures)} == {"difficulty"}
    with pytest.raises(ConfigError, match=r"measure blank has no values \(all NaN\); add fallback_measures"):
        load_run_data(make_config(datasets=[{"name": "toy.csv", "measures": ["blank"]}]))
    with pytest.raises(ConfigError, match=r"no measure column 'dificulty' \(did you mean 'difficulty'\?\)"):
        load_run_data(make_config(datasets=[{"name": "toy.csv", "measures": ["dificulty"]}]))


def test_transfer_trains_on_the_other_dataset_and_keeps_the_test_items(make_config, tmp_path, write_toy):
    write_toy(tmp_path / "other.csv", seed=1, prefix="other")
    spec = {"name": "toy.csv", "measures": ["difficulty"], "train_dataset": "other.csv", "train_measure": "difficulty"}
    config = make_config(datasets=[spec], n_test=None, n_train=6)
    data = load_run_data(config)
    cells = expand(config, data.measures, data.versions)
    splits = {(c.learner, c.train_on, c.seed): cell_split(c, data) for c in cells}
    for (learner, train_on, seed), split in splits.items():
        assert list(split.test["id"]) == list(splits["zero-shot", "none", seed].test["id"])
        assert set(split.test["level"]) == {"hard"} and split.test["id"].str.startswith("toy-").all()
        if learner == "icl":
            assert len(split.train) == 6 and split.train["id"].str.startswith("other-").all()
            assert set(split.train["level"]) == {train_on}
    # nothing of the test table is held back for training, so every hard toy item is a test item
    hard = (data.items["toy.csv"]["difficulty"] >= splits["zero-shot", "none", 0].info["test_cutoffs"]["hi"]).sum()
    assert len(splits["zero-shot", "none", 0].test) == hard


def test_label_noise_is_seeded_and_hard_labels_noisier(make_config):
    config = make_config(train_on=["all"], n_train=30, label_noise={"p": [0.5], "hard_multiplier": 2.0})
    data = load_run_data(config)
    cell = next(c for c in expand(config, data.measures, data.versions) if c.learner == "icl")
    train = cell_split(cell, data).train
    noisy = noisy_labels(train, cell)
    assert list(noisy["id"]) == list(train["id"])  # order kept
    hard = (noisy["level"] == "hard").to_numpy()
    assert hard.any() and noisy["label_noise"][hard].all()  # p = min(1, 0.5 * 2) at the hard level
    assert 0 < noisy["label_noise"][~hard].sum() < (~hard).sum()
    pd.testing.assert_frame_equal(noisy, noisy_labels(train, cell))  # same seed, same corruption


def test_a_rerun_removes_the_temporary_files_of_a_killed_run(make_config):
    config = make_config(learners=["zero-shot"])
    run_experiment(config)
    store = RunStore.for_config(config)
    leftovers = [store.dir / ".manifest.json.a1b2c3.tmp", store.cells_dir / ".0123abcd.parquet.d4e5f6.tmp"]
    for path in leftovers:
        path.write_bytes(b"half")  # what atomic_path leaves under kill -9
    assert run_experiment(config).executed == []
    assert not any(path.exists() for path in leftovers)


def test_kill_9_loses_at_most_the_cell_in_progress(make_config, tmp_path, toy_csv, counted):
    config_file = tmp_path / "toy.yaml"
    config_file.write_text(
        "name: toy\nmodels: [tiny-random]\ndatasets: [{name: toy.csv, measures: [difficulty]}]\n"
        "learners: [zero-shot, {name: icl, options: {k: 2}}]\ntrain_on: [easy, hard]\nn_train: 4\nn_test: 5\n"
        f"seeds: 3\noutput_dir: {tmp_path / 'runs'}\n"
    )
    config = make_config(seeds=3)
    store = RunStore.for_config(config)
    code = "from e2h.cli import main; main()"
    process = subprocess.Popen([sys.executable, "-c", code, "--quiet", "run", str(config_file)], env=os.environ)
    deadline = time.monotonic() + 120
    while not list(store.cells_dir.glob("*.parquet")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL
    finished = {p.stem for p in store.cells_dir.glob("*.parquet")}
    assert 1 <= len(finished) < 9
    for path in store.cells_dir.glob("*.parquet"):
        assert len(store.read_cell(path.stem)) == 5  # every file there is complete
    json.loads(store.manifest_path.read_text())  # and the manifest is valid JSON

    resumed = run_experiment(config)
    assert len(counted.calls) == 9 - len(finished) and not set(counted.calls) & finished
    reference = make_config(seeds=3, output_dir=str(tmp_path / "reference"))
    expected = _results(RunStore.for_config(reference), run_experiment(reference).cells)
    pd.testing.assert_frame_equal(_results(store, resumed.cells), expected)


def test_reserves_and_test_pools_give_the_promised_test_items(make_config):
    """Cells of one dataset/measure/seed test identical items; with test_pool point a smaller n tests more."""
    config = make_config(n_test=None, test_on="all", n_train=[2, 6], learners=["unsupervised", "linear-probe"])
    data = load_run_data(config)
    splits = [cell_split(c, data) for c in expand(config, data.measures, data.versions) if c.seed == 0]
    assert len({tuple(s.test["id"]) for s in splits}) == 1
    info = splits[-1].info
    assert info["reserve"] == {"easy": 6, "medium": 0, "hard": 6}
    assert info["test_counts"]["medium"] == info["test_table_level_counts"]["medium"]  # nobody trains on medium
    point = make_config(n_test=None, test_on="all", n_train=[2, 6], test_pool="point")
    cells = [c for c in expand(point, data.measures, data.versions) if c.seed == 0]
    tests = {(c.learner, c.n_train): set(cell_split(c, data).test["id"]) for c in cells}
    assert tests["icl", 6] < tests["icl", 2] < tests["zero-shot", 0]
    assert len(tests["icl", 2]) - len(tests["icl", 6]) == 2 * 4  # easy and hard each hold back 4 more


def test_a_hub_dataset_falls_back_to_the_local_copy_and_says_what_it_lacks(make_config, monkeypatch):
    """Offline, `source: hub` with `fallback_source: local` loads the local copy; the note names the stand-in."""
    import e2h.data

    monkeypatch.setenv("E2H_OFFLINE", "1")
    local = load_run_data(make_config()).items["toy.csv"]
    calls = []

    def fake_load(name, *, source="local", variant=None, arc_annotations=None):
        calls.append((name, source))
        if source == "hub":
            from e2h.data.hub import _datasets

            _datasets()  # E2H_OFFLINE: raises
        return local.assign(dataset="strategyqa", num_steps=local["difficulty"])

    monkeypatch.setattr(e2h.data, "load_dataset", fake_load)
    spec = {"name": "strategyqa", "measures": ["num_steps"], "source": "hub", "fallback_source": "local"}
    config = make_config(datasets=[spec], learners=["zero-shot"])
    data = load_run_data(config)
    assert calls == [("strategyqa", "hub"), ("strategyqa", "local")]
    assert data.notes == [
        "strategyqa: the hub is unreachable (source='hub' needs the network but E2H_OFFLINE is set: unset it, or "
        "use source='local'); using the local copy, which lacks the question decompositions behind num_steps "
        "(the local copy counts gold fact sentences, a proxy)"
    ]
    strict = make_config(datasets=[{**spec, "fallback_source": None}], learners=["zero-shot"])
    with pytest.raises(E2HError, match="E2H_OFFLINE is set"):
        load_run_data(strict)
