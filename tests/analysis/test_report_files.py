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
from e2h.analysis.stats import CI_NAMES, PAIRING_NAMES
from e2h.errors import E2HError

from fake_runs import write_fake_run

N_BOOT = 300


@pytest.fixture(scope="module")
def report(fake_run: Path, tmp_path_factory: pytest.TempPathFactory) -> ReportPaths:
    run = tmp_path_factory.mktemp("report") / "fake"
    shutil.copytree(fake_run, run)
    return write_report(run, n_boot=N_BOOT)


def test_report_files_exist(report: ReportPaths):
    names = {p.name for p in report.folder.iterdir()}
    tables = {
        f"{name}.{ext}" for name in ("accuracy", "sgr", "per_seed", "generalization") for ext in ("csv", "parquet")
    }
    assert {"report.md", "report.html", *tables} <= names
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
    sgr, acc, per_seed, gaps = (
        pd.read_parquet(report.folder / f"{name}.parquet") for name in ("sgr", "accuracy", "per_seed", "generalization")
    )
    # headline + details, accuracy, per seed, generalization gaps
    assert md.count("| tiny-random | synthetic |") == 2 * len(sgr) + len(acc) + len(per_seed) + len(gaps)
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
        "Per-seed results",
        "Generalization gap",
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
    p_min = 2 / (1 + N_BOOT)
    assert readings == {
        "icl k=4 n=16": "Training on easy items recovers 100% [100, 100] of the gain of training on hard items; "
        f"easy training beats zero-shot (Easy − Unsup. +1.000, two-sided p = {p_min:.3f}).",
        "linear-probe n=16": "Training on easy items recovers 0% [0, 0] of the gain of training on hard items; "
        "easy training is not clearly different from zero-shot (Easy − Unsup. +0.000, two-sided p = 1.000).",
    }


def test_the_report_names_the_runs_baseline(cot_run: Path, tmp_path: Path):
    run = tmp_path / "cot"
    shutil.copytree(cot_run, run)
    md = write_report(run, n_boot=N_BOOT).markdown.read_text(encoding="utf-8")
    headline = md.split("## Figures")[0]
    assert "(Unsupervised = each dataset's unsupervised baseline, zero-shot-cot)" in headline
    assert re.search(r"easy training (beats|is not clearly different from) zero-shot-cot \(Easy − Unsup. ", headline)
    learners = {row["learner"] for row in _table(md, "Accuracy")}
    assert learners == {"zero-shot-cot (baseline)", "zero-shot", "icl k=4 n=16"}
    assert "hard does not beat the unsupervised baseline (zero-shot-cot)" in md


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


def _table(md: str, section: str) -> list[dict[str, str]]:
    """The rows of the Markdown table under ``## section`` as dicts."""
    lines = [line for line in md.split(f"## {section}\n")[1].split("\n## ")[0].splitlines() if line.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split(" | ")]
    return [dict(zip(header, (c.strip() for c in line.strip("|").split(" | ")), strict=True)) for line in lines[1:]]


def test_items_times_seeds_says_what_it_counts(report: ReportPaths):
    md = report.markdown.read_text(encoding="utf-8")
    acc = pd.read_parquet(report.folder / "accuracy.parquet")
    shown = {r["items × seeds"] for r in _table(md, "Accuracy")}
    expected = {f"{r.n_results} results ({r.n_items} distinct items × {r.n_seeds} seeds)" for r in acc.itertuples()}
    assert shown == expected
    # The hard level of test_on=all cells: each seed's own 30 test items, overlapping across seeds.
    assert any(r.n_results > r.n_items for r in acc.itertuples())


def test_sgr_details_show_paired_differences_and_per_seed_results(report: ReportPaths):
    md = report.markdown.read_text(encoding="utf-8")
    sgr = pd.read_parquet(report.folder / "sgr.parquet")
    details = _table(md, "Supervision gap recovered: details")
    first = sgr.iloc[0]
    assert details[0]["Easy − Hard [95% CI], two-sided p"] == (
        f"{first.easy_hard_diff:.3f} [{first.easy_hard_lo:.3f}, {first.easy_hard_hi:.3f}], p = {first.easy_hard_p:.4f}"
    )
    per_seed = _table(md, "Per-seed results")
    assert len(per_seed) == 3 * len(sgr) and {r["seed"] for r in per_seed} == {"0", "1", "2"}
    assert {"Unsupervised", "Easy", "Hard", "Easy − Unsup.", "Hard − Unsup.", "Easy − Hard"} <= set(per_seed[0])
    assert len(_table(md, "Generalization gap")) == len(pd.read_parquet(report.folder / "generalization.parquet"))


def test_the_interval_method_is_named_and_used(tmp_path: Path):
    run = write_fake_run(tmp_path / "own", n_items=60, n_test=10, test_on=("hard",))  # seeds share few items
    paths = write_report(run, n_boot=N_BOOT, ci="nested", pairing="unpaired")
    md = paths.markdown.read_text(encoding="utf-8")
    assert CI_NAMES["nested"] in md.split("## Figures")[0]  # in the headline's note
    assert PAIRING_NAMES["unpaired"] in md.split("## Figures")[0]
    method = md.split("## Method")[1]
    assert "95% intervals (nested) come from a nested bootstrap" in method and PAIRING_NAMES["unpaired"] in method
    for name in ("accuracy", "sgr"):
        assert set(pd.read_parquet(paths.folder / f"{name}.parquet")["ci"]) == {"nested"}
    with pytest.raises(E2HError, match="unknown interval method"):
        write_report(run, ci="bootstrap")


