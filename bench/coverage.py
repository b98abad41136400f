"""How often the report's 95% intervals cover the truth, by simulation (statistics, not speed; no model).

    .venv/bin/python bench/coverage.py              # a few minutes on 2 CPU cores
    .venv/bin/python bench/coverage.py --reps 100   # a quicker, noisier look

Two designs the report meets, each simulated ``--reps`` times with ``--n-boot`` draws per interval:

* *baseline, shared items* (every ``n_test: all`` preset): every seed tests the same ``--n-items`` items and
  the unsupervised baseline's answer depends on the item alone (right with probability 0.5, truth 0.5).
  Coverage of the baseline's accuracy interval under the grid and the nested bootstraps, and under the
  nested bootstrap when each seed draws its items from a pool 4 times as large (about 44% of the results
  then on items another seed tests too, below the share at which the report refuses ``nested``);
* *Easy − Hard, few seeds*: easy- and hard-trained learners on shared items, each seed's training draw
  shifting its accuracy (logit + N(0, sd) for sd in ``--seed-sd``), items varying in difficulty (logit
  N(0, 1.5)). Coverage of the paired grid bootstrap's and of seed-t's interval for Easy − Hard (truth: the
  population difference, by Monte Carlo), for 2, 3 and 5 seeds.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.special import expit

from e2h.analysis.resampling import replicates, shared_share
from e2h.seeding import make_rng


def _covers(grids: list[np.ndarray], method: str, truth: float, stat, n_boot: int, rng) -> bool:
    lo, hi = replicates(grids, method, n_boot, rng).interval(stat)
    return bool(lo <= truth <= hi)


def baseline_coverage(n_seeds: int, n_items: int, pool: int, reps: int, n_boot: int) -> dict[str, float]:
    """Coverage of the baseline's 95% interval (truth 0.5) when each seed tests ``n_items`` of ``pool`` items."""
    rng = make_rng(0, "coverage", "baseline", n_seeds, pool)
    methods = ("grid", "nested") if pool == n_items else ("nested",)
    hits, shared = dict.fromkeys(methods, 0), 0.0
    for _ in range(reps):
        answers = (rng.random(pool) < 0.5).astype(float)  # the item alone decides
        grid = np.full((pool, n_seeds), np.nan)
        for s in range(n_seeds):
            tested = rng.choice(pool, n_items, replace=False)
            grid[tested, s] = answers[tested]
        shared += shared_share(~np.isnan(grid)) / reps
        for method in methods:
            hits[method] += _covers([grid], method, 0.5, lambda m: m.mean(0), n_boot, rng)
    return {method: n / reps for method, n in hits.items()} | {"shared": shared}


def easy_minus_hard_coverage(n_seeds: int, n_items: int, seed_sd: float, reps: int, n_boot: int) -> dict[str, float]:
    """Coverage of Easy − Hard's 95% interval: paired grid bootstrap and t-interval over seeds."""
    rng = make_rng(0, "coverage", "easy-hard", n_seeds, seed_sd)
    shift = {"easy": 0.0, "hard": 0.3}  # logits: hard training helps a little
    population = rng.normal(0, 1.5, 200_000)[:, None] + rng.normal(0, seed_sd, (2, 1, 200))
    truth = float(np.mean(expit(population[0] + shift["easy"]) - expit(population[1] + shift["hard"])))
    hits = dict.fromkeys(("grid", "seed-t"), 0)
    for _ in range(reps):
        items = rng.normal(0, 1.5, (n_items, 1))
        easy, hard = (
            (rng.random((n_items, n_seeds)) < expit(items + shift[c] + rng.normal(0, seed_sd, n_seeds))).astype(float)
            for c in ("easy", "hard")
        )
        for method in hits:
            hits[method] += _covers([easy, hard], method, truth, lambda m: m.diff(0, 1), n_boot, rng)
    return {method: n / reps for method, n in hits.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=300, help="simulated data sets per design")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap draws per interval")
    parser.add_argument("--n-items", type=int, default=200, help="test items per seed")
    parser.add_argument(
        "--seed-sd", type=float, nargs="+", default=[0.2, 0.5, 0.8], help="sds of a seed's training effect (logit)"
    )
    args = parser.parse_args()
    print(f"coverage of 95% intervals, {args.reps} simulations of {args.n_items} items each, {args.n_boot} draws")
    for n_seeds in (3, 5):
        shared = baseline_coverage(n_seeds, args.n_items, args.n_items, args.reps, args.n_boot)
        pool = baseline_coverage(n_seeds, args.n_items, 4 * args.n_items, args.reps, args.n_boot)
        print(
            f"baseline, {n_seeds} seeds: shared items: grid {shared['grid']:.2f}, nested {shared['nested']:.2f}; "
            f"items drawn from a 4× pool ({pool['shared']:.0%} of results shared): nested {pool['nested']:.2f}"
        )
    for seed_sd in args.seed_sd:
        for n_seeds in (2, 3, 5):
            cov = easy_minus_hard_coverage(n_seeds, args.n_items, seed_sd, args.reps, args.n_boot)
            grid, seed_t = cov["grid"], cov["seed-t"]
            print(f"Easy − Hard, seed sd {seed_sd}, {n_seeds} seeds: grid {grid:.2f}, seed-t {seed_t:.2f}")


if __name__ == "__main__":
    main()
