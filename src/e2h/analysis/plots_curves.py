"""Accuracy curves over a setting the run varies: labelling cost (n_train), label noise, model size.

Each ``plot_*`` takes the accuracy table, draws one figure per group in which the setting takes at
least two values, and returns [] otherwise. Lines are supervision levels with 95% CI bars, one panel
per supervised learner variant; the unsupervised baseline is a dashed level when it does not vary with the setting;
chance is dotted.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from e2h.analysis.plots import (
    Plot,
    by_supervision,
    learner_panels,
    legend_right,
    main_setting,
    panel_grid,
    save_figure,
    short_name,
    slug,
    variant_label,
)
from e2h.analysis.tables import baseline_learner, supervision_masks
from e2h.hardness import train_levels
from e2h.results_format import manifest_models

#: Cost of one hard label relative to one easy label (the paper's cost curves: hard data costs twice as much).
HARD_LABEL_COST = 2.0


def label_cost(train_on: str, hard_cost: float = HARD_LABEL_COST, costs: Mapping[str, float] | None = None) -> float:
    """Cost of one training label.

    With ``costs`` (a run's ``label_cost``, e.g. ``{easy: 1, hard: 2}``): the level's cost, 1 for a level it does not
    name, the mean over the levels a mixture draws from (``all``'s true mix follows the data). Without: easy 1, hard
    ``hard_cost``, any other level or mixture halfway between.
    """
    if costs is None:
        return {"easy": 1.0, "hard": hard_cost}.get(str(train_on), (1.0 + hard_cost) / 2)
    return float(np.mean([costs.get(level, 1.0) for level in train_levels(str(train_on))]))


def run_label_costs(manifest: Mapping[str, Any]) -> dict[str, float] | None:
    """The ``label_cost`` a run's config set (its manifest records the config), or None where it set none."""
    costs = (manifest.get("config") or {}).get("label_cost")
    return {str(level): float(cost) for level, cost in costs.items()} if costs else None


def model_parameters(manifest: Mapping[str, Any], models: list[str]) -> dict[str, float]:
    """Parameter count of each model, as the run measured it when it loaded the model (the manifest's model facts).

    Models without a recorded count (a run of an older e2h) are left out.
    """
    facts = manifest_models(manifest)
    return {m: float(facts[m].parameters) for m in models if m in facts and facts[m].parameters}


def _human(value: float) -> str:
    """135000000 → 135M, 1.5e9 → 1.5B, 35168 → 35.2k; small numbers as they are."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:g}"


HELD = " Each learner at its largest n_train and lowest label noise of the run."


def _curve_plot(
    rows: pd.DataFrame,
    x: str,
    xlabel: str,
    vary: tuple[str, ...],
    log_x: bool = False,
    sgr: pd.DataFrame | None = None,
) -> tuple[Figure, Any, str]:
    """Accuracy against column ``x`` of ``rows`` (one test set): a line per supervision, a panel per variant.

    Settings other than ``vary`` are held at their main value (:func:`main_setting`); returns the figure,
    its accuracy axes and a caption sentence saying so ("" when nothing was held). With ``sgr`` (the SGR table's
    rows of the same test set, with column ``x``), a second row of panels draws each variant's SGR against ``x``.
    """
    rows, held = main_setting(rows, vary)
    unsup, supervised = learner_panels(rows, others=False, skip=vary)
    panels = list(dict.fromkeys(supervised["panel"]))
    ticks = np.sort(pd.concat([unsup, supervised])[x].unique())  # the x of what is drawn
    if log_x:
        ticks = ticks[ticks > 0]
    if sgr is None:
        fig, axes = panel_grid(len(panels))
    else:
        fig = Figure(figsize=(4.2 * len(panels) + 1.8, 6.6), layout="constrained")
        axes, sgr_axes = fig.subplots(2, len(panels), squeeze=False, sharex="col", sharey="row")
        sgr = sgr.assign(panel=[variant_label(r, sgr, skip=vary) for _, r in sgr.iterrows()])
        for ax, panel in zip(sgr_axes, panels, strict=True):
            _sgr_panel(ax, sgr[sgr["panel"] == panel].sort_values(x), x)
        sgr_axes[0].set_ylabel("SGR (95% CI)")
    for ax, panel in zip(axes, panels, strict=True):
        for level, line, color, label in by_supervision(pd.concat([unsup, supervised[supervised["panel"] == panel]])):
            line = line.sort_values(x)
            if level == "Unsupervised" and line[x].nunique() == 1:
                ax.axhline(line["acc"].mean(), color=color, linestyle="--", label=label)
                continue
            err = np.vstack([line["acc"] - line["ci_lo"], line["ci_hi"] - line["acc"]])
            ax.errorbar(line[x], line["acc"], yerr=err, marker="o", capsize=3, color=color, label=label)
        ax.axhline(rows["chance"].mean(), color="black", linestyle=":", linewidth=1, label="chance")
        if log_x:
            ax.set_xscale("log")
        ax.set_xticks(ticks, [_human(t) for t in ticks], rotation=45 if len(ticks) > 6 else 0)
        ax.set_xticks([], minor=True)
        ax.set_ylim(0, 1)
        ax.set_title(panel)
        ax.grid(alpha=0.3)
    for ax in axes if sgr is None else sgr_axes:
        ax.set_xlabel(xlabel)
    legend_right(fig, axes if sgr is None else [*axes, *sgr_axes])
    return fig, axes, HELD if held else ""


def _sgr_panel(ax: Any, rows: pd.DataFrame, x: str) -> None:
    """SGR with its 95% CI against ``x``; an undefined SGR is a labelled cross at 0."""
    ok = rows["defined"].astype(bool)
    if ok.any():
        d = rows[ok]
        err = np.vstack([d["sgr"] - d["sgr_lo"], d["sgr_hi"] - d["sgr"]])
        ax.errorbar(d[x], d["sgr"], yerr=err, marker="o", capsize=3, color="#56B4E9", label="SGR (95% CI)")
    for value in rows.loc[~ok, x]:
        ax.scatter([value], [0], marker="X", s=70, color="#D55E00", label="SGR undefined", zorder=3)
        ax.annotate("undefined", (value, 0), textcoords="offset points", xytext=(0, 8), ha="center", fontsize=8)
    ax.axhline(1.0, color="black", linestyle="--", linewidth=1, label="SGR = 1 (easy = hard)")
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.grid(alpha=0.3)


def _whole(acc: pd.DataFrame) -> pd.DataFrame:
    return acc[acc["item_level"] == acc["test_on"]]


def _varies(rows: pd.DataFrame, key: str) -> bool:
    """Whether the supervised rows take two or more values of ``key``."""
    _, supervised = supervision_masks(rows)
    return rows.loc[supervised, key].nunique() > 1


def _dashed(rows: pd.DataFrame) -> str:
    """The caption's note on the dashed level: the unsupervised baseline, named; "" without one."""
    name = baseline_learner(rows)
    return f" Dashed: the unsupervised baseline ({name})." if name else ""


def plot_cost_curves(
    acc: pd.DataFrame, out_dir: Path, hard_cost: float = HARD_LABEL_COST, costs: Mapping[str, float] | None = None
) -> list[Plot]:
    """Accuracy against labelling cost (n_train × label cost) for groups with several n_train.

    ``costs``: the run's ``label_cost`` per level (:func:`run_label_costs`); None: easy 1, hard ``hard_cost``.
    """

    def cost(rows: pd.DataFrame) -> list[float]:
        return [n * label_cost(t, hard_cost, costs) for n, t in zip(rows.n_train, rows.train_on, strict=True)]

    if costs is None:
        axis = f"easy label = 1, hard = {hard_cost:g}"
        rule = f"n_train × {hard_cost:g} for hard items, × 1 for easy ones (other levels halfway)."
    else:
        axis = ", ".join(f"{level} = {value:g}" for level, value in costs.items())
        rule = f"n_train × the label cost of the level trained on ({axis}; unnamed levels 1, mixtures the mean)."
    return _setting_curves(
        acc,
        out_dir,
        ("cost", "n_train", cost),
        f"labelling cost ({axis})",
        "by labelling cost",
        f"the cost of the training labels: {rule}",
        log_x=True,
    )


def plot_noise_curves(acc: pd.DataFrame, out_dir: Path) -> list[Plot]:
    """Accuracy against the label-noise probability p for groups with several noise levels."""
    return _setting_curves(
        acc,
        out_dir,
        ("noise", "label_noise", None),
        "label noise p",
        "under label noise",
        "the probability p that a training label is wrong (hard items' p may be multiplied, see the config).",
    )


def _setting_curves(
    acc: pd.DataFrame,
    out_dir: Path,
    setting: tuple[str, str, Any],
    xlabel: str,
    title: str,
    caption: str,
    log_x: bool = False,
) -> list[Plot]:
    """One curve figure per group whose supervised cells vary ``setting = (kind, column, x values or None)``."""
    kind, column, x_values = setting
    x = kind if x_values else column
    plots = []
    for (model, dataset, measure, test_on), rows in _whole(acc).groupby(["model", "dataset", "measure", "test_on"]):
        if not _varies(rows, column):
            continue
        rows = rows.assign(**{x: x_values(rows)}) if x_values else rows
        fig, axes, held = _curve_plot(rows, x, xlabel, (column,), log_x=log_x)
        axes[0].set_ylabel(f"accuracy on {test_on} test items")
        fig.suptitle(f"{model} · {short_name(dataset)} · {measure}: accuracy {title} (95% CI)", fontsize=10, wrap=True)
        path = out_dir / f"{kind}_{slug(model, dataset, measure, test_on)}.png"
        save_figure(fig, path)
        text = f"Accuracy on {test_on} test items against {caption}" + _dashed(rows) + held
        plots.append(Plot(path, f"{kind.capitalize()} curves — {model}, {short_name(dataset)}, {measure}", text))
    return plots


def plot_model_size(
    acc: pd.DataFrame, out_dir: Path, sizes: Mapping[str, float], sgr: pd.DataFrame | None = None
) -> list[Plot]:
    """Accuracy against model parameters (log scale) for groups tested with two or more sized models.

    With ``sgr`` (the run's SGR table), groups that have SGR rows get a second row of panels: SGR against size.
    """
    whole = _whole(acc)
    whole = whole[whole["model"].isin(list(sizes))].assign(params=lambda d: d["model"].map(sizes))
    plots = []
    for (dataset, measure, test_on), rows in whole.groupby(["dataset", "measure", "test_on"]):
        if rows["model"].nunique() < 2:
            continue
        gaps = _size_sgr(sgr, sizes, dataset, measure, test_on)
        fig, axes, held = _curve_plot(rows, "params", "model parameters", (), log_x=True, sgr=gaps)
        axes[0].set_ylabel(f"accuracy on {test_on} test items")
        what = "accuracy" if gaps is None else "accuracy and SGR"
        fig.suptitle(f"{short_name(dataset)} · {measure}: {what} by model size (95% CI)", fontsize=10, wrap=True)
        path = out_dir / f"size_{slug(dataset, measure, test_on)}.png"
        save_figure(fig, path)
        models = ", ".join(f"{m} {_human(sizes[m])}" for m in sorted(rows["model"].unique(), key=sizes.get))
        caption = f"Accuracy on {test_on} test items by model ({models} parameters).{held}"
        if gaps is not None:
            caption += " Below: SGR = (Easy − Unsup.) / (Hard − Unsup.); a cross where it is undefined."
        plots.append(Plot(path, f"Accuracy by model size — {short_name(dataset)}, {measure}", caption))
    return plots


def _size_sgr(
    sgr: pd.DataFrame | None, sizes: Mapping[str, float], dataset: str, measure: str, test_on: str
) -> pd.DataFrame | None:
    """The SGR rows of one test set for the sized models, each learner at its main setting, with ``params``;
    None without any."""
    if sgr is None or sgr.empty:
        return None
    rows = sgr[
        (sgr["dataset"] == dataset)
        & (sgr["measure"] == measure)
        & (sgr["test_on"] == test_on)
        & sgr["model"].isin(list(sizes))
    ]
    rows, _ = main_setting(rows, supervised=pd.Series(True, index=rows.index))
    return rows.assign(params=rows["model"].map(sizes)) if not rows.empty else None
