"""Greedy generation: the batched, prefix-sharing path equals one prompt at a time; stop strings cut."""

from __future__ import annotations

import pytest
import torch

from e2h.errors import E2HError
from e2h.models import LanguageModel
from e2h.models.generation import cut
from e2h.models.tiny import byte_tokenizer, tiny_gemma
from e2h.paths import e2h_home

PROMPTS = ["Question: 2+2?\nAnswer:", "Hi", "A much longer prompt that forces left padding in the batch."]
DEMOS = "Q: 1+1?\nA: 1 plus 1 is 2. So the answer is 2.\n\nQ: 2+3?\nA: 2 plus 3 is 5. So the answer is 5.\n\n"
ITEMS = ["Q: 4+4?\nA:", "Q: what is 10 minus 3?\nA:", "Q: 9?\nA:", "Q: 7+1 and then 2 more?\nA:"]


def _greedy_by_hand(lm, prompt: str, n: int) -> str:
    """n greedy tokens by re-running the whole sequence each step (no cache, no batching)."""
    ids = lm.bos + lm.tokenize(prompt)
    new = []
    for _ in range(n):
        with torch.no_grad():
            new.append(int(lm.model(input_ids=torch.tensor([ids + new])).logits[0, -1].argmax()))
    return lm.tokenizer.decode(new, skip_special_tokens=True)


def test_batched_generation_equals_the_plain_greedy_loop(tiny_lm):
    texts = tiny_lm.generate(PROMPTS, max_new_tokens=8, stop=(), cache=False)
    assert texts == [_greedy_by_hand(tiny_lm, p, 8) for p in PROMPTS]
    assert tiny_lm.generate_naive(PROMPTS, max_new_tokens=8, stop=()) == texts


def test_shared_demonstrations_are_computed_once_and_change_nothing(tiny_lm):
    prompts = [DEMOS + item for item in ITEMS]
    calls = tiny_lm.n_forward_calls
    fast = tiny_lm.generate(prompts, max_new_tokens=10, stop=(), cache=False)
    fast_calls = tiny_lm.n_forward_calls - calls
    assert fast_calls <= 1 + 10  # the head once, then one batch: its prompts, then one forward per new token
    assert fast == [_greedy_by_hand(tiny_lm, p, 10) for p in prompts]
    assert tiny_lm.generate(ITEMS, prefix=DEMOS, max_new_tokens=10, stop=(), cache=False) == fast


def test_stops_and_eos_inside_a_batch(tiny_lm):
    prompts = [DEMOS + item for item in ITEMS]
    full = tiny_lm.generate_naive(prompts, max_new_tokens=12, stop=())
    stop = (full[0][2:4],)  # ends the first item early while the others run on
    assert tiny_lm.generate(prompts, max_new_tokens=12, stop=stop, cache=False) == tiny_lm.generate_naive(
        prompts, max_new_tokens=12, stop=stop
    )


def test_finished_rows_leave_the_batch(tiny_lm, monkeypatch):
    prompts = [DEMOS + item for item in ITEMS]
    full = tiny_lm.generate_naive(prompts, max_new_tokens=16, stop=())
    stop = tuple(text[2:4] for text in full[:3])  # three of the four items end after a few tokens
    batch_sizes = []
    forward = tiny_lm.forward
    monkeypatch.setattr(tiny_lm, "forward", lambda **kw: batch_sizes.append(len(kw["input_ids"])) or forward(**kw))
    fast = tiny_lm.generate(prompts, max_new_tokens=16, stop=stop, cache=False)
    monkeypatch.undo()
    assert fast == tiny_lm.generate_naive(prompts, max_new_tokens=16, stop=stop)
    assert batch_sizes[1] == 4 and min(batch_sizes[1:]) < 4  # the batch shrank once most items had stopped


def test_sliding_window_model_generates_like_the_reference():
    lm = LanguageModel(
        tiny_gemma(), byte_tokenizer(), name="tiny-gemma", fingerprint="g",
        device=torch.device("cpu"), dtype=torch.float32, cache=False,
    )  # fmt: skip  # window 6: the demonstrations fall out of the sliding layers' view
    prompts = [DEMOS + item for item in ITEMS]
    assert lm.generate(prompts, max_new_tokens=8, stop=()) == lm.generate_naive(prompts, max_new_tokens=8, stop=())


def test_deterministic(tiny_lm):
    first = tiny_lm.generate(PROMPTS, max_new_tokens=6, cache=False)
    assert tiny_lm.generate(PROMPTS, max_new_tokens=6, cache=False) == first


def test_stop_strings_cut_the_text(tiny_lm):
    full = tiny_lm.generate(PROMPTS[:1], max_new_tokens=12, stop=(), cache=False)[0]
    stop = full[3:5]  # a string the greedy output is known to contain
    (cut_text,) = tiny_lm.generate(PROMPTS[:1], max_new_tokens=12, stop=(stop,), cache=False)
    assert cut_text == full[: full.find(stop)]
    calls = tiny_lm.n_forward_calls
    tiny_lm.generate(PROMPTS[:1], max_new_tokens=12, stop=(stop,), cache=False)
    assert tiny_lm.n_forward_calls - calls < 12  # stopped early, not run to max_new_tokens


def test_cut_helper():
    assert cut("abc\n\ndef", ("\n\n",)) == ("abc", True)
    assert cut("abc. The end", ("\n\n", ".")) == ("abc", True)
    assert cut("abc", ("\n\n",)) == ("abc", False)


def test_bad_arguments(tiny_lm, monkeypatch):
    with pytest.raises(E2HError, match="at least 1"):
        tiny_lm.generate(PROMPTS, max_new_tokens=0)
    with pytest.raises(E2HError, match="empty prompt"):
        tiny_lm.generate([""], max_new_tokens=2, cache=False)
    monkeypatch.setattr(tiny_lm, "max_length", 20)
    with pytest.raises(E2HError, match="max_length 20"):
        tiny_lm.generate(PROMPTS[2:], max_new_tokens=4, cache=False)


def test_smollm2_chain_of_thought_batched_equals_one_at_a_time():
    if not (e2h_home() / "models" / "smollm2-135m" / "e2h-model.json").is_file():
        pytest.skip("SmolLM2-135M is not in the e2h cache (load_model('smollm2-135m') fetches it)")
    from e2h.models import load_model

    lm = load_model("smollm2-135m", cache=False)
    prompts = [DEMOS + item for item in ITEMS[:3]]
    fast = lm.generate(prompts, max_new_tokens=16, stop=("\n\n", "\nQ:"))
    assert fast == lm.generate_naive(prompts, max_new_tokens=16, stop=("\n\n", "\nQ:"))
    assert any(text.strip() for text in fast)
