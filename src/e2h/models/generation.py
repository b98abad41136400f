"""Greedy decoding of token-id prompts, cut where the answer ends.

The engine (:meth:`e2h.models.LanguageModel.generate`) turns text into ids and calls one of two
decoders with its own forward:

* :func:`greedy_shared` (the fast path) decodes many prompts that share a *head* (e.g. the
  chain-of-thought demonstrations) with continuous batching. The head's KV cache is computed once
  and never copied: every row's queries attend to it in one matrix product per layer
  (:func:`shared_prefix_attention`, registered with transformers as :data:`ATTENTION`). Each of
  the batch's ``S`` slots holds one prompt's own tokens in a preallocated buffer
  (:class:`SharedPrefixCache`)::

      head (1, n_kv, P, hd), shared        own[slot] (S, n_kv, L, hd), per slot
      positions 0 .. P-1                   [pads | the prompt's suffix | generated tokens]
                                            start  ^                     ^ end

  A slot whose prompt is done (EOS, a stop string, the answer line, or ``max_new_tokens``) is
  refilled from the queue: the new prompts' suffixes are run in one forward (prefill), then all
  slots advance one token per forward (decode). Once the queue is empty the finished slots are
  dropped whenever half of the batch is done.
* :func:`greedy` (the reference): one left-padded batch through the model's own masks and a
  growing cache, used one prompt at a time by :meth:`~e2h.models.LanguageModel.generate_naive`.

A generation ends at EOS (not part of the text), at the first stop string (the text is cut before
it), or at the line break after a ``line_after`` phrase (e.g. ``"the answer is"``: the answer's line
is complete; the text is cut before the line break). Only tokens that can complete a stop (those
holding a stop string's last character, or a partial character) trigger a text check, so a
decoding step does no Python work per row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

ATTENTION = "e2h_shared_prefix"  # the attention implementation name registered with transformers
_PREFILL_TOKENS = 2048  # prompt tokens per prefill forward at most


@dataclass(frozen=True)
class Decoding:
    """What to generate: at most ``max_new_tokens``, ending at ``eos`` ids, a ``stop`` string or the end of the
    line in which a ``line_after`` phrase (any case) appears."""

    max_new_tokens: int
    stop: tuple[str, ...]
    eos: frozenset[int]
    pad_id: int
    line_after: tuple[str, ...] = ()

    def cut(self, text: str) -> tuple[str, bool]:
        """``text`` up to where this decoding ends it, and whether it ends there."""
        return cut(text, self.stop, self.line_after)

    def end_chars(self) -> set[str]:
        """The characters whose arrival may end a generation."""
        return {s[-1] for s in self.stop if s} | ({"\n"} if self.line_after else set())


def cut(text: str, stop: Sequence[str], line_after: Sequence[str] = ()) -> tuple[str, bool]:
    """``text`` up to its first stop string or the line break ending a ``line_after`` phrase's line, and whether
    either was found."""
    ends = [text.find(s) for s in stop if s and s in text]
    for phrase in line_after:
        found = re.search(re.escape(phrase), text, re.IGNORECASE)
        if found and (brk := text.find("\n", found.end())) >= 0:
            ends.append(brk)
    return (text[: min(ends)], True) if ends else (text, False)


def stop_flags(vocab_text: Sequence[str], size: int, decoding: Decoding, device: torch.device) -> torch.Tensor:
    """``(size,)`` bool: the token ids after which a generation may have ended (its text must be checked).

    ``vocab_text[i]`` is token ``i`` decoded alone. A stop can only appear when a token brings its last
    character; a token that decodes to a partial character (``"\\ufffd"``) is flagged too, and so is
    every token when a stop ends in whitespace other than a line break (tokenizers may drop it alone).
    """
    chars = decoding.end_chars()
    if any(c.isspace() and c != "\n" for c in chars):
        return torch.ones(size, dtype=torch.bool, device=device)
    chars.add("\ufffd")
    flags = torch.ones(size, dtype=torch.bool)  # ids past the tokenizer's vocabulary: check
    flags[: len(vocab_text)] = torch.tensor([any(c in t for c in chars) for t in vocab_text], dtype=torch.bool)
    return flags.to(device)


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
        for b, token in enumerate(next_ids.tolist()):
            if done[b]:
                continue
            if token in decoding.eos:
                done[b] = True
                continue
            new[b].append(token)
            texts[b], done[b] = decoding.cut(decode(new[b]))
        if all(done):
            break
        feed = torch.where(torch.tensor(done, device=device), decoding.pad_id, next_ids)[:, None]  # (B, 1)
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)  # (B, L + t)
        pos = pos[:, -1:] + 1  # (B, 1)
        out = forward(
            input_ids=feed, attention_mask=mask, position_ids=pos, cache=out.cache, use_cache=True, logits_to_keep=1
        )
    return texts


class SharedPrefixCache:
    """The KV cache of one generation batch, given to the model as its ``cache`` (see the module docstring).

    ``head`` is per layer ``(1, n_kv, P, hd)`` (or ``None``); ``own`` keys and values are per layer
    ``(S, n_kv, L, hd)``. Before each forward, :meth:`prefill` or :meth:`decode` says which slots
    and columns it writes and builds the masks that every layer then shares.
    """

    def __init__(
        self,
        head: list[tuple[torch.Tensor, torch.Tensor]] | None,
        *,
        slots: int,
        length: int,
        config: Any,
        dtype: torch.dtype,
        device: torch.device,
    ) -> None:
        n_kv = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        shape = (slots, n_kv, length, head_dim)
        self.head = head
        self.p = head[0][0].shape[2] if head else 0
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(config.num_hidden_layers)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(config.num_hidden_layers)]
        self.start = torch.zeros(slots, dtype=torch.long, device=device)  # first own column holding a real token
        self.end = torch.zeros(slots, dtype=torch.long, device=device)  # columns written so far
        kinds = set(getattr(config, "layer_types", None) or ())
        self.window = getattr(config, "sliding_window", None) if kinds - {"full_attention"} else None
        self.device = device
        self._rows: torch.Tensor | None = None  # slots written by a prefill
        self._width = 0  # columns written by a prefill; 0: a decoding step
        self._kv = 0  # own columns a decoding step attends to
        self._flat: torch.Tensor | None = None  # (S·n_kv,) rows of a layer's (S·n_kv·L, hd) view written by a step
        self.masks: dict[bool, Masks] = {}  # sliding-window layer? -> its masks

    def prefill(self, rows: torch.Tensor, lengths: torch.Tensor, width: int) -> torch.Tensor:
        """Prepare a forward of ``rows`` (``(r,)`` slots) whose left-padded suffixes ``(r, width)`` hold
        ``lengths`` real tokens each; return their position ids ``(r, width)``."""
        self._rows, self._width = rows, width
        col = torch.arange(width, device=self.device)
        start = width - lengths  # (r,)
        self.start[rows] = start
        self.end[rows] = width
        key_pos = self.p + col[None, :] - start[:, None]  # (r, W) the position id each own column holds
        before = col[None, None, :] <= col[None, :, None]  # (1, W, W) causal
        allowed = (before & (col[None, None, :] >= start[:, None, None])) | (col[None, None, :] == col[None, :, None])
        self._set_masks(allowed, key_pos, key_pos)  # a row's real tokens up to the query; a pad query sees itself
        return key_pos.clamp(min=0)

    def decode(self) -> torch.Tensor:
        """Prepare a one-token forward of every slot, written at column ``end``; return position ids ``(S, 1)``."""
        self._rows, self._width = None, 0
        self._kv = int(self.end.max()) + 1
        slots, n_kv, length, _ = self.keys[0].shape
        rows = torch.arange(slots * n_kv, device=self.device)  # (slot, kv head) pairs
        self._flat = rows * length + self.end.repeat_interleave(n_kv)
        col = torch.arange(self._kv, device=self.device)
        allowed = (col[None, :] >= self.start[:, None]) & (col[None, :] <= self.end[:, None])  # (S, K)
        query_pos = (self.p + self.end - self.start)[:, None]  # (S, 1)
        self._set_masks(allowed[:, None, :], query_pos, self.p + col[None, :] - self.start[:, None])
        return query_pos

    def advance(self, live: torch.Tensor) -> None:
        """After a decoding step: the ``live`` ``(S,)`` slots keep the token just written."""
        self.end += live.long()

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only the slots ``rows`` (in that order)."""
        self.keys = [k[rows] for k in self.keys]
        self.values = [v[rows] for v in self.values]
        self.start, self.end = self.start[rows], self.end[rows]

    def _set_masks(self, allowed: torch.Tensor, query_pos: torch.Tensor, key_pos: torch.Tensor) -> None:
        """The masks of every layer kind from ``allowed`` ``(B, q, K)`` own columns and the query and key positions."""
        self.masks = {False: Masks(_additive(allowed), None, None)}
        if self.window is not None:
            head_pos = torch.arange(self.p, device=self.device)
            near_head = query_pos[:, :, None] - head_pos[None, None, :] < self.window  # (B, q, P)
            near_own = query_pos[:, :, None] - key_pos[:, None, :] < self.window  # (B, q, K)
            self.masks[True] = Masks(_additive(allowed & near_own), _additive(near_head), ~near_head.any(-1))

    # -------------------------------------------------------------- called by the model
    def update(self, key: torch.Tensor, value: torch.Tensor, layer_idx: int, **_: Any) -> tuple[Any, Any]:
        """Store a layer's new keys and values ``(B, n_kv, q, hd)``; return the own ones its queries attend to."""
        keys, values = self.keys[layer_idx], self.values[layer_idx]
        if self._width:  # prefill: the new tokens are all the rows' own tokens so far
            keys[:, :, : self._width].index_copy_(0, self._rows, key)
            values[:, :, : self._width].index_copy_(0, self._rows, value)
            return key, value
        d = key.shape[-1]
        keys.view(-1, d).index_copy_(0, self._flat, key.reshape(-1, d))
        values.view(-1, d).index_copy_(0, self._flat, value.reshape(-1, d))
        return keys[:, :, : self._kv], values[:, :, : self._kv]

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.p + int(self.end.max())


