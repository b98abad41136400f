"""Report figures (matplotlib, no pyplot state): accuracy bars, SGR with CIs, train × test level heatmaps.

Each ``plot_*`` function takes a tidy table from :mod:`e2h.analysis.tables`, writes one PNG per
(model, dataset, ...) group into ``out_dir`` at 150 dpi, and returns the written :class:`Plot` records
(none when the run lacks what the figure needs). Curves over n_train, label noise and model size are in
:mod:`e2h.analysis.plots_curves`; figures that need the items' measure values in :mod:`e2h.analysis.plots_items`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from e2h.analysis.tables import baseline_learner, supervision_masks
from e2h.io import atomic_path

DPI = 150
SUPERVISION_COLORS = {"Unsupervised": "#999999", "Easy": "#009E73", "Medium": "#E69F00", "Hard": "#0072B2"}
OTHER_COLOR = "#CC79A7"
LEVEL_ORDER = ["none", "easy", "medium", "hard", "easy_and_hard", "all"]
VARIANT_KEYS = ["k", "n_train", "label_noise", "train_dataset"]


@dataclass(frozen=True)
class Plot:
    """One written figure: its file, a title, and a one-line caption for the report."""

    path: Path
    title: str
    caption: str


def short_name(name: object) -> str:
    """A dataset given as a path, by its file name; any other name as is."""
    return Path(str(name)).name if "/" in str(name) else str(name)


def slug(*parts: object) -> str:
    """A file-name part from ``parts`` (datasets given as paths count by their file name)."""
    parts = tuple(short_name(p) for p in parts)
    return re.sub(r"[^A-Za-z0-9._-]+", "-", "_".join(str(p) for p in parts)).strip("-")


def save_figure(fig: Figure, path: Path) -> None:
    """Write ``fig`` as a PNG at ``DPI``, atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")  # layout="constrained" leaves room for every label


def variant_label(row: pd.Series, table: pd.DataFrame, skip: tuple[str, ...] = ()) -> str:
    """A learner label with the settings that vary in ``table`` (e.g. ``icl k=4 n=16``), except those in ``skip``."""
    label = str(row["learner"])
    short = {"k": "k", "n_train": "n", "label_noise": "noise", "train_dataset": "from"}
    for key in VARIANT_KEYS:
        if key in skip or key not in table:
            continue
        if table[key].nunique(dropna=False) > 1 and not (key == "k" and row[key] == 0):
            label += f" {short[key]}={row[key]}"
    return label


def supervision(rows: pd.DataFrame) -> pd.Series:
    """Each row's supervision: "Unsupervised" (the baseline), its training level ("Easy", "Easy+hard", ...), or
    the learner's name for any other unsupervised learner."""
    baseline, supervised = supervision_masks(rows)
    level = rows["train_on"].astype(str).str.replace("_", "+").str.capitalize()
    return pd.Series(np.where(baseline, "Unsupervised", np.where(supervised, level, rows["learner"])), rows.index)


def supervision_name(level: str, rows: pd.DataFrame) -> str:
    """A legend entry for a supervision ``level`` of ``rows``: the baseline as ``Unsupervised (zero-shot-cot)``."""
    return f"Unsupervised ({baseline_learner(rows)})" if level == "Unsupervised" else level


def by_supervision(rows: pd.DataFrame) -> list[tuple[str, pd.DataFrame, str, str]]:
    """``rows`` split by supervision (Unsupervised, Easy, Medium, Hard, then others), in that order.

    Each part comes as ``(level, its rows, its colour, its legend label)``.
    """
    rows = rows.assign(supervision=supervision(rows))
    labels = set(rows["supervision"])
    order = [s for s in SUPERVISION_COLORS if s in labels] + sorted(labels - set(SUPERVISION_COLORS))
    parts = [(level, rows[rows["supervision"] == level]) for level in order]
    return [(lvl, part, SUPERVISION_COLORS.get(lvl, OTHER_COLOR), supervision_name(lvl, part)) for lvl, part in parts]


