"""Plan a model's engine work across all the cells of a run, deduplicate it, and compute it in one pass.

Before the cells of a model run, each cell's learner lists the requests it will score or read hidden
states of (``Learner.planned_requests``: the zero-shot and ICL test items with their demonstrations, the
probe's training and test items…).
Identical requests of different cells (the same test items for zero-shot and every probe of a seed, the
training items shared by overlapping levels) are kept once, and ``LanguageModel.prefetch`` computes the
scores and hidden states of all of them with one forward per packed row: first the requests whose hidden
states a cell reads, then those only scored. The cells then fit and predict
from the engine's caches. Only work that a cell's learner plans is prefetched; with the engine's caches
off there is nothing to fill and this step does nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from e2h.experiments.cell import cell_split, cell_train

if TYPE_CHECKING:
    from e2h.experiments.cell import RunData
    from e2h.experiments.grid import Cell
    from e2h.models import LanguageModel


def prefetch_cells(cells: list[Cell], lm: LanguageModel, data: RunData) -> int:
    """Compute the planned requests of ``cells`` on ``lm`` in one deduplicated pass; returns how many were new."""
    from e2h.learners import make_learner

    by_layers: dict[tuple[int, ...] | None, dict[tuple, object]] = {}
    scored: set[tuple] = set()
    for cell in cells:
        split = cell_split(cell, data)
        learner = make_learner(cell.learner, lm, **cell.options)
        for planned in learner.planned_requests(cell_train(cell, split), split.test):
            wanted = by_layers.setdefault(planned.layers, {})
            for request in planned.requests:
                key = (request.prefix, request.context, request.continuations)
                wanted[key] = request
                if planned.scores:
                    scored.add(key)
    # Hidden-state passes first: they store scores too, so the scores-only pass then skips the requests they
    # shared (zero-shot and probe test items) and computes no hidden states for the rest (ICL's prompts),
    # whose scores an earlier run without a probe may already have cached.
    computed = 0
    for layers, wanted in sorted(by_layers.items(), key=lambda item: item[0] == ()):
        requests = list(wanted.values())
        if requests:
            computed += lm.prefetch(requests, scores=bool(scored), layers=layers)
    return computed
