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
from e2h.analysis.stats import N_BOOT, accuracy_estimate, align, check_ci, difference, sgr
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


def _key_rng(seed: int, purpose: str, key: tuple) -> np.random.Generator:
    return make_rng(seed, purpose, *(str(part) for part in key))


def _with_levels(results: pd.DataFrame) -> pd.DataFrame:
    """Rows as estimated: each cell over its whole test set (item_level = test_on), plus per level for test_on=all."""
    whole = results.assign(item_level=results["test_on"])
    per_level = results[results["test_on"] == "all"]
    return pd.concat([whole, per_level], ignore_index=True)


def accuracy_table(results: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0, ci: str = "grid") -> pd.DataFrame:
    """Accuracy [95% CI] per model × dataset × measure × learner × train_on × test_on × n_train × label_noise.

    Cells tested on ``all`` get one row per ``item_level`` as well (and one with item_level "all").
    Columns: the keys, ``acc``, ``ci_lo``, ``ci_hi``, ``n_items`` (distinct), ``n_seeds``, ``n_results``
    (observed item × seed results), ``chance``, ``ci`` (the interval method).
    """
    check_ci(ci)
    rows = _with_levels(results).assign(chance=lambda d: chance_rate(d["n_choices"]))
    groups = rows.groupby(ACC_KEYS, dropna=False, sort=True)
    out = []
    for key, group in progress(groups, desc="accuracy", total=groups.ngroups, unit="group"):
        est = accuracy_estimate(correctness_grid(group), ci, n_boot=n_boot, rng=_key_rng(seed, "accuracy", key))
        out.append((*key, est.mean, est.lo, est.hi, est.n_items, est.n_seeds, est.n_results, group["chance"].mean()))
    columns = [*ACC_KEYS, "acc", "ci_lo", "ci_hi", "n_items", "n_seeds", "n_results", "chance"]
    return pd.DataFrame(out, columns=columns).assign(ci=ci)


def _unsupervised_grid(zs: pd.DataFrame, key: dict, like: pd.DataFrame) -> tuple[pd.DataFrame | None, str]:
    """The unsupervised baseline's correctness (its rows: ``zs``) on the items × seeds of ``like``.

    Paired by (item, seed) when the baseline cells of the same measure and test level cover them;
    otherwise by item alone (the baseline has no training data, so its answer depends on the item only).
    Returns (grid, how) or (None, reason).
    """
    observed = like.notna()
    same = zs[(zs["measure"] == key["measure"]) & (zs["test_on"] == key["test_on"]) & (zs["item_level"] == "hard")]
    if not same.empty and not same.duplicated(["item_id", "seed"]).any():
        paired = correctness_grid(same).reindex(index=like.index, columns=like.columns)
        if paired[observed].notna().sum().sum() == observed.sum().sum():
            return paired.where(observed), "paired by (item, seed)"
    by_item = zs.groupby("item_id")["correct"].mean()
    missing = like.index.difference(by_item.index)
    if len(missing):
        reason = (
            f"no predictions of the unsupervised baseline for {len(missing)} of {len(like)} hard test items; "
            "add `unsupervised` to the run's learners"
        )
        return None, reason
    values = np.repeat(by_item.reindex(like.index).to_numpy()[:, None], like.shape[1], axis=1)
    return pd.DataFrame(values, index=like.index, columns=like.columns).where(observed), "by item"


class _Group(NamedTuple):
    """One SGR group: its key, chance, the easy and hard grids, and the baseline's grid (None: ``how`` says why)."""

    key_values: tuple
    key: dict
    chance: float
    easy: pd.DataFrame
    hard: pd.DataFrame
    unsup: pd.DataFrame | None
    how: str
    unsup_learner: str  # the baseline's learner name


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
        unsup, how = _unsupervised_grid(zs, key, easy)
        chance = chance_rate(group["n_choices"]).mean()
        yield _Group(key_values, key, chance, easy, hard, unsup, how, baseline_learner(zs))


def _where(key: dict) -> str:
    return ", ".join(f"{k}={key[k]}" for k in ("model", "dataset", "measure", "learner", "test_on"))


