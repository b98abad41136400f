"""The paper's "linear classifier head": a linear probe on frozen hidden states.

Each choice of an item is scored by one bias-free linear map of the model's hidden state at
the last token of (prompt + choice); a softmax over the item's real choices gives the
probabilities. Features are the chosen layers concatenated (default: middle and last) and
z-scored with statistics of the training items' real choices.

Optimisation follows Hase et al. (``models/probes.py``): loss = NLL + l2 · ‖w‖₂ (the
*unsquared* norm), full-batch SGD with lr 0.05 for 100 epochs, the lr decaying linearly to
10% of its start, gradient-norm clipping at 1.0, init ``U(-1/√F, 1/√F)`` (``nn.Linear``'s).
``solver="lbfgs"`` instead minimises the convex NLL + l2 · ‖w‖₂² with L-BFGS.

Differences from the paper's code: padded choices get probability exactly 0 (scores set to
-inf before the softmax; the paper has no mask), z-scoring excludes padding, a feature with
zero spread is left unscaled instead of dividing by zero, and the fit runs in float64.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import torch

from e2h.errors import E2HError
from e2h.learners.base import Learner, Param, Planned, Predictions
from e2h.learners.params import Interval, ListOf, Options
from e2h.learners.prompting import FORMATS_ALLOWED, SEED_ALLOWED
from e2h.seeding import make_rng

SOLVERS = ("sgd", "lbfgs")


def fit_linear_scores(
    features: np.ndarray,
    mask: np.ndarray,
    labels: np.ndarray,
    *,
    solver: str = "sgd",
    l2: float = 1.0,
    lr: float = 0.05,
    epochs: int = 100,
    max_grad_norm: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """Fit ``w`` (F,) so that ``softmax(features @ w)`` over real choices predicts ``labels``.

    ``features`` (n, C, F), ``mask`` (n, C) bool (True for a real choice), ``labels`` (n,) int.
    Returns the weights as a float64 array. Deterministic for ``seed``.
    """
    if solver not in SOLVERS:
        raise E2HError(f"unknown probe solver {solver!r}: use one of {', '.join(SOLVERS)}.")
    x = torch.as_tensor(features, dtype=torch.float64)  # (n, C, F)
    m = torch.as_tensor(mask, dtype=torch.bool)  # (n, C)
    y = torch.tensor(np.asarray(labels), dtype=torch.long)  # (n,)
    n_features = x.shape[-1]
    bound = 1.0 / np.sqrt(n_features)
    init = make_rng(seed, "probe", "init").uniform(-bound, bound, size=n_features)
    w = torch.tensor(init, dtype=torch.float64, requires_grad=True)  # (F,)

    def nll() -> torch.Tensor:
        log_probs = _masked_log_softmax(x @ w, m)  # (n, C)
        return -log_probs.gather(1, y[:, None]).mean()

    if solver == "sgd":
        optimizer = torch.optim.SGD([w], lr=lr)
        # linear decay to 10% of the start: factor 1 at step 0, 1 - 0.9 (T-1)/T at the last step
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 - 0.9 * step / epochs)
        for _ in range(epochs):
            loss = nll() + l2 * torch.linalg.vector_norm(w)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_([w], max_grad_norm)
            optimizer.step()
            schedule.step()
    else:
        optimizer = torch.optim.LBFGS([w], lr=1.0, max_iter=max(epochs, 1), line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = nll() + l2 * (w * w).sum()
            loss.backward()
            return loss

        optimizer.step(closure)
    weights = w.detach().numpy().copy()
    if not np.all(np.isfinite(weights)):
        raise E2HError("the linear probe diverged (non-finite weights): lower lr or raise l2.")
    return weights


def linear_choice_probs(features: np.ndarray, mask: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """Choice probabilities (n, C) of ``softmax(features @ coef)``; padded choices get exactly 0."""
    x = torch.as_tensor(features, dtype=torch.float64)  # (n, C, F)
    scores = x @ torch.as_tensor(coef, dtype=torch.float64)  # (n, C)
    return _masked_log_softmax(scores, torch.as_tensor(mask, dtype=torch.bool)).exp().numpy()


def _masked_log_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Log-softmax over the last axis with padded slots set to -inf (they get log-prob -inf)."""
    return torch.log_softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)


