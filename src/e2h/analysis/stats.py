"""Accuracy intervals, paired differences and the supervision gap recovered, over item × seed grids.

A cell group's results form a matrix ``correct[i, s]`` (item ``i``, seed ``s``; NaN where item ``i``
was not in seed ``s``'s test set). Following Hase et al. (2024, ``utils/metrics.py`` and
``analysis.Rmd`` of allenai/easy-to-hard-generalization), the default interval is the **grid
bootstrap**: each draw resamples the items AND the seeds with replacement and takes the mean of the
observed cells. Rows and columns that are entirely NaN are dropped first, as in the paper.
Beside it (``ci=``, see :mod:`e2h.analysis.resampling`): the **nested** bootstrap (seeds, then each
drawn seed's own items), refused where seeds share most of their test items (it would miss their shared
item noise: with ``n_test: all`` its 95% interval for the baseline covers the truth 64–75% of the time,
``bench/coverage.py``), and a **t-interval over seeds** (``seed-t``), which sees seed-to-seed spread only
and so holds test items shared by every seed fixed.

Differences from the paper's code, on purpose:

- the point estimate is the plug-in mean of the observed grid (the paper reports the mean of the
  bootstrap draws, which wanders with the number of draws);
- by default SGR pairs seeds as well as items (``pairing="paired"``): in e2h a seed fixes the test set, so
  easy-, hard- and un-supervised models of one seed saw the same items. ``pairing="paper"`` is the paper's
  scheme (one item draw for all conditions, each condition's seeds drawn on its own, differences cell by
  cell); ``pairing="unpaired"`` resamples each condition on its own, items too (no scheme of the paper's);
- every p-value is two-sided, for ``d = 0`` of a difference ``d`` of accuracies (Easy − Unsupervised,
  Easy − Hard), read off the same draws as the intervals as ``2 · min(P*(d ≤ 0), P*(d ≥ 0))`` (with the +1
  correction), so p < 0.05 exactly when the 95% percentile interval excludes 0 (the paper: two-sided,
  from the draws centred on their mean);
- SGR is reported as undefined when hard supervision does not beat the unsupervised baseline
  (the CI of ``Hard − Unsupervised`` reaches 0 or lies below it), instead of a huge, sign-flipping ratio.
  With ``seed-t`` the SGR interval is Fieller's, bounded exactly when that CI excludes 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from e2h.analysis.resampling import CI_METHODS, PAIRINGS, Replicates, fieller_interval, replicates, shared_share
from e2h.errors import E2HError
from e2h.seeding import make_rng

N_BOOT = 10_000
#: With at most this many seeds a bootstrap under-covers differences between trained conditions (seed-to-seed
#: spread is poorly seen by resampling 2 or 3 seeds): the tables give the t-interval over seeds beside it.
FEW_SEEDS = 3
#: ``nested`` is refused when more than this share of the results are on items that several seeds test.
NESTED_MAX_SHARED = 0.5
CI_NAMES = {
    "grid": "grid bootstrap (items and seeds resampled independently, items pooled across seeds; Hase et al.)",
    "nested": "nested bootstrap (seeds resampled, then each drawn seed's own test items)",
    "seed-t": "t-interval over seeds (one mean per seed, Student t with n_seeds − 1 degrees of freedom; "
    "seed-to-seed spread only: test items shared by every seed are held fixed)",
}
PAIRING_NAMES = {
    "paired": "paired: the same items and seeds drawn for Easy, Hard and Unsupervised",
    "paper": "the paper's pairing: one item draw for all three conditions, each condition's seeds drawn on its "
    "own, differences taken cell by cell (analysis.Rmd of Hase et al.)",
    "unpaired": "unpaired: each condition's items and seeds drawn on their own (ignores that the conditions "
    "share test items; not the paper's scheme)",
}


@dataclass(frozen=True)
class Estimate:
    """An accuracy (or any mean) with its 95% interval; ``n_results`` observed (item, seed) results."""

    mean: float
    lo: float
    hi: float
    n_items: int
    n_seeds: int
    n_results: int


@dataclass(frozen=True)
class Difference:
    """A − B of two accuracies with its 95% interval and the two-sided p-value for A − B = 0."""

    mean: float
    lo: float
    hi: float
    p_value: float


@dataclass(frozen=True)
class SGRResult:
    """SGR = (Easy − Unsupervised) / (Hard − Unsupervised) on identical hard test items.

    ``gap_lo``/``gap_hi`` are the 95% CI of Hard − Unsupervised; when it does not lie above 0 SGR is undefined
    (``value`` NaN, ``reason`` says why). ``easy_minus_unsup`` and ``easy_minus_hard`` carry two-sided p-values.
    """

    value: float
    lo: float
    hi: float
    defined: bool
    reason: str
    gap_lo: float
    gap_hi: float
    easy: Estimate
    hard: Estimate
    unsup: Estimate
    easy_minus_unsup: Difference
    easy_minus_hard: Difference
    ci: str = "grid"
    pairing: str = "paired"


def check_ci(ci: str, pairing: str = "paired") -> None:
    """Raise E2HError for an unknown interval method or pairing, or a pairing the method cannot use."""
    if ci not in CI_METHODS:
        raise E2HError(f"unknown interval method {ci!r}: use one of {', '.join(CI_METHODS)}")
    if pairing not in PAIRINGS:
        raise E2HError(f"unknown pairing {pairing!r}: use one of {', '.join(PAIRINGS)}")
    if ci == "seed-t" and pairing != "paired":
        raise E2HError(f"seed-t compares the conditions seed by seed; the {pairing} pairing is for the bootstraps")
    if pairing == "paper" and ci != "grid":
        raise E2HError(f"the paper's pairing is a scheme of the grid bootstrap; use it with ci grid, not {ci}")


def check_design(observed: np.ndarray, ci: str) -> None:
    """Refuse ``nested`` where seeds share most test items (``observed``: items × seeds, True where tested)."""
    share = shared_share(observed)
    if ci == "nested" and share > NESTED_MAX_SHARED:
        raise E2HError(
            f"the nested bootstrap assumes each seed tests its own items, but {share:.0%} of these results are on "
            "items that several seeds test (as with n_test: all), where its 95% interval covers far less than "
            "95%: use the grid bootstrap (--ci grid) or seed-t"
        )


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
    observed = np.logical_or.reduce([~np.isnan(g) for g in grids])
    keep_rows, keep_cols = observed.any(axis=1), observed.any(axis=0)
    return [g[keep_rows][:, keep_cols] for g in grids]


def _observed(*grids: np.ndarray) -> np.ndarray:
    return np.logical_or.reduce([~np.isnan(g) for g in grids])


def _estimate(grid: np.ndarray, reps: Replicates, index: int) -> Estimate:
    lo, hi = np.clip(reps.interval(lambda m: m.mean(index)), 0.0, 1.0)  # a t-interval may leave [0, 1]
    observed = ~np.isnan(grid)
    n_items, n_seeds = int(observed.any(axis=1).sum()), int(observed.any(axis=0).sum())
    return Estimate(float(np.nanmean(grid)), float(lo), float(hi), n_items, n_seeds, int(observed.sum()))


def _rng(rng: np.random.Generator | None, purpose: str) -> np.random.Generator:
    return rng if rng is not None else make_rng(0, purpose)


def accuracy_estimate(
    correct: np.ndarray | pd.DataFrame, ci: str = "grid", n_boot: int = N_BOOT, rng: np.random.Generator | None = None
) -> Estimate:
    """Mean accuracy of an items × seeds 0/1 grid (NaN = not tested) with a 95% interval of method ``ci``.

    ``rng`` defaults to ``make_rng(0, "grid_bootstrap")``; pass your own for independent streams.
    """
    check_ci(ci)
    (grid,) = _drop_empty(_as_grid(correct))
    check_design(_observed(grid), ci)
    return _estimate(grid, replicates([grid], ci, n_boot, _rng(rng, "grid_bootstrap")), 0)


def grid_bootstrap(
    correct: np.ndarray | pd.DataFrame, n_boot: int = N_BOOT, rng: np.random.Generator | None = None
) -> Estimate:
    """The paper's item × seed grid bootstrap: ``accuracy_estimate(correct, "grid", ...)``."""
    return accuracy_estimate(correct, "grid", n_boot, rng)


