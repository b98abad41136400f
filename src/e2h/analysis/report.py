"""The run report: ``runs/<name>/report/`` with report.md, a self-contained report.html, PNGs and tables.

``write_report(run_dir)`` reads the results store (and, for the item-level figures, the datasets' item
tables), computes the tables, draws the figures and writes everything atomically.
``summary_table(results)`` is the short terminal summary (a rich Table) printed by ``e2h run`` and ``e2h report``.

Both renderings put results first: the headline table (SGR per supervised learner with CIs, or the
accuracies when the run has no easy/hard pair), each row with a one-sentence reading; then the
figures (each drawn only when the run has the axis it needs); then the full tables (accuracy, SGR
details, per-seed results, generalization gaps), the method, and last the provenance (collapsed in HTML).
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from rich.table import Table

from e2h.analysis import display
from e2h.analysis.plots import Plot, plot_accuracy, plot_level_heatmap, plot_sgr, short_name
from e2h.analysis.plots_curves import (
    HARD_LABEL_COST,
    model_parameters,
    plot_cost_curves,
    plot_model_size,
    plot_noise_curves,
    run_label_costs,
)
from e2h.analysis.plots_items import (
    load_item_tables,
    manifest_cutoffs,
    plot_hardness_histograms,
    plot_hardness_values,
    plot_spearman,
)
from e2h.analysis.results import load_manifest, load_results
from e2h.analysis.stats import N_BOOT, check_ci
from e2h.analysis.tables import (
    accuracy_table,
    check_nested,
    generalization_table,
    per_seed_table,
    sgr_table,
    transfer_table,
    write_table,
)
from e2h.io import atomic_path, remove_stale_temps

SCREENSHOT = "screenshot.png"


@dataclass
class ReportPaths:
    """Everything ``write_report`` wrote."""

    folder: Path
    markdown: Path
    html: Path
    plots: list[Path] = field(default_factory=list)
    tables: list[Path] = field(default_factory=list)


def summary_table(
    results: pd.DataFrame | None = None,
    *,
    sgr: pd.DataFrame | None = None,
    acc: pd.DataFrame | None = None,
    n_boot: int = N_BOOT,
    ci: str = "grid",
) -> Table:
    """A compact terminal summary: SGR per supervised learner, or accuracies when no easy/hard pair exists.

    Pass ``results`` (tables are computed with interval method ``ci``) or the precomputed ``sgr`` / ``acc`` tables.
    """
    if sgr is None:
        sgr = sgr_table(results, n_boot=n_boot, ci=ci)
    if not sgr.empty:
        table = Table(title="Supervision gap recovered (accuracy on hard test items; SGR with 95% CI)")
        for column in ("model", "dataset", "measure", "learner"):
            table.add_column(column, overflow="fold")
        for column in ("test", "unsup.", "easy", "hard", "chance", "SGR"):
            table.add_column(column, no_wrap=True)
        for _, r in sgr.iterrows():
            accs = ["—" if pd.isna(a) else f"{a:.2f}" for a in (r.unsup_acc, r.easy_acc, r.hard_acc, r.chance)]
            group = [r.model, short_name(r.dataset), r.measure, display.learner_label(r), r.test_on]
            table.add_row(*group, *accs, display.sgr_value(r))
        return table
    if acc is None:
        acc = accuracy_table(results, n_boot=n_boot, ci=ci)
    table = Table(title="Accuracy (95% CI)")
    for column in ("model", "dataset", "measure", "learner", "train → test", "accuracy", "chance"):
        table.add_column(column, overflow="fold")
    for _, r in acc[acc["item_level"] == acc["test_on"]].iterrows():
        row = [r.model, short_name(r.dataset), str(r.measure), display.learner_label(r)]
        row.append(f"{r.train_on} → {r.test_on}")
        table.add_row(*row, f"{r.acc:.2f} [{r.ci_lo:.2f}, {r.ci_hi:.2f}]", f"{r.chance:.2f}")
    return table


def _provenance(manifest: dict[str, Any], results: pd.DataFrame) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """(scalar facts, long blocks as pretty JSON) from the manifest, plus what the store itself says."""
    facts, blocks = [], {}
    first = ["name", "description", "status", "started", "finished"]
    for key in sorted(manifest, key=lambda k: (first.index(k) if k in first else len(first), k)):
        value = manifest[key]
        if value is None or (isinstance(value, dict | list) and not value):
            continue
        if key == "cells" and isinstance(value, list):  # one entry per cell: summarised, failures listed apart
            statuses = pd.Series([c.get("status", "?") for c in value if isinstance(c, dict)]).value_counts()
            facts.append(
                ("cells in the manifest", f"{len(value)} ({', '.join(f'{s}: {n}' for s, n in statuses.items())})")
            )
        elif (
            isinstance(value, dict) and len(value) <= 6 and all(not isinstance(v, dict | list) for v in value.values())
        ):
            facts += [(f"{key} {k}", "—" if v is None else str(v)) for k, v in value.items()]  # e.g. git commit
        elif isinstance(value, dict | list):
            blocks[key] = json.dumps(value, indent=2, sort_keys=True, default=str)
        else:
            facts.append((key, str(value)))
    quant = results.groupby("model")["quantization"].unique() if "quantization" in results else pd.Series()
    facts.append(("quantisation used", "; ".join(f"{m}: {', '.join(map(str, q))}" for m, q in quant.items()) or "—"))
    per_cell = results.drop_duplicates("cell_id")
    facts.append(("cells in the store", str(len(per_cell))))
    for column in ("fit_seconds", "predict_seconds"):
        if column in per_cell:
            facts.append((f"total {column.replace('_', ' ')}", f"{per_cell[column].sum():.1f}"))
    return facts, blocks


def failed_cells(manifest: dict[str, Any]) -> pd.DataFrame:
    """Manifest cells that did not finish (failed, interrupted, pending), with their one-line error."""
    columns = ["cell_id", "learner", "measure", "train_on", "test_on", "seed", "status", "error"]
    rows = [
        {c: str(entry.get(c, "")) for c in columns}
        for entry in manifest.get("cells", [])
        if isinstance(entry, dict) and entry.get("status", "done") != "done"
    ]
    return pd.DataFrame(rows, columns=columns)


def markdown_table(frame: pd.DataFrame) -> str:
    """A table of strings as GitHub Markdown (``|`` escaped)."""
    if frame.empty:
        return "_(none)_\n"
    escape = lambda value: str(value).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(map(escape, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(map(escape, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def _html_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "<p><em>(none)</em></p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


@dataclass
class _Content:
    """What both renderings show, already as strings and tables, in the order they show it."""

    name: str
    description: str
    headline_title: str
    headline_note: str
    headline: pd.DataFrame
    failed_note: str
    plots: list[Plot]
    notes: list[str]
    sections: list[tuple[str, str, pd.DataFrame]]  # (title, intro, table) of the full tables
    method: str
    facts: list[tuple[str, str]]
    blocks: dict[str, str]


def _markdown(c: _Content) -> str:
    parts = [f"# e2h report — {c.name}\n\n"]
    parts += [f"{c.description}\n\n"] if c.description else []
    parts += [f"## {c.headline_title}\n\n", f"{c.headline_note}\n\n" if c.headline_note else ""]
    parts.append(markdown_table(c.headline))
    parts += [f"\n> {c.failed_note}\n"] if c.failed_note else []
    parts += ["\n## Figures\n"]
    parts += [f"\n### {p.title}\n\n![{p.title}]({p.path.name})\n\n{p.caption}\n" for p in c.plots]
    parts += [f"\n> {note}\n" for note in c.notes]
    for title, intro, table in c.sections:
        parts += [f"\n## {title}\n\n", f"{intro}\n\n" if intro else "", markdown_table(table)]
    parts += [f"\n## Method\n\n{c.method}\n", "\n## Provenance\n\n"]
    parts.append(markdown_table(pd.DataFrame(c.facts, columns=["", "value"])))
    parts += [f"\n**{key}**\n\n```json\n{text}\n```\n" for key, text in c.blocks.items()]
    return "".join(parts)


CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; padding: 0 1rem; }
h1 { border-bottom: 2px solid #0072B2; padding-bottom: .3rem; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; font-size: .85rem; }
th, td { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f0f4f8; }
tr:nth-child(even) td { background: #fafafa; }
figure { margin: 1rem 0 2rem; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #555; font-size: .9rem; }
pre { background: #f6f8fa; padding: .6rem; overflow-x: auto; font-size: .8rem; }
details { margin: .5rem 0; }
summary { cursor: pointer; }
details.provenance > summary { font-size: 1.5rem; font-weight: bold; margin: 1rem 0 .5rem; }
.note { background: #fff8e1; border-left: 4px solid #E69F00; padding: .5rem .8rem; }
"""


