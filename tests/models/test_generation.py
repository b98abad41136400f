"""Greedy generation: the continuous-batching, prefix-sharing path equals Hugging Face ``generate`` and one prompt at
a time; stop strings and answer lines cut."""

from __future__ import annotations

import pytest
import torch

from e2h.errors import E2HError
from e2h.models import LanguageModel, generation
from e2h.models import engine as engine_module
from e2h.models.generation import Decoding, cut, eos_ids, stop_flags
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


def _hf_generate(lm, prompt: str, n: int, stop=(), line_after=()) -> str:
    """Hugging Face ``generate`` (greedy, one prompt, ``n`` new tokens), its text cut by the same rule."""
    ids = torch.tensor([lm.bos + lm.tokenize(prompt)])
    eos = sorted(eos_ids(lm.model, lm.tokenizer))
    with torch.no_grad():
        out = lm.model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, min_new_tokens=0, do_sample=False,
            eos_token_id=eos, pad_token_id=lm.pad_id,
        )  # fmt: skip
    new = out[0, ids.shape[1] :].tolist()
    new = new[: next((i for i, t in enumerate(new) if t in eos), len(new))]
    return cut(lm.tokenizer.decode(new, skip_special_tokens=True), stop, line_after)[0]


def _gemma_lm() -> LanguageModel:
    return LanguageModel(
        tiny_gemma(), byte_tokenizer(), name="tiny-gemma", fingerprint="g",
        device=torch.device("cpu"), dtype=torch.float32, cache=False,
    )  # fmt: skip  # window 6: the demonstrations fall out of the sliding layers' view


MANY = [DEMOS + item + " " * (i % 3) + "x" * i for i, item in enumerate(ITEMS * 3)]  # 12 prompts of 12 lengths


@pytest.mark.parametrize("model", ["llama", "gemma"])
@pytest.mark.parametrize("flash", [True, False], ids=["cpu-flash", "matmul"])
def test_generation_equals_hugging_face_generate(tiny_lm, model, flash, monkeypatch):
    lm = tiny_lm if model == "llama" else _gemma_lm()
    if not flash:  # the attention path other devices take
        monkeypatch.setattr(generation, "_CPU_FLASH", None)
    monkeypatch.setattr(engine_module, "_GENERATE_BATCH", 5)  # 12 prompts through 5 slots: slots are refilled
    prompts = [*MANY, *PROMPTS]
    fast = lm.generate(prompts, max_new_tokens=12, stop=(), cache=False)
    assert fast == [_hf_generate(lm, p, 12) for p in prompts]


def test_stops_and_answer_lines_equal_hugging_face_generate(tiny_lm, monkeypatch):
    monkeypatch.setattr(engine_module, "_GENERATE_BATCH", 4)
    full = tiny_lm.generate(MANY, max_new_tokens=20, stop=(), cache=False)
    stop = (full[0][3:5], full[5][6:8])  # end some items early while others run on
    line_after = (full[2][1:3],)  # a phrase one item says before a line break (any case)
    full_hf = [_hf_generate(tiny_lm, p, 20) for p in MANY]
    assert full == full_hf
    fast = tiny_lm.generate(MANY, max_new_tokens=20, stop=stop, line_after=line_after, cache=False)
    assert fast == [_hf_generate(tiny_lm, p, 20, stop, line_after) for p in MANY]
    assert fast == tiny_lm.generate_naive(MANY, max_new_tokens=20, stop=stop, line_after=line_after)
    assert fast != full


def _tokens_by_hand(lm, prompt: str, n: int, stop: tuple[str, ...]) -> int:
    """How many greedy tokens a generation takes until EOS (counted), a stop string or ``n``."""
    ids, eos = lm.bos + lm.tokenize(prompt), eos_ids(lm.model, lm.tokenizer)
    new: list[int] = []
    while len(new) < n:
        with torch.no_grad():
            new.append(int(lm.model(input_ids=torch.tensor([ids + new])).logits[0, -1].argmax()))
        if new[-1] in eos or cut(lm.tokenizer.decode(new, skip_special_tokens=True), stop)[1]:
            break
    return len(new)