def learner_panels(
    rows: pd.DataFrame, *, others: bool = True, skip: tuple[str, ...] = ()
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the baseline's rows, the rows drawn against it with a ``panel`` column: their learner variant).

    Supervised learners are labelled by the settings that vary among them (:func:`variant_label`, except
    ``skip``); other unsupervised learners get panels of their own when ``others``. Without either, the
    baseline's rows are the panels (and the first part is empty), so no row is drawn twice.
    """
    baseline, supervised = supervision_masks(rows)
    unsup = rows[baseline]
    parts = [rows[supervised]] + ([rows[~baseline & ~supervised]] if others else [])
    parts = [part for part in parts if not part.empty]
    if not parts:
        unsup, parts = unsup.iloc[:0], [unsup]
    labelled = [part.assign(panel=[variant_label(r, part, skip) for _, r in part.iterrows()]) for part in parts]
    return unsup, pd.concat(labelled)


def main_setting(
    rows: pd.DataFrame, vary: tuple[str, ...] = (), supervised: pd.Series | None = None
) -> tuple[pd.DataFrame, bool]:
    """Supervised rows at their learner's largest n_train and smallest label noise (unless that key is in
    ``vary``), unsupervised rows all; and whether anything was left out. ``supervised``: which rows are (default:
    the accuracy table's training levels; all rows of an SGR table)."""
    if supervised is None:
        _, supervised = supervision_masks(rows)
    keep = pd.Series(True, index=rows.index)
    for key, pick in (("n_train", "max"), ("label_noise", "min")):
        if key not in vary:
            best = rows[supervised].groupby("learner")[key].transform(pick)
            keep &= ~supervised | (rows[key] == best.reindex(rows.index))
    return rows[keep], not keep.all()


def panel_grid(n: int, width: float = 4.2, height: float = 3.4, max_cols: int = 3) -> tuple[Figure, np.ndarray]:
    """A figure of ``n`` panels (sharing y) in rows of at most ``max_cols``; returns it and the ``n`` axes."""
    cols = min(n, max_cols)
    n_rows = -(-n // cols)
    fig = Figure(figsize=(width * cols + 1.8, height * n_rows + 0.6), layout="constrained")
    axes = fig.subplots(n_rows, cols, squeeze=False, sharey=True).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def legend_right(fig: Figure, axes: np.ndarray) -> None:
    """One legend for all panels, outside on the right, each label once."""
    handles = {label: h for ax in axes for h, label in zip(*ax.get_legend_handles_labels(), strict=True)}
    fig.legend(handles.values(), handles.keys(), loc="outside right center", fontsize=8, frameon=False)


def plot_accuracy(acc: pd.DataFrame, out_dir: Path) -> list[Plot]:
    """Unsupervised / Easy / Hard accuracy per measure (x), one panel per learner, CI bars, chance dashed."""
    whole = acc[acc["item_level"] == acc["test_on"]]
    plots = []
    for (model, dataset, test_on), table in whole.groupby(["model", "dataset", "test_on"], sort=True):
        unsup, variants = learner_panels(table)
        panels = list(dict.fromkeys(variants["panel"]))
        measures = sorted(table["measure"].dropna().unique())
        fig = Figure(figsize=(max(4.5, 1.6 * len(measures) + 2) * len(panels), 3.8), layout="constrained")
        axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
        for ax, panel in zip(axes, panels, strict=True):
            rows = pd.concat([unsup, variants[variants["panel"] == panel]])
            levels = by_supervision(rows)
            width = 0.8 / len(levels)
            for j, (_, sub, color, label) in enumerate(levels):
                sub = sub.set_index("measure").reindex(measures)
                x = np.arange(len(measures)) + (j - (len(levels) - 1) / 2) * width
                err = np.vstack([sub["acc"] - sub["ci_lo"], sub["ci_hi"] - sub["acc"]])
                ax.bar(x, sub["acc"], width, yerr=err, capsize=3, color=color, label=label)
            chance = rows["chance"].mean()
            ax.axhline(chance, color="black", linestyle="--", linewidth=1, label=f"chance ({chance:.2f})")
            ax.set_xticks(np.arange(len(measures)), measures, rotation=15)
            ax.set_ylim(0, 1)
            ax.set_title(panel)
            ax.grid(axis="y", alpha=0.3)
        axes[0].set_ylabel(f"accuracy on {test_on} test items")
        legend_right(fig, axes)  # centred: at the top it would run into the title
        fig.suptitle(f"{model} · {short_name(dataset)}: accuracy by training data (95% CI)", wrap=True)
        path = out_dir / f"accuracy_{slug(model, dataset, test_on)}.png"
        save_figure(fig, path)
        caption = f"Accuracy on {test_on} test items by supervision, per learner; dashed line: chance."
        plots.append(Plot(path, f"Accuracy — {model}, {short_name(dataset)}, test on {test_on}", caption))
    return plots


def plot_sgr(sgr: pd.DataFrame, out_dir: Path) -> list[Plot]:
    """SGR per learner (x: measure · learner) with 95% CIs; undefined SGR drawn as a labelled marker."""
    plots = []
    for (model, dataset, test_on), table in sgr.groupby(["model", "dataset", "test_on"], sort=True):
        table = table.reset_index(drop=True)
        labels = [f"{r.measure}\n{variant_label(r, table)}" for _, r in table.iterrows()]
        x = np.arange(len(table))
        fig = Figure(figsize=(max(5.0, 1.8 * len(table) + 2), 4.0), layout="constrained")
        ax = fig.subplots()
        ok = table["defined"].astype(bool).to_numpy()
        if ok.any():
            d = table[ok]
            err = np.vstack([d["sgr"] - d["sgr_lo"], d["sgr_hi"] - d["sgr"]])
            ax.bar(x[ok], d["sgr"], 0.6, yerr=err, capsize=4, color="#56B4E9", label="SGR (95% CI)")
            for xi, value, top in zip(x[ok], d["sgr"], d["sgr_hi"], strict=True):
                ax.annotate(
                    f"{value:.2f}", (xi, top), textcoords="offset points", xytext=(0, 3), ha="center", fontsize=8
                )
        if (~ok).any():
            ax.scatter(x[~ok], np.zeros((~ok).sum()), marker="X", s=80, color="#D55E00", label="undefined", zorder=3)
            for xi in x[~ok]:
                ax.annotate("undefined", (xi, 0), textcoords="offset points", xytext=(0, 10), ha="center", fontsize=8)
        ax.axhline(1.0, color="black", linestyle="--", linewidth=1, label="SGR = 1 (easy = hard)")
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.margins(y=0.1)
        ax.set_xticks(x, labels, fontsize=8)
        ax.set_xlim(-0.6, len(table) - 0.4)
        ax.set_ylabel("SGR = (Easy − Unsup.) / (Hard − Unsup.)", fontsize=9)
        fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=3, fontsize=8, frameon=False)
        ax.grid(axis="y", alpha=0.3)
        where = "hard test items" if test_on == "hard" else f"hard items of cells tested on {test_on}"
        fig.suptitle(f"{model} · {short_name(dataset)}: supervision gap recovered on {where}", wrap=True)
        path = out_dir / f"sgr_{slug(model, dataset, test_on)}.png"
        save_figure(fig, path)
        names = " / ".join(sorted(set(table["unsup_learner"].dropna()) - {""}))
        baseline = f"the unsupervised baseline ({names})" if names else "the unsupervised baseline"
        caption = (
            f"SGR with its 95% interval (see Method); a cross marks SGR undefined (hard does not beat {baseline})."
        )
        plots.append(Plot(path, f"SGR — {model}, {short_name(dataset)}, test on {test_on}", caption))
    return plots


def plot_level_heatmap(acc: pd.DataFrame, out_dir: Path) -> list[Plot]:
    """Accuracy by train level (rows) × test item level (columns), from cells tested on ``all``; [] if none."""
    levels = acc[(acc["test_on"] == "all") & acc["item_level"].isin(["easy", "medium", "hard"])]
    plots = []
    for (model, dataset, measure), table in levels.groupby(["model", "dataset", "measure"], sort=True):
        unsup, supervised = learner_panels(table, others=False)  # the rows are training levels
        panels = list(dict.fromkeys(supervised["panel"]))
        cols = [c for c in ["easy", "medium", "hard"] if c in set(table["item_level"])]
        train_levels = set(unsup["train_on"]) | set(supervised["train_on"])
        order = [r for r in LEVEL_ORDER if r in train_levels] + sorted(train_levels - set(LEVEL_ORDER))
        fig = Figure(figsize=(3.6 * len(panels) + 1.5, 3.4), layout="constrained")
        axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
        for ax, panel in zip(axes, panels, strict=True):
            rows = pd.concat([unsup, supervised[supervised["panel"] == panel]])
            grid = rows.pivot_table(index="train_on", columns="item_level", values="acc", aggfunc="mean")
            grid = grid.reindex(index=order, columns=cols)
            image = ax.imshow(grid.to_numpy(), vmin=0, vmax=1, cmap="viridis", aspect="auto")
            for (i, j), value in np.ndenumerate(grid.to_numpy()):
                if np.isfinite(value):
                    ax.text(j, i, f"{value:.2f}", ha="center", va="center", color="white" if value < 0.6 else "black")
            ax.set_xticks(range(len(cols)), cols)
            names = {"none": f"unsupervised ({baseline_learner(table)})"}
            ax.set_yticks(range(len(order)), [names.get(r, r) for r in order])
            ax.tick_params(axis="y", labelleft=ax is axes[0])
            ax.set_xlabel("test item level")
            ax.set_title(panel)
        axes[0].set_ylabel("train level")
        fig.colorbar(image, ax=list(axes), shrink=0.8, label="accuracy")
        chance = table["chance"].mean()
        fig.suptitle(
            f"{model} · {short_name(dataset)} · {measure}: train level × test level (chance {chance:.2f})", wrap=True
        )
        path = out_dir / f"levels_{slug(model, dataset, measure)}.png"
        save_figure(fig, path)
        caption = f"Accuracy of each training level on each test level (cells tested on all); chance {chance:.2f}."
        plots.append(Plot(path, f"Train × test level — {model}, {short_name(dataset)}, {measure}", caption))
    return plots
