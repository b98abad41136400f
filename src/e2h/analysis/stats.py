"""Bootstrap statistics over the item × seed grid: accuracy CIs and the supervision gap recovered.

A cell's results form a matrix ``correct[i, s]`` (item ``i``, seed ``s``; NaN where item ``i``
was not in seed ``s``'s test set). Following Hase et al. (2024, ``utils/metrics.py`` and
``analysis.Rmd`` of allenai/easy-to-hard-generalization), each bootstrap draw resamples the
items AND the seeds with replacement and takes the mean of the observed cells. Rows and
columns that are entirely NaN are dropped first, as in the paper.

Differences from the paper's code, on purpose:

- the point estimate is the plug-in mean of the observed grid (the paper reports the mean of the
  bootstrap draws, which wanders with the number of draws);
- SGR pairs seeds as well as items: in e2h a seed fixes the test set, so easy-, hard- and
  un-supervised models of one seed saw the same items (the paper resampled seed columns
  independently per matrix, since its seeds were unpaired);
- the p-value is one-sided for ``Easy − Unsupervised ≤ 0`` (does easy supervision help at all?),
  computed on the difference rather than on the ratio (the paper: two-sided, centred, on the ratio);
- SGR is reported as undefined when hard supervision does not beat the unsupervised baseline
  (the CI of ``Hard − Unsupervised`` reaches 0 or lies below it), instead of a huge, sign-flipping ratio.

Draws are vectorised: a resample is a vector of item counts ``w`` (B, n_items) and of seed
counts ``v`` (B, n_seeds); the resampled mean is ``(w @ X @ v) / (w @ M @ v)`` with ``X`` the
grid (NaN → 0) and ``M`` its observed mask, so no (B, n_items, n_seeds) array is ever built.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from e2h.errors import E2HError
from e2h.seeding import make_rng

N_BOOT = 10_000
_CHUNK = 1_000  # draws per vectorised block; bounds memory at (CHUNK, n_items) counts


@dataclass(frozen=True)
class Estimate:
    """An accuracy (or any mean) with its 95% bootstrap percentile interval."""

    mean: float
    lo: float
    hi: float
    n_items: int
    n_seeds: int


@dataclass(frozen=True)
class SGRResult:
    """SGR = (Easy − Unsupervised) / (Hard − Unsupervised) on identical hard test items.

    ``p_value`` is one-sided for H0: Easy − Unsupervised ≤ 0. ``gap_lo``/``gap_hi`` are the 95% CI
    of Hard − Unsupervised; when it does not lie above 0 SGR is undefined (``value`` NaN, ``reason`` says why).
    """

    value: float
    lo: float
    hi: float
    p_value: float
    defined: bool
    reason: str
    gap_lo: float
    gap_hi: float
    easy: Estimate
    hard: Estimate
    unsup: Estimate


def _as_grid(correct: np.ndarray | pd.DataFrame, name: str = "correct") -> np.ndarray:
    """A float (n_items, n_seeds) matrix of 0/1/NaN; a 1-D input is one seed."""
    grid = np.asarray(correct, dtype=float)
    if grid.ndim == 1:
        grid = grid[:, None]
    if grid.ndim != 2:
        raise E2HError(f"{name} must be an items × seeds matrix, got {grid.ndim} dimensions; pass a 2-D array")
    observed = grid[~np.isnan(grid)]
    if observed.size == 0:
        raise E2HError(f"{name} has no observed values; the cell has no test predictions — rerun it with `e2h run`")
    if np.any((observed != 0) & (observed != 1)):
        raise E2HError(f"{name} must hold 0/1 correctness (or NaN), found other values; pass the `correct` column")
    return grid


def _drop_empty(*grids: np.ndarray) -> list[np.ndarray]:
    """Drop items and seeds that are NaN in every grid (never tested), as the paper does."""
    observed = ~np.isnan(grids[0])
    keep_rows, keep_cols = observed.any(axis=1), observed.any(axis=0)
    return [g[keep_rows][:, keep_cols] for g in grids]


def draw_indices(n_items: int, n_seeds: int, n_boot: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Resampled item indices (n_boot, n_items) and seed indices (n_boot, n_seeds), with replacement."""
    items = rng.integers(0, n_items, size=(n_boot, n_items), dtype=np.int32)
    return items, rng.integers(0, n_seeds, size=(n_boot, n_seeds), dtype=np.int32)


def _counts(idx: np.ndarray, n: int) -> np.ndarray:
    """(B, k) indices → (B, n) float counts of each index per row."""
    n_rows = idx.shape[0]
    flat = (idx + n * np.arange(n_rows)[:, None]).ravel()
    return np.bincount(flat, minlength=n_rows * n).reshape(n_rows, n).astype(float)


def means_for_indices(grids: list[np.ndarray], item_idx: np.ndarray, seed_idx: np.ndarray) -> np.ndarray:
    """The mean of the observed cells of each grid under each given resample: (len(grids), B).

    All grids share the first grid's NaN pattern; a resample whose cells are all unobserved gives NaN.
    """
    mask = (~np.isnan(grids[0])).astype(float)  # (n_items, n_seeds)
    w = _counts(item_idx, mask.shape[0])  # (B, n_items)
    v = _counts(seed_idx, mask.shape[1])  # (B, n_seeds)
    with np.errstate(invalid="ignore", divide="ignore"):
        den = ((w @ mask) * v).sum(axis=1)  # (B,) resampled observed cells
        return np.stack([((w @ np.nan_to_num(g, nan=0.0)) * v).sum(axis=1) / den for g in grids])


