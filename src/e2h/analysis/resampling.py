"""Replicates of accuracy grids: bootstrap draws (grid or nested) and per-seed means, and what they give.

A grid is an items × seeds matrix of 0/1 correctness, NaN where an item was not in a seed's test set.
Several grids of the same shape are resampled together (paired): every replicate applies the same
resample to each, and each grid's mean is taken over its own observed cells, so a grid may be a subset
of another (the items of one level among all items).

- ``grid`` (Hase et al., 2024): items and seeds are drawn with replacement independently; a replicate
  weights cell (i, s) by (times item i drawn) × (times seed s drawn). Vectorised as
  ``(w @ X @ v) / (w @ M @ v)`` with item counts ``w`` (B, n_items), seed counts ``v`` (B, n_seeds),
  ``X`` the grid (NaN → 0) and ``M`` its observed mask, so no (B, n_items, n_seeds) array is built.
- ``nested``: seeds are drawn with replacement, then, for every drawn copy of a seed, that seed's own
  test items are drawn with replacement (two copies of one seed get independent item draws).
- ``seed-t``: no resampling; one replicate per seed (the seed's mean), for a t-interval over seeds.

Both bootstraps count item noise twice when seeds agree (once through the drawn seeds, whose means
already carry it, once through the items), so they are conservative then; with few seeds they cannot
see how far seeds spread, which the t-interval does (at the price of t's wide quantiles for 3 seeds).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

CI_METHODS = ("grid", "nested", "seed-t")
_CHUNK = 1_000  # draws per vectorised block; bounds memory at (CHUNK, n_items) counts
_NESTED_CELLS = 4_000_000  # nested draws: at most this many (draw, item, seed) counts per block


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
    """The mean of each grid's observed cells under each given item × seed resample: (len(grids), B).

    A resample in which a grid has no observed cell gives NaN for that grid.
    """
    n_items, n_seeds = grids[0].shape
    w, v = _counts(item_idx, n_items), _counts(seed_idx, n_seeds)  # (B, n_items), (B, n_seeds)
    out = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for grid in grids:
            mask = (~np.isnan(grid)).astype(float)  # (n_items, n_seeds)
            den = ((w @ mask) * v).sum(axis=1)  # (B,) resampled observed cells
            out.append(((w @ np.nan_to_num(grid, nan=0.0)) * v).sum(axis=1) / den)
    return np.stack(out)


def nested_counts(observed: np.ndarray, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """Times each (item, seed) cell is drawn by the nested bootstrap: (n_draws, n_items * n_seeds).

    ``observed`` (n_items, n_seeds) says which items each seed tested; seed s's copies draw from those only.
    """
    n_items, n_seeds = observed.shape
    n_cells = n_items * n_seeds
    copies = _counts(rng.integers(0, n_seeds, size=(n_draws, n_seeds)), n_seeds).astype(np.int64)  # (B, S)
    flat = []
    for s in range(n_seeds):
        items = np.flatnonzero(observed[:, s])
        per_draw = copies[:, s] * items.size  # item draws of seed s in each replicate
        rows = np.repeat(np.arange(n_draws), per_draw)
        picked = items[rng.integers(0, items.size, size=rows.size)] if items.size else rows
        flat.append(rows * n_cells + picked * n_seeds + s)
    counts = np.bincount(np.concatenate(flat), minlength=n_draws * n_cells)
    return counts.reshape(n_draws, n_cells).astype(float)


def _nested_means(grids: list[np.ndarray], n_draws: int, rng: np.random.Generator) -> np.ndarray:
    observed = np.logical_or.reduce([~np.isnan(g) for g in grids])
    counts = nested_counts(observed, n_draws, rng)  # (B, n_cells)
    values = np.stack([np.nan_to_num(g, nan=0.0).ravel() for g in grids], axis=1)  # (n_cells, G)
    masks = np.stack([(~np.isnan(g)).ravel() for g in grids], axis=1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((counts @ values) / (counts @ masks)).T  # (G, B)


def resampled_means(grids: list[np.ndarray], n_boot: int, rng: np.random.Generator, method: str = "grid") -> np.ndarray:
    """``n_boot`` paired resamples (``grid`` or ``nested``), the same for every grid: (len(grids), n_boot) means.

    Drawn in blocks so memory stays bounded whatever ``n_boot`` is.
    """
    n_items, n_seeds = grids[0].shape
    chunk = _CHUNK if method == "grid" else max(1, min(_CHUNK, _NESTED_CELLS // (n_items * n_seeds)))
    blocks = []
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        if method == "grid":
            blocks.append(means_for_indices(grids, *draw_indices(n_items, n_seeds, size, rng)))
        else:
            blocks.append(_nested_means(grids, size, rng))
    return np.concatenate(blocks, axis=1)


def seed_means(grids: list[np.ndarray]) -> np.ndarray:
    """Each grid's mean over each seed's observed items: (len(grids), n_seeds), NaN where a seed has none."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.stack([np.nansum(g, axis=0) / (~np.isnan(g)).sum(axis=0) for g in grids])