def pad_choice_features(per_item: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack per-item (n_choices_i, F) arrays into features (n, C, F) and a mask (n, C), C = max n_choices_i."""
    n_max = max(len(f) for f in per_item)
    n_features = per_item[0].shape[-1]
    features = np.zeros((len(per_item), n_max, n_features), dtype=np.float64)
    mask = np.zeros((len(per_item), n_max), dtype=bool)
    for i, f in enumerate(per_item):
        features[i, : len(f)] = f
        mask[i, : len(f)] = True
    return features, mask


def zscore_stats(features: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (F,) over the real choices only; a zero spread becomes 1."""
    real = features[mask]  # (n_real, F)
    mean = real.mean(axis=0)
    std = real.std(axis=0, ddof=1) if len(real) > 1 else np.ones_like(mean)
    return mean, np.where(std > 0, std, 1.0)


class LinearProbe(Learner):
    """A linear probe over choices on frozen hidden states (middle + last layer by default)."""

    name = "linear-probe"

    params: ClassVar[dict[str, Param]] = {
        "format": Param(
            "listed",
            "prompt format whose answer-end hidden states are the features",
            shared=True,
            allowed=FORMATS_ALLOWED,
        ),
        "layers": Param(
            None,
            "hidden-state layers to concatenate (None: the middle and the last)",
            allowed=(None, ListOf(Interval(int, 0))),
        ),
        "solver": Param("sgd", "sgd (the paper's optimisation) or lbfgs", allowed=(Options(*SOLVERS),)),
        "l2": Param(
            1.0, "weight of the L2 penalty (unsquared norm with sgd, squared with lbfgs)", allowed=(Interval(float, 0),)
        ),
        "lr": Param(
            0.05, "SGD learning rate (decays linearly to 10%)", allowed=(Interval(float, 0, closed="neither"),)
        ),
        "epochs": Param(100, "full-batch SGD steps, or the L-BFGS iteration cap", allowed=(Interval(int, 1),)),
        "seed": Param(0, "seed of the weight initialisation", shared=True, allowed=SEED_ALLOWED),
    }

    def planned_requests(self, train: pd.DataFrame, test: pd.DataFrame) -> list[Planned]:
        """Hidden states of every choice of the training and test items."""
        from e2h.models.templates import build_request

        items = pd.concat([train, test]).to_dict("records")
        layers = None if self.layers is None else tuple(self.layers)
        return [Planned(tuple(build_request(item, self.format) for item in items), scores=False, layers=layers)]

    def fit(self, train: pd.DataFrame) -> LinearProbe:
        features, mask = self._features(train, "fit")
        self.mean_, self.std_ = zscore_stats(features, mask)
        self.coef_ = fit_linear_scores(
            self._standardize(features, mask),
            mask,
            train["label"].to_numpy(dtype=int),
            solver=self.solver,
            l2=self.l2,
            lr=self.lr,
            epochs=self.epochs,
            seed=self.seed,
        )
        return self

    def predict_proba(self, test: pd.DataFrame) -> list[np.ndarray]:
        """One probability per real choice of each item (no padding)."""
        self.check_is_fitted("coef_", "mean_", "std_")
        features, mask = self._features(test, "predict")
        probs = linear_choice_probs(self._standardize(features, mask), mask, self.coef_)
        return [row[row_mask] for row, row_mask in zip(probs, mask, strict=True)]

    def predict(self, test: pd.DataFrame) -> Predictions:
        return Predictions.from_probs(test, self.predict_proba(test), info={"n_features": int(self.coef_.shape[0])})

    def _features(self, items: pd.DataFrame, stage: str) -> tuple[np.ndarray, np.ndarray]:
        """Hidden states of every choice: features (n, C, n_layers·d) and mask (n, C)."""
        from e2h.models.templates import build_request

        if len(items) == 0:
            raise E2HError(f"LinearProbe.{stage} got no items: pass a non-empty item table.")
        sizes = items["choices"].map(len)
        if (sizes < 2).any():
            raise E2HError(
                f"LinearProbe needs multiple-choice items, but item {items['id'][sizes < 2].iloc[0]!r} has one "
                "answer (a generative dataset): use the 'lora' learner with objective='cot' or 'icl-cot'."
            )
        requests = [build_request(item, self.format) for item in items.to_dict("records")]
        states = self.lm.hidden_states(requests, self.layers)  # each (n_choices, n_layers, d)
        return pad_choice_features([s.reshape(len(s), -1) for s in states])

    def _standardize(self, features: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(features - mean) / std on real choices; padded slots stay 0."""
        return np.where(mask[..., None], (features - self.mean_) / self.std_, 0.0)
