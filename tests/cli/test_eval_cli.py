"""`e2h eval` end to end on the tiny random model and a small user CSV."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest


@pytest.fixture
def toy_csv(tmp_path: Path) -> Path:
    """24 three-choice items with a numeric hardness column."""
    rows = [
        {
            "question": f"Which word rhymes with cat number {i}?",
            "choice_1": "hat",
            "choice_2": "dog",
            "choice_3": "sun",
            "answer": ["hat", "dog", "sun"][i % 3],
            "grade": i % 6,
        }
        for i in range(24)
    ]
    path = tmp_path / "toy.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_zero_shot_prints_every_normalization_and_writes_jsonl(toy_csv: Path, tmp_path: Path, e2h_cli) -> None:
    out = tmp_path / "preds.jsonl"
    code, stdout, _ = e2h_cli(["eval", "-m", "tiny-random", "--dataset", str(toy_csv), "--n", "10", "-o", str(out)])
    assert code == 0, stdout
    for name in ("raw", "per_token", "per_char", "uncond"):
        assert name in stdout
    assert "chance 33.3%" in stdout and "test 10" in stdout
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 10
    for record in records:
        assert {"id", "probs", "pred", "correct", "gold_prob"} <= set(record)
        assert sum(record["probs"]) == pytest.approx(1.0)
        assert record["gold_prob"] in record["probs"]


def test_icl_with_a_hardness_split(toy_csv: Path, tmp_path: Path, e2h_cli) -> None:
    out = tmp_path / "icl.jsonl"
    argv = ["eval", "-m", "tiny-random", "-d", str(toy_csv), "-l", "icl", "--k", "2", "--format", "cloze"]
    argv += ["--measure", "grade", "--train-on", "easy", "--test-on", "hard", "--n-train", "4", "--out", str(out)]
    code, stdout, _ = e2h_cli(argv)
    assert code == 0
    assert "k_used 2" in stdout and "train 4" in stdout
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records and {r["level"] for r in records} == {"hard"}


def test_same_seed_same_output(toy_csv: Path, tmp_path: Path, e2h_cli) -> None:
    outs = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    for out in outs:
        argv = ["eval", "-m", "tiny-random", "-d", str(toy_csv), "-l", "icl", "--k", "3", "--n-train", "6"]
        assert e2h_cli([*argv, "-o", str(out)])[0] == 0
    assert outs[0].read_text() == outs[1].read_text()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--learner", "icll"], "unknown learner 'icll'"),
        (["--format", "listd"], "unknown format 'listd'"),
        (["--normalization", "pmi"], "unknown normalization 'pmi'"),
        (["--k", "30", "--learner", "icl"], "cannot supply"),
        (["--learner", "icl", "--option", "kk=3"], "has no option 'kk'"),
        (["--learner", "icl", "--option", "k"], "write KEY=VALUE"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(toy_csv: Path, e2h_cli, flags: list[str], message: str) -> None:
    code, _, err = e2h_cli(["eval", "-m", "tiny-random", "-d", str(toy_csv), *flags])
    err = err.strip()
    assert code == 2
    assert message in err and "\n" not in err


def test_unknown_dataset_is_one_line(e2h_cli) -> None:
    code, _, err = e2h_cli(["eval", "-m", "tiny-random", "-d", "arc-eazy"])
    err = err.strip()
    assert code == 2
    assert "arc-eazy" in err and "\n" not in err


def test_eval_and_a_one_cell_run_agree(toy_csv: Path, tmp_path: Path, e2h_cli) -> None:
    """`e2h eval` computes the cell that the equivalent config describes: same test items, same predictions."""
    out = tmp_path / "eval.jsonl"
    argv = ["-q", "eval", "-m", "tiny-random", "-d", str(toy_csv), "-l", "icl", "--k", "2", "--n-train", "6"]
    argv += ["--measure", "grade", "--train-on", "easy", "--test-on", "hard", "--format", "cloze", "--seed", "3"]
    assert e2h_cli([*argv, "--out", str(out)])[0] == 0
    config = {
        "name": "one-cell",
        "models": ["tiny-random"],
        "datasets": [{"name": str(toy_csv), "measures": ["grade"]}],
        "learners": ["icl"],
        "train_on": "easy",
        "test_on": "hard",
        "n_train": 6,
        "k": 2,
        "format": "cloze",
        "seeds": [3],
        "output_dir": str(tmp_path / "runs"),
    }
    path = tmp_path / "one-cell.yaml"
    path.write_text(json.dumps(config))
    assert e2h_cli(["-q", "run", str(path)])[0] == 0
    (cell_file,) = (tmp_path / "runs" / "one-cell" / "cells").glob("*.parquet")
    from_run = pd.read_parquet(cell_file)
    from_eval = pd.DataFrame([json.loads(line) for line in out.read_text().splitlines()])
    assert from_eval["id"].tolist() == from_run["item_id"].tolist()
    for a, b in zip(from_eval["probs"], from_run["probs"], strict=True):
        assert a == pytest.approx(list(b), abs=1e-12)


@pytest.fixture
def no_model(monkeypatch):
    """Any model load fails the test: the checks must come before one."""
    monkeypatch.setattr("e2h.models.load_model", lambda *a, **k: pytest.fail("a model was loaded"))


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--learner", "icl", "--option", "k=abc"], "k='abc' must be a whole number >= 0 (default 10)"),
        (["--learner", "icl", "--option", "k=-1"], "k=-1 must be a whole number >= 0"),
        (["--learner", "linear-probe", "--option", "solver=sgdd"], "solver='sgdd' must be one of sgd, lbfgs"),
        (["--learner", "linear-probe", "--option", "lr=1e-3"], "(YAML reads 1e-3 as text: write 1.0e-3)"),
        (["--learner", "lora", "--option", "objective=mcq"], "objective='mcq' must be one of mc, cot"),
        (["--learner", "zero-shot-cot", "--option", "instruction=mathh"], "(did you mean 'math'?)"),
        (["--out", "/proc/nope/preds.jsonl"], "cannot write /proc/nope/preds.jsonl"),
    ],
)
def test_bad_option_values_are_one_line_before_a_model_loads(
    toy_csv: Path, e2h_cli, no_model, flags: list[str], message: str
) -> None:
    code, out, err = e2h_cli(["eval", "-m", "tiny-random", "-d", str(toy_csv), "--measure", "grade", *flags])
    assert code == 2 and out == ""
    assert err.startswith("e2h: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert message in err


def test_a_non_number_k_on_a_builtin_dataset_is_one_line(e2h_cli, no_model) -> None:
    """The command as a new user typed it: a TypeError deep in the grid check before values were declared."""
    argv = ["eval", "--dataset", "arc", "--measure", "question_num_words", "--learner", "icl", "--option", "k=abc"]
    code, _, err = e2h_cli([*argv, "--n", "5"])
    assert code == 2 and err.count("\n") == 1
    assert "learner 'icl': k='abc' must be a whole number >= 0" in err


def test_the_summary_reads_the_learners_declaration(toy_csv: Path, e2h_cli, monkeypatch) -> None:
    """A chain-of-thought learner shows format `cot`, one without demonstrations no k_used, whatever its name."""
    from e2h.learners import LEARNERS, ICLChainOfThought, ZeroShot

    class Renamed(ZeroShot):
        name = "renamed-zero-shot"

    class RenamedCoT(ICLChainOfThought):
        name = "renamed-cot"

    monkeypatch.setitem(LEARNERS._items, Renamed.name, Renamed)
    monkeypatch.setitem(LEARNERS._items, RenamedCoT.name, RenamedCoT)
    base = ["eval", "-m", "tiny-random", "-d", str(toy_csv), "--n", "3", "--n-train", "4"]
    code, out, _ = e2h_cli([*base, "-l", "renamed-zero-shot"])
    assert code == 0 and "renamed-zero-shot (format listed) |" in out
    toy_cot = pd.read_csv(toy_csv).assign(reasoning="It rhymes.")
    toy_cot.to_csv(toy_csv, index=False)
    code, out, _ = e2h_cli([*base, "-l", "renamed-cot", "--k", "2", "--option", "max_new_tokens=2"])
    assert code == 0 and "renamed-cot (format cot, k_used " in out
