"""Model-based hardness: measures that fit or score models, written as versioned measure tables.

>>> from e2h.measures import compute_measure
>>> [result] = compute_measure("arc", "prequential", models=["smollm2-135m"], format="cloze")
>>> result.measure, result.provenance["summary"]["compression"]
('prequential_smollm2-135m', ...)
>>> load_dataset("arc")["prequential_smollm2-135m"]      # read back like any other measure

Methods: ``mdl_proxy`` (the paper's, :mod:`e2h.measures.mdl`; ``learner="zero-shot"``: its zero-shot MDL, no
pool), ``prequential`` (code length in bits, :mod:`e2h.measures.prequential`), ``nll`` (the paper's summed NLL of
the bare question, answer and reasoning) and ``nll_per_token`` (e2h's mean per token after the prompt), both
:mod:`e2h.measures.nll`, and ``irt`` (difficulty and discrimination from finished runs, :mod:`e2h.measures.irt`).
``source`` and ``variant`` pick the preparation of a built-in dataset to compute on (a run's). Table layout and
storage: :mod:`e2h.data.measure_tables`; the naming scheme: :mod:`e2h.measure_names`. This package sits above
``e2h.learners``; ``e2h.data`` and ``e2h.hardness`` read its tables by name and never import it.
"""

from e2h.measures.compute import METHODS, SETTINGS, MeasureResult, compute_measure

__all__ = ["METHODS", "SETTINGS", "MeasureResult", "compute_measure"]
