"""`e2h run CONFIG`: dry run, run + report, resume, exit 1 on a failed cell, exit 2 with one line on a bad config."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from e2h.cli import main

SMOKE_CSV = Path(__file__).resolve().parents[2] / "configs" / "smoke.csv"


def write_config(folder: Path, **extra: str) -> Path:
    """A small config on the shipped smoke dataset: 3 cells (zero-shot, icl easy/hard), one seed."""
    lines = {
        "name": "cli",
        "models": "[tiny-random]",
        "datasets": f"[{{name: {SMOKE_CSV}, measures: [digits], cutoffs: {{digits: [1, 3]}}}}]",
        "learners": "[zero-shot, {name: icl, options: {k: 2}}]",
        "train_on": "[easy, hard]",
        "n_train": "4",
        "n_test": "4",
        "seeds": "1",
        "output_dir": str(folder / "runs"),
        **extra,
    }
    path = folder / "cli.yaml"
    path.write_text("".join(f"{key}: {value}\n" for key, value in lines.items()))
    return path


def run_main(*args: str) -> int:
    try:
        main(["--quiet", "run", *args])
    except SystemExit as exc:
        return int(exc.code)
    return 0


def test_dry_run_lists_cells_and_splits_without_a_model(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("e2h.models.load_model", lambda *a, **k: pytest.fail("dry run loaded a model"))
    assert run_main(str(write_config(tmp_path)), "--dry-run") == 0
    out = capsys.readouterr().out
    assert "3 cells, 3 to compute" in out and "icl easy→hard n=4" in out and "zero-shot →hard" in out
    assert not (tmp_path / "runs").exists()


def test_run_writes_results_and_report_then_resumes(tmp_path, capsys):
    config = write_config(tmp_path)
    assert run_main(str(config)) == 0
    out = capsys.readouterr().out
    run_dir = tmp_path / "runs" / "cli"
    assert "3 cell(s) computed, 3/3 finished" in out and "report.html" in out
    assert len(list((run_dir / "cells").glob("*.parquet"))) == 3 and (run_dir / "report" / "report.html").is_file()

    assert run_main(str(config)) == 0
    assert "0 cell(s) computed, 3/3 finished" in capsys.readouterr().out
    assert run_main(str(config), "--force") == 0
    assert "3 cell(s) computed" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("signum", "code", "how"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_ctrl_c_or_sigterm_stops_a_run_keeping_finished_cells_and_a_rerun_resumes(
    tmp_path, capsys, monkeypatch, signum, code, how
):
    """Ctrl-C, ``kill``, ``timeout``, a scheduler's limit: the finished cell is kept, the store says interrupted."""
    from e2h.experiments import worker

    config = write_config(tmp_path)
    real, calls = worker.run_cell, []

    def run_cell(cell, lm, data):
        calls.append(cell.cell_id)
        if len(calls) == 2:
            os.kill(os.getpid(), signum)
        return real(cell, lm, data)

    monkeypatch.setattr(worker, "run_cell", run_cell)
    assert run_main(str(config)) == code
    assert f"e2h: {how}; finished work is kept" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler does not outlive the command
    run_dir = tmp_path / "runs" / "cli"
    assert [p.stem for p in (run_dir / "cells").glob("*.parquet")] == calls[:1]
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "interrupted"

    assert run_main(str(config)) == 0
    assert "2 cell(s) computed, 3/3 finished" in capsys.readouterr().out
    assert calls[0] not in calls[2:] and len(calls) == 4


def test_failed_cell_exits_1_and_names_it(tmp_path, capsys):
    """A cell that fails only with its data (chain-of-thought demonstrations need gold reasoning the file lacks)."""
    config = write_config(tmp_path, learners="[zero-shot, {name: icl-cot, options: {k: 2}}]")
    assert run_main(str(config)) == 1
    out = capsys.readouterr().out
    assert "2 cell(s) failed" in out and "4 of 4 training items have no `reasoning`" in out
    assert "1 cell(s) computed" not in out and "1/3 finished" in out


