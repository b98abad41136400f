"""Figures that need the items' measure values: accuracy by hardness value, histograms, Spearman heatmaps.

The results store holds item ids, not measure values, so these read each dataset's item table with
:func:`e2h.data.load_dataset` by the names in the results, with ``E2H_OFFLINE`` set: a report never downloads.
A dataset that cannot load without a download, or fails to load, is skipped with a note.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from e2h.analysis import plots
from e2h.errors import E2HError
from e2h.results_format import manifest_cells

MAX_BINS = 8  # measures with more distinct values are cut into this many quantile bins
MAX_DISCRETE = 12  # histograms: at most this many distinct values get one bar each
WARNING = "e2h: warning: "  # how e2h.notices.warn starts a line


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """``E2H_OFFLINE=1`` for the block: assets that are not cached fail at once instead of downloading."""
    before = os.environ.get("E2H_OFFLINE")
    os.environ["E2H_OFFLINE"] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ["E2H_OFFLINE"]
        else:
            os.environ["E2H_OFFLINE"] = before


def _load_offline(name: str) -> tuple[pd.DataFrame, list[str]]:
    """The dataset's item table, loaded without a download, and the warnings loading it gave (for the report)."""
    from e2h.data import load_dataset

    with _offline(), contextlib.redirect_stderr(io.StringIO()) as err:
        try:
            table = load_dataset(name)
        finally:
            lines = err.getvalue().splitlines()
            for line in lines:  # anything but a warning goes on to the terminal
                if not line.startswith(WARNING):
                    print(line, file=sys.stderr)
    return table, [line.removeprefix(WARNING) for line in lines if line.startswith(WARNING)]


def load_item_tables(names: list[str]) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """The item table of each dataset that loads without a download, and notes on those that do not.

    A built-in dataset loads as the run loaded it: without its optional assets when those are not cached (ARC
    without its annotations, human measures NaN); its warnings become notes of the report.
    """
    from e2h.data import DATASETS, dataset_info

    tables, notes = {}, []
    for name in names:
        try:
            tables[name], warnings = _load_offline(name)
        except (E2HError, OSError) as exc:
            if name in DATASETS and not dataset_info(name)["cached"]:
                notes.append(f"No item-level figures for {name}: its assets are not cached (`e2h data show {name}`).")
                continue
            notes.append(
                f"No item-level figures for {plots.short_name(name)}: "
                f"its item table did not load ({str(exc).rstrip('.')})."
            )
            continue
        notes += [f"Item table of {plots.short_name(name)}, loaded without downloads: {w}" for w in warnings]
    return tables, notes


def _values(items: pd.DataFrame, measure: str) -> pd.Series:
    """The measure's values by item id; empty when the table has no such column or no values."""
    if measure not in items.columns:
        return pd.Series(dtype=float)
    return pd.to_numeric(items.set_index("id")[measure], errors="coerce").dropna()


def _bins(values: pd.Series) -> pd.Series:
    """Each value's bin, labelled by the median value in it: the value itself, or a quantile bin."""
    if values.nunique() <= MAX_BINS:
        return values
    bins = pd.qcut(values, MAX_BINS, duplicates="drop")
    return values.groupby(bins, observed=True).transform("median")


def plot_hardness_values(results: pd.DataFrame, items: Mapping[str, pd.DataFrame], out_dir: Path) -> list[plots.Plot]:
    """Accuracy by binned measure value of the test items, per model × dataset × measure (test_on=all if run).

    Each learner is shown at its largest n_train and lowest label noise; one panel per learner variant.
    """
    made = []
    for (model, dataset, measure), rows in results.groupby(["model", "dataset", "measure"], sort=True):
        values = _values(items[dataset], measure) if dataset in items else pd.Series(dtype=float)
        rows = rows[rows["item_id"].isin(values.index)]
        if rows.empty:
            continue
        test_on = "all" if (rows["test_on"] == "all").any() else rows["test_on"].iloc[0]
        rows, _ = plots.main_setting(rows[rows["test_on"] == test_on])
        rows = rows.assign(value=_bins(values).reindex(rows["item_id"]).to_numpy())
        unsup, cells = plots.learner_panels(rows.drop_duplicates("cell_id"))  # labelled per cell, not per row
        labels = dict(zip(cells["cell_id"], cells["panel"], strict=True))
        rows = rows.assign(panel=rows["cell_id"].map(labels))
        panels = list(dict.fromkeys(cells["panel"]))
        fig, axes = plots.panel_grid(len(panels))
        for ax, panel in zip(axes, panels, strict=True):
            series = rows[rows["cell_id"].isin(unsup["cell_id"]) | (rows["panel"] == panel)]
            for _, line, color, label in plots.by_supervision(series):
                means = line.groupby("value")["correct"].mean()
                ax.plot(means.index, means.to_numpy(), marker="o", color=color, label=label)
            ax.set_ylim(0, 1)
            ax.set_xlabel(f"{measure} (bin median)")
            ax.set_title(panel)
            ax.grid(alpha=0.3)
        axes[0].set_ylabel(f"accuracy on {test_on} test items")
        plots.legend_right(fig, axes)
        fig.suptitle(f"{model} · {plots.short_name(dataset)}: accuracy by {measure} value", fontsize=10, wrap=True)
        path = out_dir / f"value_{plots.slug(model, dataset, measure)}.png"
        plots.save_figure(fig, path)
        caption = (
            f"Share of correct results (items × seeds) on {test_on} test items, by the item's {measure}: one point "
            f"per value, or per quantile bin (up to {MAX_BINS}) when there are more values; no interval. "
            "Each learner at its largest n_train and lowest label noise."
        )
        made.append(
            plots.Plot(path, f"Accuracy by hardness value — {model}, {plots.short_name(dataset)}, {measure}", caption)
        )
    return made


