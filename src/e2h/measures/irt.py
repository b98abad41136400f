"""``irt_difficulty`` and ``irt_discrimination``: item response theory over finished runs.

Every cell of a run is one *responder* (a model × learner × format × training level × size × seed);
its test items are its responses (``correct``). The model is a 2PL with a known guessing floor
``c_i = 1 / n_choices`` (0 for generative items)::

    P(correct_ij) = c_i + (1 − c_i) · σ(a_i (θ_j − b_i))

fitted by maximum a posteriori with priors ``θ ~ N(0, 1)``, ``b ~ N(0, 2²)``, ``log a ~ N(0, 0.5²)``
(the priors fix the scale and keep items every responder got right or wrong finite), by L-BFGS in
float64. ``model="1pl"`` fixes ``a = 1`` (Rasch with guessing). Items with fewer than
``min_responses`` responses are left out of the fit and get NaN. This is the response-matrix
estimate of difficulty of recent work that reads hardness from many models' answers; it needs no
extra library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from e2h.answering import chance_rate
from e2h.errors import E2HError

IRT_MODELS = ("2pl", "1pl")
MIN_RESPONSES = 5


@dataclass
class IRTFit:
    """Per-item ``difficulty`` and ``discrimination`` (N,), NaN where not fitted, and fit diagnostics."""

    difficulty: np.ndarray
    discrimination: np.ndarray
    diagnostics: dict = field(default_factory=dict)


def read_responses(runs: list[str | Path]) -> pd.DataFrame:
    """``item_id``, ``responder`` (run/cell id), ``correct``, ``n_choices`` of every cell of the given runs."""
    frames = []
    for run in runs:
        files = sorted((Path(run) / "cells").glob("*.parquet"))
        if not files:
            raise E2HError(f"{run} has no results in cells/*.parquet: pass a finished run folder (runs/<name>).")
        for file in files:
            frame = pd.read_parquet(file, columns=["item_id", "correct", "n_choices"])
            frames.append(frame.assign(responder=f"{Path(run).name}/{file.stem}"))
    return pd.concat(frames, ignore_index=True)


def fit_irt(
    responses: pd.DataFrame, item_ids: list[str], *, model: str = "2pl", min_responses: int = MIN_RESPONSES
) -> IRTFit:
    """Fit the model to ``responses`` (from :func:`read_responses`) for the items ``item_ids``."""
    if model not in IRT_MODELS:
        raise E2HError(f"unknown IRT model {model!r}: use one of {', '.join(IRT_MODELS)}.")
    position = {item: i for i, item in enumerate(item_ids)}
    data = responses[responses["item_id"].isin(position)]
    counts = data["item_id"].map(position).value_counts()
    fitted = np.zeros(len(item_ids), dtype=bool)
    fitted[counts.index[counts >= min_responses].to_numpy(dtype=int)] = True
    data = data[fitted[data["item_id"].map(position).to_numpy(dtype=int)]]
    if data.empty:
        raise E2HError(f"no item has {min_responses}+ responses in these runs: pass more runs or lower min_responses.")
    items = data["item_id"].map(position).to_numpy(dtype=int).copy()
    responders, resp = np.unique(data["responder"].to_numpy(), return_inverse=True)
    guess = torch.as_tensor(chance_rate(data["n_choices"]))  # (R,)
    y = torch.as_tensor(data["correct"].to_numpy(dtype=float))  # (R,) responses
    i_t, j_t = torch.tensor(items), torch.tensor(resp)  # (R,) item and responder of each response

    theta = torch.zeros(len(responders), dtype=torch.float64, requires_grad=True)  # (J,)
    b = torch.zeros(len(item_ids), dtype=torch.float64, requires_grad=True)  # (N,)
    log_a = torch.zeros(len(item_ids), dtype=torch.float64, requires_grad=model == "2pl")  # (N,)
    params = [theta, b, *([log_a] if model == "2pl" else [])]

    def log_lik() -> torch.Tensor:
        logit = log_a.exp()[i_t] * (theta[j_t] - b[i_t])  # (R,)
        p = guess + (1 - guess) * torch.sigmoid(logit)
        p = p.clamp(1e-12, 1 - 1e-12)
        return (y * p.log() + (1 - y) * (1 - p).log()).sum()

    def loss() -> torch.Tensor:
        prior = (theta**2).sum() / 2 + (b**2).sum() / (2 * 4.0) + (log_a**2).sum() / (2 * 0.25)
        return -log_lik() + prior

    optimizer = torch.optim.LBFGS(params, lr=1.0, max_iter=500, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        value = loss()
        value.backward()
        return value

    optimizer.step(closure)
    with torch.no_grad():
        ll = float(log_lik())
    difficulty = np.where(fitted, b.detach().numpy(), np.nan)
    discrimination = np.where(fitted, log_a.exp().detach().numpy(), np.nan)
    diagnostics = {
        "model": model,
        "log_likelihood": ll,
        "mean_log_likelihood": ll / len(y),
        "n_responses": len(y),
        "n_responders": len(responders),
        "n_items_fitted": int(fitted.sum()),
        "n_items_too_few_responses": int((~fitted).sum()),
        "min_responses": int(min_responses),
        "accuracy": float(y.mean()),
    }
    return IRTFit(difficulty, discrimination, diagnostics)