@dataclass(frozen=True)
class Masks:
    """What one kind of layer may attend to in one forward: additive float32 masks ``(B, 1, q, ·)``."""

    own: torch.Tensor  # (B, 1, q, K) over the rows' own columns
    head: torch.Tensor | None  # (B, 1, q, P) over the head, None: all of it
    head_empty: torch.Tensor | None  # (B, q) bool: the query sees nothing of the head


def _additive(allowed: torch.Tensor) -> torch.Tensor:
    """``(B, q, K)`` bool → ``(B, 1, q, K)`` float32: 0 where allowed, -inf elsewhere."""
    return torch.zeros(allowed.shape, device=allowed.device).masked_fill(~allowed, float("-inf"))[:, None]


def shared_prefix_attention(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: Any,
    *,
    scaling: float,
    e2h_cache: SharedPrefixCache,
    sliding_window: int | None = None,
    **_: Any,
) -> tuple[torch.Tensor, None]:
    """Attention of ``query`` ``(B, H, q, hd)`` over the shared head and each row's own ``key``/``value``
    ``(B, n_kv, K, hd)`` (a drop-in ``AttentionInterface`` function); returns ``(B, q, H, hd)``.

    The two parts are attended separately and merged by their log-sum-exps (as one softmax over both).
    The head's part is one attention for all rows: queries ``(1, n_kv, B·g·q, hd)`` against the head's
    ``(1, n_kv, P, hd)``, where ``g = H / n_kv`` query heads share a key head.
    """
    b, h, q, d = query.shape
    n_kv = key.shape[1]
    g = h // n_kv
    masks = e2h_cache.masks[sliding_window is not None]
    query = query.reshape(b, n_kv, g * q, d)  # (B, n_kv, g·q, hd): the query heads of one key head together
    own_mask = masks.own if q == 1 else masks.own.repeat(1, 1, g, 1)  # (B, 1, g·q, K)
    out, lse = _attend(query, key, value, own_mask, scaling)  # (B, n_kv, g·q, hd), (B, n_kv, g·q)
    if e2h_cache.head is not None:
        head_k, head_v = e2h_cache.head[module.layer_idx]  # (1, n_kv, P, hd)
        flat = query.transpose(0, 1).reshape(1, n_kv, b * g * q, d)
        head_mask = None
        if masks.head is not None:
            head_mask = masks.head[:, :, None].expand(b, 1, g, q, -1).reshape(1, 1, b * g * q, -1)
        head_out, head_lse = _attend(flat, head_k, head_v, head_mask, scaling)
        head_out = head_out.view(n_kv, b, g * q, d).transpose(0, 1)  # (B, n_kv, g·q, hd)
        head_lse = head_lse.view(n_kv, b, g * q).transpose(0, 1)  # (B, n_kv, g·q)
        if masks.head_empty is not None:
            empty = masks.head_empty[:, None, None, :].expand(b, 1, g, q).reshape(b, 1, g * q)
            head_lse = head_lse.masked_fill(empty, float("-inf"))
        total = torch.logaddexp(lse, head_lse)
        out = out.float() * (lse - total).exp()[..., None] + head_out.float() * (head_lse - total).exp()[..., None]
    return out.to(value.dtype).view(b, h, q, d).transpose(1, 2).contiguous(), None