def resampled_means(grids: list[np.ndarray], n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``n_boot`` item × seed resamples, the same for every grid: (len(grids), n_boot) means.

    Drawn in blocks of ``_CHUNK`` so memory stays at (CHUNK, n_items) whatever ``n_boot`` is.
    """
    n_items, n_seeds = grids[0].shape
    blocks = []
    for start in range(0, n_boot, _CHUNK):
        item_idx, seed_idx = draw_indices(n_items, n_seeds, min(_CHUNK, n_boot - start), rng)
        blocks.append(means_for_indices(grids, item_idx, seed_idx))
    return np.concatenate(blocks, axis=1)


def _interval(draws: np.ndarray) -> tuple[float, float]:
    finite = draws[np.isfinite(draws)]
    if finite.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(finite, [0.025, 0.975])
    return float(lo), float(hi)


def _estimate(grid: np.ndarray, draws: np.ndarray) -> Estimate:
    lo, hi = _interval(draws)
    return Estimate(float(np.nanmean(grid)), lo, hi, grid.shape[0], grid.shape[1])


def grid_bootstrap(
    correct: np.ndarray | pd.DataFrame, n_boot: int = N_BOOT, rng: np.random.Generator | None = None
) -> Estimate:
    """Mean accuracy of an items × seeds 0/1 grid (NaN = not tested) with a 95% item × seed bootstrap CI.

    ``rng`` defaults to ``make_rng(0, "grid_bootstrap")``; pass your own for independent streams.
    """
    (grid,) = _drop_empty(_as_grid(correct))
    rng = rng if rng is not None else make_rng(0, "grid_bootstrap")
    return _estimate(grid, resampled_means([grid], n_boot, rng)[0])


def align(easy: pd.DataFrame, hard: pd.DataFrame, unsup: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """Three items × seeds frames as arrays in sorted (item, seed) order; mismatched ids raise E2HError."""
    frames = {"easy": easy, "hard": hard, "unsupervised": unsup}
    for name, frame in frames.items():
        if set(frame.index) != set(easy.index):
            missing = sorted(set(easy.index) ^ set(frame.index), key=str)[:3]
            raise E2HError(
                f"SGR needs identical test items: {name} and easy differ in item ids (e.g. {missing}); "
                "score every learner on the same split (same seeds, same test pool)"
            )
        if set(frame.columns) != set(easy.columns):
            raise E2HError(
                f"SGR needs the same seeds: {name} has {sorted(frame.columns)}, easy has {sorted(easy.columns)}; "
                "run every learner with the same seeds"
            )
    rows, cols = sorted(easy.index), sorted(easy.columns)  # canonical order: draws do not depend on row order
    return tuple(f.loc[rows, cols].to_numpy(dtype=float) for f in frames.values())


def sgr(
    easy: np.ndarray | pd.DataFrame,
    hard: np.ndarray | pd.DataFrame,
    unsup: np.ndarray | pd.DataFrame,
    n_boot: int = N_BOOT,
    rng: np.random.Generator | None = None,
) -> SGRResult:
    """Supervision Gap Recovered with a paired item × seed bootstrap.

    ``easy``, ``hard`` and ``unsup`` are items × seeds 0/1 grids of the same hard test items
    (DataFrames are aligned by index = item id and columns = seed; arrays must already be aligned).
    Every draw resamples the same items and seeds for all three.
    """
    if all(isinstance(x, pd.DataFrame) for x in (easy, hard, unsup)):
        easy, hard, unsup = align(easy, hard, unsup)
    grids = [_as_grid(easy, "easy"), _as_grid(hard, "hard"), _as_grid(unsup, "unsupervised")]
    if len({g.shape for g in grids}) != 1:
        raise E2HError(
            f"SGR needs aligned grids, got shapes {[g.shape for g in grids]}; pass items × seeds of the same test items"
        )
    nan = [np.isnan(g) for g in grids]
    if not (np.array_equal(nan[0], nan[1]) and np.array_equal(nan[0], nan[2])):
        raise E2HError(
            "SGR needs identical test items per seed, but easy/hard/unsupervised were tested on different "
            "(item, seed) pairs; score every learner on the same split"
        )
    grids = _drop_empty(*grids)
    rng = rng if rng is not None else make_rng(0, "sgr")
    e_b, h_b, u_b = resampled_means(grids, n_boot, rng)  # (B,) each
    easy_est, hard_est, unsup_est = (_estimate(g, d) for g, d in zip(grids, (e_b, h_b, u_b), strict=True))

    gap_lo, gap_hi = _interval(h_b - u_b)
    easy_gain = e_b - u_b
    valid = np.isfinite(easy_gain)
    p_value = float((1 + np.sum(easy_gain[valid] <= 0)) / (1 + valid.sum()))
    common = dict(p_value=p_value, gap_lo=gap_lo, gap_hi=gap_hi, easy=easy_est, hard=hard_est, unsup=unsup_est)
    if not gap_lo > 0:
        where = "contains 0" if gap_hi >= 0 else "lies below 0"
        reason = (
            f"hard supervision does not beat the unsupervised baseline (gap CI [{gap_lo:.3f}, {gap_hi:.3f}] {where})"
        )
        return SGRResult(float("nan"), float("nan"), float("nan"), defined=False, reason=reason, **common)
    value = (easy_est.mean - unsup_est.mean) / (hard_est.mean - unsup_est.mean)
    with np.errstate(invalid="ignore", divide="ignore"):
        lo, hi = _interval(easy_gain / (h_b - u_b))
    return SGRResult(float(value), lo, hi, defined=True, reason="", **common)
