"""Greedy decoding of token-id prompts, batched with left padding, cut at stop strings.

The engine (:meth:`e2h.models.LanguageModel.generate`) turns text into ids and calls
:func:`greedy` with its own forward. A sequence ends at EOS or as soon as its decoded new text
contains a stop string; the text from the first stop string on is removed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch


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
        for b, token in enumerate(next_ids.tolist()):
            if done[b]:
                continue
            if token in decoding.eos:
                done[b] = True
                continue
            new[b].append(token)
            texts[b], done[b] = cut(decode(new[b]), decoding.stop)
        if all(done):
            break
        feed = torch.where(torch.tensor(done, device=device), decoding.pad_id, next_ids)[:, None]  # (B, 1)
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)  # (B, L + t)
        pos = pos[:, -1:] + 1  # (B, 1)
        out = forward(
            input_ids=feed, attention_mask=mask, position_ids=pos, cache=out.cache, use_cache=True, logits_to_keep=1
        )
    return texts


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