def _html(c: _Content) -> str:
    esc = html.escape
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>e2h report — {esc(c.name)}</title>"]
    parts += [f"<style>{CSS}</style></head><body><h1>e2h report — {esc(c.name)}</h1>"]
    parts += [f"<p>{esc(c.description)}</p>"] if c.description else []
    parts += [f"<h2>{esc(c.headline_title)}</h2>", f"<p>{esc(c.headline_note)}</p>" if c.headline_note else ""]
    parts.append(_html_table(c.headline))
    parts += [f"<p class='note'>{esc(c.failed_note)}</p>"] if c.failed_note else []
    parts.append("<h2>Figures</h2>")
    for p in c.plots:
        data = base64.b64encode(p.path.read_bytes()).decode("ascii")
        parts.append(
            f"<figure><h3>{esc(p.title)}</h3><img src='data:image/png;base64,{data}' alt='{esc(p.title)}' "
            f"data-file='{esc(p.path.name)}'><figcaption>{esc(p.caption)}</figcaption></figure>"
        )
    parts += [f"<p class='note'>{esc(note)}</p>" for note in c.notes]
    for title, intro, table in c.sections:
        parts += [f"<h2>{esc(title)}</h2>", f"<p>{esc(intro)}</p>" if intro else "", _html_table(table)]
    parts += [f"<h2>Method</h2><p>{esc(c.method)}</p>"]
    parts += ["<details class='provenance'><summary>Provenance (config, versions, machine, git)</summary>"]
    parts.append(_html_table(pd.DataFrame(c.facts, columns=["", "value"])))
    parts += [f"<details><summary>{esc(k)}</summary><pre>{esc(text)}</pre></details>" for k, text in c.blocks.items()]
    parts.append("</details></body></html>")
    return "\n".join(parts)


