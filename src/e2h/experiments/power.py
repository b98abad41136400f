"""The power of a planned run, before any model loads: the hard test items of each SGR group and the expected 95%
half-width of Hard − Unsup on them (the estimate: :mod:`e2h.hardness.power`).

An SGR group is a supervised learner trained on both easy and hard items of a dataset and measure, beside the
dataset's unsupervised baseline; its items are the hard test items the easy-trained and the baseline cells of a
seed share (the paired comparison). Groups whose cells test the same items (every learner, model and noise level
of one test pool) print once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from e2h.errors import E2HError
from e2h.experiments.grid import Cell
from e2h.hardness.power import HardPower, hard_power
from e2h.hardness.split import Split


@dataclass
class _Group:
    easy: dict[int, Cell] = field(default_factory=dict)  # seed → an easy-trained cell
    trained: dict[str, set[str]] = field(default_factory=dict)  # learner label → the levels it trains on
    sizes: dict[str, set[int]] = field(default_factory=dict)  # easy / hard → the n_train of its cells


def sgr_power(cells: list[Cell], split_of: Callable[[Cell], Split]) -> list[tuple[str, HardPower]]:
    """``(what, power)`` per test pool with an SGR group; ``split_of`` draws a cell's split (``runner.cell_split``)."""
    baselines = {(c.dataset, c.measure, c.seed): c for c in cells if c.baseline}
    groups: dict[tuple, _Group] = {}
    for cell in cells:
        if cell.train_on not in ("easy", "hard"):
            continue
        key = (cell.dataset, cell.train_dataset, cell.measure, cell.train_measure, cell.cutoffs, cell.reserve)
        group = groups.setdefault(key, _Group())
        group.trained.setdefault(cell.label, set()).add(cell.train_on)
        group.sizes.setdefault(cell.train_on, set()).add(cell.n_train)
        if cell.train_on == "easy" and (cell.dataset, cell.measure, cell.seed) in baselines:
            group.easy.setdefault(cell.seed, cell)
    lines = []
    several = _pools_per_measure(groups)
    for (dataset, train_dataset, measure, *_), group in groups.items():
        learners = sorted(label for label, levels in group.trained.items() if levels == {"easy", "hard"})
        if not learners or not group.easy:
            continue
        hard, chances = [], []
        try:
            for seed, easy in sorted(group.easy.items()):
                tested = [_hard_items(split_of(c)) for c in (easy, baselines[(dataset, measure, seed)])]
                shared = set(tested[0]) & set(tested[1])
                hard.append(shared)
                chances += [tested[1][i] for i in shared]
        except E2HError:  # an impossible split: the plan marks it, and the run stops before any model loads
            continue
        chance = sum(chances) / len(chances) if chances and all(chances) else None
        data = Path(dataset).name if train_dataset == dataset else f"{Path(train_dataset).name}→{Path(dataset).name}"
        point = _sizes(group) if several[(dataset, train_dataset, measure)] else ""
        lines.append((f"{data}/{measure}{point} ({', '.join(learners)})", hard_power(hard, chance)))
    return lines


def _hard_items(split: Split) -> dict[str, float]:
    """Hard test item id → its chance rate (0 for a generated answer)."""
    hard = split.test[split.test["level"] == "hard"]
    return {i: (1 / len(c) if len(c) > 1 else 0.0) for i, c in zip(hard["id"], hard["choices"], strict=True)}


def _pools_per_measure(groups: dict[tuple, _Group]) -> dict[tuple[str, str, str], bool]:
    """Whether a dataset and measure has several test pools (``test_pool: point`` or ``cost``), so lines name the
    training sizes."""
    count: dict[tuple[str, str, str], int] = {}
    for dataset, train_dataset, measure, *_ in groups:
        count[(dataset, train_dataset, measure)] = count.get((dataset, train_dataset, measure), 0) + 1
    return {key: n > 1 for key, n in count.items()}


def _sizes(group: _Group) -> str:
    """`` n_train=40`` or, where the levels' sizes differ (``test_pool: cost``), `` easy n=80, hard n=40``."""
    easy, hard = (",".join(map(str, sorted(group.sizes.get(level, ())))) for level in ("easy", "hard"))
    return f" n_train={easy}" if easy == hard else f" easy n={easy}, hard n={hard}"
