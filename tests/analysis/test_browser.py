"""browser_check: headless Chromium renders the report, every figure loads, a screenshot is saved."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from e2h.analysis.browser_check import main
from e2h.analysis.report import write_report

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not Path("/usr/bin/chromium").exists(), reason="needs /usr/bin/chromium (apt-get install chromium)"
    ),
]


@pytest.fixture(scope="module")
def report_run(fake_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("browser") / "fake"
    shutil.copytree(fake_run, run)
    write_report(run, n_boot=200)
    return run


def test_report_renders_with_every_figure(report_run: Path, capsys: pytest.CaptureFixture):
    assert main([str(report_run)]) == 0
    out = capsys.readouterr().out
    assert "6 images loaded" in out
    shot = report_run / "report" / "screenshot.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    assert not list((report_run / "report").glob(".*"))  # the probe page is gone


def test_broken_and_missing_figures_fail(report_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    run = tmp_path / "broken"
    shutil.copytree(report_run, run)
    page = run / "report" / "report.html"
    html = page.read_text(encoding="utf-8")
    html = re.sub(
        r"base64,[^']+' alt='([^']*)' data-file='(accuracy[^']+)'",
        r"base64,AAAA' alt='\1' data-file='\2'",
        html,
        count=1,
    )
    html = re.sub(r"<figure><h3>[^<]*</h3><img [^>]*data-file='(sgr[^']+)'>", "<figure>", html, count=1)
    page.write_text(html, encoding="utf-8")
    assert main([str(run)]) == 1
    err = capsys.readouterr().err
    assert re.search(r"FAIL: image accuracy_\S+\.png did not load", err)
    assert re.search(r"FAIL: plot sgr_\S+\.png is not shown in report.html", err)


def test_missing_report_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture):
    assert main([str(tmp_path)]) == 2
    assert "no report.html" in capsys.readouterr().err


def test_report_with_every_kind_of_figure_renders(axes_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    run = tmp_path / "axes"
    shutil.copytree(axes_run, run)
    figures = [p for p in (run / "report").glob("*.png") if p.name != "screenshot.png"]
    assert {p.name.split("_")[0] for p in figures} >= {"cost", "noise", "size", "value", "hist", "spearman", "levels"}
    assert main([str(run)]) == 0
    assert f"{len(figures)} images loaded" in capsys.readouterr().out
