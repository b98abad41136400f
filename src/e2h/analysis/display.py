"""The report's tables as strings: each numeric table from :mod:`e2h.analysis.tables` → what a reader sees.

Every table here is a DataFrame of strings, rendered alike to Markdown and HTML by :mod:`e2h.analysis.report`.
Intervals are written ``value [lo, hi]``; counts say what they count ("600 results (522 distinct items × 3 seeds)").
"""

from __future__ import annotations

import pandas as pd

from e2h.analysis.plots import short_name
from e2h.analysis.stats import CI_NAMES, FEW_SEEDS, PAIRING_NAMES


def ci_text(acc: float, lo: float, hi: float, digits: int = 3) -> str:
    """``value [lo, hi]``; "—" without a value, ``value [no interval]`` without bounds (seed-t with one seed)."""
    if pd.isna(acc):
        return "—"
    return f"{acc:.{digits}f} [no interval]" if pd.isna(lo) else f"{acc:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _p(p: float) -> str:
    return "—" if pd.isna(p) else f"{p:.4f}"


def counts_text(n_results: float, n_items: float, n_seeds: float) -> str:
    """What an estimate rests on: observed item × seed results, distinct items and seeds."""
    if pd.isna(n_results):
        return "—"
    return f"{int(n_results)} results ({int(n_items)} distinct items × {int(n_seeds)} seeds)"


def learner_label(row: pd.Series) -> str:
    """The learner with its settings (``icl k=4 n=16``); the unsupervised baseline marked ``(baseline)``."""
    label = str(row["learner"])
    if row.get("k", 0):
        label += f" k={row['k']}"
    if row.get("n_train", 0):
        label += f" n={row['n_train']}"
    if row.get("label_noise", 0):
        label += f" noise={row['label_noise']}"
    if row.get("train_dataset", row["dataset"]) != row["dataset"]:
        label += f" from {short_name(row['train_dataset'])}"
    if row.get("baseline", False):
        label += " (baseline)"
    return label


def sgr_columns(r: pd.Series) -> dict[str, str]:
    """What the headline and the SGR details show of one SGR row: the group and its three accuracies."""
    return {
        "model": r.model,
        "dataset": short_name(r.dataset),
        "measure": r.measure,
        "learner": learner_label(r),
        "test on": r.test_on,
        "Unsupervised": ci_text(r.unsup_acc, r.unsup_lo, r.unsup_hi),
        "Easy": ci_text(r.easy_acc, r.easy_lo, r.easy_hi),
        "Hard": ci_text(r.hard_acc, r.hard_lo, r.hard_hi),
    }


def sgr_value(r: pd.Series) -> str:
    return f"{r.sgr:.2f} [{r.sgr_lo:.2f}, {r.sgr_hi:.2f}]" if r.defined else "undefined"


def _diff(r: pd.Series, name: str) -> str:
    value = r[f"{name}_diff"]
    return "—" if pd.isna(value) else f"{ci_text(value, r[f'{name}_lo'], r[f'{name}_hi'])}, p = {_p(r[f'{name}_p'])}"


def sgr_display(sgr: pd.DataFrame) -> pd.DataFrame:
    """The SGR table as strings, one row per supervised learner, with the paired differences.

    With 2 or 3 seeds a column gives Easy − Hard's t-interval over seeds beside the bootstrap's (it under-covers
    there); a column says which seeds a group leaves out, when one does.
    """
    rows = []
    for _, r in sgr.iterrows():
        row = {
            **sgr_columns(r),
            "chance": f"{r.chance:.3f}",
            "SGR [95% CI]": sgr_value(r) if r.defined else f"undefined: {r.reason}",
            "Easy − Unsup. [95% CI], two-sided p": _diff(r, "easy_unsup"),
            "Easy − Hard [95% CI], two-sided p": _diff(r, "easy_hard"),
        }
        if sgr["easy_hard_seed_t_lo"].notna().any():
            t = (r.easy_hard_diff, r.easy_hard_seed_t_lo, r.easy_hard_seed_t_hi)
            cell = f"{ci_text(*t)}, p = {_p(r.easy_hard_seed_t_p)}" if pd.notna(r.easy_hard_seed_t_lo) else "—"
            if t[1] == t[2]:  # every seed gives the same difference: a t-interval has no spread to stand on
                cell = f"{r.easy_hard_diff:.3f} in every seed: no spread to base an interval on"
            row["Easy − Hard, t-interval over seeds, two-sided p"] = cell
        row["items × seeds"] = counts_text(r.n_results, r.n_items, r.n_seeds)
        if sgr["note"].fillna("").astype(bool).any():
            row["seeds left out"] = r.note or "—"
        rows.append(row)
    return pd.DataFrame(rows)


