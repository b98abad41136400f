"""Which hidden states the engine returns for linear probes, and how they are read from a forward.

Layer index ``l`` follows transformers' ``output_hidden_states``: ``0`` is the token
embeddings (input of the first block), ``l`` the output of block ``l``, and ``n_layers`` the
output of the last block after the final norm. The default is the middle and the last layer as the
paper's code takes them: ``(ceil((n_layers + 1) / 2), n_layers)`` (16 and 30 for a 30-block model; one
above ``n_layers // 2`` when ``n_layers`` is even). For choice ``j`` of a request, the state is
taken at the last token of ``prefix + context + continuation_j`` (the answer-end token).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from e2h.errors import E2HError


def n_layers(model: Any) -> int:
    """The number of transformer blocks of a transformers model."""
    return int(model.config.get_text_config().num_hidden_layers)


def default_layers(model: Any) -> tuple[int, ...]:
    """The middle and the last layer (see the module docstring for what an index means)."""
    n = n_layers(model)
    middle = math.ceil((n + 1) / 2)
    return (middle if middle < n else n // 2, n)  # n <= 2 blocks: the paper's middle would be the last


def check_layers(model: Any, layers: Sequence[int] | None, name: str) -> tuple[int, ...]:
    """``layers`` as a tuple of ints (the default when ``None``); raise if one is out of range."""
    chosen = tuple(int(layer) for layer in (default_layers(model) if layers is None else layers))
    if not chosen or any(not 0 <= layer <= n_layers(model) for layer in chosen):
        raise E2HError(f"layers {list(chosen)} out of range for {name}: use indices 0..{n_layers(model)}.")
    return chosen


def pick(states: Sequence[torch.Tensor], positions: Sequence[int], layers: Sequence[int]) -> np.ndarray:
    """The states at ``positions`` of one packed row: ``(n, n_layers, d)`` float32.

    ``states`` is a forward's ``hidden_states`` (one ``(1, q, d)`` tensor per layer index).
    """
    where = torch.tensor(list(positions), device=states[layers[0]].device)  # (n,)
    picked = torch.stack([states[layer][0, where] for layer in layers], dim=1)  # (n, L, d)
    return picked.float().cpu().numpy()