def _difference(reps: Replicates, i: int, j: int) -> Difference:
    stat = lambda m: m.diff(i, j)  # noqa: E731
    lo, hi = np.clip(reps.interval(stat), -1.0, 1.0)  # a difference of accuracies lies in [-1, 1]
    return Difference(reps.estimate(stat), float(lo), float(hi), reps.p_two_sided(stat))


def difference(
    a: np.ndarray,
    b: np.ndarray,
    ci: str = "grid",
    n_boot: int = N_BOOT,
    rng: np.random.Generator | None = None,
    *,
    pairing: str = "paired",
) -> Difference:
    """mean(a) − mean(b) of two aligned items × seeds grids, with its 95% interval and two-sided p.

    The grids may be observed on different cells (``a`` the items of one level, ``b`` all items);
    paired resampling draws the same items and seeds for both. The paper's pairing subtracts cell by
    cell, so it needs both grids observed on the same cells.
    """
    check_ci(ci, pairing)
    a, b = _drop_empty(_as_grid(a, "a"), _as_grid(b, "b"))
    if a.shape != b.shape:
        raise E2HError(f"a difference needs aligned grids, got shapes {a.shape} and {b.shape}")
    if pairing == "paper" and not np.array_equal(np.isnan(a), np.isnan(b)):
        raise E2HError("the paper's pairing subtracts cell by cell: a and b must be observed on the same cells")
    check_design(_observed(a, b), ci)
    return _difference(replicates([a, b], ci, n_boot, _rng(rng, "difference"), pairing=pairing), 0, 1)


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


