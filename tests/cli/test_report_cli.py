"""`e2h report RUN_DIR`: writes the report and prints the summary; a bad folder is one line and exit 2."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from e2h.analysis.report import write_report
from e2h.cli import main
from e2h.errors import E2HError

from fake_runs import write_fake_run


def e2h(*args: str) -> int:
    """Run the console entry point in-process; its exit code (0 when it returns)."""
    try:
        main(["--quiet", *args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_report_command_writes_the_report(tmp_path: Path, capsys: pytest.CaptureFixture):
    run = write_fake_run(tmp_path / "demo", n_items=20, n_test=15, test_on=("hard",))
    assert e2h("report", str(run), "--n-boot", "200") == 0
    out = capsys.readouterr().out
    assert (run / "report" / "report.html").is_file() and (run / "report" / "report.md").is_file()
    assert "Supervision gap recovered" in out
    assert f"report: {run / 'report' / 'report.html'}" in out and str(run / "report" / "sgr.csv") in out


def test_missing_folder_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture):
    assert e2h("report", str(tmp_path / "missing")) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "e2h run CONFIG" in lines[0] and str(tmp_path / "missing") in lines[0]


def test_folder_without_results_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture):
    (tmp_path / "manifest.json").write_text("{}")
    assert e2h("report", str(tmp_path)) == 2
    assert "no results in cells/*.parquet" in capsys.readouterr().err


def test_report_takes_the_interval_method_and_pairing(tmp_path: Path, capsys: pytest.CaptureFixture):
    run = write_fake_run(tmp_path / "demo", n_items=60, n_test=10, test_on=("hard",))  # seeds share few items
    assert e2h("report", str(run), "--n-boot", "200", "--ci", "seed-t") == 0
    md = (run / "report" / "report.md").read_text(encoding="utf-8")
    assert "Intervals: t-interval over seeds" in md and "95% intervals (seed-t)" in md
    assert e2h("report", str(run), "--n-boot", "200", "--ci", "nested", "--unpaired") == 0
    assert "unpaired: each condition's items and seeds" in (run / "report" / "report.md").read_text(encoding="utf-8")
    assert e2h("report", str(run), "--n-boot", "200", "--pairing", "paper") == 0
    assert "the paper's pairing: one item draw" in (run / "report" / "report.md").read_text(encoding="utf-8")
    assert set(pd.read_parquet(run / "report" / "sgr.parquet")["pairing"]) == {"paper"}
    capsys.readouterr()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ci", "bca"], "unknown interval method 'bca': use one of grid, nested, seed-t"),
        (["--ci", "seed-t", "--unpaired"], "the unpaired pairing is for the bootstraps"),
        (["--ci", "nested", "--pairing", "paper"], "the paper's pairing is a scheme of the grid bootstrap"),
        (["--pairing", "paper", "--unpaired"], "--unpaired contradicts --pairing paper"),
        (["--pairing", "crossed"], "unknown pairing 'crossed': use one of paired, paper, unpaired"),
    ],
)
def test_bad_interval_options_are_one_line_and_exit_2(tmp_path: Path, capsys, args, message):
    run = write_fake_run(tmp_path / "demo", n_items=10, n_test=5, test_on=("hard",), seeds=(0,))
    assert e2h("report", str(run), *args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (run / "report").exists()  # refused before anything was written


def test_nested_on_seeds_that_share_their_test_items_is_one_line_and_exit_2(tmp_path: Path, capsys):
    run = write_fake_run(tmp_path / "all", n_items=10, n_test=10, test_on=("hard",))  # every seed: all 10 items
    assert e2h("report", str(run), "--ci", "nested") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "but 100% of these results are on items that several seeds test" in err
    assert "use the grid bootstrap (--ci grid)" in err and not (run / "report").exists()


SMOKE_CONFIG = (
    "name: cli\nmodels: [tiny-random]\n"
    "datasets: [{name: %s, measures: [digits], cutoffs: {digits: [1, 3]}}]\n"
    "learners: [zero-shot]\ntest_on: hard\nn_test: 4\nseeds: 1\n"
)


def _run_with_a_failed_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, str]:
    """`e2h run` of a run whose ICL easy cell of seed 2 failed, without a model: (config, run, failed cell id)."""
    run = write_fake_run(tmp_path / "runs" / "cli", n_items=20, n_test=15, test_on=("hard",))
    manifest = json.loads((run / "manifest.json").read_text())
    (failed,) = [c for c in manifest["cells"] if (c["learner"], c["train_on"], c["seed"]) == ("icl", "easy", 2)]
    (run / "cells" / f"{failed['cell_id']}.parquet").unlink()
    cells = [
        SimpleNamespace(cell_id=c["cell_id"], describe=lambda c=c: f"{c['learner']} seed {c['seed']}")
        for c in manifest["cells"]
    ]
    failure = next(c for c in cells if c.cell_id == failed["cell_id"])
    result = SimpleNamespace(
        run_dir=run,
        cells=cells,
        executed=[],
        failures=[(failure, "RuntimeError: out of memory")],
        seconds={},
        engine={},
        timed=lambda phase, start: None,
    )
    monkeypatch.setattr("e2h.experiments.run_experiment", lambda *a, **k: result)
    smoke = Path(__file__).resolve().parents[2] / "configs" / "smoke.csv"
    config = tmp_path / "cli.yaml"
    config.write_text(SMOKE_CONFIG % smoke)
    return config, run, failed["cell_id"]


def test_e2h_run_reports_a_run_with_a_failed_seed_and_lists_the_failed_cell(tmp_path, monkeypatch, capsys):
    config, run, failed = _run_with_a_failed_seed(tmp_path, monkeypatch)
    monkeypatch.setattr("e2h.analysis.report.write_report", functools.partial(write_report, n_boot=200))
    assert e2h("run", str(config)) == 1
    out = capsys.readouterr().out
    assert f"report: {run / 'report' / 'report.html'}" in out and "Supervision gap recovered" in out
    assert f"failed {failed} icl seed 2: RuntimeError: out of memory" in out and "1 cell(s) failed" in out


def test_e2h_run_lists_the_failed_cells_when_the_report_cannot_be_written(tmp_path, monkeypatch, capsys):
    config, _, failed = _run_with_a_failed_seed(tmp_path, monkeypatch)

    def refuse(*args, **kwargs):
        raise E2HError("cells/x.parquet is not a readable Parquet file; delete it and rerun `e2h run CONFIG`")

    monkeypatch.setattr("e2h.analysis.report.write_report", refuse)
    assert e2h("run", str(config)) == 1
    out = capsys.readouterr().out
    assert "report not written: cells/x.parquet is not a readable Parquet file" in out
    assert f"failed {failed} icl seed 2: RuntimeError: out of memory" in out and "1 cell(s) failed" in out


def test_summary_puts_the_reported_runs_sgr_groups_in_one_markdown_table(tmp_path: Path, capsys):
    runs = [write_fake_run(tmp_path / name, n_items=20, n_test=15, test_on=("hard",)) for name in ("a", "b")]
    for run in runs:
        assert e2h("report", str(run), "--n-boot", "200") == 0
    capsys.readouterr()
    assert e2h("summary", *map(str, runs)) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    sgr = pd.read_parquet(runs[0] / "report" / "sgr.parquet")
    assert lines[0].startswith("| run | model | dataset | measure | learner | Unsup. | Easy | Hard | SGR [95% CI]")
    assert len(lines) == 2 + 2 * len(sgr)
    first = lines[2].split(" | ")
    r = sgr.iloc[0]
    assert first[0] == "| a" and first[5:8] == [f"{r.unsup_acc:.3f}", f"{r.easy_acc:.3f}", f"{r.hard_acc:.3f}"]
    assert lines[-1].endswith(f"| {int(r.n_items)} × {int(r.n_seeds)} |") and lines[-1].startswith("| b |")


def test_summary_of_a_run_without_a_report_is_one_line_and_exit_2(tmp_path: Path, capsys):
    run = write_fake_run(tmp_path / "demo", n_items=20, n_test=15, test_on=("hard",))
    assert e2h("summary", str(run)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"e2h report {run}" in lines[0]
