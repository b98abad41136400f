"""Tidy tables from a results store: accuracy with CIs per cell group, SGR per supervised learner, the
per-seed results behind each SGR, and the generalization gap of cells tested on all levels.

"Unsupervised" is each dataset's unsupervised baseline (the ``baseline`` column of
:func:`~e2h.analysis.results.load_results`), "supervised" a cell with training items (``train_on != "none"``);
another unsupervised learner (plain zero-shot beside a zero-shot-cot baseline) is neither: it has accuracy
rows of its own and takes no part in SGR. :func:`supervision_masks` is the one place that says so.

Every table is a long-format DataFrame (one row per estimate) so that plots, reports and users
can filter them with plain pandas. Every group gets its own random stream,
``make_rng(seed, "accuracy" | "sgr" | "gap", *key)``, so adding cells to a run never shifts the CIs of others.
``ci`` picks the interval method (``grid``, ``nested``, ``seed-t``; see :mod:`e2h.analysis.stats`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from e2h.analysis.resampling import seed_means
from e2h.analysis.stats import (
    FEW_SEEDS,
    N_BOOT,
    accuracy_estimate,
    align,
    aligned_grids,
    check_ci,
    check_design,
    difference,
    sgr,
)
from e2h.answering import chance_rate
from e2h.errors import E2HError
from e2h.io import atomic_path
from e2h.progress import progress
from e2h.seeding import make_rng

# What distinguishes one accuracy estimate from another. `k` and `train_dataset` are kept apart too:
# ICL with 5 and 10 demos, or a transfer run, are different experiments; so is the baseline from the same
# learner run with other options (a zero-shot baseline with format cloze beside plain zero-shot).
ACC_KEYS = ["model", "dataset", "train_dataset", "measure", "learner", "baseline", "k", "train_on", "test_on"]
ACC_KEYS += ["n_train", "label_noise", "item_level"]
SGR_KEYS = ["model", "dataset", "train_dataset", "measure", "learner", "k", "n_train", "label_noise", "test_on"]
GAP_KEYS = [k for k in ACC_KEYS if k not in ("item_level", "baseline")]
LEVELS = ("easy", "medium", "hard")


def supervision_masks(rows: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(rows of the unsupervised baseline, rows of supervised cells); rows in neither are other unsupervised
    learners. ``rows``: results, or a table with their ``baseline`` and ``train_on`` columns."""
    baseline = rows["baseline"].astype(bool)
    return baseline, (rows["train_on"] != "none") & ~baseline


def baseline_learner(rows: pd.DataFrame) -> str:
    """The learner name(s) of the baseline rows in ``rows`` (``zero-shot-cot``; several joined by " / ")."""
    baseline, _ = supervision_masks(rows)
    return " / ".join(sorted(rows.loc[baseline, "learner"].astype(str).unique()))