def test_bad_config_is_one_line_and_exit_2(tmp_path):
    config = write_config(tmp_path, learners="[zero-shot, icll]", seeds="0", mesures="[x]")
    proc = subprocess.run(
        [sys.executable, "-c", "from e2h.cli import main; main()", "run", str(config)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("e2h: error: config cli.yaml: ")
    assert "learners[1].name: unknown learner 'icll' (did you mean 'icl'?)" in lines[0]
    assert "seeds: a seed count must be >= 1" in lines[0] and "mesures: unknown key" in lines[0]


def test_impossible_split_exits_2(tmp_path, capsys):
    assert run_main(str(write_config(tmp_path, n_train="30"))) == 2
    err = capsys.readouterr().err
    assert err.startswith("e2h: error: config cli.yaml: impossible split: ") and err.count("\n") == 1


def test_the_engine_line_compares_with_the_ceiling_of_the_models_dtype(monkeypatch):
    """A bfloat16 model's rate is a share of the bfloat16 ceiling (on AVX-512 BF16 CPUs ~4× float32's), not fp32's."""
    from rich.console import Console

    from e2h.cli.run import _print_timings
    from e2h.experiments import RunResult

    monkeypatch.setattr("e2h.models.cpu.matmul_ceiling", lambda: {"float32": 100.0, "bfloat16": 400.0})
    result = RunResult(Path("runs/x"), [])
    result.executed.append("cell")
    result.engine["m"] = {"tokens": 1e5, "seconds": 50.0, "tokens_per_s": 2e3, "gflops": 200.0, "dtype": "bfloat16"}
    console = Console(record=True, width=200)
    _print_timings(console, result)
    line = console.export_text()
    assert "engine m (bfloat16)" in line and "50% of this CPU's bfloat16 matmul ceiling (400 GFLOP/s)" in line


def test_a_dry_run_prints_the_plan_with_its_impossible_splits_then_exits_2(tmp_path, capsys):
    assert run_main(str(write_config(tmp_path, n_train="30")), "--dry-run") == 2
    out, err = capsys.readouterr()
    assert "impossible" in out and "3 cells, 3 to compute" in out  # the plan, the hard split marked
    assert err.startswith("e2h: error: config cli.yaml: impossible split: ") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("extra", "args", "message"),
    [
        ({"learners": "[{name: linear-probe, options: {solver: sgdd}}]"}, [], "solver='sgdd' must be one of sgd"),
        ({"learners": "[{name: lora, options: {objective: mcq}}]"}, [], "objective='mcq' must be one of mc, cot"),
        ({}, ["--backend", "spark"], "unknown backend 'spark' (known: local, ray)"),
        ({}, ["--address", "auto"], "--address auto is for the ray backend"),
    ],
)
def test_a_dry_run_checks_every_value_before_a_model_loads(tmp_path, capsys, monkeypatch, extra, args, message):
    monkeypatch.setattr("e2h.models.load_model", lambda *a, **k: pytest.fail("a model was loaded"))
    assert run_main(str(write_config(tmp_path, **extra)), "--dry-run", *args) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("e2h: error: ") and err.count("\n") == 1
    assert message in err


def test_every_dry_run_prints_the_power_of_its_sgr_groups(tmp_path, capsys):
    """The hard test items × seeds and the expected half-width of Hard − Unsup, or why there is no SGR group."""
    assert run_main(str(write_config(tmp_path, seeds="2")), "--dry-run") == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("power "))
    assert line.startswith("power smoke.csv/digits (icl): 4 hard test items × 2 seeds (")
    assert "expected 95% half-width of Hard − Unsup ±" in line and "binomial approximation at p = " in line
    assert "cannot reach ±0.05" in line
    assert run_main(str(write_config(tmp_path, learners="[zero-shot]")), "--dry-run") == 0
    assert "power: no SGR group in this plan" in capsys.readouterr().out
