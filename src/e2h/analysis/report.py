"""The run report: ``runs/<name>/report/`` with report.md, a self-contained report.html, PNGs and tables.

``write_report(run_dir)`` reads only the results store, computes the accuracy and SGR tables,
draws the figures and writes everything atomically. ``summary_table(results)`` is the short
terminal summary (a rich Table) printed by ``e2h run`` and ``e2h report``.

Both renderings put results first: the headline table (SGR per supervised learner with CIs, or the
accuracies when the run has no easy/hard pair), each row with a one-sentence reading; then the
figures; then the full tables, the method, and last the provenance (collapsed in HTML).
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

from e2h.analysis.plots import Plot, plot_accuracy, plot_level_heatmap, plot_sgr
from e2h.analysis.results import load_manifest, load_results
from e2h.analysis.stats import N_BOOT
from e2h.analysis.tables import accuracy_table, sgr_table, write_table
from e2h.io import atomic_path, remove_stale_temps

SCREENSHOT = "screenshot.png"
HEADLINE_NOTE = (
    "Accuracy [95% CI] on the hard test items of each measure without training (Unsupervised = zero-shot), "
    "trained on easy items and trained on hard items; SGR = (Easy − Unsupervised) / (Hard − Unsupervised)."
)
METHOD_NOTE = (
    "Accuracies are means over the item × seed grid of each cell group (each seed has its own test pool). "
    "95% CIs come from a bootstrap that resamples items and seeds with replacement (Hase et al., 2024). "
    "SGR = (Easy − Unsupervised) / (Hard − Unsupervised) on identical hard test items, with a paired bootstrap "
    "(the same items and seeds in every draw); p is one-sided for Easy − Unsupervised ≤ 0. SGR is undefined when "
    "the CI of Hard − Unsupervised does not lie above 0. Chance = mean of 1 / n_choices (0 for generative items)."
)


@dataclass
class ReportPaths:
    """Everything ``write_report`` wrote."""

    folder: Path
    markdown: Path
    html: Path
    plots: list[Path] = field(default_factory=list)
    tables: list[Path] = field(default_factory=list)


def _ci(acc: float, lo: float, hi: float) -> str:
    return "—" if pd.isna(acc) else f"{acc:.3f} [{lo:.3f}, {hi:.3f}]"


def _learner(row: pd.Series) -> str:
    label = str(row["learner"])
    if row.get("k", 0):
        label += f" k={row['k']}"
    if row["learner"] != "zero-shot":
        label += f" n={row['n_train']}"
    if row.get("label_noise", 0):
        label += f" noise={row['label_noise']}"
    if row.get("train_dataset", row["dataset"]) != row["dataset"]:
        label += f" from {row['train_dataset']}"
    return label


def _sgr_columns(r: pd.Series) -> dict[str, str]:
    """What the headline and the SGR details show of one SGR row: the group and its three accuracies."""
    return {
        "model": r.model,
        "dataset": r.dataset,
        "measure": r.measure,
        "learner": _learner(r),
        "test on": r.test_on,
        "Unsupervised": _ci(r.unsup_acc, r.unsup_lo, r.unsup_hi),
        "Easy": _ci(r.easy_acc, r.easy_lo, r.easy_hi),
        "Hard": _ci(r.hard_acc, r.hard_lo, r.hard_hi),
    }


def _sgr_value(r: pd.Series) -> str:
    return f"{r.sgr:.2f} [{r.sgr_lo:.2f}, {r.sgr_hi:.2f}]" if r.defined else "undefined"


def sgr_display(sgr: pd.DataFrame) -> pd.DataFrame:
    """The SGR table as strings, one row per supervised learner."""
    rows = [
        {
            **_sgr_columns(r),
            "chance": f"{r.chance:.3f}",
            "SGR [95% CI]": _sgr_value(r) if r.defined else f"undefined: {r.reason}",
            "p (easy ≤ unsup.)": "—" if pd.isna(r.p_value) else f"{r.p_value:.4f}",
            "items × seeds": "—" if pd.isna(r.n_items) else f"{int(r.n_items)} × {int(r.n_seeds)}",
        }
        for _, r in sgr.iterrows()
    ]
    return pd.DataFrame(rows)


def _pct(value: float) -> str:
    return "?" if pd.isna(value) else f"{100 * value:.0f}"


def sgr_reading(row: pd.Series) -> str:
    """One plain sentence for one SGR row."""
    if not row["defined"]:
        return f"No SGR: {str(row['reason']).rstrip('.')}."
    sentence = (
        f"Training on easy items recovers {_pct(row['sgr'])}% [{_pct(row['sgr_lo'])}, {_pct(row['sgr_hi'])}] "
        "of the gain of training on hard items"
    )
    if pd.isna(row["p_value"]):
        return sentence + "."
    beats = "beats" if row["p_value"] < 0.05 else "is not clearly better than"
    return f"{sentence}; easy training {beats} zero-shot (p = {row['p_value']:.3f})."


def accuracy_reading(row: pd.Series) -> str:
    """One plain sentence for one accuracy row (a cell group over its whole test set)."""
    trained = "without training" if row["learner"] == "zero-shot" else f"trained on {row['train_on']} items"
    return (
        f"{row['learner'].capitalize()} {trained} answers {_pct(row['acc'])}% [{_pct(row['ci_lo'])}, "
        f"{_pct(row['ci_hi'])}] of {row['test_on']} test items correctly (chance {_pct(row['chance'])}%)."
    )


def headline_table(sgr: pd.DataFrame, acc: pd.DataFrame) -> pd.DataFrame:
    """The report's first table, as strings: SGR per supervised learner, or (without any) the accuracies."""
    if not sgr.empty:
        return pd.DataFrame(
            [{**_sgr_columns(r), "SGR [95% CI]": _sgr_value(r), "reading": sgr_reading(r)} for _, r in sgr.iterrows()]
        )
    whole = acc[acc["item_level"] == acc["test_on"]]
    rows = [
        {
            "model": r.model,
            "dataset": r.dataset,
            "measure": "—" if pd.isna(r.measure) else r.measure,
            "learner": _learner(r),
            "train → test": f"{r.train_on} → {r.test_on}",
            "accuracy [95% CI]": _ci(r.acc, r.ci_lo, r.ci_hi),
            "chance": f"{r.chance:.3f}",
            "reading": accuracy_reading(r),
        }
        for _, r in whole.iterrows()
    ]
    return pd.DataFrame(rows)