Stat = Callable[..., np.ndarray]  # one value per replicate from each grid's replicate means, e.g. e - u


@dataclass(frozen=True)
class Replicates:
    """Each grid's plug-in mean and its replicates: bootstrap draws, or one mean per seed (``seed-t``).

    ``interval`` and the p-values take a statistic of the grids' means (``lambda e, u: e - u``) and apply
    the method's rule: percentiles and counts of the draws, or a t-interval / t-test over the seeds'
    values with the standard error of their mean, centred on the statistic of the plug-in means.
    """

    point: np.ndarray  # (G,)
    values: np.ndarray  # (G, R): R draws, or R seeds
    method: str

    def _values(self, stat: Stat) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.asarray(stat(*self.values), dtype=float)
        return values[np.isfinite(values)]

    def _t(self, stat: Stat) -> tuple[float, float, int]:
        """(estimate, standard error, degrees of freedom) of ``stat`` over the seeds."""
        values = self._values(stat)
        estimate = float(stat(*self.point))
        if values.size < 2:
            return estimate, float("nan"), 0
        return estimate, float(values.std(ddof=1) / np.sqrt(values.size)), values.size - 1

    def interval(self, stat: Stat) -> tuple[float, float]:
        """95% interval of ``stat``; NaN when there is nothing to base it on (e.g. one seed for ``seed-t``)."""
        if self.method == "seed-t":
            estimate, se, df = self._t(stat)
            if not df:
                return float("nan"), float("nan")
            half = float(stats.t.ppf(0.975, df)) * se
            return estimate - half, estimate + half
        values = self._values(stat)
        if values.size == 0:
            return float("nan"), float("nan")
        lo, hi = np.quantile(values, [0.025, 0.975])
        return float(lo), float(hi)

    def p_greater(self, stat: Stat) -> float:
        """One-sided p-value for H0: stat ≤ 0."""
        if self.method == "seed-t":
            estimate, se, df = self._t(stat)
            return _t_tail(estimate, se, df)
        values = self._values(stat)
        return float((1 + np.sum(values <= 0)) / (1 + values.size))

    def p_two_sided(self, stat: Stat) -> float:
        """Two-sided p-value for H0: stat = 0."""
        if self.method == "seed-t":
            estimate, se, df = self._t(stat)
            return min(1.0, 2 * _t_tail(abs(estimate), se, df))
        values = self._values(stat)
        tail = min(np.sum(values <= 0), np.sum(values >= 0))
        return float(min(1.0, 2 * (1 + tail) / (1 + values.size)))


def _t_tail(estimate: float, se: float, df: int) -> float:
    """P(T ≥ estimate / se) for T ~ t(df); a zero standard error gives 0 or 1."""
    if not df:
        return float("nan")
    if se == 0:
        return 0.0 if estimate > 0 else 1.0
    return float(stats.t.sf(estimate / se, df))


def fieller_interval(reps: Replicates, num: Stat, den: Stat) -> tuple[float, float]:
    """95% Fieller interval of num / den from per-seed values (``seed-t``); NaN when it is unbounded.

    Solves (a − ρ b)² ≤ t² (v_aa − 2ρ v_ab + ρ² v_bb) for ρ, with a, b the plug-in numerator and
    denominator and v the covariances of the seed means' mean; bounded exactly when b's t-interval excludes 0.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        pairs = np.stack([num(*reps.values), den(*reps.values)])  # (2, n_seeds)
    pairs = pairs[:, np.isfinite(pairs).all(axis=0)]
    n = pairs.shape[1]
    if n < 2:
        return float("nan"), float("nan")
    a, b = float(num(*reps.point)), float(den(*reps.point))
    (v_aa, v_ab), (_, v_bb) = np.cov(pairs) / n
    t2 = float(stats.t.ppf(0.975, n - 1)) ** 2
    quad, half_lin, const = b * b - t2 * v_bb, a * b - t2 * v_ab, a * a - t2 * v_aa
    if quad <= 0:
        return float("nan"), float("nan")
    root = np.sqrt(max(half_lin * half_lin - quad * const, 0.0))
    return (half_lin - root) / quad, (half_lin + root) / quad


def replicates(
    grids: list[np.ndarray], method: str, n_boot: int, rng: np.random.Generator, *, paired: bool = True
) -> Replicates:
    """Plug-in means and replicates of ``grids`` under ``method``; ``paired=False`` resamples each grid apart."""
    point = np.array([np.nanmean(g) for g in grids])
    if method == "seed-t":
        return Replicates(point, seed_means(grids), method)
    if paired:
        return Replicates(point, resampled_means(grids, n_boot, rng, method), method)
    draws = [resampled_means([g], n_boot, rng, method)[0] for g in grids]
    return Replicates(point, np.stack(draws), method)
