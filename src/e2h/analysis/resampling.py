"""Replicates of accuracy grids: bootstrap draws (grid or nested) and per-seed means, and what they give.

A grid is an items × seeds matrix of 0/1 correctness, NaN where an item was not in a seed's test set.
Several grids of the same shape are resampled together: every replicate applies the same resample to
each, and each grid's mean is taken over its own observed cells, so a grid may be a subset of another
(the items of one level among all items).

- ``grid`` (Hase et al., 2024): items and seeds are drawn with replacement independently; a replicate
  weights cell (i, s) by (times item i drawn) × (times seed s drawn). Vectorised as
  ``(w @ X @ v) / (w @ M @ v)`` with item counts ``w`` (B, n_items), seed counts ``v`` (B, n_seeds),
  ``X`` the grid (NaN → 0) and ``M`` its observed mask, so no (B, n_items, n_seeds) array is built.
- ``nested``: seeds are drawn with replacement, then, for every drawn copy of a seed, that seed's own
  test items are drawn with replacement (two copies of one seed get independent item draws). It assumes
  each seed tests its own items; where seeds share them it misses their shared item noise (see
  :func:`shared_share`, and :mod:`e2h.analysis.stats`, which refuses it there).
- ``seed-t``: no resampling; one replicate per seed (the seed's mean), for a t-interval over seeds. It sees
  seed-to-seed spread only: test items shared by every seed are held fixed.

How the grids of several conditions are resampled together (``pairing``):

- ``paired`` (e2h): the same item and seed draws for every grid;
- ``paper`` (``analysis.Rmd`` of Hase et al.: ``bootstrapDiff``, ``bootstrapBminusAoverCminusA``): one item
  draw (row index) shared by every grid, the seeds (columns) drawn for each grid on its own; a difference
  is the mean of the cell-by-cell differences of the two resampled grids, over the cells observed in both;
- ``unpaired``: each grid resampled on its own, items and seeds (ignores that the conditions share items).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from scipy import stats

CI_METHODS = ("grid", "nested", "seed-t")
PAIRINGS = ("paired", "paper", "unpaired")
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


def _weighted_means(grids: list[np.ndarray], w: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Each grid's mean with cell (i, s) weighted by ``w[b, i] * v[b, s]``: (len(grids), B)."""
    out = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for grid in grids:
            mask = (~np.isnan(grid)).astype(float)  # (n_items, n_seeds)
            den = ((w @ mask) * v).sum(axis=1)  # (B,) resampled observed cells
            out.append(((w @ np.nan_to_num(grid, nan=0.0)) * v).sum(axis=1) / den)
    return np.stack(out)


def means_for_indices(grids: list[np.ndarray], item_idx: np.ndarray, seed_idx: np.ndarray) -> np.ndarray:
    """The mean of each grid's observed cells under each given item × seed resample: (len(grids), B).

    A resample in which a grid has no observed cell gives NaN for that grid.
    """
    n_items, n_seeds = grids[0].shape
    return _weighted_means(grids, _counts(item_idx, n_items), _counts(seed_idx, n_seeds))


def shared_share(observed: np.ndarray) -> float:
    """The share of observed (item, seed) results whose item another seed tested too (0 with one seed)."""
    observed = np.asarray(observed, dtype=bool)
    total = observed.sum()
    return float(observed[observed.sum(axis=1) > 1].sum() / total) if total else 0.0


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