def accuracy_display(acc: pd.DataFrame) -> pd.DataFrame:
    """The accuracy table as strings; the chance rate sits next to every accuracy."""
    return pd.DataFrame(
        {
            "model": acc["model"],
            "dataset": acc["dataset"],
            "measure": acc["measure"].fillna("—"),
            "learner": acc.apply(_learner, axis=1),
            "train on": acc["train_on"],
            "test on": acc["test_on"],
            "item level": acc["item_level"].fillna("—"),
            "accuracy [95% CI]": [_ci(a, lo, hi) for a, lo, hi in zip(acc.acc, acc.ci_lo, acc.ci_hi, strict=True)],
            "chance": acc["chance"].map("{:.3f}".format),
            "items × seeds": [f"{i} × {s}" for i, s in zip(acc.n_items, acc.n_seeds, strict=True)],
        }
    )


def summary_table(
    results: pd.DataFrame | None = None,
    *,
    sgr: pd.DataFrame | None = None,
    acc: pd.DataFrame | None = None,
    n_boot: int = N_BOOT,
) -> Table:
    """A compact terminal summary: SGR per supervised learner, or accuracies when no easy/hard pair exists.

    Pass ``results`` (tables are computed) or the precomputed ``sgr`` / ``acc`` tables.
    """
    if sgr is None:
        sgr = sgr_table(results, n_boot=n_boot)
    if not sgr.empty:
        table = Table(title="Supervision gap recovered (accuracy on hard test items; SGR with 95% CI)")
        for column in ("model", "dataset", "measure", "learner"):
            table.add_column(column, overflow="fold")
        for column in ("test", "unsup.", "easy", "hard", "chance", "SGR"):
            table.add_column(column, no_wrap=True)
        for _, r in sgr.iterrows():
            accs = ["—" if pd.isna(a) else f"{a:.2f}" for a in (r.unsup_acc, r.easy_acc, r.hard_acc, r.chance)]
            table.add_row(r.model, r.dataset, r.measure, _learner(r), r.test_on, *accs, _sgr_value(r))
        return table
    if acc is None:
        acc = accuracy_table(results, n_boot=n_boot)
    table = Table(title="Accuracy (95% CI)")
    for column in ("model", "dataset", "measure", "learner", "train → test", "accuracy", "chance"):
        table.add_column(column, overflow="fold")
    for _, r in acc[acc["item_level"] == acc["test_on"]].iterrows():
        row = [r.model, r.dataset, str(r.measure), _learner(r), f"{r.train_on} → {r.test_on}"]
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


def _md_table(frame: pd.DataFrame) -> str:
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
    plots: list[Plot]
    notes: list[str]
    accuracy: pd.DataFrame
    sgr: pd.DataFrame
    failed: pd.DataFrame
    facts: list[tuple[str, str]]
    blocks: dict[str, str]


def _failed_note(c: _Content) -> str:
    return f"{len(c.failed)} cell(s) did not finish; these results leave them out (list below)."