def manifest_cutoffs(manifest: Mapping[str, Any]) -> dict[tuple[str, str], tuple[float, float]]:
    """Cutoff overrides the run used, by (dataset, measure), from the manifest's cells."""
    found: dict[tuple[str, str], tuple[float, float]] = {}
    for cell in manifest_cells(manifest):
        if cell.cutoffs:
            found.setdefault((cell.dataset, cell.measure), cell.cutoffs)
    return found


def _cutoffs(items: pd.DataFrame, measure: str, override: tuple[float, float] | None) -> tuple[float, float] | None:
    from e2h.hardness.levels import resolve_cutoffs

    try:
        cut = resolve_cutoffs(items, measure, override)
    except E2HError:
        return None
    return cut.lo, cut.hi


def plot_hardness_histograms(
    items: Mapping[str, pd.DataFrame],
    measures: Mapping[str, list[str]],
    out_dir: Path,
    cutoffs: Mapping[tuple[str, str], tuple[float, float]] | None = None,
) -> list[plots.Plot]:
    """Per dataset, a histogram of each of its run's measures over all items, with the easy/hard cutoffs."""
    made = []
    for name, table in items.items():
        present = [m for m in measures.get(name, []) if len(_values(table, m))]
        if not present:
            continue
        cols = min(3, len(present))
        fig = Figure(figsize=(3.8 * cols, 3.0 * math.ceil(len(present) / cols)), layout="constrained")
        axes = fig.subplots(math.ceil(len(present) / cols), cols, squeeze=False).ravel()
        for ax, measure in zip(axes, present, strict=False):
            values = _values(table, measure)
            if values.nunique() <= MAX_DISCRETE:
                counts = values.value_counts().sort_index()
                ax.bar(counts.index, counts.to_numpy(), width=0.8 * np.min(np.diff(counts.index), initial=1.0))
            else:
                ax.hist(values, bins=30)
            cut = _cutoffs(table, measure, (cutoffs or {}).get((name, measure)))
            if cut:
                ax.axvline(cut[0], color=plots.SUPERVISION_COLORS["Easy"], linestyle="--", label=f"easy ≤ {cut[0]:g}")
                ax.axvline(cut[1], color=plots.SUPERVISION_COLORS["Hard"], linestyle="--", label=f"hard ≥ {cut[1]:g}")
                ax.legend(fontsize=7, frameon=False)
            ax.set_title(f"{measure} ({len(values)} items)", fontsize=9)
            ax.set_ylabel("items")
        for ax in axes[len(present) :]:
            ax.set_visible(False)
        fig.suptitle(f"{plots.short_name(name)}: hardness measures", fontsize=10, wrap=True)
        path = out_dir / f"hist_{plots.slug(name)}.png"
        plots.save_figure(fig, path)
        caption = "Items per measure value (all items of the dataset with a value); dashed: the easy and hard cutoffs."
        made.append(plots.Plot(path, f"Hardness histograms — {plots.short_name(name)}", caption))
    return made


def spearman_figure(matrix: pd.DataFrame, title: str) -> Figure:
    """A heatmap of a measures × measures Spearman matrix (−1 … 1), each cell labelled; NaN cells blank."""
    n = len(matrix)
    fig = Figure(figsize=(1.0 + 0.75 * n + 2.5, 1.0 + 0.6 * n + 1.5), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(matrix.to_numpy(dtype=float), vmin=-1, vmax=1, cmap="RdBu_r")
    for (i, j), value in np.ndenumerate(matrix.to_numpy(dtype=float)):
        if np.isfinite(value):
            ax.text(
                j,
                i,
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if abs(value) > 0.6 else "black",
            )
    ax.set_xticks(range(n), matrix.columns, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), matrix.index, fontsize=8)
    fig.colorbar(image, ax=ax, shrink=0.8, label="Spearman ρ")
    fig.suptitle(title, wrap=True)
    return fig


def plot_spearman(items: Mapping[str, pd.DataFrame], out_dir: Path) -> list[plots.Plot]:
    """Per dataset with two or more measures that vary (3+ values each), the Spearman heatmap between them."""
    from e2h.data.schema import measure_columns
    from e2h.hardness.summary import spearman_matrix

    made = []
    for name, table in items.items():
        present = [m for m in measure_columns(table) if len(_values(table, m)) >= 3 and _values(table, m).nunique() > 1]
        if len(present) < 2:
            continue
        fig = spearman_figure(
            spearman_matrix(table, present), f"{plots.short_name(name)}: Spearman correlation of measures"
        )
        path = out_dir / f"spearman_{plots.slug(name)}.png"
        plots.save_figure(fig, path)
        caption = "Spearman rank correlation between measures, each pair on the items that have both."
        made.append(plots.Plot(path, f"Correlation of measures — {plots.short_name(name)}", caption))
    return made
