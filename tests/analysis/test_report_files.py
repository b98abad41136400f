"""write_report: results first, files, embedded figures, provenance last, chance rates; 150 dpi plots; summary_table."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image
from rich.console import Console

from e2h.analysis.report import ReportPaths, summary_table, write_report
from e2h.analysis.results import load_results

from fake_runs import write_fake_run

N_BOOT = 300


@pytest.fixture(scope="module")
def report(fake_run: Path, tmp_path_factory: pytest.TempPathFactory) -> ReportPaths:
    run = tmp_path_factory.mktemp("report") / "fake"
    shutil.copytree(fake_run, run)
    return write_report(run, n_boot=N_BOOT)


def test_report_files_exist(report: ReportPaths):
    names = {p.name for p in report.folder.iterdir()}
    assert {"report.md", "report.html", "accuracy.csv", "accuracy.parquet", "sgr.csv", "sgr.parquet"} <= names
    kinds = sorted(p.name.split("_")[0] for p in report.plots)
    assert kinds == ["accuracy", "accuracy", "levels", "levels", "sgr", "sgr"]  # test_on hard/all; two measures
    assert all(p.is_file() and p.parent == report.folder for p in report.plots)
    assert not [p for p in report.folder.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_html_embeds_every_plot_and_needs_nothing_else(report: ReportPaths):
    page = report.html.read_text(encoding="utf-8")
    images = re.findall(r"<img src='data:image/png;base64,([^']+)' alt='[^']*' data-file='([^']+)'>", page)
    assert sorted(name for _, name in images) == sorted(p.name for p in report.plots)
    for data, name in images:
        assert base64.b64decode(data) == (report.folder / name).read_bytes()
    assert not re.search(r"""(src|href)=['"](?!data:)""", page)  # no external resources


def test_report_shows_provenance_tables_and_chance(report: ReportPaths):
    md = report.markdown.read_text(encoding="utf-8")
    page = report.html.read_text(encoding="utf-8")
    for text in ("git commit", "0000000", "quantisation used", "tiny-random: none", "packages", "finished"):
        assert text in md and text in page
    sgr = pd.read_parquet(report.folder / "sgr.parquet")
    acc = pd.read_parquet(report.folder / "accuracy.parquet")
    assert md.count("| tiny-random | arc |") == 2 * len(sgr) + len(acc)  # headline + details, accuracy
    header = next(line for line in md.splitlines() if line.startswith("| model") and "accuracy [95% CI]" in line)
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert columns[columns.index("accuracy [95% CI]") + 1] == "chance"
    for p in report.plots:
        assert f"]({p.name})" in md


def test_plots_are_150_dpi_pngs(report: ReportPaths):
    for path in report.plots:
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert image.info["dpi"] == pytest.approx((150, 150), abs=0.1)
            assert image.width > 600


def test_without_level_cells_the_heatmap_is_skipped_with_a_note(tmp_path: Path):
    run = write_fake_run(tmp_path / "hard-only", test_on=("hard",))
    (run / "report").mkdir()
    stale = run / "report" / "levels_old.png"
    stale.write_bytes(b"old figure")
    paths = write_report(run, n_boot=N_BOOT)
    assert not [p for p in paths.plots if p.name.startswith("levels")]
    assert not stale.exists()
    assert "No train-level × test-level heatmap" in paths.markdown.read_text(encoding="utf-8")


def test_temporary_files_of_a_killed_report_are_removed(tmp_path: Path):
    run = write_fake_run(tmp_path / "killed", test_on=("hard",))
    (run / "report").mkdir()
    leftover = run / "report" / ".report.html.k3x9q2.tmp"  # what atomic_path leaves under kill -9
    leftover.write_text("<html><body>half")
    write_report(run, n_boot=N_BOOT)
    assert not [p.name for p in (run / "report").iterdir() if p.name.startswith(".")]


def test_summary_table_lists_each_sgr_row(fake_run: Path, report: ReportPaths):
    sgr = pd.read_parquet(report.folder / "sgr.parquet")
    table = summary_table(sgr=sgr)
    assert table.row_count == len(sgr)
    console = Console(width=200, record=True)
    console.print(table)
    text = console.export_text()
    for row in sgr.itertuples():
        assert (f"{row.sgr:.2f} [{row.sgr_lo:.2f}, {row.sgr_hi:.2f}]" if row.defined else "undefined") in text
    fallback = summary_table(load_results(fake_run).query("learner == 'zero-shot'"), n_boot=N_BOOT)
    assert fallback.title.startswith("Accuracy")


def test_cells_that_did_not_finish_are_listed(tmp_path: Path):
    run = write_fake_run(tmp_path / "partial", test_on=("hard",))
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["cells"].append(
        {"cell_id": "abc123", "learner": "lora", "status": "failed", "error": "OOM: out of memory"}
    )
    (run / "manifest.json").write_text(json.dumps(manifest))
    md = write_report(run, n_boot=N_BOOT).markdown.read_text(encoding="utf-8")
    assert "## Cells that did not finish (1)" in md
    assert "| abc123 | lora |" in md and "OOM: out of memory" in md
    assert f"cells in the manifest | {len(manifest['cells'])} (done: {len(manifest['cells']) - 1}, failed: 1)" in md


def _sections(text: str) -> list[str]:
    return [line[3:] for line in text.splitlines() if line.startswith("## ")]


def test_results_come_first_and_provenance_last(report: ReportPaths):
    md = report.markdown.read_text(encoding="utf-8")
    assert _sections(md) == [
        "Supervision gap recovered",
        "Figures",
        "Accuracy",
        "Supervision gap recovered: details",
        "Method",
        "Provenance",
    ]
    first_table = next(line for line in md.splitlines() if line.startswith("| "))
    assert "SGR [95% CI]" in first_table and first_table.rstrip(" |").endswith("reading")
    page = report.html.read_text(encoding="utf-8")
    headline, figures = page.index("<h2>Supervision gap recovered</h2>"), page.index("<h2>Figures</h2>")
    provenance = page.index("<details class='provenance'><summary>Provenance")
    assert headline < figures < page.index("<img") < provenance
    assert page.index("git commit") > provenance and page.index("<pre>") > provenance
    assert page.rstrip().endswith("</details></body></html>")


def test_every_headline_row_reads_as_a_sentence(exact_run: Path, tmp_path: Path):
    """Zero-shot always wrong; ICL right after easy or hard training (SGR 1); the probe only after hard (SGR 0)."""
    run = tmp_path / "exact"
    shutil.copytree(exact_run, run)
    md = write_report(run, n_boot=N_BOOT).markdown.read_text(encoding="utf-8")
    rows = [line for line in md.split("## Figures")[0].splitlines() if line.startswith("| tiny-random")]
    readings = {row.split(" | ")[3]: row.rstrip(" |").split(" | ")[-1] for row in rows}
    p_min = 1 / (1 + N_BOOT)
    assert readings == {
        "icl k=4 n=16": "Training on easy items recovers 100% [100, 100] of the gain of training on hard items; "
        f"easy training beats zero-shot (p = {p_min:.3f}).",
        "linear-probe n=16": "Training on easy items recovers 0% [0, 0] of the gain of training on hard items; "
        "easy training is not clearly better than zero-shot (p = 1.000).",
    }


def test_without_an_sgr_the_headline_is_the_accuracy(tmp_path: Path):
    run = write_fake_run(tmp_path / "zero", accuracy={"zero-shot": {"none": 0.0}}, test_on=("hard",))
    md = write_report(run, n_boot=N_BOOT).markdown.read_text(encoding="utf-8")
    assert _sections(md)[:2] == ["Accuracy on the test items", "Figures"]
    headline = md.split("## Figures")[0]
    assert "Zero-shot without training answers 0% [0, 0] of hard test items correctly (chance 25%)." in headline
    assert "Supervision gap recovered" not in md and "No SGR: the run needs" in md


def test_provenance_has_no_empty_entries(tmp_path: Path):
    run = write_fake_run(tmp_path / "sparse", test_on=("hard",))
    manifest = json.loads((run / "manifest.json").read_text())
    manifest.update(notes=[], history=[], git=None, finished=None, config={"model": "tiny-random", "extra": {}})
    (run / "manifest.json").write_text(json.dumps(manifest))
    paths = write_report(run, n_boot=N_BOOT)
    md, page = paths.markdown.read_text(encoding="utf-8"), paths.html.read_text(encoding="utf-8")
    provenance = md.split("## Provenance")[1]
    assert "notes" not in provenance and "history" not in provenance and "None" not in provenance
    assert "| git" not in provenance and "| finished" not in provenance
    blocks = re.findall(r"```json\n(.*?)\n```", provenance, flags=re.S)
    assert blocks and all(block.strip() not in ("{}", "[]", "null") for block in blocks)
    assert "<pre>{}</pre>" not in page and "<pre>[]</pre>" not in page
