"""Greedy generation: batched equals one at a time, stop strings cut, deterministic."""

from __future__ import annotations

import pytest
import torch

from e2h.errors import E2HError
from e2h.models.generation import cut

PROMPTS = ["Question: 2+2?\nAnswer:", "Hi", "A much longer prompt that forces left padding in the batch."]


def _greedy_by_hand(lm, prompt: str, n: int) -> str:
    """n greedy tokens by re-running the whole sequence each step (no cache, no batching)."""
    ids = lm.bos + lm.tokenize(prompt)
    new = []
    for _ in range(n):
        with torch.no_grad():
            new.append(int(lm.model(input_ids=torch.tensor([ids + new])).logits[0, -1].argmax()))
    return lm.tokenizer.decode(new, skip_special_tokens=True)


def test_batched_generation_equals_the_plain_greedy_loop(tiny_lm):
    texts = tiny_lm.generate(PROMPTS, max_new_tokens=8, stop=())
    assert texts == [_greedy_by_hand(tiny_lm, p, 8) for p in PROMPTS]


def test_deterministic(tiny_lm):
    assert tiny_lm.generate(PROMPTS, max_new_tokens=6) == tiny_lm.generate(PROMPTS, max_new_tokens=6)


def test_stop_strings_cut_the_text(tiny_lm):
    full = tiny_lm.generate(PROMPTS[:1], max_new_tokens=12, stop=())[0]
    stop = full[3:5]  # a string the greedy output is known to contain
    (cut,) = tiny_lm.generate(PROMPTS[:1], max_new_tokens=12, stop=(stop,))
    assert cut == full[: full.find(stop)]
    calls = tiny_lm.n_forward_calls
    tiny_lm.generate(PROMPTS[:1], max_new_tokens=12, stop=(stop,))
    assert tiny_lm.n_forward_calls - calls < 12  # stopped early, not run to max_new_tokens


def test_cut_helper():
    assert cut("abc\n\ndef", ("\n\n",)) == ("abc", True)
    assert cut("abc. The end", ("\n\n", ".")) == ("abc", True)
    assert cut("abc", ("\n\n",)) == ("abc", False)


def test_bad_arguments(tiny_lm, monkeypatch):
    with pytest.raises(E2HError, match="at least 1"):
        tiny_lm.generate(PROMPTS, max_new_tokens=0)
    with pytest.raises(E2HError, match="empty prompt"):
        tiny_lm.generate([""], max_new_tokens=2)
    monkeypatch.setattr(tiny_lm, "max_length", 20)
    with pytest.raises(E2HError, match="max_length 20"):
        tiny_lm.generate(PROMPTS[2:], max_new_tokens=4)
