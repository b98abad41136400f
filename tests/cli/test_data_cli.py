"""`e2h data list|show|correlate|export`, run in-process through the real entry point."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats

from e2h.data import load_dataset


def level_rows(out: str) -> dict[str, str]:
    """``{level: items}`` from the level table of `e2h data show` (first table of each row)."""
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) > 4 and cells[1] in ("easy", "medium", "hard", "missing"):
            rows[cells[1]] = cells[3]
    return rows


@pytest.fixture
def user_csv(tmp_path):
    """40 items of a user dataset with a discrete measure (steps) and a continuous one (score)."""
    rng = np.random.default_rng(0)
    steps = np.repeat([1, 2, 3, 4, 5], 8).astype(float)
    steps[:3] = np.nan
    score = steps * 10 + rng.normal(0, 5, size=40)
    frame = pd.DataFrame(
        {
            "id": [f"u{i}" for i in range(40)],
            "question": [f"What is {i} + 1?" for i in range(40)],
            "choices": [json.dumps([str(i + 1), str(i + 2)]) for i in range(40)],
            "label": 0,
            "steps": steps,
            "score": score,
        }
    )
    path = tmp_path / "mine.csv"
    frame.to_csv(path, index=False)
    return path


def test_show_prints_cutoffs_levels_distribution_and_warnings(user_csv, e2h_cli):
    code, out, err = e2h_cli(["data", "show", str(user_csv), "--measure", "steps"])
    assert code == 0 and err == ""
    assert "mine.csv: 40 items, 1 measure(s)" in out
    lo, hi = np.percentile([1] * 5 + [2] * 8 + [3] * 8 + [4] * 8 + [5] * 8, [30, 70])  # 2, 4
    assert f"steps: cutoffs lo={lo:g}, hi={hi:g} (percentile)" in out
    # easy: steps <= 2 → 5 + 8 = 13; medium: 3 → 8; hard: >= 4 → 16; missing 3
    assert level_rows(out) == {"easy": "13", "medium": "8", "hard": "16", "missing": "3"}
    assert "x <= 2" in out and "2 < x < 4" in out and "x >= 4" in out
    assert "warning: steps: fewer than the paper's n_train = 160 items in easy 13, medium 8, hard 16" in out


def test_show_overview_skips_a_measure_without_values_but_a_named_one_fails(user_csv, e2h_cli):
    code, out, err = e2h_cli(["data", "show", str(user_csv)])  # no item has gold reasoning
    assert code == 0 and err == ""
    assert "mine.csv: 40 items, 6 measure(s)" in out  # steps, score and the four length measures
    assert "reasoning_num_words: no values (missing for every item)" in out
    assert "steps: cutoffs" in out and "score: cutoffs" in out
    code, out, err = e2h_cli(["data", "show", str(user_csv), "-m", "reasoning_num_words"])
    assert code == 2 and err == (
        "e2h: error: measure 'reasoning_num_words' has no values (all missing): "
        "choose another measure or add its values.\n"
    )


def test_show_cutoff_override_and_quantiles(user_csv, e2h_cli):
    code, out, _ = e2h_cli(["data", "show", str(user_csv), "-m", "steps", "-m", "score", "--cutoff", "steps=1,5"])
    assert code == 0
    assert "steps: cutoffs lo=1, hi=5 (override)" in out
    assert "score: cutoffs" in out and "(percentile)" in out
    assert "quantile" in out and "min" in out and "max" in out  # continuous measure: quantiles


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["data", "show", "arcc"], "unknown dataset 'arcc': did you mean 'arc'"),
        (["data", "show", "{csv}", "--measure", "stepz"], "unknown measure 'stepz': did you mean 'steps'"),
        (["data", "show", "{csv}", "--cutoff", "steps=5,1"], "lo=5 > hi=1"),
        (["data", "show", "{csv}", "--cutoff", "steps"], "write MEASURE=LO,HI"),
        (["data", "show", "{csv}", "-m", "steps", "--cutoff", "scores=1,2"], "did you mean 'score'"),
        (["data", "export", "arc", "--to", "{tmp}/out.txt"], "unknown extension '.txt'"),
        (["data", "correlate", "gsm9k"], "unknown dataset 'gsm9k': did you mean 'gsm8k'"),
        (["data", "export", "{csv}", "--to", "{tmp}/out.xlsx"], "unknown extension '.xlsx'"),
        (["data", "export", "arc", "--to", "/proc/nope/x.parquet"], "cannot write /proc/nope/x.parquet"),
        (["data", "export", "{csv}", "--to", "{csv}/x.parquet"], "is a file, not a folder"),
    ],
)
def test_errors_are_one_line_and_exit_code_2(argv, message, user_csv, tmp_path, e2h_cli):
    argv = [a.format(csv=user_csv, tmp=tmp_path) for a in argv]
    code, out, err = e2h_cli(argv)
    assert code == 2
    assert err.startswith("e2h: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "items," not in out  # nothing printed before the error
    assert not (tmp_path / "out.xlsx").exists()


def test_a_corrupt_annotations_file_named_by_the_user_is_exit_2(tmp_path, monkeypatch, e2h_cli):
    corrupt = tmp_path / "annotations.json"
    corrupt.write_text("{not json")
    monkeypatch.setenv("E2H_ARC_ANNOTATIONS", str(corrupt))
    code, out, err = e2h_cli(["data", "show", "arc"])
    assert code == 2 and out == ""
    assert err.startswith(f"e2h: error: arc-annotations at {corrupt} has sha256 ") and err.count("\n") == 1
    assert "point E2H_ARC_ANNOTATIONS at the original file" in err


def test_correlate_prints_the_spearman_matrix(user_csv, e2h_cli):
    code, out, _ = e2h_cli(["data", "correlate", str(user_csv)])
    assert code == 0
    table = pd.read_csv(user_csv)
    both = table[["steps", "score"]].dropna()
    rho = stats.spearmanr(both["steps"], both["score"]).statistic
    row = next(line for line in out.splitlines() if line.strip().startswith("1 steps"))
    assert row.split()[2:4] == ["1.00", f"{rho:.2f}"]
    assert "items with a value: 1: 37, 2: 37, 3: 40" in " ".join(out.split())


def test_correlate_plot_draws_the_heatmap(user_csv, tmp_path, e2h_cli):
    target = tmp_path / "figures" / "spearman.png"
    code, out, _ = e2h_cli(["data", "correlate", str(user_csv), "--plot", str(target)])
    assert code == 0 and f"plot: {target}" in " ".join(out.split())
    with Image.open(target) as image:
        assert image.format == "PNG" and image.info["dpi"] == pytest.approx((150, 150), abs=0.1)
    assert sorted(p.name for p in target.parent.iterdir()) == ["spearman.png"]  # no temp files left
    code, out, err = e2h_cli(["data", "correlate", str(user_csv), "--plot", str(tmp_path / "m.pdf")])
    assert code == 2 and out == "" and err == "e2h: error: --plot writes a PNG, not .pdf: name it e.g. m.png\n"


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_export_round_trips(user_csv, tmp_path, suffix, e2h_cli):
    target = tmp_path / "sub" / f"export{suffix}"
    code, out, _ = e2h_cli(["data", "export", str(user_csv), "--to", str(target)])
    assert code == 0 and "wrote 40 items" in out
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # no temp files left
    original, again = load_dataset(str(user_csv)), load_dataset(str(target))
    assert again["id"].tolist() == original["id"].tolist()
    assert again["choices"].map(list).tolist() == original["choices"].map(list).tolist()
    np.testing.assert_allclose(again["steps"], original["steps"])  # NaN kept as NaN
    if suffix == ".csv":
        assert json.loads(pd.read_csv(target)["choices"][0]) == ["1", "2"]


def test_list_shows_every_builtin_dataset_without_loading(e2h_cli):
    code, out, _ = e2h_cli(["data", "list"])
    assert code == 0
    for name, size in [("arc", 4417), ("arc-easy", 2946), ("mmlu-stem5", 1746), ("gsm8k", 1319), ("strategyqa", 2290)]:
        line = next(line for line in out.splitlines() if line.split("│")[1:2] == [f" {name} ".ljust(15)])
        assert str(size) in line


@pytest.mark.integration
def test_show_gsm8k_warns_about_the_small_hard_level(e2h_cli):
    code, out, _ = e2h_cli(["data", "show", "gsm8k", "--measure", "num_steps"])
    assert code == 0
    assert "num_steps: cutoffs lo=4, hi=7 (table)" in out
    assert "fewer than the paper's n_train = 160 items in hard 63" in out


@pytest.mark.integration
def test_show_arc_grade_levels(arc_annotations, e2h_cli):  # the grades exist only with the annotations
    code, out, _ = e2h_cli(["data", "show", "arc", "-m", "human_grade"])
    assert code == 0
    assert "human_grade: cutoffs lo=5, hi=8 (table)" in out
    assert level_rows(out) == {"easy": "860", "medium": "610", "hard": "1161", "missing": "1786"}


@pytest.mark.integration
@pytest.mark.parametrize("name", ["arc", "mmlu-stem5"])
def test_show_a_builtin_overview_ends_well(name, e2h_cli):
    code, out, err = e2h_cli(["data", "show", name])
    assert code == 0 and "e2h: error" not in err  # warnings (e.g. no annotations offline) are fine
    assert "reasoning_num_words: no values (missing for every item)" in out  # no gold reasoning in either
    assert "question_num_words: cutoffs" in out