SGR_COLUMNS = [*SGR_KEYS, "unsup_acc", "unsup_lo", "unsup_hi", "easy_acc", "easy_lo", "easy_hi"]
SGR_COLUMNS += ["hard_acc", "hard_lo", "hard_hi", "chance", "sgr", "sgr_lo", "sgr_hi", "p_value", "defined"]
SGR_COLUMNS += ["reason", "gap_lo", "gap_hi", "easy_hard_diff", "easy_hard_lo", "easy_hard_hi", "easy_hard_p"]
SGR_COLUMNS += ["unsup_easy_diff", "unsup_easy_lo", "unsup_easy_hi", "unsup_easy_p"]
SGR_COLUMNS += ["n_items", "n_seeds", "n_results", "unsup_learner", "unsup_alignment", "ci", "pairing"]


def sgr_table(
    results: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0, ci: str = "grid", pairing: str = "paired"
) -> pd.DataFrame:
    """SGR per supervised learner: train on easy vs hard, both scored on the same hard test items, vs the
    dataset's unsupervised baseline.

    Uses the rows with ``item_level == "hard"`` (cells tested on ``hard``, or the hard part of ``all``;
    ``test_on`` is a key). Columns: the keys; ``unsup_*``, ``easy_*``, ``hard_*`` accuracies with CIs;
    ``chance``; ``sgr``, ``sgr_lo``, ``sgr_hi``, ``p_value`` (one-sided, Easy − Unsupervised ≤ 0),
    ``defined``, ``reason``, ``gap_lo``, ``gap_hi`` (CI of Hard − Unsupervised); ``easy_hard_*`` and
    ``unsup_easy_*``: Easy − Hard and Unsupervised − Easy with CI and two-sided p (``*_p``); ``n_items``,
    ``n_seeds``, ``n_results``, ``unsup_learner`` (the baseline's learner name), ``unsup_alignment`` (how the
    baseline was matched: by (item, seed), or by item), ``ci`` and ``pairing`` (the interval method and whether
    conditions were resampled together).
    """
    check_ci(ci, pairing)
    out = []
    for g in _sgr_groups(results):
        row = {**g.key, "chance": g.chance, "unsup_learner": g.unsup_learner}
        if g.unsup is None:
            out.append({**row, "sgr": np.nan, "defined": False, "reason": g.how})
            continue
        rng = _key_rng(seed, "sgr", g.key_values)
        try:
            res = sgr(g.easy, g.hard, g.unsup, n_boot=n_boot, rng=rng, ci=ci, pairing=pairing)
        except E2HError as exc:
            raise E2HError(f"{_where(g.key)}: {exc}") from exc
        for name, est in (("unsup", res.unsup), ("easy", res.easy), ("hard", res.hard)):
            row.update({f"{name}_acc": est.mean, f"{name}_lo": est.lo, f"{name}_hi": est.hi})
        row.update(sgr=res.value, sgr_lo=res.lo, sgr_hi=res.hi, p_value=res.p_value, defined=res.defined)
        row.update(reason=res.reason, gap_lo=res.gap_lo, gap_hi=res.gap_hi)
        for name, diff in (("easy_hard", res.easy_minus_hard), ("unsup_easy", res.unsup_minus_easy)):
            row.update({f"{name}_diff": diff.mean, f"{name}_lo": diff.lo, f"{name}_hi": diff.hi})
            row[f"{name}_p"] = diff.p_value
        row.update(n_items=res.easy.n_items, n_seeds=res.easy.n_seeds, n_results=res.easy.n_results)
        out.append({**row, "unsup_alignment": g.how})
    return pd.DataFrame(out, columns=SGR_COLUMNS).assign(ci=ci, pairing=pairing)


PER_SEED_COLUMNS = [*SGR_KEYS, "seed", "n_items", "unsup", "easy", "hard", "easy_minus_unsup"]
PER_SEED_COLUMNS += ["hard_minus_unsup", "easy_minus_hard"]


def per_seed_table(results: pd.DataFrame) -> pd.DataFrame:
    """Each seed's Unsupervised, Easy and Hard accuracy on its hard test items, and the gaps between them.

    One row per SGR group (as in :func:`sgr_table`) and seed; groups without baseline predictions are left out.
    """
    out = []
    for g in _sgr_groups(results, desc="per seed"):
        if g.unsup is None:
            continue
        try:
            grids = align(g.easy, g.hard, g.unsup)
        except E2HError as exc:
            raise E2HError(f"{_where(g.key)}: {exc}") from exc
        e, h, u = seed_means(list(grids))  # (n_seeds,) each
        n_items = (~np.isnan(grids[0])).sum(axis=0)
        for j, s in enumerate(sorted(g.easy.columns)):
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
