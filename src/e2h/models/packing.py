"""Tree packing: many scoring requests, each a context with several continuations, in one row.

A request in token ids is an :class:`Encoded`: a *head* whose KV cache is shared by every request
of a group (computed once), the request's own context tokens, and one token list per continuation.
Requests that share a head are packed, longest first, into rows of at most ``budget`` new tokens::

    ctx_1 ch_1^1 ch_1^2 … ctx_2 ch_2^1 …

A token sees the head, the earlier tokens of its own context and the earlier tokens of its own
continuation (:func:`tree_mask`); positions continue from the head, so continuation ``j`` of
request ``r`` starts at ``len(head) + len(ctx_r)``. Each context is computed once for all its
continuations, and every token gets the same attention as in one full sequence per continuation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import torch


@dataclass(frozen=True)
class Encoded:
    """One request in token ids: ``head + context + choices[j]`` is the sequence of choice ``j``."""

    head: tuple[int, ...]  # shared with other requests; its KV is computed once
    context: tuple[int, ...]  # never empty: it predicts the first token of every choice
    choices: tuple[tuple[int, ...], ...]  # one non-empty token list per continuation

    @property
    def n_new(self) -> int:
        """Tokens the request adds after the head in a packed row."""
        return len(self.context) + sum(len(c) for c in self.choices)

    def sequences(self) -> list[list[int]]:
        """The full token sequence of each choice (head, context, continuation)."""
        return [[*self.head, *self.context, *c] for c in self.choices]


class ScoredToken(NamedTuple):
    """A continuation token of a packed row: whose it is, where it is predicted from, which id."""

    request: int  # index into the encoded list
    choice: int
    source: int  # row position whose logits predict the token
    token: int


class ChoiceEnd(NamedTuple):
    """The row position of a continuation's last token (where its hidden state is read)."""

    request: int
    choice: int
    position: int


@dataclass
class PackedRow:
    """One forward's worth of new tokens after a head; every list but the last two is ``(q,)``."""

    head_len: int
    ids: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)  # position ids, continuing from the head
    request: list[int] = field(default_factory=list)  # request label of each token
    branch: list[int] = field(default_factory=list)  # -1 for context tokens, j for continuation j
    plan: list[ScoredToken] = field(default_factory=list)  # one per continuation token
    ends: list[ChoiceEnd] = field(default_factory=list)  # one per continuation

    def add(self, r: int, e: Encoded) -> None:
        """Append request ``r`` (its context, then each continuation) to the row."""
        if not e.context:
            raise ValueError("an encoded request needs at least one context token")
        start = len(self.ids)
        self._extend(e.context, self.head_len, r, -1)
        last_context = start + len(e.context) - 1
        for j, choice in enumerate(e.choices):
            first = len(self.ids)
            self._extend(choice, self.head_len + len(e.context), r, j)
            for k, token in enumerate(choice):
                self.plan.append(ScoredToken(r, j, last_context if k == 0 else first + k - 1, token))
            self.ends.append(ChoiceEnd(r, j, len(self.ids) - 1))

    def _extend(self, tokens: Sequence[int], first_pos: int, r: int, branch: int) -> None:
        self.ids += tokens
        self.positions += range(first_pos, first_pos + len(tokens))
        self.request += [r] * len(tokens)
        self.branch += [branch] * len(tokens)


def pack(encoded: Sequence[Encoded], budget: int) -> list[tuple[tuple[int, ...], list[PackedRow]]]:
    """Group requests by head, then pack each group, longest first, into rows of at most ``budget`` new tokens.

    A request longer than the budget gets a row of its own.
    """
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, e in enumerate(encoded):
        groups.setdefault(e.head, []).append(i)
    packed = []
    for head, members in groups.items():
        members.sort(key=lambda i: -encoded[i].n_new)
        rows: list[PackedRow] = []
        size = 0
        for i in members:
            if not rows or size + encoded[i].n_new > budget:
                rows.append(PackedRow(len(head)))
                size = 0
            rows[-1].add(i, encoded[i])
            size += encoded[i].n_new
        packed.append((head, rows))
    return packed


def tree_mask(
    row: PackedRow,
    *,
    dtype: torch.dtype,
    device: torch.device,
    sliding_window: int | None = None,
    layer_types: Sequence[str] = (),
) -> torch.Tensor | dict[str, torch.Tensor]:
    """Additive mask ``(1, 1, q, P + q)``: head visible, own context, own choice, causal.

    Hybrid models (Gemma 3) take one mask per layer type; sliding layers see the last
    ``sliding_window`` positions only.
    """
    req = torch.tensor(row.request, device=device)  # (q,)
    branch = torch.tensor(row.branch, device=device)  # (q,)
    pos = torch.tensor(row.positions, device=device)  # (q,)
    q, head_len = len(row.ids), row.head_len
    idx = torch.arange(q, device=device)
    inner = (idx[None, :] <= idx[:, None]) & (req[None, :] == req[:, None])
    inner &= (branch[None, :] == -1) | (branch[None, :] == branch[:, None])  # (q, q)
    allowed = torch.cat([torch.ones(q, head_len, dtype=torch.bool, device=device), inner], dim=1)  # (q, P+q)
    full = additive(allowed, dtype)[None, None]  # (1, 1, q, P+q)
    kinds = set(layer_types)
    if not (sliding_window and kinds - {"full_attention"}):
        return full
    key_pos = torch.cat([torch.arange(head_len, device=device), pos])  # (P+q,)
    sliding = additive(allowed & (pos[:, None] - key_pos[None, :] < sliding_window), dtype)[None, None]
    return {kind: full if kind == "full_attention" else sliding for kind in kinds}


def additive(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Boolean "may attend" → additive float mask (0 where allowed, the dtype's minimum elsewhere)."""
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(~allowed, torch.finfo(dtype).min)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """The length of the longest common prefix of two token lists."""
    n = min(len(a), len(b))
    if list(a[:n]) == list(b[:n]):
        return n
    return next(i for i in range(n) if a[i] != b[i])


def split_head(ids: Sequence[int], shared: Sequence[int], margin: int, keep: int = 0) -> int:
    """How many leading tokens of ``ids`` may come from the KV cache of ``shared``.

    At most ``len(shared) - margin`` (the last tokens of a separately tokenized prefix may merge
    differently with what follows), never more than the tokens both lists actually share, and
    always leaving at least one token of ``ids`` to compute. ``0`` when ``keep`` or fewer would
    be shared (a head of a BOS token alone is not worth a cache).
    """
    limit = min(len(shared) - margin, len(ids) - 1)
    if limit <= keep:
        return 0
    n = limit if list(ids[:limit]) == list(shared[:limit]) else common_prefix(ids[:limit], shared[:limit])
    return n if n > keep else 0