def transfer_display(transfer: pd.DataFrame) -> pd.DataFrame:
    """Cross-dataset training against the tested dataset's hard training, as strings (one row per condition)."""
    rows = []
    for _, r in transfer.iterrows():
        rows.append(
            {
                "model": r.model,
                "dataset": short_name(r.dataset),
                "measure": r.measure,
                "learner": learner_label(r),
                "trained on": f"{short_name(r.source)}, {r.train_on}",
                "accuracy": f"{r.acc:.3f}",
                f"trained on {short_name(r.dataset)}, hard": f"{r.hard_acc:.3f}",
                "difference [95% CI], two-sided p": f"{ci_text(r['diff'], r.diff_lo, r.diff_hi)}, p = {_p(r.diff_p)}",
                "items × seeds": counts_text(r.n_results, r.n_items, r.n_seeds),
            }
        )
    return pd.DataFrame(rows)


def _pct(value: float) -> str:
    return "?" if pd.isna(value) else f"{100 * value:.0f}"


def sgr_reading(row: pd.Series) -> str:
    """One plain sentence for one SGR row (its two-sided p for Easy − Unsupervised, as in the details)."""
    left_out = f" Left out: {row['note']}." if row.get("note") else ""
    if not row["defined"]:
        return f"No SGR: {str(row['reason']).rstrip('.')}.{left_out}"
    sentence = (
        f"Training on easy items recovers {_pct(row['sgr'])}% [{_pct(row['sgr_lo'])}, {_pct(row['sgr_hi'])}] "
        "of the gain of training on hard items"
    )
    p = row["easy_unsup_p"]
    if pd.isna(p):
        return f"{sentence}.{left_out}"
    if p >= 0.05:
        verdict = "is not clearly different from"
    else:
        verdict = "beats" if row["easy_unsup_diff"] > 0 else "is worse than"
    diff = f"Easy − Unsup. {row['easy_unsup_diff']:+.3f}, two-sided p = {p:.3f}"
    return f"{sentence}; easy training {verdict} {row['unsup_learner']} ({diff}).{left_out}"


def accuracy_reading(row: pd.Series) -> str:
    """One plain sentence for one accuracy row (a cell group over its whole test set)."""
    trained = f"trained on {row['train_on']} items" if row["n_train"] else "without training"
    return (
        f"{row['learner'].capitalize()} {trained} answers {_pct(row['acc'])}% [{_pct(row['ci_lo'])}, "
        f"{_pct(row['ci_hi'])}] of {row['test_on']} test items correctly (chance {_pct(row['chance'])}%)."
    )


def headline_table(sgr: pd.DataFrame, acc: pd.DataFrame) -> pd.DataFrame:
    """The report's first table, as strings: SGR per supervised learner, or (without any) the accuracies."""
    if not sgr.empty:
        return pd.DataFrame(
            [{**sgr_columns(r), "SGR [95% CI]": sgr_value(r), "reading": sgr_reading(r)} for _, r in sgr.iterrows()]
        )
    whole = acc[acc["item_level"] == acc["test_on"]]
    rows = [
        {
            "model": r.model,
            "dataset": short_name(r.dataset),
            "measure": "—" if pd.isna(r.measure) else r.measure,
            "learner": learner_label(r),
            "train → test": f"{r.train_on} → {r.test_on}",
            "accuracy [95% CI]": ci_text(r.acc, r.ci_lo, r.ci_hi),
            "chance": f"{r.chance:.3f}",
            "reading": accuracy_reading(r),
        }
        for _, r in whole.iterrows()
    ]
    return pd.DataFrame(rows)


