"""Tidy tables from a results store: accuracy with CIs per cell group, and SGR per supervised learner.

Both tables are long-format DataFrames (one row per estimate) so that plots, reports and users
can filter them with plain pandas. Every group gets its own random stream,
``make_rng(seed, "accuracy" | "sgr", *key)``, so adding cells to a run never shifts the CIs of others.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from e2h.analysis.stats import N_BOOT, grid_bootstrap, sgr
from e2h.errors import E2HError
from e2h.io import atomic_path
from e2h.progress import progress
from e2h.seeding import make_rng

UNSUPERVISED = "zero-shot"
# What distinguishes one accuracy estimate from another. `k` and `train_dataset` are kept apart too:
# ICL with 5 and 10 demos, or a transfer run, are different experiments.
ACC_KEYS = ["model", "dataset", "train_dataset", "measure", "learner", "k", "train_on", "test_on", "n_train"]
ACC_KEYS += ["label_noise", "item_level"]
SGR_KEYS = ["model", "dataset", "train_dataset", "measure", "learner", "k", "n_train", "label_noise", "test_on"]


def chance_rate(n_choices: pd.Series) -> pd.Series:
    """1 / n_choices per row; 0 for generative items (one "choice": the answer must be produced)."""
    n = n_choices.astype(float)
    return pd.Series(np.where(n > 1, 1.0 / n, 0.0), index=n_choices.index)


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


def accuracy_table(results: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """Accuracy [95% CI] per model × dataset × measure × learner × train_on × test_on × n_train × label_noise.

    Cells tested on ``all`` get one row per ``item_level`` as well (and one with item_level "all").
    Columns: the keys, ``acc``, ``ci_lo``, ``ci_hi``, ``n_items``, ``n_seeds``, ``chance``.
    """
    rows = _with_levels(results).assign(chance=lambda d: chance_rate(d["n_choices"]))
    groups = rows.groupby(ACC_KEYS, dropna=False, sort=True)
    out = []
    for key, group in progress(groups, desc="accuracy", total=groups.ngroups, unit="group"):
        est = grid_bootstrap(correctness_grid(group), n_boot=n_boot, rng=_key_rng(seed, "accuracy", key))
        out.append((*key, est.mean, est.lo, est.hi, est.n_items, est.n_seeds, group["chance"].mean()))
    return pd.DataFrame(out, columns=[*ACC_KEYS, "acc", "ci_lo", "ci_hi", "n_items", "n_seeds", "chance"])


def _unsupervised_grid(results: pd.DataFrame, key: dict, like: pd.DataFrame) -> tuple[pd.DataFrame | None, str]:
    """Zero-shot correctness on the items × seeds of ``like``.

    Paired by (item, seed) when the zero-shot cells of the same measure and test level cover them;
    otherwise by item alone (zero-shot has no training data, so its answer depends on the item only).
    Returns (grid, how) or (None, reason).
    """
    zs = results[
        (results["learner"] == UNSUPERVISED)
        & (results["model"] == key["model"])
        & (results["dataset"] == key["dataset"])
    ]
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
            f"no zero-shot predictions for {len(missing)} of {len(like)} hard test items; add `zero-shot` to the run"
        )
        return None, reason
    values = np.repeat(by_item.reindex(like.index).to_numpy()[:, None], like.shape[1], axis=1)
    return pd.DataFrame(values, index=like.index, columns=like.columns).where(observed), "by item"


def sgr_table(results: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """SGR per supervised learner: train on easy vs hard, both scored on the same hard test items, vs zero-shot.

    Uses the rows with ``item_level == "hard"`` (cells tested on ``hard``, or the hard part of ``all``;
    ``test_on`` is a key). Columns: the keys; ``unsup_*``, ``easy_*``, ``hard_*`` accuracies with CIs;
    ``chance``; ``sgr``, ``sgr_lo``, ``sgr_hi``, ``p_value`` (one-sided, Easy − Unsupervised ≤ 0),
    ``defined``, ``reason``, ``gap_lo``, ``gap_hi`` (CI of Hard − Unsupervised), ``n_items``, ``n_seeds``,
    ``unsup_alignment`` (how zero-shot was matched: by (item, seed), or by item).
    """
    hard_items = results[results["item_level"] == "hard"]
    supervised = hard_items[(hard_items["learner"] != UNSUPERVISED) & hard_items["train_on"].isin(["easy", "hard"])]
    out = []
    groups = supervised.groupby(SGR_KEYS, dropna=False, sort=True)
    for key_values, group in progress(groups, desc="SGR", total=groups.ngroups, unit="group"):
        if set(group["train_on"]) != {"easy", "hard"}:
            continue
        key = dict(zip(SGR_KEYS, key_values, strict=True))
        easy = correctness_grid(group[group["train_on"] == "easy"])
        hard = correctness_grid(group[group["train_on"] == "hard"])
        chance = chance_rate(group["n_choices"]).mean()
        unsup, how = _unsupervised_grid(results, key, easy)
        if unsup is None:
            out.append({**key, "chance": chance, "sgr": np.nan, "defined": False, "reason": how})
            continue
        try:
            res = sgr(easy, hard, unsup, n_boot=n_boot, rng=_key_rng(seed, "sgr", key_values))
        except E2HError as exc:
            where = ", ".join(f"{k}={key[k]}" for k in ("model", "dataset", "measure", "learner", "test_on"))
            raise E2HError(f"{where}: {exc}") from exc
        row = {**key, "chance": chance}
        for name, est in (("unsup", res.unsup), ("easy", res.easy), ("hard", res.hard)):
            row.update({f"{name}_acc": est.mean, f"{name}_lo": est.lo, f"{name}_hi": est.hi})
        row.update(sgr=res.value, sgr_lo=res.lo, sgr_hi=res.hi, p_value=res.p_value, defined=res.defined)
        row.update(reason=res.reason, gap_lo=res.gap_lo, gap_hi=res.gap_hi, n_items=res.easy.n_items)
        row.update(n_seeds=res.easy.n_seeds, unsup_alignment=how)
        out.append(row)
    columns = [*SGR_KEYS, "unsup_acc", "unsup_lo", "unsup_hi", "easy_acc", "easy_lo", "easy_hi"]
    columns += ["hard_acc", "hard_lo", "hard_hi", "chance", "sgr", "sgr_lo", "sgr_hi", "p_value", "defined"]
    columns += ["reason", "gap_lo", "gap_hi", "n_items", "n_seeds", "unsup_alignment"]
    return pd.DataFrame(out, columns=columns)


def write_table(table: pd.DataFrame, out_dir: str | Path, name: str) -> tuple[Path, Path]:
    """Write ``<name>.csv`` and ``<name>.parquet`` into ``out_dir`` atomically; returns both paths."""
    out_dir = Path(out_dir)
    csv, parquet = out_dir / f"{name}.csv", out_dir / f"{name}.parquet"
    with atomic_path(csv) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(parquet) as tmp:
        table.to_parquet(tmp, index=False)
    return csv, parquet