def _attend(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None, scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax attention ``(B, n, q, hd)`` and the log-sum-exp of its scores ``(B, n, q)`` (float32).

    On CPU, PyTorch's flash-attention kernel (it returns the log-sum-exp); elsewhere plain matrix products.
    """
    if query.device.type == "cpu" and _CPU_FLASH is not None:
        mask = None if mask is None else mask.to(query.dtype)
        out, lse = _CPU_FLASH(query, key, value, 0.0, False, attn_mask=mask, scale=scale)
        return out, lse.float()
    scores = torch.matmul(query, key.transpose(-1, -2)).float() * scale  # (B, n, q, K)
    if mask is not None:
        scores = scores + mask
    lse = torch.logsumexp(scores, dim=-1)
    probs = torch.exp(scores - lse[..., None]).nan_to_num()
    return torch.matmul(probs.to(value.dtype), value), lse


_CPU_FLASH = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)


def register_attention() -> None:
    """Make :data:`ATTENTION` a transformers attention implementation (idempotent)."""
    from transformers import AttentionInterface

    AttentionInterface.register(ATTENTION, shared_prefix_attention)


class _Slots:
    """Which prompt each slot decodes, the tokens it has generated, and when it is done."""

    def __init__(self, n: int, decoding: Decoding, device: torch.device) -> None:
        self.owner = [-1] * n  # prompt index per slot, -1: free
        self.tokens = torch.full((n, decoding.max_new_tokens), decoding.pad_id, device=device)  # (S, T)
        self.count = torch.zeros(n, dtype=torch.long, device=device)  # tokens generated per slot
        self.live = torch.zeros(n, dtype=torch.bool, device=device)
        self.feed = torch.full((n,), decoding.pad_id, device=device)  # (S,) the token each slot feeds next

    def free(self) -> list[int]:
        return [s for s, o in enumerate(self.owner) if o < 0]

    def keep(self, rows: torch.Tensor) -> None:
        kept = rows.tolist()
        self.owner = [self.owner[s] for s in kept]
        self.tokens, self.count = self.tokens[rows], self.count[rows]
        self.live, self.feed = self.live[rows], self.feed[rows]


def greedy_shared(
    forward: Callable[..., Any],
    head: list[tuple[torch.Tensor, torch.Tensor]] | None,
    prompts: list[list[int]],
    decoding: Decoding,
    flags: torch.Tensor,
    decode: Callable[[list[int]], str],
    *,
    config: Any,
    device: torch.device,
    dtype: torch.dtype,
    slots: int,
    on_done: Callable[[int, str, int], None] | None = None,
) -> list[str]:
    """The greedy new text of each prompt after a shared head (see the module docstring).

    ``head`` is the head's KV cache, per layer ``(1, n_kv, P, hd)``, or ``None``; ``prompts`` are the
    ids after the head (at least one each); ``flags`` ``(V,)`` marks the tokens that may end a
    generation (:func:`stop_flags`); ``slots`` is the batch size; ``forward`` must run the model with
    the :data:`ATTENTION` implementation. ``on_done(i, text, n)`` is called as prompt ``i`` finishes after
    generating ``n`` tokens (EOS included).
    """
    queue = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))  # longest first: little padding
    queue.reverse()  # popped from the end
    width = max(len(p) for p in prompts)
    n = min(slots, len(prompts))
    cache = SharedPrefixCache(
        head, slots=n, length=width + decoding.max_new_tokens, config=config.get_text_config(), dtype=dtype,
        device=device,
    )  # fmt: skip
    state = _Slots(n, decoding, device)
    eos = torch.tensor(sorted(decoding.eos), dtype=torch.long, device=device)
    texts = [""] * len(prompts)
    refill_at = max(1, n // 8)  # free slots that make a prefill worth its forward
    n_free = n
    kwargs = {"cache": cache, "use_cache": True, "logits_to_keep": 1, "e2h_cache": cache}
    while queue or n_free < state.tokens.shape[0]:
        if queue and (n_free >= refill_at or n_free == state.tokens.shape[0]):
            for rows in _prefill_groups(state.free()[: len(queue)], queue, prompts):
                batch = [queue.pop() for _ in rows]
                lengths = torch.tensor([len(prompts[i]) for i in batch], device=device)
                w = int(lengths.max())
                ids = torch.full((len(batch), w), decoding.pad_id, device=device)  # (r, w), left-padded
                for j, i in enumerate(batch):
                    ids[j, w - len(prompts[i]) :] = torch.tensor(prompts[i])
                rows_t = torch.tensor(rows, device=device)
                positions = cache.prefill(rows_t, lengths, w)
                out = forward(input_ids=ids, position_ids=positions, **kwargs)
                for s, i in zip(rows, batch, strict=True):
                    state.owner[s] = i
                state.count[rows_t] = 0
                state.live[rows_t] = True
                n_free -= len(rows)
                n_free += _accept(
                    state, rows_t, out.logits[:, -1].argmax(-1), eos, flags, decoding, decode, texts, on_done
                )
            continue
        positions = cache.decode()
        out = forward(input_ids=state.feed[:, None], position_ids=positions, **kwargs)
        was_live = state.live.clone()
        rows_t = torch.arange(state.tokens.shape[0], device=device)
        n_free += _accept(state, rows_t, out.logits[:, -1].argmax(-1), eos, flags, decoding, decode, texts, on_done)
        cache.advance(was_live)
        n_live = state.tokens.shape[0] - n_free
        if not queue and 0 < n_live <= state.tokens.shape[0] // 2:  # drop the finished slots
            keep = state.live.nonzero()[:, 0]
            cache.keep(keep)
            state.keep(keep)
            n_free = 0
    return texts


def _prefill_groups(free: list[int], queue: list[int], prompts: list[list[int]]) -> list[list[int]]:
    """The free slots split into prefill forwards of at most :data:`_PREFILL_TOKENS` padded tokens each
    (the queue's next prompts, popped from its end, are longest first within a group)."""
    groups: list[list[int]] = []
    width = 0
    for j, s in enumerate(free):
        width = max(width, len(prompts[queue[-1 - j]])) if groups and groups[-1] else len(prompts[queue[-1 - j]])
        if groups and groups[-1] and (len(groups[-1]) + 1) * width <= _PREFILL_TOKENS:
            groups[-1].append(s)
        else:
            groups.append([s])
            width = len(prompts[queue[-1 - j]])
    return groups


def _accept(
    state: _Slots,
    rows: torch.Tensor,
    new: torch.Tensor,
    eos: torch.Tensor,
    flags: torch.Tensor,
    decoding: Decoding,
    decode: Callable[[list[int]], str],
    texts: list[str],
    on_done: Callable[[int, str, int], None] | None,
) -> int:
    """Record the greedy tokens ``new`` ``(r,)`` of slots ``rows``; finish the slots whose generation ended.

    Returns how many slots were freed. Tensor work for every row; Python work only for the rows whose
    token may end them (EOS, a flagged token, the budget).
    """
    live = state.live[rows]
    at_eos = torch.isin(new, eos) & live
    take = live & ~at_eos
    state.tokens[rows[take], state.count[rows[take]]] = new[take]
    state.count[rows] += take.long()
    state.feed[rows] = new
    check = at_eos | (take & (flags[new] | (state.count[rows] >= decoding.max_new_tokens)))
    freed = 0
    for j in check.nonzero()[:, 0].tolist():
        s = int(rows[j])
        tokens = state.tokens[s, : int(state.count[s])].tolist()
        text, stopped = decoding.cut(decode(tokens))
        if stopped or bool(at_eos[j]) or len(tokens) >= decoding.max_new_tokens:
            texts[state.owner[s]] = text
            if on_done is not None:
                on_done(state.owner[s], text, len(tokens) + int(at_eos[j]))
            state.owner[s] = -1
            state.live[s] = False
            freed += 1
    return freed


def eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    """Token ids that end a generation: the tokenizer's EOS and the model's generation config's."""
    ids: set[Any] = {tokenizer.eos_token_id}
    config_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids |= set(config_eos) if isinstance(config_eos, list) else {config_eos}
    return frozenset(int(i) for i in ids if i is not None)