def test_generated_tokens_are_counted_as_decoded(tiny_lm, monkeypatch):
    full = tiny_lm.generate_naive(MANY, max_new_tokens=16, stop=())
    stop = tuple(text[2:4] for text in full[::2])  # some items end early
    monkeypatch.setattr(engine_module, "_GENERATE_BATCH", 4)
    before = tiny_lm.n_generated_tokens
    tiny_lm.generate(MANY, max_new_tokens=16, stop=stop, cache=False)
    counted = tiny_lm.n_generated_tokens - before
    assert counted == sum(_tokens_by_hand(tiny_lm, p, 16, stop) for p in MANY)
    assert counted < 16 * len(MANY)


def test_finished_slots_are_refilled_so_the_batch_stays_full(tiny_lm, monkeypatch):
    full = tiny_lm.generate_naive(MANY, max_new_tokens=16, stop=())
    stop = tuple(text[2:4] for text in full[::2])  # half of the items end after a few tokens
    monkeypatch.setattr(engine_module, "_GENERATE_BATCH", 4)
    tiny_lm.clear_memory()  # the head's KV is computed by the first forward
    sizes = []
    forward = tiny_lm.forward
    monkeypatch.setattr(tiny_lm, "forward", lambda **kw: sizes.append(tuple(kw["input_ids"].shape)) or forward(**kw))
    fast = tiny_lm.generate(MANY, max_new_tokens=16, stop=stop, cache=False)
    monkeypatch.undo()
    assert fast == tiny_lm.generate_naive(MANY, max_new_tokens=16, stop=stop)
    steps = [rows for rows, width in sizes[1:] if width == 1]  # decoding steps (the head's forward first)
    prefills = [rows for rows, width in sizes[1:] if width > 1]
    assert len(prefills) > 1 and sum(prefills) == len(MANY)  # later prompts were run into freed slots
    n_tokens = sum(len(tiny_lm.tokenize(t)) for t in fast)
    assert sum(steps) < n_tokens + 4 * len(prefills)  # hardly a decoded row without a live sequence
    assert steps[: len(steps) // 2] == [4] * (len(steps) // 2)  # full while the queue lasts


def test_the_head_is_shared_not_copied(tiny_lm, monkeypatch):
    caches = []
    original = generation.SharedPrefixCache.__init__

    def record(self, *args, **kwargs):
        original(self, *args, **kwargs)
        caches.append(self)

    monkeypatch.setattr(generation.SharedPrefixCache, "__init__", record)
    tiny_lm.generate(ITEMS, prefix=DEMOS, max_new_tokens=6, stop=(), cache=False)
    (cache,) = caches
    head_tokens = len(tiny_lm.bos + tiny_lm.tokenize(DEMOS)) - 2  # the demonstrations, but for their last tokens
    assert cache.p >= head_tokens and all(k.shape[0] == 1 and v.shape[0] == 1 for k, v in cache.head)
    longest = max(len(tiny_lm.bos + tiny_lm.tokenize(DEMOS + item)) for item in ITEMS) - cache.p
    assert cache.keys[0].shape[:3] == (len(ITEMS), 2, longest + 6)  # per slot: its own tokens only


def test_stop_flags_mark_the_tokens_that_can_end_a_generation():
    vocab = ["a", "b\n", ":", " Q", "\ufffd", "x."]
    flags = stop_flags(vocab, 8, Decoding(4, ("\nQ:",), frozenset(), 0), torch.device("cpu"))
    assert flags.tolist() == [False, False, True, False, True, False, True, True]  # ids 6, 7: beyond the vocabulary
    lines = stop_flags(vocab, 6, Decoding(4, (), frozenset(), 0, ("the answer is",)), torch.device("cpu"))
    assert lines.tolist() == [False, True, False, False, True, False]
    assert stop_flags(vocab, 6, Decoding(4, ("end ",), frozenset(), 0), torch.device("cpu")).all()


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
    lm = _gemma_lm()
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
    answer = "2 + 2 = 4. So the answer is 4.\nQ: next"
    assert cut(answer, (), ("the answer is",)) == ("2 + 2 = 4. So the answer is 4.", True)
    assert cut("So THE ANSWER IS 4", (), ("the answer is",)) == ("So THE ANSWER IS 4", False)  # the line goes on
    assert cut("x\nSo the answer is 4.\ny\n\n", ("\n\n",), ("the answer is",))[0] == "x\nSo the answer is 4."


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
