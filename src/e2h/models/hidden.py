"""Hidden states of the last continuation token, for linear probes; cached on disk as ``.npy``.

Layer index ``l`` follows transformers' ``output_hidden_states``: ``0`` is the token
embeddings (input of the first block), ``l`` the output of block ``l``, and ``n_layers`` the
output of the last block after the final norm. The default is the middle and the last layer,
``(n_layers // 2, n_layers)``, as in Hase et al. For choice ``j`` of a request, the state is
taken at the last token of ``prefix + context + continuation_j`` (the answer-end token).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from e2h.errors import E2HError
from e2h.io import atomic_path
from e2h.progress import bar

if TYPE_CHECKING:
    from e2h.models.engine import LanguageModel, ScoreRequest


def n_layers(lm: LanguageModel) -> int:
    """The number of transformer blocks of the model."""
    return int(lm.model.config.get_text_config().num_hidden_layers)


def default_layers(lm: LanguageModel) -> tuple[int, ...]:
    """The middle and the last layer (see the module docstring for what an index means)."""
    return (n_layers(lm) // 2, n_layers(lm))


def hidden_states(
    lm: LanguageModel, requests: Sequence[ScoreRequest], layers: Sequence[int] | None = None, cache: bool | None = None
) -> list[np.ndarray]:
    """One ``(n_choices, n_layers, d)`` float32 array per request (memory-mapped when read from the cache)."""
    from e2h.models.engine import _request_key

    requests = list(requests)
    layers = tuple(int(layer) for layer in (default_layers(lm) if layers is None else layers))
    if not layers or any(not 0 <= layer <= n_layers(lm) for layer in layers):
        raise E2HError(f"layers {list(layers)} out of range for {lm.name}: use indices 0..{n_layers(lm)}.")
    counts = [len(r.continuations) for r in requests]
    path = lm._cache_file("hidden", "hidden", layers, [_request_key(r) for r in requests], cache=cache, suffix=".npy")
    if path is not None and path.is_file():
        return _split(np.load(path, mmap_mode="r"), counts)
    states = _compute(lm, requests, layers)  # (total choices, n_layers, d)
    if path is not None:
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.save(handle, states)
    return _split(states, counts)


def _compute(lm: LanguageModel, requests: list[ScoreRequest], layers: tuple[int, ...]) -> np.ndarray:
    encoded = lm.encode(requests)
    offsets = np.concatenate([[0], np.cumsum([len(e.choices) for e in encoded])])
    states = np.zeros((offsets[-1], len(layers), 0), dtype=np.float32)
    with lm._inference(), bar(f"hidden states {lm.name}", total=len(encoded), unit="item") as progress_bar:
        for head, rows in lm._packed_rows(encoded):
            past, _ = lm._head_cache(head)
            for row in rows:
                t = lm._tree_inputs(encoded, row, len(head))
                out = lm._tree_forward(t, len(head), past, output_hidden_states=list(layers), logits_to_keep=1)
                ends = torch.tensor([p for _, _, p in t["ends"]], device=lm.device)  # (n,) last token of each choice
                picked = torch.stack([out.hidden_states[layer][0, ends] for layer in layers], dim=1)  # (n, L, d)
                picked = picked.float().cpu().numpy()
                if states.shape[2] == 0:
                    states = np.zeros((offsets[-1], len(layers), picked.shape[-1]), dtype=np.float32)
                rows_out = [offsets[r] + j for r, j, _ in t["ends"]]
                states[rows_out] = picked
                progress_bar.update(len(row))
    return states


def _split(states: np.ndarray, counts: list[int]) -> list[np.ndarray]:
    bounds = np.cumsum(counts)
    return [states[end - n : end] for n, end in zip(counts, bounds, strict=True)]
