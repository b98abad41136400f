"""Computed measures cover the items a run uses: another preparation of a dataset (``source: hub``) gets its own
table, borrows the default one only for equal items and says, with counts per split, what it lacks. Built-in
datasets are replaced by fixtures (no network)."""

from __future__ import annotations

import pandas as pd
import pytest

import e2h.data
from e2h.data import DATASETS, load_dataset
from e2h.data.catalog import builtin_facts, finish_items
from e2h.data.measure_tables import missing_by_split, read_measure, table_path
from e2h.errors import ConfigError
from e2h.experiments import parse_config
from e2h.experiments.missing_measures import compute_missing, missing_measures
from e2h.experiments.runner import load_run_data
from e2h.measures import compute_measure

MEASURE = "nll_question_tiny-random"


def _rows(name: str, source: str) -> pd.DataFrame:
    """GSM8k: 12 test items locally; the hub adds 8 train items and words one test item differently.
    StrategyQA: the same 12 questions, under other ids on the hub."""
    rows = []
    for i in range(12):
        item = {"subject": "", "source_split": "test", "num_steps": float(1 + i % 4)}
        if name == "gsm8k":
            question = f"What is {i} plus {i}?" if not (source == "hub" and i == 0) else "What is zero plus zero?"
            item.update(id=f"gsm8k/test/{i}", question=question, choices=[str(2 * i)], label=0, reasoning="")
        else:
            item_id = f"strategyqa/{'qid' if source == 'hub' else 'bigbench'}-{i}"
            item.update(id=item_id, question=f"Is {i} odd?", choices=["yes", "no"], label=i % 2, reasoning="")
        rows.append(item)
    if name == "gsm8k" and source == "hub":
        rows += [
            {"id": f"gsm8k/train/{i}", "question": f"What is {i} times {i}?", "choices": [str(i * i)], "label": 0,
             "reasoning": "", "subject": "", "source_split": "train", "num_steps": 2.0}
            for i in range(8)
        ]  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture(autouse=True)
def fixture_datasets(monkeypatch):
    def base_table(name, source, variant, annotations, stamp):
        rows = _rows(name, source)
        return finish_items(rows, name, DATASETS.get(name).measures, f"fixture {name}", builtin_facts(name))

    monkeypatch.setattr(e2h.data, "_base_table", base_table)


def _config(tmp_path, dataset: str, measures=(MEASURE,), compute: bool = False, **entry):
    return parse_config(
        {
            "name": "prep",
            "models": ["tiny-random"],
            "datasets": [{"name": dataset, "source": "hub", "measures": list(measures), **entry}],
            "learners": ["zero-shot"],
            "train_on": ["easy"],
            "n_train": 2,
            "n_test": 2,
            "output_dir": str(tmp_path / "runs"),
            "compute_measures": compute,
        },
        source="config prep",
    )


def test_a_hub_run_is_told_what_the_local_table_lacks_then_computes_on_its_own_items(tmp_path, capsys, e2h_cli):
    [local] = [r for r in compute_measure("gsm8k", "nll", models=["tiny-random"]) if r.measure == MEASURE]
    hub = load_dataset("gsm8k", source="hub")
    values = hub.set_index("id")[MEASURE]
    assert values[[f"gsm8k/test/{i}" for i in range(1, 12)]].notna().all()  # equal items borrow the local values
    assert values[["gsm8k/test/0", *(f"gsm8k/train/{i}" for i in range(8))]].isna().all()  # reworded, and train
    assert missing_by_split(hub, MEASURE) == {"test": (1, 12), "train": (8, 8)}

    capsys.readouterr()
    data = load_run_data(_config(tmp_path, "gsm8k"))
    [note] = [n for n in data.notes if MEASURE in n]
    assert "has no value for 1 of 12 test, 8 of 8 train items" in note
    command = "e2h hardness compute gsm8k --method nll --models tiny-random --source hub"
    assert f"`{command}`" in note and note in capsys.readouterr().err

    config = _config(tmp_path, "gsm8k", compute=True)
    assert list(missing_measures(config)) == [command]
    assert compute_missing(config) == [MEASURE]
    hub = load_dataset("gsm8k", source="hub")
    assert hub[MEASURE].notna().all() and MEASURE not in hub.attrs.get("borrowed_measures", {})
    _, meta = read_measure(table_path("gsm8k", MEASURE, source="hub"))
    assert meta["source"] == "hub" and meta["n_items"] == 20
    same = hub.set_index("id")[MEASURE][local.table["id"][1:]].to_numpy()
    assert same == pytest.approx(local.table["value"][1:].to_numpy())  # the same strings score the same
    assert not [n for n in load_run_data(config).notes if MEASURE in n] and not missing_measures(config)
    assert MEASURE in load_dataset("gsm8k").columns  # the local table is still the local items'
    code, out, _ = e2h_cli(["hardness", "list", "gsm8k"])
    assert code == 0 and "gsm8k @hub" in out and out.count(MEASURE) == 2


def test_hub_ids_that_match_no_local_item_borrow_nothing(tmp_path):
    compute_measure("strategyqa", "nll", models=["tiny-random"])
    assert MEASURE in load_dataset("strategyqa").columns
    assert MEASURE not in load_dataset("strategyqa", source="hub").columns  # not silently empty
    command = "e2h hardness compute strategyqa --method nll --models tiny-random --source hub"
    with pytest.raises(ConfigError, match=f"'{MEASURE}' is not computed yet: run `{command}`"):
        load_run_data(_config(tmp_path, "strategyqa"))
    assert compute_missing(_config(tmp_path, "strategyqa", compute=True)) == [MEASURE]
    assert load_dataset("strategyqa", source="hub")[MEASURE].notna().all()