def _markdown(c: _Content) -> str:
    parts = [f"# e2h report — {c.name}\n\n"]
    parts += [f"{c.description}\n\n"] if c.description else []
    parts += [f"## {c.headline_title}\n\n", f"{c.headline_note}\n\n" if c.headline_note else ""]
    parts.append(_md_table(c.headline))
    parts += [f"\n> {_failed_note(c)}\n"] if not c.failed.empty else []
    parts += ["\n## Figures\n"]
    parts += [f"\n### {p.title}\n\n![{p.title}]({p.path.name})\n\n{p.caption}\n" for p in c.plots]
    parts += [f"\n> {note}\n" for note in c.notes]
    parts += ["\n## Accuracy\n\n", _md_table(c.accuracy)]
    if not c.sgr.empty:
        parts += ["\n## Supervision gap recovered: details\n\n", _md_table(c.sgr)]
    if not c.failed.empty:
        parts += [f"\n## Cells that did not finish ({len(c.failed)})\n\n", _md_table(c.failed)]
    parts += [f"\n## Method\n\n{METHOD_NOTE}\n", "\n## Provenance\n\n"]
    parts.append(_md_table(pd.DataFrame(c.facts, columns=["", "value"])))
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
    parts += [f"<p class='note'>{esc(_failed_note(c))}</p>"] if not c.failed.empty else []
    parts.append("<h2>Figures</h2>")
    for p in c.plots:
        data = base64.b64encode(p.path.read_bytes()).decode("ascii")
        parts.append(
            f"<figure><h3>{esc(p.title)}</h3><img src='data:image/png;base64,{data}' alt='{esc(p.title)}' "
            f"data-file='{esc(p.path.name)}'><figcaption>{esc(p.caption)}</figcaption></figure>"
        )
    parts += [f"<p class='note'>{esc(note)}</p>" for note in c.notes]
    parts += ["<h2>Accuracy</h2>", _html_table(c.accuracy)]
    if not c.sgr.empty:
        parts += ["<h2>Supervision gap recovered: details</h2>", _html_table(c.sgr)]
    if not c.failed.empty:
        parts += [f"<h2>Cells that did not finish ({len(c.failed)})</h2>", _html_table(c.failed)]
    parts += [f"<h2>Method</h2><p>{esc(METHOD_NOTE)}</p>"]
    parts += ["<details class='provenance'><summary>Provenance (config, versions, machine, git)</summary>"]
    parts.append(_html_table(pd.DataFrame(c.facts, columns=["", "value"])))
    parts += [f"<details><summary>{esc(k)}</summary><pre>{esc(text)}</pre></details>" for k, text in c.blocks.items()]
    parts.append("</details></body></html>")
    return "\n".join(parts)


def write_report(run_dir: str | Path, *, n_boot: int = N_BOOT, seed: int = 0) -> ReportPaths:
    """Compute the tables, draw the figures and write ``<run_dir>/report/`` (md, html, png, csv, parquet)."""
    run_dir = Path(run_dir)
    manifest, results = load_manifest(run_dir), load_results(run_dir)
    folder = run_dir / "report"
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(folder)  # left by a report killed while being written
    acc = accuracy_table(results, n_boot=n_boot, seed=seed)
    sgr = sgr_table(results, n_boot=n_boot, seed=seed)
    tables = [*write_table(acc, folder, "accuracy"), *write_table(sgr, folder, "sgr")]

    plots = plot_accuracy(acc, folder) + plot_sgr(sgr, folder)
    notes = []
    heatmaps = plot_level_heatmap(acc, folder)
    if not heatmaps:
        notes.append("No train-level × test-level heatmap: the run has no cells tested on all levels (test_on: all).")
    if sgr.empty:
        notes.append("No SGR: the run needs a supervised learner trained on both easy and hard, plus zero-shot.")
    plots += heatmaps
    keep = {p.path.name for p in plots} | {SCREENSHOT}
    for stale in folder.glob("*.png"):  # figures of an earlier report whose groups no longer exist
        if stale.name not in keep:
            stale.unlink()

    facts, blocks = _provenance(manifest, results)
    content = _Content(
        name=str(manifest.get("name", run_dir.name)),
        description=str(manifest.get("description") or ""),
        headline_title="Supervision gap recovered" if not sgr.empty else "Accuracy on the test items",
        headline_note=HEADLINE_NOTE if not sgr.empty else "",
        headline=headline_table(sgr, acc),
        plots=plots,
        notes=notes,
        accuracy=accuracy_display(acc),
        sgr=sgr_display(sgr),
        failed=failed_cells(manifest),
        facts=facts,
        blocks=blocks,
    )
    paths = ReportPaths(folder, folder / "report.md", folder / "report.html", [p.path for p in plots], tables)
    for path, render in ((paths.markdown, _markdown), (paths.html, _html)):
        with atomic_path(path) as tmp:
            tmp.write_text(render(content), encoding="utf-8")
    return paths
