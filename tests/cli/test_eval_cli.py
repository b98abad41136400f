"""`e2h eval` end to end on the tiny random model and a small user CSV."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from e2h.cli import main


def _run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


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


def test_zero_shot_prints_every_normalization_and_writes_jsonl(toy_csv: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "preds.jsonl"
    code = _run(["eval", "--model", "tiny-random", "--dataset", str(toy_csv), "--n", "10", "--out", str(out)])
    stdout = capsys.readouterr().out
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


def test_icl_with_a_hardness_split(toy_csv: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "icl.jsonl"
    argv = ["eval", "-m", "tiny-random", "-d", str(toy_csv), "-l", "icl", "--k", "2", "--format", "cloze"]
    argv += ["--measure", "grade", "--train-on", "easy", "--test-on", "hard", "--n-train", "4", "--out", str(out)]
    assert _run(argv) == 0
    stdout = capsys.readouterr().out
    assert "k_used 2" in stdout and "train 4" in stdout
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records and {r["level"] for r in records} == {"hard"}


def test_same_seed_same_output(toy_csv: Path, tmp_path: Path, capsys) -> None:
    outs = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    for out in outs:
        assert _run(["eval", "-m", "tiny-random", "-d", str(toy_csv), "-l", "icl", "--k", "3", "-o", str(out)]) == 0
    assert outs[0].read_text() == outs[1].read_text()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--learner", "icll"], "unknown learner 'icll'"),
        (["--format", "listd"], "unknown prompt format 'listd'"),
        (["--normalization", "pmi"], "unknown normalization 'pmi'"),
        (["--k", "30", "--learner", "icl"], "leaves no test items"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(toy_csv: Path, capsys, flags: list[str], message: str) -> None:
    assert _run(["eval", "-m", "tiny-random", "-d", str(toy_csv), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_unknown_dataset_is_one_line(capsys) -> None:
    assert _run(["eval", "-m", "tiny-random", "-d", "arc-eazy"]) == 2
    err = capsys.readouterr().err.strip()
    assert "arc-eazy" in err and "\n" not in err