def runs_summary(sgr_by_run: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per SGR group of several runs' SGR tables (``{run name: sgr table}``), as a results page leads
    with them: accuracies on the hard test items, SGR or why it is undefined, Easy − Hard and what they rest on."""
    rows = [
        {
            "run": run,
            "model": r.model,
            "dataset": short_name(r.dataset),
            "measure": r.measure,
            "learner": learner_label(r),
            "Unsup.": f"{r.unsup_acc:.3f}",
            "Easy": f"{r.easy_acc:.3f}",
            "Hard": f"{r.hard_acc:.3f}",
            "SGR [95% CI]": sgr_value(r) if r.defined else f"undefined: {r.reason}",
            "Easy − Hard [95% CI]": ci_text(r.easy_hard_diff, r.easy_hard_lo, r.easy_hard_hi),
            "hard items × seeds": f"{int(r.n_items)} × {int(r.n_seeds)}",
        }
        for run, sgr in sgr_by_run.items()
        for _, r in sgr.iterrows()
    ]
    return pd.DataFrame(rows)


def accuracy_display(acc: pd.DataFrame) -> pd.DataFrame:
    """The accuracy table as strings; the chance rate sits next to every accuracy."""
    return pd.DataFrame(
        {
            "model": acc["model"],
            "dataset": acc["dataset"].map(short_name),
            "measure": acc["measure"].fillna("—"),
            "learner": acc.apply(learner_label, axis=1),
            "train on": acc["train_on"],
            "test on": acc["test_on"],
            "item level": acc["item_level"].fillna("—"),
            "accuracy [95% CI]": [ci_text(a, lo, hi) for a, lo, hi in zip(acc.acc, acc.ci_lo, acc.ci_hi, strict=True)],
            "chance": acc["chance"].map("{:.3f}".format),
            "items × seeds": [counts_text(*c) for c in zip(acc.n_results, acc.n_items, acc.n_seeds, strict=True)],
        }
    )


def per_seed_display(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Each seed's accuracies on its hard test items and the gaps, as strings."""
    numbers = ["unsup", "easy", "hard", "easy_minus_unsup", "hard_minus_unsup", "easy_minus_hard"]
    names = ["Unsupervised", "Easy", "Hard", "Easy − Unsup.", "Hard − Unsup.", "Easy − Hard"]
    rows = [
        {
            "model": r.model,
            "dataset": short_name(r.dataset),
            "measure": r.measure,
            "learner": learner_label(r),
            "test on": r.test_on,
            "seed": str(r.seed),
            "hard test items": str(r.n_items),
            **{
                name: "—" if pd.isna(r[c]) else f"{r[c]:+.3f}" if "minus" in c else f"{r[c]:.3f}"
                for c, name in zip(numbers, names, strict=True)
            },
        }
        for _, r in per_seed.iterrows()
    ]
    return pd.DataFrame(rows)


def gap_display(gaps: pd.DataFrame) -> pd.DataFrame:
    """The generalization gaps as strings."""
    rows = [
        {
            "model": r.model,
            "dataset": short_name(r.dataset),
            "measure": r.measure,
            "learner": learner_label(r),
            "train on": r.train_on,
            "accuracy on train level": f"{r.acc_level:.3f}",
            "accuracy on all levels": f"{r.acc_all:.3f}",
            "gap [95% CI]": ci_text(r.gap, r.gap_lo, r.gap_hi),
            "p (two-sided)": _p(r.p_value),
            "results (train level / all)": f"{r.n_level_results} / {r.n_results} ({r.n_seeds} seeds)",
        }
        for _, r in gaps.iterrows()
    ]
    return pd.DataFrame(rows)


def baseline_names(sgr: pd.DataFrame) -> str:
    """The unsupervised baseline of each dataset in an SGR table: ``zero-shot-cot``, or ``arc: zero-shot; ...``."""
    names = sgr[["dataset", "unsup_learner"]].dropna().drop_duplicates()
    names = names[names["unsup_learner"] != ""]
    if names["unsup_learner"].nunique() <= 1:
        return "".join(names["unsup_learner"].unique()[:1]) or "none in the run"
    return "; ".join(f"{short_name(d)}: {n}" for d, n in names.itertuples(index=False))


def headline_note(ci: str, sgr: pd.DataFrame, pairing: str = "paired") -> str:
    few = ""
    if ci != "seed-t" and sgr["easy_hard_seed_t_lo"].notna().any():
        few = (
            f" With {FEW_SEEDS} seeds or fewer a bootstrap under-covers Easy − Hard: the details give its "
            "t-interval over seeds beside it."
        )
    return (
        "Accuracy [95% CI] on the hard test items of each measure without training (Unsupervised = each "
        f"dataset's unsupervised baseline, {baseline_names(sgr)}), "
        "trained on easy items and trained on hard items; SGR = (Easy − Unsupervised) / (Hard − Unsupervised). "
        f"Intervals: {CI_NAMES[ci]}; conditions resampled {PAIRING_NAMES[pairing]}. Every p is two-sided.{few}"
    )


def method_note(ci: str, pairing: str) -> str:
    """The report's Method paragraph for the chosen interval method and pairing."""
    how = {
        "grid": "a bootstrap that resamples items and seeds with replacement, independently (Hase et al., 2024)",
        "nested": "a nested bootstrap: seeds are resampled with replacement, then each drawn seed's own test "
        "items (two copies of a seed get independent item draws; refused where seeds share most test items)",
        "seed-t": "a t-interval over seeds: the standard error of the seeds' means, Student t with n_seeds − 1 "
        "degrees of freedom, centred on the pooled estimate (SGR: Fieller's interval); it sees seed-to-seed "
        "spread only, so test items shared by every seed are held fixed (a baseline that answers by the item "
        "alone gets a zero-width interval there)",
    }[ci]
    return (
        "Accuracies are means over the item × seed grid of each cell group (a seed fixes its test items). "
        f"95% intervals ({ci}) come from {how}. SGR = (Easy − Unsupervised) / (Hard − Unsupervised) on identical "
        f"hard test items, with the conditions resampled {PAIRING_NAMES[pairing]}. Every p-value is two-sided, "
        "for a difference of 0 (Easy − Unsupervised, Easy − Hard, the generalization gap), read off the same "
        "draws as the interval, so p < 0.05 exactly when the interval excludes 0. SGR is undefined when the "
        "interval of Hard − Unsupervised does not lie above 0. A seed whose easy or hard cell did not finish is "
        "left out of its SGR group (the details say which). The generalization gap is the accuracy on the test "
        "items of the training level minus that on all test items (cells tested on all levels), paired. Chance = "
        "mean of 1 / n_choices (0 for generative items). Other intervals: `e2h report RUN --ci grid|nested|seed-t "
        "--pairing paired|paper|unpaired`."
    )
