"""Greedy decoding of token-id prompts, cut at stop strings.

The engine (:meth:`e2h.models.LanguageModel.generate`) turns text into ids and calls one of two
decoders with its own forward:

* :func:`greedy_shared` (the fast path): the prompts of a batch share a *head* (e.g. the
  chain-of-thought demonstrations) whose KV cache is computed once and copied into every row of
  a preallocated cache; each row then holds its own suffix, left-padded, and its new tokens::

      slots  [0, P)          [P, P + W)                     [P + W, P + W + T)
             head (shared)   pads, then the row's suffix    generated tokens

  Position ids skip the pads (the suffix starts at position ``P``), and a 4D mask lets a token
  see the head, its own row's real tokens up to itself and, on sliding-window layers, only the
  last ``sliding_window`` positions. The cache is written in place, so a step costs no copy.
* :func:`greedy` (the reference): one left-padded batch through the model's own masks and a
  growing cache, used one prompt at a time by :meth:`~e2h.models.LanguageModel.generate_naive`.

A sequence ends at EOS or as soon as its decoded new text contains a stop string; the text from
the first stop string on is removed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from e2h.models.packing import additive


@dataclass(frozen=True)
class Decoding:
    """What to generate: at most ``max_new_tokens``, ending at ``eos`` ids or a ``stop`` string."""

    max_new_tokens: int
    stop: tuple[str, ...]
    eos: frozenset[int]
    pad_id: int


def greedy(
    forward: Callable[..., Any],
    prompts: list[list[int]],
    decoding: Decoding,
    decode: Callable[[list[int]], str],
    *,
    config: Any,
    device: torch.device,
) -> list[str]:
    """The greedy new text of each prompt, one left-padded batch (``forward`` calls the model)."""
    from transformers import DynamicCache

    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), decoding.pad_id, device=device)  # (B, L), left-padded
    mask = torch.zeros((len(prompts), width), dtype=torch.long, device=device)
    for b, p in enumerate(prompts):
        ids[b, width - len(p) :] = torch.tensor(p)
        mask[b, width - len(p) :] = 1
    pos = (mask.cumsum(-1) - 1).clamp(min=0)  # (B, L): real tokens at 0..len-1
    new: list[list[int]] = [[] for _ in prompts]
    done = [False] * len(prompts)
    texts = [""] * len(prompts)
    out = forward(
        input_ids=ids,
        attention_mask=mask,
        position_ids=pos,
        cache=DynamicCache(config=config),
        use_cache=True,
        logits_to_keep=1,
    )
    for _ in range(decoding.max_new_tokens):
        next_ids = out.logits[:, -1].argmax(-1)  # (B,)
        _append(range(len(prompts)), next_ids.tolist(), new, texts, done, decoding, decode)
        if all(done):
            break
        feed = torch.where(torch.tensor(done, device=device), decoding.pad_id, next_ids)[:, None]  # (B, 1)
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)  # (B, L + t)
        pos = pos[:, -1:] + 1  # (B, 1)
        out = forward(
            input_ids=feed, attention_mask=mask, position_ids=pos, cache=out.cache, use_cache=True, logits_to_keep=1
        )
    return texts


def greedy_shared(
    forward: Callable[..., Any],
    head: list[tuple[torch.Tensor, torch.Tensor]] | None,
    prompts: list[list[int]],
    decoding: Decoding,
    decode: Callable[[list[int]], str],
    *,
    config: Any,
    device: torch.device,
    dtype: torch.dtype,
) -> list[str]:
    """The greedy new text of each prompt after a shared head (see the module docstring).

    ``head`` is the head's KV cache, per layer ``(1, n_kv, P, hd)``, or ``None`` for no head;
    ``prompts`` are the ids after the head (at least one each). Once half the rows of the batch
    have finished, the finished ones are dropped from the cache.
    """
    from transformers.cache_utils import Cache, StaticLayer

    text_config = config.get_text_config()
    n, p = len(prompts), (head[0][0].shape[2] if head else 0)
    width = max(len(x) for x in prompts)
    slots = p + width + decoding.max_new_tokens
    cache = Cache(layers=[StaticLayer(max_cache_len=slots) for _ in range(text_config.num_hidden_layers)])
    for layer, (k, v) in zip(cache.layers, head or [], strict=False):
        layer.update(k.expand(n, -1, -1, -1), v.expand(n, -1, -1, -1))  # slots [0, P) of every row
    slot = torch.arange(slots, device=device)  # (S,)
    pads = torch.tensor([width - len(x) for x in prompts], device=device)[:, None]  # (B, 1)
    layout = _Layout(
        real=(slot < p) | (slot >= p + pads),  # (B, S): head, suffix and new-token slots
        key_pos=torch.where(slot < p, slot, slot - pads),  # (B, S): the position id each slot holds
        window=getattr(text_config, "sliding_window", None),
        kinds=frozenset(getattr(text_config, "layer_types", None) or ()),
        dtype=dtype,
    )
    ids = torch.full((n, width), decoding.pad_id, device=device)  # (B, W), left-padded
    for b, x in enumerate(prompts):
        ids[b, width - len(x) :] = torch.tensor(x)
    query = p + torch.arange(width, device=device)  # (W,) slots of the suffixes
    kwargs = {"cache": cache, "use_cache": True, "logits_to_keep": 1}
    out = forward(input_ids=ids, position_ids=layout.positions(query), attention_mask=layout.mask(query), **kwargs)
    rows = list(range(n))  # the prompt held by each row of the batch
    new: list[list[int]] = [[] for _ in prompts]
    done = [False] * n
    texts = [""] * n
    for t in range(decoding.max_new_tokens):
        next_ids = out.logits[:, -1].argmax(-1).tolist()  # (B,)
        _append(rows, next_ids, new, texts, done, decoding, decode)
        live = [i for i, b in enumerate(rows) if not done[b]]
        if not live or t + 1 == decoding.max_new_tokens:
            break
        if len(live) <= len(rows) // 2:  # drop the finished rows: later steps cost only the live ones
            keep = torch.tensor(live, device=device)
            for layer in cache.layers:
                layer.keys, layer.values = layer.keys[keep], layer.values[keep]
                layer.batch_size = len(live)
            layout = layout.rows(keep)
            rows, next_ids = [rows[i] for i in live], [next_ids[i] for i in live]
        feed = torch.tensor([decoding.pad_id if done[b] else x for b, x in zip(rows, next_ids, strict=True)])
        query = torch.tensor([p + width + t], device=device)  # (1,) the slot of the token fed now
        out = forward(
            input_ids=feed[:, None].to(device),  # (B, 1)
            position_ids=layout.positions(query),
            attention_mask=layout.mask(query),
            **kwargs,
        )
    return texts


def _append(
    rows: Iterable[int],
    tokens: list[int],
    new: list[list[int]],
    texts: list[str],
    done: list[bool],
    decoding: Decoding,
    decode: Callable[[list[int]], str],
) -> None:
    """One greedy step: row ``rows[i]`` gets ``tokens[i]`` unless it is done; EOS or a stop string ends it."""
    for b, token in zip(rows, tokens, strict=True):
        if done[b]:
            continue
        if token in decoding.eos:
            done[b] = True
            continue
        new[b].append(token)
        texts[b], done[b] = cut(decode(new[b]), decoding.stop)


@dataclass(frozen=True)
class _Layout:
    """Which cache slots of each row hold real tokens, and their position ids (see :func:`greedy_shared`)."""

    real: torch.Tensor  # (B, S) bool
    key_pos: torch.Tensor  # (B, S)
    window: int | None
    kinds: frozenset[str]
    dtype: torch.dtype

    def rows(self, keep: torch.Tensor) -> _Layout:
        return replace(self, real=self.real[keep], key_pos=self.key_pos[keep])

    def positions(self, query: torch.Tensor) -> torch.Tensor:
        """Position ids ``(B, q)`` of queries at slots ``query`` ``(q,)`` (pads get 0)."""
        return self.key_pos[:, query].clamp(min=0)

    def mask(self, query: torch.Tensor) -> Any:
        """Additive mask ``(B, 1, q, S)`` for queries at slots ``query`` (a dict per layer type for hybrid models)."""
        slot = torch.arange(self.real.shape[1], device=self.real.device)
        causal = slot[None, None, :] <= query[None, :, None]  # (1, q, S)
        own = slot[None, None, :] == query[None, :, None]  # a pad query sees itself: no row is empty
        allowed = causal & (self.real[:, None, :] | own)  # (B, q, S)
        full = additive(allowed, self.dtype)[:, None]
        if not (self.window and self.kinds - {"full_attention"}):
            return full
        near = self.key_pos[:, query][:, :, None] - self.key_pos[:, None, :] < self.window  # (B, q, S)
        sliding = additive(allowed & near, self.dtype)[:, None]
        return {kind: full if kind == "full_attention" else sliding for kind in self.kinds}


def cut(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to its first stop string, and whether one was found."""
    hits = [text.find(s) for s in stop if s and s in text]
    return (text[: min(hits)], True) if hits else (text, False)


def eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    """Token ids that end a generation: the tokenizer's EOS and the model's generation config's."""
    ids: set[Any] = {tokenizer.eos_token_id}
    config_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids |= set(config_eos) if isinstance(config_eos, list) else {config_eos}
    return frozenset(int(i) for i in ids if i is not None)
