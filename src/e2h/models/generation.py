"""Greedy generation, batched with left padding, cut at stop strings.

Each prompt follows the engine's tokenization rule (BOS if the tokenizer adds one, then the
prompt without special tokens). A sequence ends at EOS or as soon as its decoded new text
contains a stop string; the text from the first stop string on is removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from e2h.errors import E2HError
from e2h.progress import bar

if TYPE_CHECKING:
    from e2h.models.engine import LanguageModel

MAX_BATCH = 32


def generate(
    lm: LanguageModel, prompts: Sequence[str], *, max_new_tokens: int = 256, stop: Sequence[str] = ("\n\n",)
) -> list[str]:
    """The greedy continuation of each prompt (new text only), deterministic."""
    if max_new_tokens < 1:
        raise E2HError(f"max_new_tokens={max_new_tokens}: ask for at least 1 new token.")
    encoded = [lm.bos + lm.tokenize(p) for p in prompts]
    for ids in encoded:
        if not ids:
            raise E2HError("cannot generate from an empty prompt with a model without BOS: give some prompt text.")
        if len(ids) + max_new_tokens > lm.max_length:
            raise E2HError(
                f"prompt of {len(ids)} tokens + max_new_tokens={max_new_tokens} exceeds {lm.name}'s max_length "
                f"{lm.max_length}: shorten the prompt (fewer demonstrations) or lower max_new_tokens."
            )
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
    texts = [""] * len(encoded)
    with lm._inference(), bar(f"generate {lm.name}", total=len(encoded), unit="prompt") as progress_bar:
        start = 0
        while start < len(order):
            size = max(1, min(MAX_BATCH, lm.batch_tokens // (len(encoded[order[start]]) + max_new_tokens)))
            batch = order[start : start + size]
            for i, text in zip(batch, _greedy(lm, [encoded[i] for i in batch], max_new_tokens, stop), strict=True):
                texts[i] = text
            progress_bar.update(len(batch))
            start += size
    return texts


def _greedy(lm: LanguageModel, prompts: list[list[int]], max_new_tokens: int, stop: Sequence[str]) -> list[str]:
    from transformers import DynamicCache

    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), lm.pad_id, device=lm.device)  # (B, L), left-padded
    mask = torch.zeros((len(prompts), width), dtype=torch.long, device=lm.device)
    for b, p in enumerate(prompts):
        ids[b, width - len(p) :] = torch.tensor(p)
        mask[b, width - len(p) :] = 1
    pos = (mask.cumsum(-1) - 1).clamp(min=0)  # (B, L): real tokens at 0..len-1
    cache = DynamicCache(config=lm.model.config)
    eos = _eos_ids(lm)
    new: list[list[int]] = [[] for _ in prompts]
    done = [False] * len(prompts)
    texts = [""] * len(prompts)
    out = lm._forward(
        input_ids=ids, attention_mask=mask, position_ids=pos, cache=cache, use_cache=True, logits_to_keep=1
    )
    for _ in range(max_new_tokens):
        next_ids = out.logits[:, -1].argmax(-1)  # (B,)
        for b, token in enumerate(next_ids.tolist()):
            if done[b]:
                continue
            if token in eos:
                done[b] = True
                continue
            new[b].append(token)
            texts[b], done[b] = _cut(lm.tokenizer.decode(new[b], skip_special_tokens=True), stop)
        if all(done):
            break
        feed = torch.where(torch.tensor(done, device=lm.device), lm.pad_id, next_ids)[:, None]  # (B, 1)
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)  # (B, L + t)
        pos = pos[:, -1:] + 1  # (B, 1)
        out = lm._forward(
            input_ids=feed, attention_mask=mask, position_ids=pos, cache=out.cache, use_cache=True, logits_to_keep=1
        )
    return texts


def _cut(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to its first stop string, and whether one was found."""
    hits = [text.find(s) for s in stop if s and s in text]
    return (text[: min(hits)], True) if hits else (text, False)


def _eos_ids(lm: LanguageModel) -> set[int]:
    ids: set[Any] = {lm.tokenizer.eos_token_id}
    config_eos = getattr(getattr(lm.model, "generation_config", None), "eos_token_id", None)
    ids |= set(config_eos) if isinstance(config_eos, list) else {config_eos}
    return {int(i) for i in ids if i is not None}