def correctness_grid(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows of one cell group → an items × seeds frame of 0/1 (NaN where an item was not tested)."""
    if rows.duplicated(["item_id", "seed"]).any():
        cells = sorted(rows["cell_id"].unique())[:3]
        raise E2HError(
            f"cells {cells} test the same (item, seed) under the same key; they differ in options the store does "
            "not record — give each variant its own learner name or run"
        )
    return rows.pivot(index="item_id", columns="seed", values="correct").astype(float)


def check_nested(results: pd.DataFrame, ci: str) -> None:
    """Refuse ``ci="nested"`` for a run whose seeds share most of their test items (one line naming where)."""
    if ci != "nested":
        return
    for (dataset, measure, test_on), rows in results.groupby(["dataset", "measure", "test_on"], sort=True):
        try:
            check_design(pd.crosstab(rows["item_id"], rows["seed"]).to_numpy() > 0, ci)
        except E2HError as exc:
            raise E2HError(f"{dataset}, {measure}, test_on {test_on}: {exc}") from None


def _key_rng(seed: int, purpose: str, key: tuple) -> np.random.Generator:
    return make_rng(seed, purpose, *(str(part) for part in key))


def _with_levels(results: pd.DataFrame) -> pd.DataFrame:
    """Rows as estimated: each cell over its whole test set (item_level = test_on), plus per level for test_on=all."""
    whole = results.assign(item_level=results["test_on"])
    per_level = results[(results["test_on"] == "all") & results["item_level"].isin(LEVELS)]  # random splits: none
    return pd.concat([whole, per_level], ignore_index=True)


def accuracy_table(results: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0, ci: str = "grid") -> pd.DataFrame:
    """Accuracy [95% CI] per model × dataset × measure × learner × train_on × test_on × n_train × label_noise.

    Cells tested on ``all`` get one row per ``item_level`` as well (and one with item_level "all").
    Columns: the keys, ``acc``, ``ci_lo``, ``ci_hi``, ``n_items`` (distinct), ``n_seeds``, ``n_results``
    (observed item × seed results), ``chance``, ``ci`` (the interval method).
    """
    check_ci(ci)
    check_nested(results, ci)
    rows = _with_levels(results).assign(chance=lambda d: chance_rate(d["n_choices"]))
    groups = rows.groupby(ACC_KEYS, dropna=False, sort=True)
    out = []
    for key, group in progress(groups, desc="accuracy", total=groups.ngroups, unit="group"):
        est = accuracy_estimate(correctness_grid(group), ci, n_boot=n_boot, rng=_key_rng(seed, "accuracy", key))
        out.append((*key, est.mean, est.lo, est.hi, est.n_items, est.n_seeds, est.n_results, group["chance"].mean()))
    columns = [*ACC_KEYS, "acc", "ci_lo", "ci_hi", "n_items", "n_seeds", "n_results", "chance"]
    return pd.DataFrame(out, columns=columns).assign(ci=ci)


def _baseline_paired(zs: pd.DataFrame, key: dict, like: pd.DataFrame) -> pd.DataFrame | None:
    """The baseline's cells of the same measure and test level as an items × seeds grid on ``like``'s layout."""
    same = zs[(zs["measure"] == key["measure"]) & (zs["test_on"] == key["test_on"]) & (zs["item_level"] == "hard")]
    if same.empty or same.duplicated(["item_id", "seed"]).any():
        return None
    return correctness_grid(same).reindex(index=like.index, columns=like.columns)


def _baseline_by_item(zs: pd.DataFrame, like: pd.DataFrame) -> tuple[pd.DataFrame | None, str]:
    """The baseline's answer to each item of ``like`` in every seed, or (None, what stops it).

    The baseline has no training data, so its answer should depend on the item only; an item answered
    differently in two of its cells (another dtype, another option) cannot be matched this way.
    """
    rows = zs[zs["item_id"].isin(like.index)]
    missing = like.index.difference(rows["item_id"].unique())
    if len(missing):
        reason = (
            f"no predictions of the unsupervised baseline for {len(missing)} of {len(like)} hard test items; "
            "add `unsupervised` to the run's learners"
        )
        return None, reason
    answers = rows.groupby("item_id")["correct"].agg(["min", "max"])
    differ = answers.index[answers["min"] != answers["max"]]
    if len(differ):
        item = differ[0]
        cells = rows[rows["item_id"] == item].sort_values("correct")
        wrong, right = cells.iloc[0], cells.iloc[-1]
        where = lambda r: f"cell {r.cell_id} (seed {r.seed}, measure {r.measure}, test_on {r.test_on})"  # noqa: E731
        reason = (
            f"the unsupervised baseline answers {len(differ)} of {len(like)} hard test items differently in different "
            f"cells (e.g. {item}: right in {where(right)}, wrong in {where(wrong)}), so it cannot be matched by item "
            "alone; run it with this group's measure, test level and seeds so it pairs by (item, seed)"
        )
        return None, reason
    by_item = answers["min"].astype(float).reindex(like.index).to_numpy()
    values = np.repeat(by_item[:, None], like.shape[1], axis=1)
    return pd.DataFrame(values, index=like.index, columns=like.columns).where(like.notna()), ""


def _seeds_note(left_out: dict) -> str:
    """Which seeds an SGR group leaves out and why: ``seed 2 (no easy results)``."""
    return ", ".join(f"seed {s} (no {why} results)" for s, why in sorted(left_out.items()))


def _match(
    easy: pd.DataFrame, hard: pd.DataFrame, zs: pd.DataFrame, key: dict
) -> tuple[list[pd.DataFrame] | None, str, str]:
    """The group's (easy, hard, unsupervised) grids on the seeds all three can be paired on.

    Returns (grids, how the baseline was matched, a note on the seeds left out) or (None, reason, note).
    A seed is left out when the easy or the hard cell of it did not finish; the baseline is paired by
    (item, seed) when its cells of the same measure and test level cover every seed, else by item when
    its answers do not depend on the cell, else on the seeds it covers.
    """
    left_out = {s: "easy" for s in hard.columns.difference(easy.columns)}
    left_out |= {s: "hard" for s in easy.columns.difference(hard.columns)}
    seeds = sorted(easy.columns.intersection(hard.columns))
    items = easy.index.union(hard.index)
    easy, hard = (f.reindex(index=items, columns=seeds) for f in (easy, hard))
    tested = easy.notna().any(axis=1) | hard.notna().any(axis=1)
    easy, hard = easy[tested], hard[tested]
    if not seeds:
        return None, "the easy and the hard cells share no seed that finished", _seeds_note(left_out)
    paired = _baseline_paired(zs, key, easy)
    covered = [] if paired is None else [s for s in seeds if paired[s][easy[s].notna()].notna().all()]
    if covered == seeds:
        return [easy, hard, paired.where(easy.notna())], "paired by (item, seed)", _seeds_note(left_out)
    by_item, reason = _baseline_by_item(zs, easy)
    if by_item is not None:
        return [easy, hard, by_item], "by item", _seeds_note(left_out)
    if not covered:
        return None, reason, _seeds_note(left_out)
    left_out |= {s: "unsupervised baseline" for s in seeds if s not in covered}
    easy, hard, paired = (f[covered] for f in (easy, hard, paired))
    keep = easy.notna().any(axis=1)
    grids = [easy[keep], hard[keep], paired[keep].where(easy[keep].notna())]
    return grids, "paired by (item, seed)", _seeds_note(left_out)


class _Group(NamedTuple):
    """One SGR group: its key, chance, its aligned grids (None: ``how`` says why not), the baseline's name,
    how the baseline was matched, and a note on the seeds left out."""

    key_values: tuple
    key: dict
    chance: float
    grids: list[pd.DataFrame] | None  # easy, hard, unsupervised: items × seeds
    how: str
    unsup_learner: str  # the baseline's learner name
    note: str


def _sgr_groups(results: pd.DataFrame, desc: str = "SGR") -> Iterator[_Group]:
    """Each SGR group: the supervised cells of one key trained on easy and on hard, and the baseline."""
    baseline, _ = supervision_masks(results)
    hard_items = results[results["item_level"] == "hard"]
    supervised = hard_items[hard_items["train_on"].isin(["easy", "hard"])]
    groups = supervised.groupby(SGR_KEYS, dropna=False, sort=True)
    for key_values, group in progress(groups, desc=desc, total=groups.ngroups, unit="group"):
        if set(group["train_on"]) != {"easy", "hard"}:
            continue
        key = dict(zip(SGR_KEYS, key_values, strict=True))
        easy = correctness_grid(group[group["train_on"] == "easy"])
        hard = correctness_grid(group[group["train_on"] == "hard"])
        zs = results[baseline & (results["model"] == key["model"]) & (results["dataset"] == key["dataset"])]
        grids, how, note = _match(easy, hard, zs, key)
        if grids is not None:
            try:
                aligned_grids(*grids)
            except E2HError as exc:
                grids, how = None, str(exc)
        chance = chance_rate(group["n_choices"]).mean()
        yield _Group(key_values, key, chance, grids, how, baseline_learner(zs), note)


SGR_COLUMNS = [*SGR_KEYS, "unsup_acc", "unsup_lo", "unsup_hi", "easy_acc", "easy_lo", "easy_hi"]
SGR_COLUMNS += ["hard_acc", "hard_lo", "hard_hi", "chance", "sgr", "sgr_lo", "sgr_hi", "defined"]
SGR_COLUMNS += ["reason", "gap_lo", "gap_hi", "easy_unsup_diff", "easy_unsup_lo", "easy_unsup_hi", "easy_unsup_p"]
SGR_COLUMNS += ["easy_hard_diff", "easy_hard_lo", "easy_hard_hi", "easy_hard_p"]
SGR_COLUMNS += ["easy_hard_seed_t_lo", "easy_hard_seed_t_hi", "easy_hard_seed_t_p"]
SGR_COLUMNS += ["n_items", "n_seeds", "n_results", "unsup_learner", "unsup_alignment", "note", "ci", "pairing"]


def sgr_table(
    results: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0, ci: str = "grid", pairing: str = "paired"
) -> pd.DataFrame:
    """SGR per supervised learner: train on easy vs hard, both scored on the same hard test items, vs the
    dataset's unsupervised baseline.

    Uses the rows with ``item_level == "hard"`` (cells tested on ``hard``, or the hard part of ``all``;
    ``test_on`` is a key). Columns: the keys; ``unsup_*``, ``easy_*``, ``hard_*`` accuracies with CIs;
    ``chance``; ``sgr``, ``sgr_lo``, ``sgr_hi``, ``defined``, ``reason``, ``gap_lo``, ``gap_hi`` (CI of
    Hard − Unsupervised); ``easy_unsup_*`` and ``easy_hard_*``: Easy − Unsupervised and Easy − Hard with CI
    and two-sided p (``*_p``); ``easy_hard_seed_t_*``: Easy − Hard's t-interval over seeds and its p, beside a
    bootstrap with 2 or 3 seeds (which under-covers it there), else NaN; ``n_items``, ``n_seeds``,
    ``n_results``, ``unsup_learner`` (the baseline's learner name), ``unsup_alignment`` (how the baseline was
    matched: by (item, seed), or by item), ``note`` (seeds left out because a cell of them did not finish),
    ``ci`` and ``pairing`` (the interval method and how the conditions were resampled together).

    A group that cannot be computed (no baseline predictions, cells on different items) gets a row with
    ``defined`` False and the reason; every other group is computed.
    """
    check_ci(ci, pairing)
    check_nested(results, ci)
    out = []
    for g in _sgr_groups(results):
        row = {**g.key, "chance": g.chance, "unsup_learner": g.unsup_learner, "note": g.note}
        if g.grids is None:
            out.append({**row, "sgr": np.nan, "defined": False, "reason": g.how})
            continue
        rng = _key_rng(seed, "sgr", g.key_values)
        res = sgr(*g.grids, n_boot=n_boot, rng=rng, ci=ci, pairing=pairing)
        for name, est in (("unsup", res.unsup), ("easy", res.easy), ("hard", res.hard)):
            row.update({f"{name}_acc": est.mean, f"{name}_lo": est.lo, f"{name}_hi": est.hi})
        row.update(sgr=res.value, sgr_lo=res.lo, sgr_hi=res.hi, defined=res.defined)
        row.update(reason=res.reason, gap_lo=res.gap_lo, gap_hi=res.gap_hi)
        for name, diff in (("easy_unsup", res.easy_minus_unsup), ("easy_hard", res.easy_minus_hard)):
            row.update({f"{name}_diff": diff.mean, f"{name}_lo": diff.lo, f"{name}_hi": diff.hi})
            row[f"{name}_p"] = diff.p_value
        if ci != "seed-t" and 2 <= res.easy.n_seeds <= FEW_SEEDS:
            t = difference(*align(*g.grids)[:2], "seed-t")
            row.update(easy_hard_seed_t_lo=t.lo, easy_hard_seed_t_hi=t.hi, easy_hard_seed_t_p=t.p_value)
        row.update(n_items=res.easy.n_items, n_seeds=res.easy.n_seeds, n_results=res.easy.n_results)
        out.append({**row, "unsup_alignment": g.how})
    return pd.DataFrame(out, columns=SGR_COLUMNS).assign(ci=ci, pairing=pairing)


TRANSFER_KEYS = [k for k in SGR_KEYS if k != "train_dataset"]
TRANSFER_COLUMNS = [*TRANSFER_KEYS, "source", "train_on", "acc", "hard_acc", "diff", "diff_lo", "diff_hi", "diff_p"]
TRANSFER_COLUMNS += ["n_items", "n_seeds", "n_results", "ci"]


def transfer_table(results: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0, ci: str = "grid") -> pd.DataFrame:
    """Training on another dataset against hard training on the tested one, on the same hard test items.

    For each supervised condition whose ``train_dataset`` is not the tested dataset (e.g. grade-3 ARC
    demonstrations for college MMLU, the paper's Figure 1), its accuracy minus that of the tested
    dataset's own hard training (college MMLU), paired on the (item, seed) results both have. Columns: the
    keys, ``source`` and ``train_on`` (the other condition), ``acc``, ``hard_acc``, ``diff`` with its 95%
    interval and two-sided p, the counts and ``ci``. Empty for a run without cross-dataset training.
    """
    _, supervised = supervision_masks(results)
    rows = results[supervised & (results["item_level"] == "hard")]
    out = []
    for key_values, group in rows.groupby(TRANSFER_KEYS, dropna=False, sort=True):
        key = dict(zip(TRANSFER_KEYS, key_values, strict=True))
        own = group[(group["train_dataset"] == key["dataset"]) & (group["train_on"] == "hard")]
        others = group[group["train_dataset"] != key["dataset"]]
        if own.empty or others.empty:
            continue
        hard = correctness_grid(own)
        for (source, train_on), other in others.groupby(["train_dataset", "train_on"], sort=True):
            grid = correctness_grid(other)
            items, seeds = grid.index.intersection(hard.index), grid.columns.intersection(hard.columns)
            a, b = grid.loc[items, seeds], hard.loc[items, seeds]
            both = a.notna() & b.notna()
            a, b = a.where(both).to_numpy(), b.where(both).to_numpy()
            rng = _key_rng(seed, "transfer", (*key_values, source, train_on))
            diff = difference(a, b, ci, n_boot=n_boot, rng=rng)
            counts = (int(both.any(axis=1).sum()), int(both.any(axis=0).sum()), int(both.to_numpy().sum()))
            row = {**key, "source": source, "train_on": train_on, "acc": np.nanmean(a), "hard_acc": np.nanmean(b)}
            row.update(diff=diff.mean, diff_lo=diff.lo, diff_hi=diff.hi, diff_p=diff.p_value)
            out.append({**row, "n_items": counts[0], "n_seeds": counts[1], "n_results": counts[2]})
    return pd.DataFrame(out, columns=TRANSFER_COLUMNS).assign(ci=ci)


PER_SEED_COLUMNS = [*SGR_KEYS, "seed", "n_items", "unsup", "easy", "hard", "easy_minus_unsup"]
PER_SEED_COLUMNS += ["hard_minus_unsup", "easy_minus_hard"]


def per_seed_table(results: pd.DataFrame) -> pd.DataFrame:
    """Each seed's Unsupervised, Easy and Hard accuracy on its hard test items, and the gaps between them.

    One row per SGR group (as in :func:`sgr_table`) and seed; groups without baseline predictions are left out.
    """
    out = []
    for g in _sgr_groups(results, desc="per seed"):
        if g.grids is None:
            continue
        grids = align(*g.grids)
        e, h, u = seed_means(list(grids))  # (n_seeds,) each
        n_items = (~np.isnan(grids[0])).sum(axis=0)
        for j, s in enumerate(sorted(g.grids[0].columns)):
            row = dict(seed=s, n_items=int(n_items[j]), unsup=u[j], easy=e[j], hard=h[j])
            row.update(easy_minus_unsup=e[j] - u[j], hard_minus_unsup=h[j] - u[j], easy_minus_hard=e[j] - h[j])
            out.append({**g.key, **row})
    return pd.DataFrame(out, columns=PER_SEED_COLUMNS)


GAP_COLUMNS = [*GAP_KEYS, "acc_level", "acc_all", "gap", "gap_lo", "gap_hi", "p_value"]
GAP_COLUMNS += ["n_level_results", "n_results", "n_seeds"]


def generalization_table(results: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0, ci: str = "grid") -> pd.DataFrame:
    """Generalization gap of supervised cells tested on ``all``: accuracy on the test items of the training
    level minus accuracy on all test items, with a paired 95% CI and a two-sided p-value for gap = 0.

    Columns: the accuracy keys (without ``item_level``), ``acc_level``, ``acc_all``, ``gap``, ``gap_lo``,
    ``gap_hi``, ``p_value``, ``n_level_results``, ``n_results``, ``n_seeds``, ``ci``.
    """
    check_ci(ci)
    check_nested(results, ci)
    cells = results[(results["test_on"] == "all") & results["train_on"].isin(LEVELS)]
    out = []
    for key, group in cells.groupby(GAP_KEYS, dropna=False, sort=True):
        train_on = dict(zip(GAP_KEYS, key, strict=True))["train_on"]
        every = correctness_grid(group)
        level = correctness_grid(group[group["item_level"] == train_on]).reindex_like(every)
        if level.notna().sum().sum() == 0:
            continue
        diff = difference(level.to_numpy(), every.to_numpy(), ci, n_boot, _key_rng(seed, "gap", key))
        accs = (np.nanmean(level.to_numpy()), np.nanmean(every.to_numpy()))
        counts = (int(level.notna().sum().sum()), int(every.notna().sum().sum()), int(every.notna().any().sum()))
        out.append((*key, *accs, diff.mean, diff.lo, diff.hi, diff.p_value, *counts))
    return pd.DataFrame(out, columns=GAP_COLUMNS).assign(ci=ci)


def write_table(table: pd.DataFrame, out_dir: str | Path, name: str) -> tuple[Path, Path]:
    """Write ``<name>.csv`` and ``<name>.parquet`` into ``out_dir`` atomically; returns both paths."""
    out_dir = Path(out_dir)
    csv, parquet = out_dir / f"{name}.csv", out_dir / f"{name}.parquet"
    with atomic_path(csv) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(parquet) as tmp:
        table.to_parquet(tmp, index=False)
    return csv, parquet