def _figures(
    results: pd.DataFrame, manifest: dict[str, Any], tables: dict[str, pd.DataFrame], folder: Path, hard_cost: float
) -> tuple[list[Plot], list[str]]:
    """Every figure the run has the axes for, and a note for each kind it cannot draw."""
    acc, sgr = tables["accuracy"], tables["sgr"]
    plots = plot_accuracy(acc, folder) + plot_sgr(sgr, folder)
    notes = []
    heatmaps = plot_level_heatmap(acc, folder)
    if not heatmaps:
        notes.append("No train-level × test-level heatmap: the run has no cells tested on all levels (test_on: all).")
    if sgr.empty:
        notes.append(
            "No SGR: the run needs a supervised learner trained on both easy and hard, plus the unsupervised "
            "baseline (the learner `unsupervised`)."
        )
    sizes = model_parameters(manifest, sorted(results["model"].unique()))
    curves = {
        "cost curves (one n_train)": plot_cost_curves(acc, folder, hard_cost, run_label_costs(manifest)),
        "noise curves (one label-noise p)": plot_noise_curves(acc, folder),
        "accuracy vs model size (fewer than two models of known size)": plot_model_size(acc, folder, sizes, sgr),
    }
    missing = [name for name, drawn in curves.items() if not drawn]
    if missing:
        notes.append(f"Not drawn, the run varies no such setting: {'; '.join(missing)}.")
    items, item_notes = load_item_tables(sorted(results["dataset"].unique()))
    measures = results.groupby("dataset")["measure"].unique().map(list).to_dict()
    item_plots = plot_hardness_values(results, items, folder)
    item_plots += plot_hardness_histograms(items, measures, folder, manifest_cutoffs(manifest))
    item_plots += plot_spearman(items, folder)
    plots += heatmaps + [p for drawn in curves.values() for p in drawn] + item_plots
    return plots, notes + item_notes