def _paper_block(grids: list[np.ndarray], size: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """One block of the paper's draws: (G, B) means and {(i, j): (B,) mean cell-by-cell difference i − j}."""
    n_items, n_seeds = grids[0].shape
    w = _counts(rng.integers(0, n_items, size=(size, n_items)), n_items)  # (B, n_items): one row draw
    cols = [rng.integers(0, n_seeds, size=(size, n_seeds)) for _ in grids]  # each grid's own column draw
    means = np.concatenate([_weighted_means([g], w, _counts(c, n_seeds)) for g, c in zip(grids, cols, strict=True)])
    values = [np.nan_to_num(g, nan=0.0) for g in grids]
    masks = [(~np.isnan(g)).astype(float) for g in grids]
    diffs = {}
    for i, j in combinations(range(len(grids)), 2):
        # Column k of a draw pairs seed cols[i][:, k] of grid i with seed cols[j][:, k] of grid j: count
        # each (a, b) pair per draw, then weight the item-wise differences of seed a and seed b by it.
        pairs = _counts(cols[i] * n_seeds + cols[j], n_seeds * n_seeds)  # (B, S·S)
        both = masks[i][:, :, None] * masks[j][:, None, :]  # (n_items, S, S) observed in both
        delta = both * (values[i][:, :, None] - values[j][:, None, :])
        num = ((w @ delta.reshape(n_items, -1)) * pairs).sum(axis=1)
        den = ((w @ both.reshape(n_items, -1)) * pairs).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            diffs[(i, j)] = num / den
    return means, diffs


def paper_draws(grids: list[np.ndarray], n_boot: int, rng: np.random.Generator) -> Means:
    """``n_boot`` draws of the paper's scheme: shared rows, each grid's own columns (see the module docstring)."""
    blocks = [_paper_block(grids, min(_CHUNK, n_boot - start), rng) for start in range(0, n_boot, _CHUNK)]
    means = np.concatenate([m for m, _ in blocks], axis=1)
    diffs = {pair: np.concatenate([d[pair] for _, d in blocks]) for pair in blocks[0][1]}
    return Means(means, diffs)


def seed_means(grids: list[np.ndarray]) -> np.ndarray:
    """Each grid's mean over each seed's observed items: (len(grids), n_seeds), NaN where a seed has none."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.stack([np.nansum(g, axis=0) / (~np.isnan(g)).sum(axis=0) for g in grids])


@dataclass(frozen=True)
class Means:
    """Each grid's mean (``mean(i)``) and each pair's mean difference (``diff(i, j)``), once or per replicate.

    Without ``diffs`` a difference is the difference of the means; the paper's scheme records its own
    (the mean of cell-by-cell differences, which pairs the two grids' drawn seeds column by column).
    """

    means: np.ndarray  # (G,) or (G, R)
    diffs: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)  # (i, j), i < j → (R,)

    def mean(self, i: int) -> np.ndarray:
        return self.means[i]

    def diff(self, i: int, j: int) -> np.ndarray:
        if (i, j) in self.diffs:
            return self.diffs[(i, j)]
        if (j, i) in self.diffs:
            return -self.diffs[(j, i)]
        return self.means[i] - self.means[j]


Stat = Callable[[Means], np.ndarray]  # one value per replicate, e.g. ``lambda m: m.diff(0, 2)``


@dataclass(frozen=True)
class Replicates:
    """The grids' plug-in means and their replicates: bootstrap draws, or one mean per seed (``seed-t``).

    ``interval`` and the p-values take a statistic of the means (``lambda m: m.diff(0, 1)``) and apply
    the method's rule: percentiles and counts of the draws, or a t-interval / t-test over the seeds'
    values with the standard error of their mean, centred on the statistic of the plug-in means.
    """

    point: Means  # (G,)
    values: Means  # (G, R): R draws, or R seeds
    method: str

    def _values(self, stat: Stat) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.asarray(stat(self.values), dtype=float)
        return values[np.isfinite(values)]

    def estimate(self, stat: Stat) -> float:
        """The statistic of the plug-in means."""
        return float(stat(self.point))

    def _t(self, stat: Stat) -> tuple[float, float, int]:
        """(estimate, standard error, degrees of freedom) of ``stat`` over the seeds."""
        values = self._values(stat)
        estimate = self.estimate(stat)
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
        pairs = np.stack([num(reps.values), den(reps.values)])  # (2, n_seeds)
    pairs = pairs[:, np.isfinite(pairs).all(axis=0)]
    n = pairs.shape[1]
    if n < 2:
        return float("nan"), float("nan")
    a, b = reps.estimate(num), reps.estimate(den)
    (v_aa, v_ab), (_, v_bb) = np.cov(pairs) / n
    t2 = float(stats.t.ppf(0.975, n - 1)) ** 2
    quad, half_lin, const = b * b - t2 * v_bb, a * b - t2 * v_ab, a * a - t2 * v_aa
    if quad <= 0:
        return float("nan"), float("nan")
    root = np.sqrt(max(half_lin * half_lin - quad * const, 0.0))
    return (half_lin - root) / quad, (half_lin + root) / quad


def replicates(
    grids: list[np.ndarray], method: str, n_boot: int, rng: np.random.Generator, *, pairing: str = "paired"
) -> Replicates:
    """Plug-in means and replicates of ``grids`` under ``method`` and ``pairing`` (see the module docstring)."""
    point = Means(np.array([np.nanmean(g) for g in grids]))
    if method == "seed-t":
        return Replicates(point, Means(seed_means(grids)), method)
    if pairing == "paper":
        return Replicates(point, paper_draws(grids, n_boot, rng), method)
    if pairing == "paired":
        return Replicates(point, Means(resampled_means(grids, n_boot, rng, method)), method)
    draws = [resampled_means([g], n_boot, rng, method)[0] for g in grids]
    return Replicates(point, Means(np.stack(draws)), method)