def aligned_grids(easy, hard, unsup) -> list[np.ndarray]:
    """The three conditions as arrays of one shape, observed on the same (item, seed) cells, else E2HError."""
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
    return _drop_empty(*grids)


def _undefined_reason(gap_lo: float, gap_hi: float) -> str:
    if np.isnan(gap_lo):
        return "no interval for Hard − Unsupervised (a t-interval over seeds needs at least 2 seeds)"
    where = "contains 0" if gap_hi >= 0 else "lies below 0"
    return f"hard supervision does not beat the unsupervised baseline (gap CI [{gap_lo:.3f}, {gap_hi:.3f}] {where})"


def sgr(
    easy: np.ndarray | pd.DataFrame,
    hard: np.ndarray | pd.DataFrame,
    unsup: np.ndarray | pd.DataFrame,
    n_boot: int = N_BOOT,
    rng: np.random.Generator | None = None,
    *,
    ci: str = "grid",
    pairing: str = "paired",
) -> SGRResult:
    """Supervision Gap Recovered, its interval, and the differences between the three conditions.

    ``easy``, ``hard`` and ``unsup`` are items × seeds 0/1 grids of the same hard test items
    (DataFrames are aligned by index = item id and columns = seed; arrays must already be aligned).
    ``ci`` picks the interval method; ``pairing`` how the three conditions are resampled together
    (``paired``: the same items and seeds; ``paper``; ``unpaired``; see :data:`PAIRING_NAMES`).
    """
    check_ci(ci, pairing)
    grids = aligned_grids(easy, hard, unsup)
    check_design(_observed(*grids), ci)
    reps = replicates(grids, ci, n_boot, _rng(rng, "sgr"), pairing=pairing)
    easy_est, hard_est, unsup_est = (_estimate(g, reps, i) for i, g in enumerate(grids))

    gain, gap = (lambda m: m.diff(0, 2)), (lambda m: m.diff(1, 2))
    gap_lo, gap_hi = reps.interval(gap)
    common = dict(
        gap_lo=gap_lo,
        gap_hi=gap_hi,
        easy=easy_est,
        hard=hard_est,
        unsup=unsup_est,
        easy_minus_unsup=_difference(reps, 0, 2),
        easy_minus_hard=_difference(reps, 0, 1),
        ci=ci,
        pairing=pairing,
    )
    if not gap_lo > 0:
        nan = float("nan")
        return SGRResult(nan, nan, nan, defined=False, reason=_undefined_reason(gap_lo, gap_hi), **common)
    value = reps.estimate(gain) / reps.estimate(gap)
    if ci == "seed-t":
        lo, hi = fieller_interval(reps, gain, gap)
    else:
        lo, hi = reps.interval(lambda m: gain(m) / gap(m))
    return SGRResult(float(value), lo, hi, defined=True, reason="", **common)