def test_nested_is_refused_before_anything_is_written(exact_run: Path, tmp_path: Path):
    run = tmp_path / "shared"
    shutil.copytree(exact_run, run)  # 30 of 40 hard items per seed: most are tested by several seeds
    with pytest.raises(E2HError, match="the nested bootstrap assumes each seed tests its own items") as info:
        write_report(run, n_boot=N_BOOT, ci="nested")
    assert "\n" not in str(info.value) and not (run / "report").exists()


def test_seed_t_is_labelled_as_holding_shared_items_fixed(exact_run: Path, tmp_path: Path):
    run = tmp_path / "t"
    shutil.copytree(exact_run, run)
    md = write_report(run, ci="seed-t").markdown.read_text(encoding="utf-8")
    assert "test items shared by every seed are held fixed" in md.split("## Figures")[0]
    assert "a baseline that answers by the item alone gets a zero-width interval there" in md.split("## Method")[1]


def test_a_report_with_a_failed_seed_renders_with_the_failed_cells_listed(tmp_path: Path):
    run = write_fake_run(tmp_path / "failed", n_items=20, n_test=15, test_on=("hard",))
    manifest = json.loads((run / "manifest.json").read_text())
    (cell,) = [c for c in manifest["cells"] if (c["learner"], c["train_on"], c["seed"]) == ("linear-probe", "easy", 2)]
    cell.update(status="failed", error="RuntimeError: the probe diverged")
    (run / "cells" / f"{cell['cell_id']}.parquet").unlink()
    (run / "manifest.json").write_text(json.dumps(manifest))
    paths = write_report(run, n_boot=N_BOOT)
    md = paths.markdown.read_text(encoding="utf-8")
    assert "1 cell(s) did not finish" in md.split("## Figures")[0]
    failed = _table(md, "Cells that did not finish (1)")
    assert failed == [
        {
            "cell_id": cell["cell_id"],
            "learner": "linear-probe",
            "measure": "human_grade",
            "train_on": "easy",
            "test_on": "hard",
            "seed": "2",
            "status": "failed",
            "error": "RuntimeError: the probe diverged",
        }
    ]
    details = {r["learner"]: r for r in _table(md, "Supervision gap recovered: details")}
    assert details["linear-probe n=16"]["seeds left out"] == "seed 2 (no easy results)"
    assert details["linear-probe n=16"]["items × seeds"].endswith("× 2 seeds)")
    assert details["icl k=4 n=16"]["seeds left out"] == "—" and details["icl k=4 n=16"]["items × seeds"].endswith(
        "× 3 seeds)"
    )
    assert "Left out: seed 2 (no easy results)." in md.split("## Figures")[0]
    assert len(_table(md, "Per-seed results")) == 5


def test_the_headline_and_the_details_give_one_two_sided_p_for_easy_minus_unsupervised(report: ReportPaths):
    md = report.markdown.read_text(encoding="utf-8")
    sgr = pd.read_parquet(report.folder / "sgr.parquet")
    details = _table(md, "Supervision gap recovered: details")
    headline = md.split("## Figures")[0]
    for r, shown in zip(sgr.itertuples(), details, strict=True):
        cell = shown["Easy − Unsup. [95% CI], two-sided p"]
        assert cell.endswith(f"p = {r.easy_unsup_p:.4f}") and cell.startswith(f"{r.easy_unsup_diff:.3f}")
        if r.defined:
            assert f"Easy − Unsup. {r.easy_unsup_diff:+.3f}, two-sided p = {r.easy_unsup_p:.3f}" in headline
    assert not [column for column in details[0] if column.startswith("p ")]  # no other p for the same contrast
    assert "Every p is two-sided." in headline


def test_figures_without_their_axis_are_not_drawn_and_say_why(report: ReportPaths):
    md = report.markdown.read_text(encoding="utf-8")
    assert not [p for p in report.plots if p.name.split("_")[0] in ("cost", "noise", "size", "value", "hist")]
    assert (
        "Not drawn, the run varies no such setting: cost curves (one n_train); noise curves (one label-noise p); "
        "accuracy vs model size (fewer than two models of known size)." in md
    )
    assert "No item-level figures for synthetic: its item table did not load" in md


def test_every_figure_is_drawn_when_the_run_has_its_axis(axes_run: Path):
    folder = axes_run / "report"
    md = (folder / "report.md").read_text(encoding="utf-8")
    page = (folder / "report.html").read_text(encoding="utf-8")
    shown = re.findall(r"!\[[^]]*\]\(([^)]+\.png)\)", md)
    kinds = sorted(name.split("_")[0] for name in shown)
    # two models; one measure; test_on all; the items file has two measures
    assert kinds == sorted(["accuracy", "sgr", "levels", "cost", "noise", "value"] * 2 + ["size", "hist", "spearman"])
    assert sorted(shown) == sorted(p.name for p in folder.glob("*.png"))
    assert all(f"data-file='{name}'" in page for name in shown)
    assert "Not drawn" not in md and "No item-level figures" not in md and "No train-level" not in md


def test_cost_curves_put_hard_labels_at_twice_the_cost(axes_run: Path):
    md = (axes_run / "report" / "report.md").read_text(encoding="utf-8")
    assert "n_train × 2 for hard items, × 1 for easy ones" in md
    assert "smollm2-135m 135M, gemma3-270m 270M parameters" in md


def test_a_t_interval_over_one_seed_is_reported_as_missing(tmp_path: Path):
    run = write_fake_run(tmp_path / "one-seed", seeds=(0,), n_items=10, n_test=8, test_on=("hard",))
    md = write_report(run, ci="seed-t").markdown.read_text(encoding="utf-8")
    accuracy = _table(md, "Accuracy")
    assert all(r["accuracy [95% CI]"].endswith(" [no interval]") for r in accuracy)
    assert "a t-interval over seeds needs at least 2 seeds" in md.split("## Figures")[0]
