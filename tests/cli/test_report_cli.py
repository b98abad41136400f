"""`e2h report RUN_DIR`: writes the report and prints the summary; a bad folder is one line and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2h.cli import main

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
    run = write_fake_run(tmp_path / "demo", n_items=20, n_test=15, test_on=("hard",))
    assert e2h("report", str(run), "--n-boot", "200", "--ci", "seed-t") == 0
    md = (run / "report" / "report.md").read_text(encoding="utf-8")
    assert "Intervals: t-interval over seeds" in md and "95% intervals (seed-t)" in md
    assert e2h("report", str(run), "--n-boot", "200", "--ci", "nested", "--unpaired") == 0
    assert "unpaired resampling" in (run / "report" / "report.md").read_text(encoding="utf-8")
    capsys.readouterr()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ci", "bca"], "unknown interval method 'bca': use one of grid, nested, seed-t"),
        (["--ci", "seed-t", "--unpaired"], "the unpaired option is for the grid and nested bootstraps"),
    ],
)
def test_bad_interval_options_are_one_line_and_exit_2(tmp_path: Path, capsys, args, message):
    run = write_fake_run(tmp_path / "demo", n_items=10, n_test=5, test_on=("hard",), seeds=(0,))
    assert e2h("report", str(run), *args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (run / "report").exists()  # refused before anything was written