def write_report(
    run_dir: str | Path,
    *,
    n_boot: int = N_BOOT,
    seed: int = 0,
    ci: str = "grid",
    pairing: str = "paired",
    hard_cost: float = HARD_LABEL_COST,
) -> ReportPaths:
    """Compute the tables, draw the figures and write ``<run_dir>/report/`` (md, html, png, csv, parquet).

    ``ci`` is the interval method (``grid``: the paper's, ``nested``, ``seed-t``); ``pairing`` how SGR's
    conditions are resampled together (``paired``, ``paper``: the paper's scheme, ``unpaired``; see
    :data:`e2h.analysis.stats.PAIRING_NAMES`); ``hard_cost`` is the cost of a hard
    label relative to an easy one in the cost curves.
    """
    check_ci(ci, pairing)
    run_dir = Path(run_dir)
    manifest, results = load_manifest(run_dir), load_results(run_dir)
    check_nested(results, ci)  # before anything is written
    folder = run_dir / "report"
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(folder)  # left by a report killed while being written
    tables = {
        "accuracy": accuracy_table(results, n_boot=n_boot, seed=seed, ci=ci),
        "sgr": sgr_table(results, n_boot=n_boot, seed=seed, ci=ci, pairing=pairing),
        "per_seed": per_seed_table(results),
        "generalization": generalization_table(results, n_boot=n_boot, seed=seed, ci=ci),
        "transfer": transfer_table(results, n_boot=n_boot, seed=seed, ci=ci),
    }
    table_paths = [path for name, table in tables.items() for path in write_table(table, folder, name)]
    plots, notes = _figures(results, manifest, tables, folder, hard_cost)
    keep = {p.path.name for p in plots} | {SCREENSHOT}
    for stale in folder.glob("*.png"):  # figures of an earlier report whose groups no longer exist
        if stale.name not in keep:
            stale.unlink()

    acc, sgr, failed = tables["accuracy"], tables["sgr"], failed_cells(manifest)
    sections = [("Accuracy", "", display.accuracy_display(acc))]
    if not sgr.empty:
        sections.append(("Supervision gap recovered: details", "", display.sgr_display(sgr)))
    if not tables["transfer"].empty:
        intro = (
            "Training on another dataset against hard training on the tested one, on the same hard test items "
            "(the paper's Figure 1: grade-3 ARC against college MMLU demonstrations, on college items)."
        )
        sections.append(("Training on another dataset", intro, display.transfer_display(tables["transfer"])))
    if not tables["per_seed"].empty:
        intro = "Each seed's accuracy on its own hard test items, and the gaps between the three conditions."
        sections.append(("Per-seed results", intro, display.per_seed_display(tables["per_seed"])))
    if not tables["generalization"].empty:
        intro = "Accuracy on the test items of the training level minus accuracy on all test items (test_on: all)."
        sections.append(("Generalization gap", intro, display.gap_display(tables["generalization"])))
    if not failed.empty:
        sections.append((f"Cells that did not finish ({len(failed)})", "", failed))
    facts, blocks = _provenance(manifest, results)
    content = _Content(
        name=str(manifest.get("name", run_dir.name)),
        description=str(manifest.get("description") or ""),
        headline_title="Supervision gap recovered" if not sgr.empty else "Accuracy on the test items",
        headline_note=display.headline_note(ci, sgr, pairing) if not sgr.empty else "",
        headline=display.headline_table(sgr, acc),
        failed_note=f"{len(failed)} cell(s) did not finish; these results leave them out (list below)."
        if len(failed)
        else "",
        plots=plots,
        notes=notes,
        sections=sections,
        method=display.method_note(ci, pairing),
        facts=facts,
        blocks=blocks,
    )
    paths = ReportPaths(folder, folder / "report.md", folder / "report.html", [p.path for p in plots], table_paths)
    for path, render in ((paths.markdown, _markdown), (paths.html, _html)):
        with atomic_path(path) as tmp:
            tmp.write_text(render(content), encoding="utf-8")
    return paths
